/**
 * The module's side of the arbiter lease: when to ask, what an answer is
 * worth, and when the right to run ends.
 *
 * - A lease is counted from when we SENT the request it answers, never from
 *   when the answer came: the arbiter granted it after that moment, so our
 *   end of the lease comes before the arbiter's.
 * - The right to run (authority) with an arbiter is a usable lease, or
 *   hearing every peer (they would see any other claim, and claims need the
 *   lease). Keeping the arbiter out of the way while the cluster is whole
 *   means a rebooting arbiter stops nothing.
 * - The watchdog enforces the end of that right even if we freeze: it is
 *   pushed to `now + fence` while we hear every peer, and to the end of the
 *   lease on each grant; it fires at most `fence` after the right ended.
 */
import type { ArbiterTerms, LeaseTrack } from "./types.ts";

export type { LeaseTrack } from "./types.ts";


/** Unanswered requests kept; older answers would be worthless anyway. */
const MAX_PENDING = 16;

export function initLease(): LeaseTrack {
  return {
    validUntil: null,
    requests: [],
    nextId: 1,
    lastSentAt: null,
    grantSentAt: null,
    lastReplyAt: null,
    deniedBy: null,
    denials: null,
    lost: false,
    startNotBefore: null,
    watchdog: null,
  };
}

/** A lease we may still act on: not inside its last `stopBefore`. */
export function leaseUsable(l: LeaseTrack, t: ArbiterTerms, now: number): boolean {
  return l.validUntil !== null && now < l.validUntil - t.stopBeforeMs;
}

/** The arbiter answered (granted or denied) lately: within one renewal and one retry. */
export function arbiterAnswering(l: LeaseTrack, t: ArbiterTerms, now: number): boolean {
  return l.lastReplyAt !== null && now - l.lastReplyAt <= t.renewMs + t.retryMs;
}

/** When the next request is due, if we want the lease at all. */
export function nextRequestAt(l: LeaseTrack, t: ArbiterTerms): number {
  if (l.lastSentAt === null) return -Infinity;
  const retry = l.lastSentAt + t.retryMs;
  // Holding a lease: renew on schedule (by then it is still usable, see the config's rules); otherwise retry.
  if (l.validUntil !== null && l.grantSentAt !== null) return Math.max(l.grantSentAt + t.renewMs, retry);
  return retry;
}

export function sendRequest(l: LeaseTrack, now: number, t: ArbiterTerms): { lease: LeaseTrack; id: number } {
  const id = l.nextId;
  const kept = l.requests.filter((r) => now - r.sentAt < t.leaseMs);
  const requests = [...kept, { id, sentAt: now }].slice(-MAX_PENDING);
  return { lease: { ...l, requests, nextId: id + 1, lastSentAt: now }, id };
}

export type LeaseAnswer =
  /** Our lease now ends later than before. */
  | { readonly kind: "extended"; readonly validUntil: number; readonly afterDenials: number }
  /** A grant that adds nothing (already expired, or older than what we hold). */
  | { readonly kind: "stale" }
  /** `repeat`: the same holder as the denial before; `previous`: the run of denials this one ends. */
  | { readonly kind: "denied"; readonly holder: string | null; readonly repeat: boolean; readonly previous: { readonly holder: string | null; readonly count: number } | null }
  /** An answer to a request we did not send, or forgot. */
  | { readonly kind: "unknown" };

export function takeAnswer(
  l: LeaseTrack,
  answer: { request: number; granted: boolean; durationMs: number; holder: string | null },
  now: number,
): { lease: LeaseTrack; result: LeaseAnswer } {
  const req = l.requests.find((r) => r.id === answer.request);
  if (req === undefined) return { lease: l, result: { kind: "unknown" } };
  const requests = l.requests.filter((r) => r.id !== answer.request);
  const base: LeaseTrack = { ...l, requests, lastReplyAt: now };
  if (!answer.granted) {
    const run = l.denials;
    const repeat = run !== null && run.holder === answer.holder;
    const denials = repeat ? { holder: run.holder, count: run.count + 1 } : { holder: answer.holder, count: 1 };
    return { lease: { ...base, deniedBy: answer.holder, denials }, result: { kind: "denied", holder: answer.holder, repeat, previous: repeat ? null : run } };
  }
  const duration = Number.isFinite(answer.durationMs) && answer.durationMs > 0 ? answer.durationMs : 0;
  const end = req.sentAt + duration;
  if (end <= now || (l.validUntil !== null && end <= l.validUntil)) return { lease: base, result: { kind: "stale" } };
  return {
    lease: { ...base, validUntil: end, grantSentAt: req.sentAt, deniedBy: null, denials: null },
    result: { kind: "extended", validUntil: end, afterDenials: l.denials?.count ?? 0 },
  };
}

/** Forget the lease itself (after a release, or when it ran out). */
export function dropLease(l: LeaseTrack): LeaseTrack {
  return { ...l, validUntil: null, grantSentAt: null, startNotBefore: null };
}
