/**
 * Who answers UDP flows, as this node knows it (pure): what the driver writes
 * into the farm table's `owner` map and `live` set (src/sys/farm/ruleset.ts
 * says how the kernel uses them).
 *
 * - `owners[b]`: the node a new flow in bucket b is credited to when this node
 *   does not take it itself, as its value (node index + 1), or 0 for none:
 *   the one live serving peer whose advert says it holds b (under the view
 *   it advertises). 0 for a bucket we hold (the kernel credits us), for one
 *   that no peer or two peers claim (nobody holds it, or a handover is under
 *   way), and for all of them while some peer's state is not known yet (just
 *   started, or a peer heard but not its advert). A record lasts as long as
 *   its flow, so no record is better than a guess: a flow not credited is
 *   credited by a later datagram, while a wrong one makes a node leave the
 *   flow to a peer that does not answer it, or take it beside the one that does.
 * - `live`: peers whose recorded flows are left to them: heard, and in, out
 *   or draining (those keep answering their flows). A peer that waits or
 *   stopped has forgotten its flows (a new table, or forget-flows), and one
 *   just heard has not said which yet: their flows go to the buckets'
 *   holders.
 */
import { tableOf } from "./farm.ts";
import { owners as ownersOf } from "./ownership.ts";
import { BUCKETS, type FarmRole, type FarmState } from "./types.ts";

export interface FlowView {
  /** BUCKETS values, 0 or a node index + 1. */
  readonly owners: readonly number[];
  /** Node indexes + 1, ascending. */
  readonly live: readonly number[];
}

const KEEPS_FLOWS: readonly FarmRole[] = ["in", "out", "drain"];

export function flowView(state: FarmState): FlowView {
  const cfg = state.config;
  const t = tableOf(cfg);
  const held = new Set(state.held);
  const claims: ArrayLike<number>[] = [];
  const live: number[] = [];
  let known = true;
  state.peers.forEach((p, i) => {
    if (i === cfg.self) return;
    if (p.live === "unknown" || (p.live === "up" && p.advert === undefined)) known = false;
    if (p.live !== "up" || p.advert === undefined) return;
    if (KEEPS_FLOWS.includes(p.advert.role)) live.push(i + 1);
    if (p.advert.role === "in" && ((p.advert.view >>> i) & 1) === 1) claims[i] = ownersOf(t, p.advert.view);
  });
  const owners = Array.from({ length: BUCKETS }, (_, b): number => {
    if (!known || held.has(b)) return 0;
    let claimant = 0;
    for (let i = 0; i < claims.length; i++) {
      if (claims[i]?.[b] !== i) continue;
      if (claimant !== 0) return 0;
      claimant = i + 1;
    }
    return claimant;
  });
  return { owners, live };
}

export function sameFlowView(a: FlowView, b: FlowView): boolean {
  return a.live.length === b.live.length && a.live.every((v, i) => v === b.live[i]) && a.owners.every((v, i) => v === b.owners[i]);
}
