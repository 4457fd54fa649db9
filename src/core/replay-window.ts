/**
 * Anti-replay for one sender's authenticated (epoch, seq) stream, a sliding
 * window as in IPsec (RFC 4303, 3.4.3). Pure: the caller keeps one window per
 * sender.
 *
 * - An epoch older than the newest one seen is an earlier life of the
 *   sender: refused.
 * - A newer epoch means the sender restarted: the window starts afresh.
 * - Within an epoch each seq is accepted once: newer than the highest seen,
 *   or one of the REPLAY_WINDOW below it not seen yet. UDP may reorder two
 *   messages sent back to back (two modules asking at once), so "strictly
 *   newer than the last" would drop honest traffic.
 */
export const REPLAY_WINDOW = 64;

export interface ReplayWindow {
  readonly epoch: bigint;
  readonly highest: number;
  /** Bit i set: seq `highest - i` was accepted. */
  readonly seen: bigint;
}

export type ReplayVerdict =
  | { readonly ok: true; readonly how: "first" | "restarted" | "in-order" | "reordered"; readonly window: ReplayWindow }
  | { readonly ok: false; readonly why: "stale-epoch" | "replayed" | "too-old"; readonly detail: string };

const MASK = (1n << BigInt(REPLAY_WINDOW)) - 1n;

export function checkReplay(w: ReplayWindow | null, epoch: bigint, seq: number): ReplayVerdict {
  if (w === null) return { ok: true, how: "first", window: { epoch, highest: seq, seen: 1n } };
  if (epoch < w.epoch) return { ok: false, why: "stale-epoch", detail: `epoch ${epoch} is older than ${w.epoch}, already heard` };
  if (epoch > w.epoch) return { ok: true, how: "restarted", window: { epoch, highest: seq, seen: 1n } };
  if (seq > w.highest) {
    const shift = BigInt(seq - w.highest);
    return { ok: true, how: "in-order", window: { epoch, highest: seq, seen: ((w.seen << shift) | 1n) & MASK } };
  }
  const back = w.highest - seq;
  if (back >= REPLAY_WINDOW) return { ok: false, why: "too-old", detail: `seq ${seq} is ${back} behind ${w.highest}; only ${REPLAY_WINDOW} are remembered` };
  const bit = 1n << BigInt(back);
  if ((w.seen & bit) !== 0n) return { ok: false, why: "replayed", detail: `seq ${seq} of epoch ${epoch} was already received` };
  return { ok: true, how: "reordered", window: { ...w, seen: w.seen | bit } };
}
