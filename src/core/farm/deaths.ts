/**
 * When a peer's death counts for the farm: once no peer we hear still counts
 * it among its members.
 *
 * Membership's verdict is our own. A peer we stopped hearing (a loss in one
 * direction: a congested or broken path from it to us only) may still be
 * heard by the others; then it still serves its buckets, and answers its
 * UDP flows while its lease runs (the lease lapses only if its own daemon
 * stalls; the witness answers for us, not for it). Taking its buckets on our
 * verdict alone, by the handover rule "its view is ours plus nodes dead in
 * ours", made us answer its flows beside it for as long as the loss lasted
 * (sim: a node deaf to one peer for 3 s, flows answered twice and buckets
 * held twice in 20 of 20 seeds). The peers we hear are the witnesses of that
 * death: while one of them counts the dead peer in its advert (or we do not
 * know its advert yet), it may be alive, so
 *
 * - its buckets are not taken (handover.ts: a peer whose view differs from
 *   ours blocks; the rule that let us take them before the others agreed
 *   now holds only for a node that said goodbye), and
 * - its UDP flows stay its own (farm.ts keepsFlowsIn: no new flow epoch, and
 *   our records of them are still left to it, flows.ts).
 *
 * Once every peer we hear has left it out, it is dead for the farm: its
 * buckets go by the handover rules and its flows to their buckets' holders.
 * A real death costs the wait for the slowest survivor's verdict and its
 * advert (about an interval past ours). The price of a loss in one
 * direction: the dead peer lets go of the buckets that are ours under our
 * view (it hears us claim them, farm.ts claimedByPeers) and nobody takes
 * them until the loss ends; its flows there are still answered by it, new
 * ones there are not. A farm of two nodes has no one to tell: the verdict
 * counts at once, as before.
 *
 * That price is avoided where the peers say what they hear: each heartbeat
 * frame lists the nodes its sender hears (its echoes), and the farm keeps the
 * newest list per peer (FarmPeer.hears). A peer dead for us that a peer we
 * hear both hears now and counts in its view stays in our view
 * (aliveThrough, used by eligibleView): every node then computes the same
 * view, the one-way-deaf node keeps its buckets and we keep ours, and each
 * bucket has one holder for as long as the loss lasts. Why this is safe:
 *
 * - it only keeps a node in our view, never drops one: we take nothing we
 *   would not take with everybody hearing everybody, and keep the dead
 *   node's buckets out of our set, as the dispute above already does;
 * - it cannot hold a real death up: the witness's own membership stops
 *   listing a node a deadtime after it fell silent (as it stops counting it
 *   in its view), so the dead node leaves our view when it leaves the
 *   witness's. The earlier attempt to keep a disputed node in our view
 *   waited on the peers' views alone, which each survivor kept because the
 *   other still counted the node: a deadlock. Hearing is not circular: it
 *   comes from frames, not from the views it feeds;
 * - a peer whose hearing we were not told is no witness here: the dispute
 *   rule above still applies.
 */
import { hasMember } from "./members.ts";
import type { FarmState } from "./types.ts";

/**
 * Whether peer `node` is dead for us while a peer we hear still counts it
 * (see the header): it may be alive and serving.
 */
export function deathDisputed(state: FarmState, node: number): boolean {
  const self = state.config.self;
  const p = state.peers[node];
  if (p === undefined || node === self || p.live !== "dead" || p.stopped === true) return false;
  return state.peers.some((q, i) => i !== self && i !== node && q.live === "up" && (q.advert === undefined || hasMember(q.advert.view, node)));
}

/**
 * Whether peer `node`, dead for us, is alive for the farm (see the header):
 * a peer we hear says in its newest frame that it hears `node`, and counts it
 * in its view. Such a node stays in our view.
 */
export function aliveThrough(state: FarmState, node: number): boolean {
  return witnessesOf(state, node).length > 0;
}

/** The peers we hear that hear `node` (dead for us) and count it in their view. */
export function witnessesOf(state: FarmState, node: number): number[] {
  const self = state.config.self;
  const p = state.peers[node];
  if (p === undefined || node === self || p.live !== "dead" || p.stopped === true) return [];
  return state.peers.flatMap((q, i) =>
    i !== self && i !== node && q.live === "up" && q.hears !== undefined && hasMember(q.hears, node) && q.advert !== undefined && hasMember(q.advert.view, node) ? [i] : [],
  );
}
