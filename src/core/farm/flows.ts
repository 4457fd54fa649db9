/**
 * Who answers UDP flows, as this node knows it (pure): what the driver writes
 * into the farm table's `owner` map and `live` set (src/sys/farm/ruleset.ts
 * says how the kernel uses them).
 *
 * - `owners[b]`: the node a new flow in bucket b is credited to when this node
 *   does not take it itself, as its value (flowOwnerValue), or 0 for none:
 *   the live serving peer that holds b or is about to (bucketClaims): b's
 *   owner under our view when every such peer advertises that same view, or
 *   a peer that has not heard yet that we went in, for the buckets of its
 *   own view. 0 for a bucket we hold (the kernel credits us), for our own,
 *   and for all of them while views disagree otherwise or some peer's state
 *   is not known yet (just started, or heard but not its advert). A record
 *   lasts as long as its flow, so no record is better than a guess: a flow
 *   not credited is credited by a later datagram, while a wrong one makes a
 *   node leave the flow to a peer that does not answer it, or take it beside
 *   the one that does.
 * - `live`: peers whose recorded flows are left to them: heard, and in, out
 *   or draining (those keep answering their flows). A peer that waits or
 *   stopped has forgotten its flows (a new table, or forget-flows), and one
 *   just heard has not said which yet: their flows go to the buckets'
 *   holders.
 *
 * A peer's value is its index and its flow epoch, which moves on each time
 * it stops keeping flows (farm.ts nextFlowEpochs): a record of a peer that
 * forgot its flows since, made before and not yet replaced (no datagram came
 * while it was away), names a value no longer live, so that flow goes to its
 * bucket's holder instead of to a peer that no longer answers it.
 */
import { eligibleView, keepsFlowsIn, tableOf } from "./farm.ts";
import { aliveThrough } from "./deaths.ts";
import { withMember } from "./members.ts";
import { flowOwnerValue } from "./flow-owner-value.ts";
import { owners as ownersOf } from "./ownership.ts";
import { BUCKETS, type FarmState, type Members } from "./types.ts";

export interface FlowView {
  /** BUCKETS values, 0 or a peer's value (flowOwnerValue). */
  readonly owners: readonly number[];
  /** Peer values, ascending. */
  readonly live: readonly number[];
}

export function flowView(state: FarmState): FlowView {
  const cfg = state.config;
  const held = new Set(state.held);
  const live: number[] = [];
  const value = (i: number): number => flowOwnerValue(i, state.flowEpochs[i] ?? 0);
  state.peers.forEach((_, i) => {
    if (i !== cfg.self && keepsFlowsIn(state, i)) live.push(value(i));
  });
  const claims = bucketClaims(state);
  const owners = Array.from({ length: BUCKETS }, (_, b): number => {
    const o = claims?.[b] ?? -1;
    return held.has(b) || o < 0 ? 0 : value(o);
  });
  return { owners, live: live.sort((a, b) => a - b) };
}

/**
 * Per bucket: the live serving peer that holds it or is about to, -1 for
 * none (or ours); undefined while that cannot be told (see flowView).
 *
 * With our view: each bucket's owner under it. A peer that advertises our
 * view without us and has not heard our advert since we went in (its echo)
 * still holds, and takes new flows in, the buckets of its own view that are
 * ours under ours, until it hears us and hands them over: those are its.
 * Counting that as views disagreeing, we credited nothing in that window and
 * took those flows beside it at their next datagram once the bucket came to
 * us, until the answer to our gain's ask came (sim: a node joining while new
 * flows start, its peers reading their tables slowly, 10 of 30 seeds; lab
 * farm-udp after all three nodes lapsed: one flow answered by two nodes for
 * 4 datagrams). Only that difference is trusted: a peer whose view differs
 * otherwise (a third node's death seen by one of us first) may leave the
 * flows of a bucket it holds to that third node, or claim a bucket by a
 * quota side-move that it never takes.
 */
function bucketClaims(state: FarmState): Int8Array | undefined {
  const self = state.config.self;
  const view = eligibleView(state);
  const t = tableOf(state.config);
  const claims = new Int8Array(BUCKETS).fill(-1);
  const by = (i: number, members: Members): void => {
    const split = ownersOf(t, members);
    for (let b = 0; b < BUCKETS; b++) if (split[b] === i) claims[b] = claims[b] === -1 ? i : -2;
  };
  for (let i = 0; i < state.peers.length; i++) {
    const p = state.peers[i];
    if (i === self || p === undefined) continue;
    if (p.live === "unknown" || (p.live === "up" && p.advert === undefined)) return undefined;
    if (p.live !== "up" || p.advert?.role !== "in") continue;
    if (p.advert.view === view) by(i, view);
    else if (state.mode === "in" && withMember(p.advert.view, self) === view && (p.echo ?? -Infinity) < state.advertisedAt) by(i, p.advert.view);
    else if (onlyDeathsAhead(state, view, p.advert.view)) by(i, p.advert.view);
    else return undefined;
  }
  return claims;
}

/**
 * Whether a peer's view is ours plus nodes that are dead for us and that no
 * peer we hear still hears (deaths.ts aliveThrough): it has not seen those
 * deaths yet, and holds, and takes new flows in, the buckets of its own view
 * until it does. A node that stops hearing a dead peer before the last
 * witness does moves to the view without it at once, while that witness
 * still holds under the old view; crediting nothing there, we took a new
 * flow born in that window in a bucket the quotas move from that witness to
 * us, and answered it beside the witness until its report came (sim: a
 * witness cut heal with tables read 0.9 s late, seed 9).
 */
function onlyDeathsAhead(state: FarmState, view: Members, theirs: Members): boolean {
  const extra = (theirs & ~view) >>> 0;
  if ((view & ~theirs) !== 0 || extra === 0) return false;
  for (let i = 0; i < state.peers.length; i++) {
    if (((extra >>> i) & 1) === 0) continue;
    const p = state.peers[i];
    if (p?.live !== "dead" || p.stopped === true || aliveThrough(state, i)) return false;
  }
  return true;
}

export function sameFlowView(a: FlowView, b: FlowView): boolean {
  return a.live.length === b.live.length && a.live.every((v, i) => v === b.live[i]) && a.owners.every((v, i) => v === b.owners[i]);
}
