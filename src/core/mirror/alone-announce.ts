/**
 * Rule 3 (b)'s announcement (mirror.ts): a PRIM that called its peer dead
 * and runs ALONE acknowledges nothing alone until a heartbeat round carrying
 * its ALONE advert has left on its links. The core asks for that round
 * ("announce-alone": the driver sends it at once, not at the next round nor
 * after the spacing of extra rounds) and waits for "alone-announced"; writes
 * are held meanwhile. Why: rule 4 outdates the SECOND when it hears ALONE,
 * and a PRIM that acknowledged a write alone and died before its ALONE left
 * would leave a SECOND that never heard it taking over without that write.
 *
 * The announcement holds for the rest of this ALONE (every round of it says
 * ALONE); a role other than ALONE ends it, and the next ALONE asks again. An
 * ask that is not answered (no heartbeat engine running at that moment, a
 * record that failed before it was carried out) is asked again after
 * ANNOUNCE_RETRY_MS; writes stay held until one is answered.
 */
import type { MirrorState } from "./types.ts";

/** How long an unanswered "announce-alone" waits before it is asked again. */
export const ANNOUNCE_RETRY_MS = 1_000;

/** Writes alone under rule 3 (b) need the announcement: ALONE, the peer dead. */
export function aloneByVerdict(s: MirrorState): boolean {
  return s.peerLiveness === "dead" && s.role === "ALONE";
}

/** Whether the core asks for the announcement now (first ask, or an unanswered one's retry). */
export function announceDue(s: MirrorState, now: number): boolean {
  if (!aloneByVerdict(s) || s.aloneAnnounced) return false;
  return s.announceAskedAt === null || now >= s.announceAskedAt + ANNOUNCE_RETRY_MS;
}

/** When an unanswered ask is due again, or null. */
export function announceWakeAt(s: MirrorState): number | null {
  if (s.aloneAnnounced || s.announceAskedAt === null || !aloneByVerdict(s)) return null;
  return s.announceAskedAt + ANNOUNCE_RETRY_MS;
}
