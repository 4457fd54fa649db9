/**
 * The farm core's step (src/core/farm/farm.ts): scenario by scenario, the
 * actions and their order.
 */
import { describe, expect, it } from "vitest";
import { advertRole, farmStep, initFarmState, parseAdvert, tableOf } from "../../src/core/farm/farm.ts";
import { bucketsOf } from "../../src/core/farm/ownership.ts";
import type { FarmAction, FarmCoreConfig, FarmState } from "../../src/core/farm/types.ts";
import { runFarm } from "./farm-run.ts";

const nodes = [
  { name: "web1", weight: 1 },
  { name: "web2", weight: 1 },
  { name: "web3", weight: 1 },
];
const config = (self: number, drainTimeoutMs = 5000): FarmCoreConfig => ({ module: "web", nodes, self, ownershipSeed: 77, drainTimeoutMs });


const kinds = (actions: readonly FarmAction[]): string[] => actions.map((a) => a.type);
const ALL = 0b111;

/** web1 serving in a settled 3-node farm where everyone advertised the full view. */
function settledWeb1(): FarmState {
  return runFarm(initFarmState(config(0)), [
    [0, { type: "start" }],
    [10, { type: "peer", node: 1, live: "up" }],
    [10, { type: "advert", node: 1, advert: { role: "in", view: ALL }, echo: 5 }],
    [11, { type: "peer", node: 2, live: "up" }],
    [11, { type: "advert", node: 2, advert: { role: "in", view: ALL }, echo: 5 }],
    [120, { type: "advert", node: 1, advert: { role: "in", view: ALL }, echo: 110 }],
    [121, { type: "advert", node: 2, advert: { role: "in", view: ALL }, echo: 110 }],
  ]).state;
}

describe("farm core", () => {
  it("a node whose peers stopped cleanly waits for them, then takes every bucket and the ARP owner", () => {
    let r = runFarm(initFarmState(config(0)), [[0, { type: "start" }]]);
    expect(kinds(r.actions)).toEqual(["setup", "advertise"]);
    expect(r.state.mode).toBe("wait");
    r = runFarm(r.state, [
      [1500, { type: "peer", node: 1, live: "dead", stopped: true }],
      [1500, { type: "peer", node: 2, live: "dead", stopped: true }],
    ]);
    expect(r.state.mode).toBe("in");
    expect(r.state.held.length).toBe(256);
    expect(r.state.arpOwner).toBe(true);
    expect(kinds(r.actions)).toEqual(["advertise", "write", "arp-responder", "garp", "rebalanced"]);
  });

  it("without a witness, hearing no peer (silence, carrier up) it serves every bucket; heard again, it keeps its share at once and hands the rest back", () => {
    const s = settledWeb1();
    let r = runFarm(s, [
      [900, { type: "peer", node: 1, live: "dead" }],
      [900, { type: "peer", node: 2, live: "dead" }],
    ]);
    expect(r.state.mode).toBe("in");
    expect(r.state.detail).toContain("serving alone: no peer heard");
    expect(r.state.held.length).toBe(256);
    expect(r.state.arpOwner).toBe(true);
    expect(kinds(r.actions)).not.toContain("ask-witness");
    // A peer heard again (it may have been us cut off): no listening time, the peer's buckets go at once.
    r = runFarm(r.state, [[2000, { type: "peer", node: 1, live: "up" }]]);
    expect(r.state.quiet).toBeUndefined();
    expect(r.state.held).toEqual(bucketsOf(tableOf(s.config), 0, 0b011));
    expect(kinds(r.actions)).toContain("forget-flows");
    const heard = r.state;
    // Its first advert says it starts (it had crashed): we serve on, and take back what it does not serve.
    r = runFarm(heard, [[2001, { type: "advert", node: 1, advert: { role: "wait", view: 0b001 }, echo: 2000 }]]);
    expect(r.state.mode).toBe("in");
    expect(r.state.quiet).toBeUndefined();
    expect(r.state.held.length).toBeGreaterThan(bucketsOf(tableOf(s.config), 0, 0b011).length);
    expect(r.state.rejoining).toBeUndefined();
    // It served alone too (two of three cut apart): the higher index yields, so we serve on.
    r = runFarm(heard, [[2001, { type: "advert", node: 1, advert: { role: "in", view: 0b011 }, echo: 2000 }]]);
    expect(r.state.mode).toBe("in");
    expect(r.state.held).toEqual(bucketsOf(tableOf(s.config), 0, 0b011));
    expect(kinds(r.actions)).not.toContain("forget-flows");
    // An advert written before it heard us (a thawed node's first heartbeat) decides nothing yet.
    r = runFarm(heard, [[2001, { type: "advert", node: 1, advert: { role: "in", view: 0b110 }, echo: 1500 }]]);
    expect(r.state.quiet).toBeUndefined();
    expect(r.state.rejoining).toEqual([1]);
    // It served with a third node (we alone were cut off): we forget our flows and listen settleMs,
    // asking it for the flows it answered, before taking our share by handover.
    r = runFarm(heard, [[2001, { type: "advert", node: 1, advert: { role: "in", view: 0b110 }, echo: 2000 }]]);
    expect(r.state.mode).toBe("wait");
    expect(r.state.held).toEqual([]);
    expect(r.state.quiet?.until).toBe(2501);
    expect(r.actions).toContainEqual({ type: "ask-flows", nodes: [1], at: 2001 });
    expect(kinds(r.actions)).toContain("forget-flows");
  });

  it("with a witness that does not answer, hearing no peer (silence, carrier up) it holds nothing; heard again, it listens settleMs, then takes its share by handover", () => {
    const s = { ...settledWeb1(), config: { ...config(0), witness: true } };
    let r = runFarm(s, [
      [900, { type: "peer", node: 1, live: "dead" }],
      [900, { type: "peer", node: 2, live: "dead" }],
    ]);
    expect(r.state.mode).toBe("wait");
    expect(r.state.detail).toContain("hears no peer");
    expect(r.state.held).toEqual([]);
    expect(r.state.arpOwner).toBe(false);
    expect(kinds(r.actions)).toContain("forget-flows");
    // One peer heard again: still nothing for settleMs (500 ms), whatever the adverts say.
    r = runFarm(r.state, [
      [2000, { type: "peer", node: 1, live: "up" }],
      [2001, { type: "advert", node: 1, advert: { role: "in", view: 0b010 }, echo: 1 }],
    ]);
    expect(r.state.detail).toContain("hears peers again");
    expect(r.state.held).toEqual([]);
    expect(r.state.quiet?.until).toBe(2500);
    r = runFarm(r.state, [
      [2500, { type: "tick" }],
      [2510, { type: "advert", node: 1, advert: { role: "in", view: 0b011 }, echo: 2500 }],
    ]);
    expect(r.state.mode).toBe("in");
    expect(r.state.held).toEqual(bucketsOf(tableOf(s.config), 0, 0b011));
  });

  it("a starting node listens learnMs from the moment its table exists, whatever happens before (a lapse while the link is set up)", () => {
    const cfg = { ...config(0), learnMs: 500 };
    let r = runFarm(initFarmState(cfg), [
      [0, { type: "start" }],
      [10, { type: "peer", node: 1, live: "up" }],
      [10, { type: "advert", node: 1, advert: { role: "in", view: 0b110 }, echo: 5 }],
      [11, { type: "peer", node: 2, live: "up" }],
      [11, { type: "advert", node: 2, advert: { role: "in", view: 0b110 }, echo: 5 }],
      [300, { type: "lapsed" }],
    ]);
    expect(r.state.detail).toContain("listening to the clients' UDP flows");
    expect(r.state.wakeAt).toBeUndefined();
    r = runFarm(r.state, [[900, { type: "set-up" }]]);
    expect(r.state.quiet?.until).toBe(1400);
    r = runFarm(r.state, [[1399, { type: "tick" }]]);
    expect(r.state.mode).toBe("wait");
    r = runFarm(r.state, [
      [1400, { type: "tick" }],
      [1450, { type: "advert", node: 1, advert: { role: "in", view: ALL }, echo: 1400 }],
      [1451, { type: "advert", node: 2, advert: { role: "in", view: ALL }, echo: 1400 }],
    ]);
    expect(r.state.mode).toBe("in");
    expect(r.state.held).toEqual(bucketsOf(tableOf(cfg), 0, ALL));
  });

  it("a farm that starts while its peers wait listens its learnMs: a peer that serves meanwhile is asked for its flows, and it takes its share once they told", () => {
    const cfg = { ...config(0), learnMs: 500, reportWaitMs: 5000 };
    let r = runFarm(initFarmState(cfg), [
      [0, { type: "start" }],
      [10, { type: "peer", node: 1, live: "up" }],
      [10, { type: "advert", node: 1, advert: { role: "wait", view: 0 }, echo: 5 }],
    ]);
    // Table not there yet: nothing is taken, however little there is to learn.
    expect(r.state.held).toEqual([]);
    r = runFarm(r.state, [[40, { type: "set-up" }]]);
    expect(r.state.quiet).toEqual({ until: 540, reason: "start" });
    // Both peers wait: they keep no flow, but either may serve before our listening ends, and take
    // buckets under a view without us; it goes on.
    r = runFarm(r.state, [
      [60, { type: "peer", node: 2, live: "up" }],
      [60, { type: "advert", node: 2, advert: { role: "wait", view: 0 }, echo: 5 }],
    ]);
    expect(r.state.quiet).toEqual({ until: 540, reason: "start" });
    // Both serve now: each is asked for its flows, and must tell them before we take anything.
    r = runFarm(r.state, [
      [70, { type: "advert", node: 1, advert: { role: "in", view: 0b110 }, echo: 60 }],
      [71, { type: "advert", node: 2, advert: { role: "in", view: 0b110 }, echo: 60 }],
    ]);
    expect(r.actions).toContainEqual({ type: "ask-flows", nodes: [1], at: 70 });
    // web3 was asked when it was first heard, before its advert changed: that answer would not count.
    r = runFarm(r.state, [[160, { type: "tick" }]]);
    expect(r.actions).toContainEqual({ type: "ask-flows", nodes: [1, 2], at: 160 });
    r = runFarm(r.state, [
      [175, { type: "flows-told", node: 1, askedAt: 160, part: 0, parts: 1, flows: [] }],
      [540, { type: "tick" }],
    ]);
    expect(r.state.quiet).toEqual({ until: 540, reason: "start" });
    expect(r.state.held).toEqual([]);
    r = runFarm(r.state, [[545, { type: "flows-told", node: 2, askedAt: 160, part: 0, parts: 1, flows: [] }]]);
    expect(r.state.quiet).toBeUndefined();
    expect(r.state.mode).toBe("in");
    // Both peers join under the same view and acknowledge ours: each takes its own share.
    r = runFarm(r.state, [
      [550, { type: "advert", node: 1, advert: { role: "in", view: ALL }, echo: 545 }],
      [551, { type: "advert", node: 2, advert: { role: "in", view: ALL }, echo: 545 }],
    ]);
    expect(r.state.held).toEqual(bucketsOf(tableOf(cfg), 0, ALL));
  });

  it("a node that starts while a peer serves (or may: its advert not heard yet) listens its whole learnMs", () => {
    const cfg = { ...config(0), learnMs: 500 };
    const r = runFarm(initFarmState(cfg), [
      [0, { type: "start" }],
      [10, { type: "peer", node: 1, live: "up" }],
      [10, { type: "advert", node: 1, advert: { role: "wait", view: 0 }, echo: 5 }],
      [11, { type: "peer", node: 2, live: "up" }],
      [40, { type: "set-up" }],
      [50, { type: "advert", node: 2, advert: { role: "out", view: 0b100 }, echo: 5 }],
      [539, { type: "tick" }],
    ]);
    expect(r.state.quiet).toEqual({ until: 540, reason: "start" });
    expect(r.state.held).toEqual([]);
  });

  /** Node 0 of three with a ping witness, all serving, then node 1 dead at 900 (node 2 still heard). */
  function witnessFarmOnePeerDead(): ReturnType<typeof runFarm> {
    return runFarm(initFarmState({ ...config(0), witness: true }), [
      [0, { type: "start" }],
      [10, { type: "peer", node: 1, live: "up" }],
      [10, { type: "advert", node: 1, advert: { role: "in", view: ALL }, echo: 5 }],
      [11, { type: "peer", node: 2, live: "up" }],
      [11, { type: "advert", node: 2, advert: { role: "in", view: ALL }, echo: 5 }],
      [900, { type: "peer", node: 1, live: "dead" }],
    ]);
  }

  it("with a ping witness: alone, it asks; rounds asked since the last peer fell silent that answer for settleMs let it serve alone", () => {
    let r = witnessFarmOnePeerDead();
    expect(r.actions.filter((a) => a.type === "ask-witness")).toEqual([]);
    r = runFarm(r.state, [[950, { type: "peer", node: 2, live: "dead" }]]);
    expect(r.actions).toContainEqual({ type: "ask-witness", at: 950 });
    expect(r.state.held).toEqual([]);
    expect(r.state.detail).toContain("the witness does not answer");
    // An answer to a round asked before the last peer fell silent says nothing.
    expect(runFarm(r.state, [[960, { type: "witness", reachable: true, askedAt: 940 }]]).state.held).toEqual([]);
    // The round asked then answers: the witness counts once it has answered for settleMs (500 ms), no peer heard.
    const first = runFarm(r.state, [[1000, { type: "witness", reachable: true, askedAt: 950 }]]);
    expect(first.state.held).toEqual([]);
    expect(first.actions).toContainEqual({ type: "ask-witness", at: 1000 });
    const alone = runFarm(first.state, [[1460, { type: "witness", reachable: true, askedAt: 1450 }]]);
    expect(alone.state.held.length).toBe(256);
    expect(alone.state.arpOwner).toBe(true);
    expect(alone.state.detail).toContain("serving alone");
    expect(alone.actions).toContainEqual({ type: "ask-witness", at: 1460 });
    // The witness stops answering: it may be us cut off after all; nothing held, flows forgotten.
    const cut = farmStep(alone.state, { type: "witness", reachable: false, askedAt: 1460 }, 2000);
    expect(cut.state.held).toEqual([]);
    expect(kinds(cut.actions)).toContain("forget-flows");
    // Answering again (a cut healing?) counts only after settleMs with still no peer heard.
    let back = runFarm(cut.state, [[3000, { type: "witness", reachable: true, askedAt: 2000 }]]);
    expect(back.state.held).toEqual([]);
    back = runFarm(back.state, [[3600, { type: "witness", reachable: true, askedAt: 2500 }]]);
    expect(back.state.held.length).toBe(256);
    // A peer heard: no more alone, witness forgotten; having served alone, it forgets its flows.
    const heard = farmStep(back.state, { type: "peer", node: 1, live: "up" }, 4000);
    expect(heard.state.witnessed).toBeUndefined();
    expect(heard.state.aloneSince).toBeUndefined();
    expect(kinds(heard.actions)).toContain("forget-flows");
    expect(farmStep(heard.state, { type: "witness", reachable: true, askedAt: 3600 }, 4100).actions).toEqual([]);
  });

  it("a cut that heals brings the witness back with the peers: an answer to the round asked as the last peer fell silent, slow or prompt, takes nothing until the witness has answered for settleMs", () => {
    const r = runFarm(witnessFarmOnePeerDead().state, [[950, { type: "peer", node: 2, live: "dead" }]]);
    expect(r.actions).toContainEqual({ type: "ask-witness", at: 950 });
    // The ping waited on the cut and got through as it healed, 775 ms after it was asked.
    const healing = farmStep(r.state, { type: "witness", reachable: true, askedAt: 950 }, 1725);
    expect(healing.state.held).toEqual([]);
    expect(healing.actions).toContainEqual({ type: "ask-witness", at: 1725 });
    // The next round answers at once; the peers are heard 50 ms after the first answer: still nothing taken.
    const next = farmStep(healing.state, { type: "witness", reachable: true, askedAt: 1725 }, 1730);
    expect(next.state.held).toEqual([]);
    const peer = farmStep(next.state, { type: "peer", node: 1, live: "up" }, 1775);
    expect(peer.state.held).toEqual([]);
    expect(peer.state.witnessed).toBeUndefined();
    // No peer heard for settleMs (500 ms) of answers from the first one's arrival: the peers are down after all.
    expect(runFarm(next.state, [[2200, { type: "witness", reachable: true, askedAt: 2200 }]]).state.held).toEqual([]);
    expect(runFarm(next.state, [[2226, { type: "witness", reachable: true, askedAt: 2225 }]]).state.held.length).toBe(256);
    // A prompt answer (the heal 20 ms after the round was asked) takes nothing either; the peers heard 40 ms later.
    const prompt = farmStep(r.state, { type: "witness", reachable: true, askedAt: 950 }, 975);
    expect(prompt.state.held).toEqual([]);
    expect(farmStep(prompt.state, { type: "peer", node: 2, live: "up" }, 1015).state.held).toEqual([]);
  });

  it("in a settled farm each node holds its own buckets once peers acknowledge its view", () => {
    const s = settledWeb1();
    expect(s.mode).toBe("in");
    expect(s.held).toEqual(bucketsOf(tableOf(s.config), 0, ALL));
    expect(s.advertised).toBe(ALL);
  });

  it("does not take a bucket before the peer acknowledged its advert", () => {
    const s = runFarm(initFarmState(config(0)), [
      [0, { type: "start" }],
      [10, { type: "peer", node: 1, live: "up" }],
      [10, { type: "advert", node: 1, advert: { role: "in", view: ALL }, echo: 5 }],
      [11, { type: "peer", node: 2, live: "up" }],
      // Same view, but written before our advert at 11: not yet an acknowledgement.
      [11, { type: "advert", node: 2, advert: { role: "in", view: ALL }, echo: 5 }],
    ]).state;
    expect(s.held).toEqual([]);
  });

  it("takes a dead peer's buckets only once the other survivor leaves it out too: while it counts it, the peer may only be dead for us", () => {
    const s = settledWeb1();
    const t = tableOf(s.config);
    const r = farmStep(s, { type: "peer", node: 2, live: "dead" }, 1000);
    const mine = bucketsOf(t, 0, 0b011);
    const fromDead = mine.filter((b) => bucketsOf(t, 2, ALL).includes(b));
    const fromSurvivor = mine.filter((b) => bucketsOf(t, 1, ALL).includes(b));
    expect(fromDead.length).toBeGreaterThan(0);
    // web2 still advertises the old view, web3 in it: nothing of web3's is taken (deaths.ts).
    expect(r.state.held.filter((b) => fromDead.includes(b))).toEqual([]);
    expect(kinds(r.actions)[0]).toEqual("advertise");
    const after = farmStep(r.state, { type: "advert", node: 1, advert: { role: "in", view: 0b011 }, echo: 1005 }, 1010);
    expect(after.state.held).toEqual(mine);
    expect(fromSurvivor.every((b) => after.state.held.includes(b))).toBe(true);
  });

  it("a survivor that noticed the death first does not hold up the dead node's buckets", () => {
    const s = settledWeb1();
    const t = tableOf(s.config);
    // web2 saw web3 die first and advertises the new view; its heartbeat cannot echo our advert of it yet.
    let r = farmStep(s, { type: "advert", node: 1, advert: { role: "in", view: 0b011 }, echo: 200 }, 990);
    r = farmStep(r.state, { type: "peer", node: 2, live: "dead" }, 1000);
    const fromDead = bucketsOf(t, 0, 0b011).filter((b) => bucketsOf(t, 2, ALL).includes(b));
    expect(fromDead.every((b) => r.state.held.includes(b))).toBe(true);
    // Buckets moving from web2 to us still wait for its acknowledgement.
    const fromWeb2 = bucketsOf(t, 0, 0b011).filter((b) => bucketsOf(t, 1, ALL).includes(b));
    expect(fromWeb2.some((b) => r.state.held.includes(b))).toBe(false);
  });

  it("drops a returning peer's buckets before advertising, then waits for it", () => {
    const alone = runFarm(initFarmState(config(0)), [
      [0, { type: "start" }],
      [1500, { type: "peer", node: 1, live: "dead", stopped: true }],
      [1500, { type: "peer", node: 2, live: "dead", stopped: true }],
    ]).state;
    expect(alone.held.length).toBe(256);
    const r = farmStep(alone, { type: "peer", node: 2, live: "up" }, 2000);
    const t = tableOf(alone.config);
    expect(kinds(r.actions).slice(0, 2)).toEqual(["write", "advertise"]);
    expect(r.state.held).toEqual(bucketsOf(t, 0, 0b101));
  });

  it("a failing checker takes the node out: nothing held, no ARP, established connections kept", () => {
    let s = settledWeb1();
    const wasArp = s.arpOwner;
    const r = farmStep(s, { type: "health", healthy: false, detail: "tcp 127.0.0.1:80 refused" }, 500);
    s = r.state;
    expect(s.mode).toBe("out");
    expect(s.held).toEqual([]);
    expect(s.detail).toContain("refused");
    const first = r.actions[0];
    expect(first?.type).toBe(wasArp ? "arp-responder" : "write");
    expect(r.actions.find((a) => a.type === "advertise")).toEqual({ type: "advertise", role: "out", view: 0b110 });
    expect(kinds(r.actions)).not.toContain("teardown");
    const back = runFarm(s, [
      [600, { type: "health", healthy: true, detail: "ok" }],
      [700, { type: "advert", node: 1, advert: { role: "in", view: ALL }, echo: 650 }],
      [701, { type: "advert", node: 2, advert: { role: "in", view: ALL }, echo: 650 }],
    ]).state;
    expect(back.held).toEqual(settledWeb1().held);
  });

  it("drain: lets go of every bucket, waits for connections, then tears down", () => {
    const s = settledWeb1();
    let r = farmStep(s, { type: "drain" }, 1000);
    expect(r.state.mode).toBe("drain");
    expect(r.state.held).toEqual([]);
    expect(kinds(r.actions)).toContain("count-connections");
    expect(r.actions.find((a) => a.type === "advertise")).toEqual({ type: "advertise", role: "drain", view: 0b110 });
    r = farmStep(r.state, { type: "connections", count: 3 }, 1100);
    expect(r.state.mode).toBe("drain");
    expect(r.state.detail).toBe("draining: 3 connections left");
    r = farmStep(r.state, { type: "tick" }, 1500);
    expect(kinds(r.actions)).toEqual(["count-connections"]);
    r = farmStep(r.state, { type: "connections", count: 0 }, 1600);
    expect(r.state.mode).toBe("stopped");
    expect(kinds(r.actions)).toEqual(["advertise", "teardown"]);
  });

  it("drain gives up at drain_timeout", () => {
    let r = farmStep(settledWeb1(), { type: "drain" }, 1000);
    r = farmStep(r.state, { type: "tick" }, 6000);
    expect(r.state.mode).toBe("stopped");
    expect(r.state.detail).toContain("drain_timeout");
    expect(kinds(r.actions)).toContain("teardown");
  });

  it("stop: ARP off, empty set, advert, teardown, in that order", () => {
    let s = settledWeb1();
    // Make web1 the ARP owner by making it alone.
    s = runFarm(s, [
      [900, { type: "peer", node: 1, live: "dead", stopped: true }],
      [900, { type: "peer", node: 2, live: "dead", stopped: true }],
    ]).state;
    expect(s.arpOwner).toBe(true);
    const r = farmStep(s, { type: "stop" }, 1000);
    expect(kinds(r.actions)).toEqual(["arp-responder", "write", "advertise", "teardown", "rebalanced"]);
    expect(r.actions[1]).toEqual({ type: "write", held: [], arpOwner: false });
    expect(farmStep(r.state, { type: "stop" }, 1001).actions).toEqual([]);
  });

  it("never adds a bucket before advertising the view that gives it", () => {
    const s = settledWeb1();
    for (const e of [
      { type: "peer", node: 1, live: "dead" },
      { type: "peer", node: 2, live: "dead" },
      { type: "health", healthy: false, detail: "x" },
    ] as const) {
      const r = farmStep(s, e, 5000);
      let advertisedView = s.advertised;
      let held = new Set(s.held);
      for (const a of r.actions) {
        if (a.type === "advertise") advertisedView = a.view;
        if (a.type === "write") {
          const added = a.held.filter((b) => !held.has(b));
          const ok = bucketsOf(tableOf(s.config), 0, advertisedView);
          expect(added.every((b) => ok.includes(b))).toBe(true);
          held = new Set(a.held);
        }
      }
    }
  });

  it("reads adverts off the wire only when they make sense", () => {
    expect(parseAdvert(advertRole("in"), 5, 3)).toEqual({ role: "in", view: 5 });
    expect(parseAdvert("PRIM", 5, 3)).toBeUndefined();
    expect(parseAdvert("farm:in", 8, 3)).toBeUndefined();
    expect(parseAdvert("farm:in", -1, 3)).toBeUndefined();
    expect(parseAdvert("farm:in", 2 ** 40, 32)).toBeUndefined();
    expect(parseAdvert("farm:drain", 0xffffffff, 32)).toEqual({ role: "drain", view: 0xffffffff });
  });
});
