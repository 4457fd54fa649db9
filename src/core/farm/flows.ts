/**
 * Who answers UDP flows, as this node knows it (pure): what the driver writes
 * into the farm table's `owner` map and `live` set (src/sys/farm/ruleset.ts
 * says how the kernel uses them).
 *
 * - `owners[b]`: the node a new flow in bucket b is credited to when this node
 *   does not take it itself, as its value (flowOwnerValue), or 0 for none:
 *   b's owner under our view, when every live serving peer advertises that
 *   same view (so it holds b, or takes it within a handover). 0 for a bucket
 *   we hold (the kernel credits us), for our own, and for all of them while
 *   views disagree or some peer's state is not known yet (just started, or
 *   heard but not its advert). A record lasts as long as its flow, so no
 *   record is better than a guess: a flow not credited is credited by a
 *   later datagram, while a wrong one makes a node leave the flow to a peer
 *   that does not answer it, or take it beside the one that does.
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
import { eligibleView, keepsFlows, tableOf } from "./farm.ts";
import { flowOwnerValue } from "./flow-owner-value.ts";
import { owners as ownersOf } from "./ownership.ts";
import { BUCKETS, type FarmState } from "./types.ts";

export interface FlowView {
  /** BUCKETS values, 0 or a peer's value (flowOwnerValue). */
  readonly owners: readonly number[];
  /** Peer values, ascending. */
  readonly live: readonly number[];
}

export function flowView(state: FarmState): FlowView {
  const cfg = state.config;
  const held = new Set(state.held);
  const view = eligibleView(state);
  const live: number[] = [];
  let agreed = true;
  const value = (i: number): number => flowOwnerValue(i, state.flowEpochs[i] ?? 0);
  state.peers.forEach((p, i) => {
    if (i === cfg.self) return;
    if (p.live === "unknown" || (p.live === "up" && p.advert === undefined)) agreed = false;
    if (p.live !== "up" || p.advert === undefined) return;
    if (keepsFlows(p)) live.push(value(i));
    if (p.advert.role === "in" && p.advert.view !== view) agreed = false;
  });
  const split = ownersOf(tableOf(cfg), view);
  const owners = Array.from({ length: BUCKETS }, (_, b): number => {
    const o = split[b] ?? -1;
    return !agreed || held.has(b) || o < 0 || o === cfg.self ? 0 : value(o);
  });
  return { owners, live: live.sort((a, b) => a - b) };
}

export function sameFlowView(a: FlowView, b: FlowView): boolean {
  return a.live.length === b.live.length && a.live.every((v, i) => v === b.live[i]) && a.owners.every((v, i) => v === b.owners[i]);
}
