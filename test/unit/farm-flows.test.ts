/**
 * Who answers UDP flows as a node knows it (src/core/farm/flows.ts): the
 * owner per bucket it records for flows it does not take, and the peers whose
 * flows it leaves alone. No record is better than a wrong one.
 */
import { describe, expect, it } from "vitest";
import { tableOf } from "../../src/core/farm/farm.ts";
import { flowView, sameFlowView } from "../../src/core/farm/flows.ts";
import { owners } from "../../src/core/farm/ownership.ts";
import { BUCKETS, type FarmPeer, type FarmState } from "../../src/core/farm/types.ts";
import { initFarmState } from "../../src/core/farm/farm.ts";

const nodes = [
  { name: "web1", weight: 1 },
  { name: "web2", weight: 1 },
  { name: "web3", weight: 1 },
];
const config = { module: "web", nodes, self: 0, ownershipSeed: 77, drainTimeoutMs: 5000 };
const ALL = 0b111;

function state(peers: readonly FarmPeer[], held: readonly number[] = []): FarmState {
  return { ...initFarmState(config), mode: "in", peers: [{ live: "unknown" }, ...peers], held };
}

const up = (role: "in" | "out" | "drain" | "wait" | "stopped", view = ALL): FarmPeer => ({ live: "up", advert: { role, view } });

describe("UDP flow owners", () => {
  it("in a settled farm: each bucket credited to its holder, ours to nobody (the kernel credits us)", () => {
    const split = owners(tableOf(config), ALL);
    const mine = Array.from({ length: BUCKETS }, (_, b) => b).filter((b) => split[b] === 0);
    const v = flowView(state([up("in"), up("in")], mine));
    expect(v.live).toEqual([2, 3]);
    v.owners.forEach((o, b) => expect(o).toBe(split[b] === 0 ? 0 : (split[b] ?? -1) + 1));
  });

  // Each case: peers 2 and 3 as this node knows them, and what it may record.
  it.each([
    { what: "a peer not known yet: no record at all", p2: { live: "unknown" } as FarmPeer, p3: up("in"), live: [3], credited: 0 },
    { what: "a peer heard but its advert not: no record at all", p2: { live: "up" } as FarmPeer, p3: up("in"), live: [3], credited: 0 },
    { what: "a dead peer: its flows are not left to it", p2: { live: "dead" } as FarmPeer, p3: up("in", 0b101), live: [3], credited: -1 },
    { what: "a waiting peer (restarted, or back from a cut): forgot its flows", p2: up("wait", 0b101), p3: up("in", 0b101), live: [3], credited: -1 },
    { what: "a stopped peer: its table is gone", p2: up("stopped", 0b101), p3: up("in", 0b101), live: [3], credited: -1 },
    { what: "a draining peer keeps its flows, holds no bucket", p2: up("drain", 0b101), p3: up("in", 0b101), live: [2, 3], credited: -1 },
    { what: "a peer whose checker fails keeps its flows, holds no bucket", p2: up("out", 0b101), p3: up("in", 0b101), live: [2, 3], credited: -1 },
  ])("$what", ({ p2, p3, live, credited }) => {
    const v = flowView(state([p2, p3]));
    expect(v.live).toEqual(live);
    if (credited === 0) {
      expect(v.owners.every((o) => o === 0)).toBe(true);
      return;
    }
    // Only web3 claims buckets: exactly its share under its view, nothing for web2.
    const split = owners(tableOf(config), 0b101);
    v.owners.forEach((o, b) => expect(o).toBe(split[b] === 2 ? 3 : 0));
  });

  it("a bucket two peers claim (a handover under way) is credited to nobody", () => {
    // web2 still advertises the old view {web2, web3}; web3 already the full one.
    const v = flowView(state([up("in", 0b110), up("in", ALL)]));
    const old = owners(tableOf(config), 0b110);
    const now = owners(tableOf(config), ALL);
    for (let b = 0; b < BUCKETS; b++) {
      const c2 = old[b] === 1;
      const c3 = now[b] === 2;
      expect(v.owners[b]).toBe(c2 && c3 ? 0 : c2 ? 2 : c3 ? 3 : 0);
    }
    // During a join the node taking a bucket credits its flows to the holder until it lets go.
    expect(v.owners.some((o) => o === 2)).toBe(true);
  });

  it("sameFlowView compares owners and live", () => {
    const a = flowView(state([up("in"), up("in")]));
    expect(sameFlowView(a, flowView(state([up("in"), up("in")])))).toBe(true);
    expect(sameFlowView(a, flowView(state([up("in"), up("out")])))).toBe(false);
    expect(sameFlowView(a, { owners: a.owners, live: [2] })).toBe(false);
  });
});
