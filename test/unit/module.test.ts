/**
 * The failover module core through its public surface: which node runs the
 * module, and the order in which it starts, stops and announces.
 */
import { describe, expect, it } from "vitest";
import {
  initModule,
  nextWakeAt,
  stepModule,
  validateModuleConfig,
  type ModuleAction,
} from "../../src/core/module/module.ts";
import type { FailoverModule } from "../../src/config/types.ts";
import { failoverModuleCore } from "../../src/daemon/module/core-config.ts";
import { lines, ModuleScript, SCRIPT, testConfig, VIP } from "./module-driver.ts";

const types = (actions: readonly ModuleAction[]) => actions.map((a) => a.type);
const published = (actions: readonly ModuleAction[]) => actions.flatMap((a) => (a.type === "publish" ? [a.role] : []));

/** a runs the module (b stands by), everything started. */
function runningOnA(over: Parameters<typeof testConfig>[0] = {}) {
  const s = new ModuleScript(testConfig({ prefer: "a", ...over }));
  s.up(0, "b", "SECOND");
  s.settle(10);
  expect(s.role).toBe("PRIM");
  expect(s.state.started).toBe(2);
  return s;
}

describe("module core: taking the module", () => {
  it("starts resources in list order, one at a time, after publishing the claim", () => {
    const s = new ModuleScript(testConfig({ prefer: "a", resources: [VIP, SCRIPT] }));
    const out = s.up(0, "b", "SECOND");
    const claim = out.findIndex((a) => a.type === "publish" && a.role === "PRIM");
    const start = out.findIndex((a) => a.type === "start-resource");
    expect(claim).toBeGreaterThanOrEqual(0);
    expect(start).toBeGreaterThan(claim);
    expect(out.filter((a) => a.type === "start-resource")).toHaveLength(1);
    const next = s.resource(20, true);
    expect(next).toEqual([expect.objectContaining({ type: "start-resource", index: 1, resource: SCRIPT })]);
    // The last start done: the claim is published again without "starting".
    expect(s.resource(30, true)).toEqual([{ type: "publish", module: "vms", role: "PRIM", generation: 2 }]);
  });

  it("does not take over while the peer is only late, and does at the membership's dead verdict", () => {
    const s = new ModuleScript(testConfig());
    s.up(0, "b", "PRIM", 2);
    expect(s.peer(1000, "b", "late").filter((a) => a.type === "start-resource")).toEqual([]);
    expect(s.role).toBe("SECOND");
    const out = s.peer(1300, "b", "dead");
    expect(published(out)).toEqual(["ALONE"]);
    expect(out.some((a) => a.type === "start-resource" && a.index === 0)).toBe(true);
  });

  it("makes no claim before every peer is known: initdead, or heard without a role for the absent grace", () => {
    const s = new ModuleScript(testConfig({ absentGraceMs: 2000 }));
    s.step({ type: "tick" }, 0);
    expect(s.state.decision.reason).toBe("peers-unknown");
    s.peer(100, "b", "up");
    s.advert(100, "b", null);
    expect(s.role).toBe("SECOND");
    expect(s.state.decision.reason).toBe("peers-unknown");
    // The grace runs out: b does not run this module, a takes it.
    s.until(2100);
    expect(s.role).toBe("PRIM");
  });

  it("simultaneous start: the preferred node goes first; without preference the lowest name", () => {
    const prefB = new ModuleScript(testConfig({ prefer: "b" }));
    prefB.up(0, "b", "SECOND");
    expect(prefB.role).toBe("SECOND");
    expect(prefB.state.decision.detail).toBe("b goes first");

    const noPref = new ModuleScript(testConfig({ self: "b" }));
    noPref.up(0, "a", "SECOND");
    expect(noPref.role).toBe("SECOND");
    const asA = new ModuleScript(testConfig({ self: "a" }));
    asA.up(0, "b", "SECOND");
    expect(asA.role).toBe("PRIM");
  });

  it("two claims: equal generations go to the preferred node, otherwise the higher generation wins", () => {
    const loser = new ModuleScript(testConfig({ self: "b", prefer: "a" }));
    loser.peer(0, "a", "dead");
    loser.settle(10);
    expect(loser.state.generation).toBe(2);
    loser.up(1000, "a", "PRIM", 2);
    loser.settle(1100);
    expect(loser.role).toBe("SECOND");
    expect(loser.state.decision.reason).toBe("peer-primary");

    const winner = new ModuleScript(testConfig({ self: "b", prefer: "a" }));
    winner.up(0, "a", "SECOND", 6);
    winner.peer(500, "a", "dead");
    winner.settle(600);
    expect(winner.state.generation).toBe(8);
    winner.up(1000, "a", "PRIM", 6);
    expect(winner.role).toBe("PRIM");
    expect(winner.state.run).toBeNull();
  });

  it("claims take a generation above any heard, even numbers only", () => {
    const s = new ModuleScript(testConfig());
    s.up(0, "b", "SECOND", 13);
    s.peer(100, "b", "dead");
    expect(s.state.generation).toBe(14);
  });
});

describe("module core: leaving the module", () => {
  it("stops in reverse order, one at a time, and announces SECOND only after the last stop", () => {
    const s = runningOnA();
    const first = s.command(100, "second").actions;
    expect(first).toEqual([expect.objectContaining({ type: "stop-resource", index: 1 })]);
    expect(published(first)).toEqual([]);
    const second = s.resource(150, true);
    expect(second).toEqual([expect.objectContaining({ type: "stop-resource", index: 0 })]);
    const last = s.resource(200, true);
    expect(types(last)).toEqual(["transition", "publish"]);
    expect(published(last)).toEqual(["SECOND"]);
  });

  it("a change of mind waits for the running script: no operation is abandoned", () => {
    const s = new ModuleScript(testConfig({ self: "b", prefer: "a" }));
    s.peer(0, "a", "dead");
    expect(s.pendingRun()).not.toBeNull();
    // a claims with a better claim while our VIP is being added.
    const during = s.up(10, "a", "PRIM", 2);
    expect(during.filter((a) => a.type === "start-resource" || a.type === "stop-resource")).toEqual([]);
    const after = s.resource(20, true);
    expect(after).toEqual([expect.objectContaining({ type: "stop-resource", index: 0 })]);
  });

  it("a failed start stops what started (the failed one too), persists the block and rests in WAIT", () => {
    const s = new ModuleScript(testConfig());
    s.up(0, "b", "SECOND");
    s.resource(10, true);
    const failed = s.resource(20, false, "exit 3");
    expect(lines(failed)).toEqual([
      "note start-failed: start of script start_prim.sh failed: exit 3",
      "persist blocked=start of script start_prim.sh failed: exit 3",
      "stop #3 1 script stop_prim.sh",
      // Peers learn why: a command waiting for this node names it.
      'publish PRIM gen=2 failure="start of script start_prim.sh failed: exit 3"',
    ]);
    s.settle(30);
    expect(s.role).toBe("WAIT");
    // b takes over and dies: a still does not take the module back.
    s.advert(100, "b", "PRIM", 4);
    s.peer(1000, "b", "dead");
    expect(s.role).toBe("WAIT");
    expect(s.state.decision.reason).toBe("start-failed");
    const cleared = s.command(2000, "start");
    expect(cleared.actions[0]).toEqual({ type: "persist", module: "vms", blocked: null });
    expect(s.role).toBe("ALONE");
  });

  it("a block restored at start keeps the node off the module", () => {
    const s = new ModuleScript(testConfig(), { blocked: "start of script start_prim.sh failed: exit 3" });
    s.peer(0, "b", "dead");
    expect(s.role).toBe("WAIT");
  });

  it("a failed stop leaves the node in STOP with the reason; nothing more is started there", () => {
    const s = runningOnA();
    s.command(100, "second");
    s.resource(110, false, "exit 1");
    s.settle(120);
    expect(s.role).toBe("STOP");
    expect(s.state.stopFailed).toBe("stop of script stop_prim.sh failed: exit 1");
    s.peer(1000, "b", "dead");
    expect(s.role).toBe("STOP");
  });

  it("at start, stops every resource once (cleanup) and lists no role until done", () => {
    const s = new ModuleScript(testConfig(), { cleanup: true });
    const first = s.step({ type: "tick" }, 0);
    expect(lines(first)).toEqual(["stop #1 1 script stop_prim.sh (cleanup)"]);
    expect(s.state.published).toBeNull();
    s.resource(10, true);
    const done = s.resource(20, true);
    expect(published(done)).toEqual(["SECOND"]);
  });
});

describe("module core: failback", () => {
  function primOnB(failback: "auto" | "manual", failbackDelayMs = 1000) {
    const s = new ModuleScript(testConfig({ self: "b", prefer: "a", failback, failbackDelayMs }));
    s.peer(0, "a", "dead");
    s.settle(10);
    s.up(2000, "a", "SECOND", 2);
    return s;
  }

  it("auto: the preferred node back as SECOND gets the module after the delay, not before", () => {
    const s = primOnB("auto", 1000);
    s.until(2999);
    expect(s.state.decision.primary).toBe(true);
    expect(nextWakeAt(s.state)).toBe(3000);
    const out = s.until(3000);
    expect(out).toEqual([expect.objectContaining({ type: "stop-resource", index: 1 })]);
    s.settle(3100);
    expect(s.role).toBe("SECOND");
    expect(s.state.handover?.reason).toBe("failback");
  });

  it("auto: a preferred node that just handed over is not failed back to", () => {
    const s = primOnB("auto", 0);
    s.settle(2000);
    expect(s.role).toBe("SECOND");
    // a takes it, then hands it back to b (swap on a): b must keep it.
    s.advert(2100, "a", "PRIM", 4);
    s.advert(2200, "a", "SECOND", 4);
    s.settle(2300);
    expect(s.role).toBe("PRIM");
    s.until(60_000);
    expect(s.role).toBe("PRIM");
  });

  it("manual: the module stays where it is until the operator swaps", () => {
    const s = primOnB("manual", 0);
    s.until(60_000);
    expect(s.role).toBe("PRIM");
    s.command(60_000, "swap");
    s.settle(60_100);
    expect(s.role).toBe("SECOND");
  });
});

describe("module core: split-brain guard (witness addresses)", () => {
  it("isolated without a witness answer: WAIT, a running module stopped first", () => {
    const s = new ModuleScript(testConfig({ witnessPing: true }));
    s.up(0, "b", "PRIM", 2);
    s.peer(1000, "b", "dead");
    expect(s.role).toBe("WAIT");
    s.witness(1100, true);
    s.settle(1200);
    expect(s.role).toBe("ALONE");
    const down = s.witness(2000, false);
    expect(down).toEqual([expect.objectContaining({ type: "stop-resource", index: 1 })]);
    expect(s.role).toBe("ALONE");
    s.settle(2100);
    expect(s.role).toBe("WAIT");
    expect(s.state.decision.reason).toBe("isolated-no-witness");
  });

  it("the witness only matters when isolated: with a peer heard, a down witness changes nothing", () => {
    const s = runningOnA({ witnessPing: true });
    s.witness(100, false);
    expect(s.role).toBe("PRIM");
    expect(s.state.run).toBeNull();
  });
});

describe("module core: robustness", () => {
  it("adverts with unknown roles or odd numbers neither throw nor count as a claim", () => {
    const s = new ModuleScript(testConfig());
    s.peer(0, "b", "up");
    const out = s.advert(0, "b", "MASTER", Number.NaN);
    expect(out.some((a) => a.type === "event" && a.kind === "bad-advert")).toBe(true);
    expect(s.state.peers[0]?.role).toBe("absent");
    expect(s.state.peers[0]?.generation).toBe(0);
    s.advert(10, "b", "PRIM", -5);
    expect(s.state.peers[0]?.generation).toBe(0);
    // A generation so high that our next claim would not fit the wire is refused too.
    s.advert(20, "b", "PRIM", Number.MAX_SAFE_INTEGER);
    expect(s.state.peers[0]?.generation).toBe(0);
    // Events about nodes we do not know are ignored.
    expect(s.peer(20, "zz", "up")).toEqual([]);
    expect(s.advert(30, "zz", "PRIM", 9)).toEqual([]);
  });

  it("a resource result for another operation is reported and changes nothing", () => {
    const s = new ModuleScript(testConfig());
    s.up(0, "b", "SECOND");
    const before = s.state.started;
    const out = s.at(10, { type: "resource", run: 999, ok: true, detail: "exit 0" });
    expect(out.map((a) => (a.type === "event" ? a.kind : a.type))).toEqual(["stale-result"]);
    expect(s.state.started).toBe(before);
    expect(s.pendingRun()).not.toBeNull();
  });

  it("steps are pure: the input state is left as it was", () => {
    const st = initModule(testConfig(), { now: 0, cleanup: false });
    const copy = JSON.stringify(st);
    stepModule(st, { type: "peer", node: "b", liveness: "dead" }, 100);
    expect(JSON.stringify(st)).toBe(copy);
  });

  it("asks for a first tick at once, and none while nothing is pending", () => {
    const st = initModule(testConfig(), { now: 500, cleanup: false });
    expect(nextWakeAt(st)).toBe(500);
    const after = stepModule(st, { type: "tick" }, 500).state;
    expect(nextWakeAt(after)).toBeNull();
  });
});

describe("module core: configuration", () => {
  it("rejects bad configs with the key and the reason", () => {
    const problems = validateModuleConfig({
      ...testConfig({ prefer: "zz", failback: "auto", failbackDelayMs: -1 }),
      nodes: ["a", "b", "b"],
      checkers: [{ name: "x", onFail: "restart", restarts: 0 }, { name: "x", onFail: "wait" }],
    });
    expect(problems.map((p) => p.path)).toEqual(["nodes", "prefer", "failback_delay", "checkers[0].restarts", "checkers[1].name"]);
    expect(problems[1]?.message).toContain('"zz" is not a node');
    expect(() => initModule({ ...testConfig(), self: "q" }, { now: 0 })).toThrow(/our own node "q" is not listed/);
  });

  it("derives the core config of a failover module of vigil.yaml", () => {
    const m: FailoverModule = {
      type: "failover",
      name: "web",
      vips: ["198.51.100.100/24"],
      start: "/etc/vigil/start.sh",
      stop: "/etc/vigil/stop.sh",
      start_timeout: 30_000,
      stop_timeout: 20_000,
      checkers: [{ tcp: "127.0.0.1:8080", on_fail: "restart", then: "failover", restarts: 2, restart_window: 60_000, interval: 1000, timeout: 1000, fall: 3, rise: 1 }],
      failback: "auto",
      failback_delay: 0,
      prefer: "a",
    };
    const cluster = {
      nodes: [{ name: "a", addresses: ["198.51.100.11"] }, { name: "b", addresses: ["198.51.100.12"] }],
      heartbeat: { interval: 100, warntime: 250, deadtime: 500, initdead: 5000 },
      witness: { ping: ["198.51.100.1"] },
    };
    const core = failoverModuleCore(m, cluster, "b", { arbiterLeaseMs: 3000 });
    expect(validateModuleConfig(core)).toEqual([]);
    expect(core.resources).toEqual([
      { kind: "vip", address: "198.51.100.100/24", interface: null },
      { kind: "script", start: "/etc/vigil/start.sh", stop: "/etc/vigil/stop.sh", timeouts: { startMs: 30_000, stopMs: 20_000 } },
    ]);
    expect(core.checkers).toEqual([{ name: "1: tcp 127.0.0.1:8080", fall: 3, rise: 1, onFail: "restart", then: "failover", restarts: 2, windowMs: 60_000 }]);
    expect(core.witnessPing).toBe(true);
    // The stop script may take 20 s, plus 2 s to kill it: the new PRIM waits that out too.
    expect(core.arbiter).toMatchObject({ leaseMs: 3000, renewMs: 1000, fenceMs: 500, stopBudgetMs: 22_000, takeoverWaitMs: 500 + 100 + 100 + 500 + 22_000 });
    expect(core.absentGraceMs).toBe(5000);
  });
});
