/**
 * How long the SECOND may owe the PRIM an acknowledgement (DRBD's
 * timeout x ko-count). A SECOND whose applier is stuck for good (a hung
 * disk, a stuck thread) still answers the link's pings from its main
 * thread, so the link stays up and every write would wait for ever. Past
 * the bound the PRIM drops the link to it: what waits is then handled as
 * after any outage of the link (rule 3: held until the peer is dead or has
 * declared its copy outdated, then journaled and acknowledged alone), and
 * the link reconnects and resyncs as usual. The driver measures the age of
 * the oldest op on the wire; this says when that age is too much, and why,
 * and how long the link waits before it connects again.
 *
 * The resync's questions (what the SECOND's copy holds, the start of a
 * resync, listings, entries, block sums) have the same bound: the SECOND
 * answers the start of a resync only once the ops it was given have landed,
 * and reads its answers from a disk that may hang too, so a stuck SECOND
 * left the resync waiting for ever, saying nothing, while the service went
 * on alone. Past the bound the link is dropped and the resync resumes when
 * it is back.
 */
import type { ResyncRequest } from "../../proto/replication-resync.ts";
import { relPathText } from "../../replicator/ops.ts";

/**
 * 30 s by default: DRBD drops a peer after 42 s (6 s x 7), and a fsync of a
 * loaded but healthy disk takes seconds, so the bound must stay well above
 * that; the SCSI layer itself gives up on a command after 30 s, so a SECOND
 * that has not applied one op for that long is not merely slow.
 */
export const DEFAULT_ACK_TIMEOUT_MS = 30_000;

/** The oldest op the SECOND has not acknowledged yet: its sequence number and how long ago it went on the wire. */
export interface OwedAck {
  readonly seq: number;
  readonly ageMs: number;
}

/**
 * Why the link to `peer` must be dropped now, or null while the oldest owed
 * acknowledgement (null: none) is within `boundMs`. A bound of 0: never.
 */
export function ackOverdue(peer: string, owed: OwedAck | null, boundMs: number): string | null {
  if (owed === null || boundMs <= 0 || owed.ageMs < boundMs) return null;
  return `${peer} has not applied op ${owed.seq} for ${seconds(owed.ageMs)} (ack_timeout ${seconds(boundMs)}): link dropped, going on alone`;
}

/** The oldest question the SECOND has not answered: what was asked, and how long ago it (or its last "next") left. */
export interface OwedAnswer {
  readonly question: ResyncRequest;
  readonly ageMs: number;
}

/**
 * Why the link must be dropped now, for the older of the two things the
 * SECOND owes that is past `boundMs` (an op's acknowledgement, a question's
 * answer), or null while neither is. A bound of 0: never.
 */
export function owedOverdue(peer: string, owed: { readonly ack: OwedAck | null; readonly answer: OwedAnswer | null }, boundMs: number): string | null {
  const { ack, answer } = owed;
  const ackLate = ackOverdue(peer, ack, boundMs);
  if (answer === null || boundMs <= 0 || answer.ageMs < boundMs) return ackLate;
  if (ackLate !== null && ack !== null && ack.ageMs >= answer.ageMs) return ackLate;
  return `${peer} has not answered ${questionText(answer.question)} for ${seconds(answer.ageMs)} (ack_timeout ${seconds(boundMs)}): link dropped, the resync resumes once it is back`;
}

/** A question in an operator's words. */
export function questionText(q: ResyncRequest): string {
  switch (q.kind) {
    case "control":
      return q.action === "state" ? "what its copy holds" : q.action === "resync-end" ? "the end of the resync" : "the start of the resync";
    case "manifest":
      return `the listing of ${quoted(q.under)}`;
    case "entry":
      return `the question on ${quoted(q.path)}`;
    case "sums":
      return `the block sums of ${quoted(q.path)}`;
    case "next":
      return "the next part of a listing";
    case "cancel":
      return "the end of a listing";
  }
}

function quoted(p: Uint8Array): string {
  return p.length === 0 ? "the folder's top" : JSON.stringify(relPathText(p));
}

/** The longest pause before connecting again to a peer that keeps owing acknowledgements. */
export const MAX_RECONNECT_PAUSE_MS = 600_000;

/**
 * After the `strikes`-th drop in a row (no acknowledgement since the last
 * one), how long before the link connects again: the bound, doubled at each
 * strike, 10 minutes at most. Connecting again at once would bring the
 * service's writes back to the stuck applier (a resync's live writes wait
 * for the peer's acknowledgement) before the peer has declared its copy
 * outdated (rule 4), so every reconnection would stall them for another
 * bound; with the pause they are held only until that declaration, then go
 * on alone, and a peer stuck for good costs one stall per pause.
 */
export function reconnectPauseMs(boundMs: number, strikes: number): number {
  return Math.min(MAX_RECONNECT_PAUSE_MS, boundMs * 2 ** Math.min(20, Math.max(0, strikes - 1)));
}

/** How often the driver looks at the owed age: a tenth of the bound, between 100 ms and 1 s. */
export function ackCheckEveryMs(boundMs: number): number {
  return Math.min(1_000, Math.max(100, Math.floor(boundMs / 10)));
}

function seconds(ms: number): string {
  return ms >= 10_000 ? `${Math.floor(ms / 1000)} s` : `${(Math.floor(ms / 100) / 10).toFixed(1)} s`;
}
