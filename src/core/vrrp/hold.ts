/**
 * Heartbeat hold: whether a BACKUP whose Master_Down_Interval ran out puts
 * its takeover off because the heartbeat says the silent master is alive
 * and still MASTER. Pure; vrrp.ts asks it at each master-down deadline.
 *
 * Why: three adverts lost in a row (a loss burst on the VRRP link) end
 * Master_Down_Interval although the master is there; the RFC backup, as
 * keepalived's, then takes over, and both hold the VIPs until the next
 * advert gets through. A vigil master also tells the cluster in its
 * heartbeat frames which instances it is MASTER of (and only once its
 * addresses are up, or after they are gone). When that heartbeat, often on
 * other links too, still hears the master's node say so, the adverts were
 * lost on the way, not the master: we wait.
 *
 * The rule. At the deadline, hold when all of these are true:
 * - heartbeatHold is on (the instance's heartbeat_hold);
 * - we wait for a master we heard (not a resigned one: priority 0 gives
 *   way after Skew_Time; not one we preempt: a lower master's adverts are
 *   discarded on purpose; not one the heartbeat declared dead);
 * - a cluster node says, in the heartbeat, that it is MASTER of this
 *   instance with that master's advert source;
 * - the heartbeat heard it say so recently: less than Master_Down_Interval
 *   minus 1.25 Master_Adver_Interval ago, that is after the master's first
 *   missing advert was due, plus a quarter interval for its timer's
 *   jitter. A node that died stopped both at once: its last frame is older
 *   than that when the deadline comes, so a dead master is taken over from
 *   exactly as before (even if its last advert went out a little late);
 * - the hold began less than one more Master_Down_Interval ago.
 * Then the deadline moves to the earlier of the end of the hold and the
 * moment that claim stops being recent; at each it is judged again.
 *
 * It ends with a takeover (reason master-down, the detail saying how long
 * it was held and why it stopped) at once when the node says it is no
 * longer MASTER (its interface failed and it went to FAULT: the one
 * message that still gets out is the heartbeat's), when the heartbeat
 * stops hearing it or declares it dead, and at the latest one
 * Master_Down_Interval after it began: a master cut off from the VRRP
 * network while its heartbeat runs elsewhere (the switch between them
 * failed, carrier still up) is taken over from, one interval later than
 * the RFC would. Any advert we accept ends it without a takeover.
 *
 * A master that is no cluster node (a keepalived router), a vigil node of
 * an older release (its frames do not say), or one the heartbeat never
 * heard, has no claim: the RFC rule holds unchanged for it.
 */
import type { PeerMaster, VrrpState } from "./types.ts";
import { masterDownIntervalMs } from "./config.ts";

export type HoldDecision =
  /** Take over now; `why` completes the detail when a hold was running ("" otherwise). */
  | { readonly hold: false; readonly why: string }
  /** Keep waiting; judge again at `recheckAt`. */
  | { readonly hold: true; readonly claim: PeerMaster; readonly until: number; readonly recheckAt: number };

/** A master's advert is awaited this fraction of its interval beyond the due time (its timer's jitter). */
const ADVERT_JITTER = 0.25;

/** How recent a claim must be: Master_Down_Interval minus 1.25 Master_Adver_Interval. */
export function holdFreshnessMs(s: Pick<VrrpState, "priority" | "masterAdverIntervalMs" | "config">): number {
  return masterDownIntervalMs(s.priority, s.masterAdverIntervalMs, s.config.downTimerAdverts) - Math.floor(s.masterAdverIntervalMs * (1 + ADVERT_JITTER));
}

/** The claim, by any node, that it is the master we wait for. */
export function claimFor(s: Pick<VrrpState, "master" | "peerMasters">): PeerMaster | undefined {
  const address = s.master?.address;
  return address === undefined ? undefined : s.peerMasters.find((p) => p.address === address);
}

/** Judged when the master-down deadline of a Backup has passed. */
export function judgeHold(s: VrrpState, now: number): HoldDecision {
  const running = s.hold;
  const none = (why: string): HoldDecision => ({ hold: false, why: running === null ? "" : why });
  if (!s.config.heartbeatHold || s.role !== "backup" || s.resignHeard || s.lowerHeard !== null || s.deadMaster !== null) return none("");
  const claim = claimFor(s);
  if (claim === undefined) return none(`node ${running?.node ?? "?"} no longer says it is MASTER`);
  const fresh = holdFreshnessMs(s);
  const age = now - claim.heardAt;
  if (!(age < fresh)) return none(`the heartbeat has not heard node ${claim.node} for ${Math.round(age)} ms`);
  const until = running?.until ?? now + masterDownIntervalMs(s.priority, s.masterAdverIntervalMs, s.config.downTimerAdverts);
  if (now >= until) return none("the hold's limit, one more Master_Down_Interval, is reached");
  return { hold: true, claim, until, recheckAt: Math.min(until, claim.heardAt + fresh) };
}
