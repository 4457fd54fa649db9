/**
 * Who answers UDP flows as a node knows it (src/core/farm/flows.ts): the
 * owner per bucket it records for flows it does not take, and the peers whose
 * flows it leaves alone; and the flow epochs the core keeps per peer
 * (farm.ts). No record is better than a wrong one, except that a peer that
 * has not heard yet that we went in still holds our new buckets.
 */
import { describe, expect, it } from "vitest";
import { farmStep, initFarmState, tableOf } from "../../src/core/farm/farm.ts";
import { flowView, sameFlowView } from "../../src/core/farm/flows.ts";
import { owners } from "../../src/core/farm/ownership.ts";
import { BUCKETS, type FarmEvent, type FarmPeer, type FarmState } from "../../src/core/farm/types.ts";

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

/** web1 serving with both peers in and advertising the full view. */
function settled(): FarmState {
  let s = initFarmState(config);
  for (const e of [
    { type: "start" },
    { type: "peer", node: 1, live: "up" },
    { type: "advert", node: 1, advert: { role: "in", view: ALL }, echo: 5 },
    { type: "peer", node: 2, live: "up" },
    { type: "advert", node: 2, advert: { role: "in", view: ALL }, echo: 5 },
  ] as const) s = farmStep(s, e, 10).state;
  return s;
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

  it("while views disagree (a membership change under way) no bucket is credited; once they agree, each to its owner", () => {
    // web2 still advertises the old view {web2, web3}; web3 already the full one.
    expect(flowView(state([up("in", 0b110), up("in", ALL)])).owners.every((o) => o === 0)).toBe(true);
    const split = owners(tableOf(config), ALL);
    flowView(state([up("in", ALL), up("in", ALL)])).owners.forEach((o, b) => expect(o).toBe(split[b] === 0 ? 0 : (split[b] ?? -1) + 1));
  });

  it("a node that just went in credits the peers that have not heard it yet with the buckets of their own view, which they still hold", () => {
    // web1 advertised the full view at 100; web2 and web3 still advertise {web2, web3}, written before they heard it.
    const s = (echo: number): FarmState => ({ ...state([{ ...up("in", 0b110), echo }, { ...up("in", 0b110), echo }]), advertised: ALL, advertisedAt: 100, role: "in" });
    const before = owners(tableOf(config), 0b110);
    flowView(s(90)).owners.forEach((o, b) => expect(o).toBe((before[b] ?? -1) + 1));
    // Written after they heard us, that view is not one they are leaving: it disagrees, nothing is credited.
    expect(flowView(s(100)).owners.every((o) => o === 0)).toBe(true);
    // A view that differs from ours by another node than us (a death one of us saw first): nothing either.
    const other = { ...state([{ ...up("in", 0b010), echo: 90 }, { ...up("in", ALL), echo: 90 }]), advertised: ALL, advertisedAt: 100, role: "in" as const };
    expect(flowView(other).owners.every((o) => o === 0)).toBe(true);
  });

  it("a peer that has not yet seen a death we saw is credited with the buckets of its own view, unless a peer still hears the dead node", () => {
    // web3 died for us; web2 still advertises the full view (it has not given web3 up yet) and its
    // frames no longer list web3 among the nodes it hears: web2 holds its buckets under the full view.
    const dead: FarmPeer = { live: "dead", diedAs: "in" };
    const s = (hears: number): FarmState => ({ ...state([{ ...up("in", ALL), hears }, dead]), advertised: 0b011, advertisedAt: 100 });
    const full = owners(tableOf(config), ALL);
    flowView(s(0b001)).owners.forEach((o, b) => expect(o).toBe(full[b] === 1 ? 2 : 0));
    // web2 hears web3: web3 is alive for the farm and stays in our view, which is then web2's: the usual rule.
    const through = flowView(s(0b101));
    through.owners.forEach((o, b) => expect(o).toBe(full[b] === 1 ? 2 : 0));
    expect(through.live).toContain(3);
    // A view larger than ours by a node that is up for us is a disagreement: nothing.
    expect(flowView(state([up("in", ALL), up("wait", ALL)])).owners.every((o) => o === 0)).toBe(true);
  });

  it("a peer's value moves on with its flow epoch: records of it from before it forgot its flows are not honoured", () => {
    const s = { ...state([up("in"), up("in")]), flowEpochs: [0, 3, 0] };
    const v = flowView(s);
    expect(v.live).toEqual([3, 2 + 32 * 3]);
    expect(v.owners.filter((o) => o === 2 + 32 * 3).length).toBeGreaterThan(50);
    expect(v.owners.includes(2)).toBe(false);
  });

  it("the core moves a peer's flow epoch on when it stops keeping flows: death, wait (restart, cut), stop; not on out or drain", () => {
    let s = settled();
    const epoch = (): number => s.flowEpochs[1] ?? -1;
    const step = (e: FarmEvent): void => {
      s = farmStep(s, e, 1000).state;
    };
    step({ type: "advert", node: 1, advert: { role: "out", view: 0b101 } });
    step({ type: "advert", node: 1, advert: { role: "drain", view: 0b101 } });
    expect(epoch()).toBe(0);
    step({ type: "advert", node: 1, advert: { role: "wait", view: 0b101 } });
    expect(epoch()).toBe(1);
    step({ type: "advert", node: 1, advert: { role: "in", view: ALL } });
    step({ type: "peer", node: 1, live: "dead" });
    // Not while web3 still counts web2 (deaths.ts): web2 may only be dead for us.
    expect(epoch()).toBe(1);
    step({ type: "advert", node: 2, advert: { role: "in", view: 0b101 } });
    expect(epoch()).toBe(2);
    step({ type: "peer", node: 1, live: "up" });
    step({ type: "advert", node: 1, advert: { role: "in", view: ALL } });
    step({ type: "advert", node: 1, advert: { role: "stopped", view: 0b101 } });
    expect(epoch()).toBe(3);
    expect(s.flowEpochs[2]).toBe(0);
  });

  it("sameFlowView compares owners and live", () => {
    const a = flowView(state([up("in"), up("in")]));
    expect(sameFlowView(a, flowView(state([up("in"), up("in")])))).toBe(true);
    expect(sameFlowView(a, flowView(state([up("in"), up("out")])))).toBe(false);
    expect(sameFlowView(a, { owners: a.owners, live: [2] })).toBe(false);
  });
});
