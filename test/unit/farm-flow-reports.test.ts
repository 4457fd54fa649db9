/**
 * The farm core's flow reports (src/core/farm/farm.ts): a node that listens
 * before taking buckets asks its peers which UDP flows they answer, records
 * their answers as theirs before it takes any bucket, and asks again those
 * that did not answer; a peer answers every ask.
 */
import { describe, expect, it } from "vitest";
import { FLOWS_ASK_RETRY_MS, FLOWS_CHECK_AFTER_MS, initFarmState, nextWakeAt } from "../../src/core/farm/farm.ts";
import { flowOwnerValue } from "../../src/core/farm/flow-owner-value.ts";
import type { FarmAction, FarmCoreConfig, FarmEvent, FarmState, FlowKey } from "../../src/core/farm/types.ts";
import { runFarm } from "./farm-run.ts";

const nodes = [
  { name: "web1", weight: 1 },
  { name: "web2", weight: 1 },
  { name: "web3", weight: 1 },
];
const config = (self: number): FarmCoreConfig => ({ module: "web", nodes, self, ownershipSeed: 77, drainTimeoutMs: 5000, learnMs: 500 });


const ALL = 0b111;
const flow = (n: number): FlowKey => ({ client: 0xc6336400 + n, port: 40000 + n, vipPort: 53 });

/** web1 restarting into a farm where web2 and web3 serve: its table exists at 50, it listens until 550. */
function listeningWeb1(): { state: FarmState; actions: FarmAction[] } {
  return runFarm(initFarmState(config(0)), [
    [0, { type: "start" }],
    [10, { type: "peer", node: 1, live: "up" }],
    [10, { type: "advert", node: 1, advert: { role: "in", view: 0b110 }, echo: 5 }],
    [11, { type: "peer", node: 2, live: "up" }],
    [11, { type: "advert", node: 2, advert: { role: "in", view: 0b110 }, echo: 5 }],
    [50, { type: "set-up" }],
  ]);
}

const asks = (actions: readonly FarmAction[]) => actions.filter((a) => a.type === "ask-flows");

const REPORT_WAIT = 5000;
/** The same state on a node whose driver has flow reports (the daemon sets reportWaitMs then). */
const withReportWait = (s: FarmState): FarmState => ({ ...s, config: { ...s.config, reportWaitMs: REPORT_WAIT } });

/** web1 serving in a settled 3-node farm (no listening: learnMs 0). */
function settledWeb1(): { state: FarmState; actions: FarmAction[] } {
  return runFarm(initFarmState({ ...config(0), learnMs: 0 }), [
    [0, { type: "start" }],
    [10, { type: "peer", node: 1, live: "up" }],
    [10, { type: "advert", node: 1, advert: { role: "in", view: ALL }, echo: 5 }],
    [11, { type: "peer", node: 2, live: "up" }],
    [11, { type: "advert", node: 2, advert: { role: "in", view: ALL }, echo: 5 }],
    [20, { type: "set-up" }],
    [120, { type: "advert", node: 1, advert: { role: "in", view: ALL }, echo: 110 }],
    [121, { type: "advert", node: 2, advert: { role: "in", view: ALL }, echo: 110 }],
    [5000, { type: "tick" }],
  ]);
}

describe("farm flow reports", () => {
  it("a starting node asks the serving peers for their flows once its table exists, not before", () => {
    const before = runFarm(initFarmState(config(0)), [
      [0, { type: "start" }],
      [10, { type: "peer", node: 1, live: "up" }],
      [10, { type: "advert", node: 1, advert: { role: "in", view: 0b110 }, echo: 5 }],
    ]);
    expect(asks(before.actions)).toEqual([]);
    const r = listeningWeb1();
    expect(asks(r.actions)).toEqual([{ type: "ask-flows", nodes: [1, 2], at: 50 }]);
    expect(r.state.mode).toBe("wait");
    expect(r.state.wakeAt).toBe(50 + FLOWS_ASK_RETRY_MS);
  });

  it("records a report's flows as the teller's at once, and keeps listening until learnMs is over", () => {
    const l = listeningWeb1();
    const r = runFarm(l.state, [[60, { type: "flows-told", node: 2, askedAt: 50, part: 0, parts: 1, flows: [flow(1), flow(2)] }]]);
    expect(r.actions).toEqual([{ type: "record-flows", flows: [flow(1), flow(2)], value: flowOwnerValue(2, 0) }]);
    expect(r.state.told).toEqual([2]);
    expect(r.state.mode).toBe("wait");
    expect(r.state.held).toEqual([]);
  });

  it("asks again every FLOWS_ASK_RETRY_MS only the peers whose report is not whole, and stops at the end of listening", () => {
    const l = listeningWeb1();
    let r = runFarm(l.state, [
      [60, { type: "flows-told", node: 2, askedAt: 50, part: 1, parts: 2, flows: [flow(3)] }],
      [70, { type: "flows-told", node: 1, askedAt: 50, part: 0, parts: 1, flows: [] }],
    ]);
    expect(r.state.told).toEqual([1]);
    expect(asks(r.actions)).toEqual([]);
    r = runFarm(r.state, [[150, { type: "tick" }]]);
    expect(asks(r.actions)).toEqual([{ type: "ask-flows", nodes: [2], at: 150 }]);
    // Parts of the older ask still count when they come: one reading of the table.
    r = runFarm(r.state, [[155, { type: "flows-told", node: 2, askedAt: 50, part: 0, parts: 2, flows: [flow(4)] }]]);
    expect(r.actions).toEqual([{ type: "record-flows", flows: [flow(4)], value: flowOwnerValue(2, 0) }]);
    expect(r.state.told).toEqual([1, 2]);
    expect(r.state.wakeAt).toBe(550);
    r = runFarm(r.state, [[250, { type: "tick" }]]);
    expect(asks(r.actions)).toEqual([]);
    r = runFarm(r.state, [
      [550, { type: "tick" }],
      [560, { type: "advert", node: 1, advert: { role: "in", view: ALL }, echo: 550 }],
      [561, { type: "advert", node: 2, advert: { role: "in", view: ALL }, echo: 550 }],
    ]);
    expect(r.state.mode).toBe("in");
    expect(r.state.told).toBeUndefined();
    expect(r.state.learnSince).toBeUndefined();
    r = runFarm(r.state, [[600, { type: "flows-told", node: 1, askedAt: 50, part: 0, parts: 1, flows: [flow(5)] }]]);
    expect(r.actions).toEqual([]);
  });

  it("ignores reports to an ask of an earlier listening time, from a node not up, and with impossible part numbers", () => {
    const l = listeningWeb1();
    const bad: FarmEvent[] = [
      { type: "flows-told", node: 1, askedAt: 49, part: 0, parts: 1, flows: [flow(1)] },
      { type: "flows-told", node: 1, askedAt: 50, part: 1, parts: 1, flows: [flow(1)] },
      { type: "flows-told", node: 1, askedAt: 50, part: 0, parts: 0, flows: [flow(1)] },
      { type: "flows-told", node: 0, askedAt: 50, part: 0, parts: 1, flows: [flow(1)] },
      { type: "flows-told", node: 7, askedAt: 50, part: 0, parts: 1, flows: [flow(1)] },
    ];
    for (const e of bad) expect(runFarm(l.state, [[60, e]]).actions).toEqual([]);
    const dead = runFarm(l.state, [[60, { type: "peer", node: 1, live: "dead" }]]);
    expect(runFarm(dead.state, [[61, { type: "flows-told", node: 1, askedAt: 50, part: 0, parts: 1, flows: [flow(1)] }]]).actions).toEqual([]);
  });

  it("a peer heard only after the table exists is asked when it comes up", () => {
    const r = runFarm(initFarmState(config(0)), [
      [0, { type: "start" }],
      [10, { type: "peer", node: 1, live: "up" }],
      [10, { type: "advert", node: 1, advert: { role: "in", view: 0b010 }, echo: 5 }],
      [50, { type: "set-up" }],
      [70, { type: "peer", node: 2, live: "up" }],
    ]);
    expect(asks(r.actions)).toEqual([
      { type: "ask-flows", nodes: [1], at: 50 },
      { type: "ask-flows", nodes: [2], at: 70 },
    ]);
  });

  it("the flow epoch of the teller is in the recorded value: a peer that restarted since is not confused with its old self", () => {
    let r = listeningWeb1();
    // web2 restarts (advert wait: it forgot its flows), then serves again: a new epoch.
    r = runFarm(r.state, [
      [80, { type: "advert", node: 1, advert: { role: "wait", view: 0b100 }, echo: 50 }],
      [90, { type: "advert", node: 1, advert: { role: "in", view: 0b110 }, echo: 50 }],
      [95, { type: "flows-told", node: 1, askedAt: 50, part: 0, parts: 1, flows: [flow(9)] }],
    ]);
    expect(r.actions.filter((a) => a.type === "record-flows")).toEqual([{ type: "record-flows", flows: [flow(9)], value: flowOwnerValue(1, 1) }]);
  });

  it("a lapse starts a new listening time that asks again, whatever was told before", () => {
    let r = listeningWeb1();
    r = runFarm(r.state, [
      [60, { type: "flows-told", node: 1, askedAt: 50, part: 0, parts: 1, flows: [] }],
      [70, { type: "flows-told", node: 2, askedAt: 50, part: 0, parts: 1, flows: [] }],
      [300, { type: "lapsed" }],
    ]);
    expect(r.state.told).toBeUndefined();
    expect(r.state.learnSince).toBe(300);
    expect(asks(r.actions)).toEqual([{ type: "ask-flows", nodes: [1, 2], at: 300 }]);
  });

  it("with reportWaitMs, a node past its listening time keeps waiting for a peer's whole report, and takes its share once it comes", () => {
    let r = runFarm(withReportWait(listeningWeb1().state), [[60, { type: "flows-told", node: 1, askedAt: 50, part: 0, parts: 1, flows: [] }]]);
    r = runFarm(r.state, [[550, { type: "tick" }]]);
    // web3 has not told: a flow it answers in a bucket of ours would be answered twice.
    expect(r.state.mode).toBe("wait");
    expect(r.actions.filter((a) => a.type === "write" || a.type === "advertise")).toEqual([]);
    expect(asks(r.actions)).toEqual([{ type: "ask-flows", nodes: [2], at: 550 }]);
    expect(r.state.wakeAt).toBe(550 + FLOWS_ASK_RETRY_MS);
    r = runFarm(r.state, [[580, { type: "flows-told", node: 2, askedAt: 550, part: 0, parts: 1, flows: [flow(7)] }]]);
    expect(r.actions[0]).toEqual({ type: "record-flows", flows: [flow(7)], value: flowOwnerValue(2, 0) });
    expect(r.actions).toContainEqual({ type: "advertise", role: "in", view: ALL });
    expect(r.actions.some((a) => a.type === "flows-untold")).toBe(false);
    expect(r.state.mode).toBe("in");
    expect(r.state.learnSince).toBeUndefined();
  });

  it("with reportWaitMs, a node gives up waiting reportWaitMs after its listening time, and says whose report it lacks", () => {
    let r = runFarm(withReportWait(listeningWeb1().state), [[60, { type: "flows-told", node: 1, askedAt: 50, part: 0, parts: 1, flows: [] }]]);
    for (let t = 550; t < 550 + REPORT_WAIT; t += FLOWS_ASK_RETRY_MS) r = runFarm(r.state, [[t, { type: "tick" }]]);
    expect(r.state.mode).toBe("wait");
    expect(r.state.wakeAt).toBe(550 + REPORT_WAIT);
    r = runFarm(r.state, [[550 + REPORT_WAIT, { type: "tick" }]]);
    expect(r.actions[0]).toEqual({ type: "flows-untold", nodes: [2], waitedMs: 500 + REPORT_WAIT });
    expect(r.state.mode).toBe("in");
  });

  it("a report read before the teller's advert changed does not count as whole: it is asked again", () => {
    let r = runFarm(withReportWait(listeningWeb1().state), [
      [60, { type: "flows-told", node: 1, askedAt: 50, part: 0, parts: 1, flows: [] }],
      // web3 takes more buckets after it read its table for us: flows it answers there may be missing.
      [70, { type: "advert", node: 2, advert: { role: "in", view: 0b100 }, echo: 50 }],
      [75, { type: "flows-told", node: 2, askedAt: 50, part: 0, parts: 1, flows: [flow(1)] }],
    ]);
    expect(r.actions.filter((a) => a.type === "record-flows")).toEqual([{ type: "record-flows", flows: [flow(1)], value: flowOwnerValue(2, 0) }]);
    expect(r.state.told).toEqual([1]);
    r = runFarm(r.state, [[150, { type: "tick" }]]);
    expect(asks(r.actions)).toEqual([{ type: "ask-flows", nodes: [2], at: 150 }]);
    r = runFarm(r.state, [[160, { type: "flows-told", node: 2, askedAt: 150, part: 0, parts: 1, flows: [flow(1), flow(2)] }]]);
    expect(r.state.told).toEqual([1, 2]);
    r = runFarm(r.state, [[550, { type: "tick" }]]);
    expect(r.state.mode).toBe("in");
  });

  it("after a lapse, a peer's report counts only if asked once its advert came again (the lapse forgot the adverts)", () => {
    let r = runFarm(withReportWait(listeningWeb1().state), [
      [60, { type: "flows-told", node: 1, askedAt: 50, part: 0, parts: 1, flows: [] }],
      [70, { type: "flows-told", node: 2, askedAt: 50, part: 0, parts: 1, flows: [] }],
      [300, { type: "lapsed" }],
      [305, { type: "flows-told", node: 1, askedAt: 300, part: 0, parts: 1, flows: [] }],
      [310, { type: "advert", node: 1, advert: { role: "in", view: 0b110 }, echo: 300 }],
      [310, { type: "advert", node: 2, advert: { role: "in", view: 0b110 }, echo: 300 }],
      [320, { type: "flows-told", node: 2, askedAt: 300, part: 0, parts: 1, flows: [] }],
    ]);
    expect(r.state.told ?? []).toEqual([]);
    r = runFarm(r.state, [
      [400, { type: "tick" }],
      [410, { type: "flows-told", node: 1, askedAt: 400, part: 0, parts: 1, flows: [] }],
      [800, { type: "tick" }],
    ]);
    expect(r.state.told).toEqual([1]);
    expect(r.state.mode).toBe("wait");
    r = runFarm(r.state, [[820, { type: "flows-told", node: 2, askedAt: 800, part: 0, parts: 1, flows: [] }]]);
    expect(r.state.mode).toBe("in");
  });

  it("with a witness, heard again after hearing no one, a node asks the peers heard for their flows and takes its share only once each serving one told them", () => {
    const base = settledWeb1().state;
    let r = runFarm({ ...base, config: { ...base.config, witness: true, reportWaitMs: REPORT_WAIT } }, [
      [900, { type: "peer", node: 1, live: "dead" }],
      [900, { type: "peer", node: 2, live: "dead" }],
      [2000, { type: "peer", node: 1, live: "up" }],
      [2001, { type: "advert", node: 1, advert: { role: "in", view: 0b110 }, echo: 1 }],
      // Dead when the listening began: heard now, it is asked and awaited too.
      [2002, { type: "peer", node: 2, live: "up" }],
      [2003, { type: "advert", node: 2, advert: { role: "in", view: 0b110 }, echo: 1 }],
      [2100, { type: "tick" }],
      [2150, { type: "flows-told", node: 1, askedAt: 2100, part: 0, parts: 1, flows: [flow(1)] }],
    ]);
    // (The ask at 900 is the gain's: web2 died first, and web1 took some of its buckets.)
    expect(asks(r.actions).filter((a) => a.at >= 2000)).toEqual([
      { type: "ask-flows", nodes: [1], at: 2000 },
      { type: "ask-flows", nodes: [2], at: 2002 },
      { type: "ask-flows", nodes: [1, 2], at: 2100 },
    ]);
    expect(r.actions).toContainEqual({ type: "record-flows", flows: [flow(1)], value: flowOwnerValue(1, 1) });
    // Past settleMs web3 has not told: a flow it took in our buckets while we were cut off would be answered twice.
    r = runFarm(r.state, [[2500, { type: "tick" }]]);
    expect(r.state.mode).toBe("wait");
    expect(r.actions.filter((a) => a.type === "write" || a.type === "advertise")).toEqual([]);
    r = runFarm(r.state, [[2560, { type: "flows-told", node: 2, askedAt: 2500, part: 0, parts: 1, flows: [flow(2)] }]]);
    // web3's epoch moved on twice: when no peer heard counted it (we were alone), and when it was heard again
    // without an advert, after web2 had counted it again meanwhile (deaths.ts).
    expect(r.actions[0]).toEqual({ type: "record-flows", flows: [flow(2)], value: flowOwnerValue(2, 2) });
    expect(r.actions).toContainEqual({ type: "advertise", role: "in", view: ALL });
    expect(r.state.mode).toBe("in");
  });

  it("heard again after hearing no one, a node listens on while a peer it heard still counts one it saw die meanwhile, until that one is dropped or heard, up to reportWaitMs", () => {
    const base = settledWeb1().state;
    const cut = (): { state: FarmState; actions: FarmAction[] } =>
      runFarm({ ...base, config: { ...base.config, witness: true, reportWaitMs: REPORT_WAIT } }, [
        [900, { type: "peer", node: 1, live: "dead" }],
        [900, { type: "peer", node: 2, live: "dead" }],
        [2000, { type: "peer", node: 1, live: "up" }],
        // web2 still counts web3: web3's death may have been our own isolation.
        [2001, { type: "advert", node: 1, advert: { role: "in", view: 0b110 }, echo: 1 }],
        [2100, { type: "tick" }],
        [2150, { type: "flows-told", node: 1, askedAt: 2100, part: 0, parts: 1, flows: [] }],
        [2500, { type: "tick" }],
      ]);
    let r = cut();
    expect(r.state.mode).toBe("wait");
    expect(r.state.peers[2]?.deadWhileAlone).toBe(true);
    expect(r.state.wakeAt).toBe(2500 + REPORT_WAIT);
    // web2 drops web3 too: its death is settled, and once web2 told its flows again (its advert
    // changed) the listening ends.
    r = runFarm(r.state, [
      [2600, { type: "advert", node: 1, advert: { role: "in", view: 0b010 }, echo: 1 }],
      [2700, { type: "tick" }],
    ]);
    expect(r.state.mode).toBe("wait");
    r = runFarm(r.state, [[2750, { type: "flows-told", node: 1, askedAt: 2700, part: 0, parts: 1, flows: [] }]]);
    expect(r.state.mode).toBe("in");
    // Or nobody drops it: the listening ends at the deadline.
    r = runFarm(cut().state, [[2500 + REPORT_WAIT, { type: "tick" }]]);
    expect(r.state.mode).toBe("in");
    // Heard again, web3 is no longer a death seen while alone.
    r = runFarm(r.state, [[8000, { type: "peer", node: 2, live: "up" }]]);
    expect(r.state.peers[2]?.deadWhileAlone).toBeUndefined();
  });

  it("the carrier back, a node listens settleMs even with no peer heard yet, and a peer heard meanwhile must tell its flows first", () => {
    const base = settledWeb1().state;
    let r = runFarm({ ...base, config: { ...base.config, reportWaitMs: REPORT_WAIT } }, [
      [900, { type: "link", up: false }],
      [1400, { type: "peer", node: 1, live: "dead" }],
      [1400, { type: "peer", node: 2, live: "dead" }],
      [2000, { type: "link", up: true }],
    ]);
    expect(r.state.mode).toBe("wait");
    expect(r.state.quiet?.until).toBe(2500);
    r = runFarm(r.state, [
      [2100, { type: "peer", node: 1, live: "up" }],
      [2101, { type: "advert", node: 1, advert: { role: "in", view: 0b010 }, echo: 1 }],
      [2500, { type: "tick" }],
    ]);
    expect(asks(r.actions)).toContainEqual({ type: "ask-flows", nodes: [1], at: 2500 });
    expect(r.state.mode).toBe("wait");
    r = runFarm(r.state, [[2520, { type: "flows-told", node: 1, askedAt: 2500, part: 0, parts: 1, flows: [] }]]);
    expect(r.state.mode).toBe("in");
    expect(r.state.learnSince).toBeUndefined();
  });

  it("a peer asked answers with its flows whatever its mode, unless its farm is stopped", () => {
    const l = listeningWeb1();
    expect(runFarm(l.state, [[60, { type: "flows-asked", node: 2, askedAt: 12 }]]).actions).toEqual([{ type: "tell-flows", node: 2, askedAt: 12 }]);
    expect(runFarm(initFarmState(config(0)), [[60, { type: "flows-asked", node: 2, askedAt: 12 }]]).actions).toEqual([]);
    expect(runFarm(l.state, [[60, { type: "flows-asked", node: 0, askedAt: 12 }]]).actions).toEqual([]);
  });

  it("gaining buckets, a node asks its serving peers for their flows and records their answers over its own records", () => {
    let r = settledWeb1();
    // web3 dies, and web2 leaves it out too (deaths.ts): we gain its buckets.
    r = runFarm(r.state, [
      [1000, { type: "peer", node: 2, live: "dead" }],
      [1000, { type: "advert", node: 1, advert: { role: "in", view: 0b011 }, echo: 1000 }],
    ]);
    expect(asks(r.actions)).toEqual([{ type: "ask-flows", nodes: [1], at: 1000 }]);
    expect(r.state.gainAsks?.at(-1)).toBe(1000);
    const told = runFarm(r.state, [[1010, { type: "flows-told", node: 1, askedAt: 1000, part: 0, parts: 1, flows: [flow(1)] }]]);
    expect(told.actions).toEqual([{ type: "record-flows", flows: [flow(1)], value: flowOwnerValue(1, 0) }]);
    // A tell to no ask of ours is not recorded.
    expect(runFarm(r.state, [[1010, { type: "flows-told", node: 1, askedAt: 999, part: 0, parts: 1, flows: [flow(1)] }]]).actions).toEqual([]);
  });

  it("gaining buckets, it checks later, more than once, the flows of its buckets its table leaves to peers", () => {
    let r = settledWeb1();
    r = runFarm(r.state, [
      [1000, { type: "peer", node: 2, live: "dead" }],
      [1000, { type: "advert", node: 1, advert: { role: "in", view: 0b011 }, echo: 1000 }],
    ]);
    expect(r.state.checkAt).toEqual(FLOWS_CHECK_AFTER_MS.map((d) => 1000 + d));
    expect(nextWakeAt(r.state)).toBe(1000 + FLOWS_CHECK_AFTER_MS[0]!);
    const held = r.state.held;
    r = runFarm(r.state, [[1000 + FLOWS_CHECK_AFTER_MS[0]!, { type: "tick" }]]);
    const first = 1000 + FLOWS_CHECK_AFTER_MS[0]!;
    expect(r.actions).toEqual([
      { type: "ask-flows", nodes: [1], at: first },
      { type: "check-flows", held, peers: [{ node: 1, value: flowOwnerValue(1, 0) }], at: first },
    ]);
    // The tells to that ask are recorded too.
    expect(runFarm(r.state, [[first + 5, { type: "flows-told", node: 1, askedAt: first, part: 0, parts: 1, flows: [flow(2)] }]]).actions.map((a) => a.type)).toEqual(["record-flows"]);
    expect(nextWakeAt(r.state)).toBe(1000 + FLOWS_CHECK_AFTER_MS[1]!);
    r = runFarm(r.state, [
      [1000 + FLOWS_CHECK_AFTER_MS[1]!, { type: "tick" }],
      [1000 + FLOWS_CHECK_AFTER_MS[2]!, { type: "tick" }],
    ]);
    expect(r.actions.map((a) => a.type)).toEqual(["ask-flows", "check-flows", "ask-flows", "check-flows"]);
    expect(r.state.checkAt).toBeUndefined();
    expect(nextWakeAt(r.state)).toBeUndefined();
  });

  it("a report from a peer whose advert says it waits is not recorded: read before it forgot its flows, it would credit them to it once it serves again", () => {
    let r = settledWeb1();
    // web3's lease lapsed: it forgot its flows and waits; web1 takes its buckets and asks.
    r = runFarm(r.state, [
      [1000, { type: "advert", node: 2, advert: { role: "wait", view: 0b011 }, echo: 900 }],
      [1005, { type: "advert", node: 1, advert: { role: "in", view: 0b011 }, echo: 1000 }],
      [1006, { type: "advert", node: 2, advert: { role: "wait", view: 0b011 }, echo: 1000 }],
    ]);
    expect(r.state.held.length).toBeGreaterThan(100);
    const at = r.state.gainAsks?.at(-1) ?? -1;
    // web3's answer to an ask of ours, read from its table before the lapse made it forget.
    const told = runFarm(r.state, [[1010, { type: "flows-told", node: 2, askedAt: at, part: 0, parts: 1, flows: [flow(1)] }]]);
    expect(told.actions).toEqual([]);
    // web2, which serves, is recorded as before.
    expect(runFarm(r.state, [[1010, { type: "flows-told", node: 1, askedAt: at, part: 0, parts: 1, flows: [flow(2)] }]]).actions).toEqual([
      { type: "record-flows", flows: [flow(2)], value: flowOwnerValue(1, 0) },
    ]);
  });

  it("a peer asked to check says which flows it does not answer; those records naming it go", () => {
    const s = settledWeb1().state;
    expect(runFarm(s, [[50, { type: "flows-check", node: 1, askedAt: 40, flows: [flow(1), flow(2)] }]]).actions).toEqual([
      { type: "disclaim-flows", node: 1, askedAt: 40, flows: [flow(1), flow(2)], own: s.held },
    ]);
    expect(runFarm(s, [[50, { type: "flows-disclaimed", node: 2, flows: [flow(3)] }]]).actions).toEqual([{ type: "unrecord-flows", flows: [flow(3)], value: flowOwnerValue(2, 0) }]);
    const dead = runFarm(s, [[50, { type: "peer", node: 2, live: "dead" }]]).state;
    expect(runFarm(dead, [[60, { type: "flows-disclaimed", node: 2, flows: [flow(3)] }]]).actions).toEqual([]);
    expect(runFarm(initFarmState(config(0)), [[60, { type: "flows-check", node: 1, askedAt: 40, flows: [flow(1)] }]]).actions).toEqual([]);
  });
});
