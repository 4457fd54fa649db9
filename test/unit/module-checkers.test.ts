/**
 * Checker policy: fall/rise counting, restart counting with its window and
 * escalation, and wait-class checkers, alone and through the module core.
 */
import { describe, expect, it } from "vitest";
import { countResult, escalate, initCheckerTracks, pruneRestarts, type CheckerTrack } from "../../src/core/module/checkers.ts";
import type { ModuleCheckerConfig, ResolvedCheckerConfig } from "../../src/core/module/config.ts";
import { ModuleScript, testConfig } from "./module-driver.ts";

const restart: ResolvedCheckerConfig = { name: "app", onFail: "restart", then: "failover", restarts: 2, windowMs: 10_000, fall: 3, rise: 2 };

function feed(t: CheckerTrack, results: boolean[]): { track: CheckerTrack; verdicts: (string | null)[] } {
  const verdicts: (string | null)[] = [];
  for (const ok of results) {
    const r = countResult(t, restart, ok, ok ? "ok" : "refused");
    t = r.track;
    verdicts.push(r.verdict);
  }
  return { track: t, verdicts };
}

describe("checker counting", () => {
  it("healthy until `fall` failures in a row, failing until `rise` successes in a row", () => {
    const [t0] = initCheckerTracks([restart]);
    const { track, verdicts } = feed(t0 as CheckerTrack, [false, false, true, false, false, false, true, false, true, true]);
    expect(verdicts).toEqual([null, null, null, null, null, "failing", null, null, null, "healthy"]);
    expect(track.failing).toBe(false);
  });

  it("restarts up to `restarts` times within the window, then `then`", () => {
    let [t] = initCheckerTracks([restart]) as CheckerTrack[];
    const steps = [1000, 2000, 3000].map((now) => {
      const r = escalate(t as CheckerTrack, restart, now);
      t = r.track;
      return r.step;
    });
    expect(steps).toEqual([
      { kind: "restart", count: 1, of: 2 },
      { kind: "restart", count: 2, of: 2 },
      { kind: "failover", afterRestarts: 2 },
    ]);
    expect(escalate(t as CheckerTrack, { ...restart, then: "stop" }, 4000).step).toEqual({ kind: "stop", afterRestarts: 2 });
  });

  it("forgets restarts that left the window", () => {
    const t: CheckerTrack = { name: "app", failing: false, streak: 0, detail: "", restarts: [1000, 5000] };
    expect(pruneRestarts(t, restart, 11_000).restarts).toEqual([5000]);
    expect(escalate(t, restart, 16_000).step).toEqual({ kind: "restart", count: 1, of: 2 });
  });

  it("the other policies answer at once", () => {
    const t: CheckerTrack = { name: "x", failing: true, streak: 0, detail: "", restarts: [] };
    for (const onFail of ["failover", "stop", "ignore", "wait"] as const) {
      expect(escalate(t, { ...restart, onFail }, 0).step.kind).toBe(onFail);
    }
  });
});

describe("checkers through the module core", () => {
  function running(checkers: readonly ModuleCheckerConfig[], peer: "SECOND" | "dead" = "SECOND") {
    const s = new ModuleScript(testConfig({ checkers }));
    if (peer === "dead") s.peer(0, "b", "dead");
    else s.up(0, "b", "SECOND");
    s.settle(10);
    expect(s.role).not.toBe("SECOND");
    return s;
  }

  it("app checkers run only where the module runs, and restart it there", () => {
    const s = running([{ name: "app", onFail: "restart", restarts: 2, windowMs: 10_000, fall: 1 }]);
    expect(s.state.watching).toEqual(["app"]);
    const out = s.check(1000, "app", false);
    expect(out.filter((a) => a.type === "watch-checkers")).toEqual([expect.objectContaining({ checkers: [] })]);
    expect(out.some((a) => a.type === "stop-resource" && a.index === 1)).toBe(true);
    s.settle(1100);
    expect(s.role).toBe("PRIM");
    expect(s.state.started).toBe(2);
    expect(s.state.watching).toEqual(["app"]);
  });

  it("the third failure within the window hands over to a standby", () => {
    const s = running([{ name: "app", onFail: "restart", restarts: 2, windowMs: 10_000, fall: 1 }]);
    for (const t of [1000, 2000]) {
      s.check(t, "app", false);
      s.settle(t + 100);
      expect(s.role).toBe("PRIM");
    }
    s.check(3000, "app", false);
    s.settle(3100);
    expect(s.role).toBe("SECOND");
    expect(s.state.handover?.reason).toBe("checker");
  });

  it("with no node to fail over to, the restart limit leaves the module as it is, then fails over once a node can take it", () => {
    const s = running([{ name: "app", onFail: "restart", restarts: 1, windowMs: 10_000, fall: 1 }], "dead");
    s.check(1000, "app", false);
    s.settle(1100);
    const stops = () => s.actions.filter((a) => a.type === "stop-resource").length;
    const before = stops();
    // Failing on and off for a while: no restart loop, the module stays up here.
    for (const t of [2000, 3000, 4000, 5000, 6000]) {
      s.check(t, "app", t % 2000 !== 0);
      s.settle(t + 100);
    }
    expect(stops()).toBe(before);
    expect(s.role).toBe("ALONE");
    expect(s.state.started).toBe(2);
    const limits = s.actions.filter((a) => a.type === "event" && a.kind === "restart-limit");
    expect(limits.length).toBeGreaterThan(0);
    expect(limits[0]).toMatchObject({ detail: expect.stringContaining("no other node can take vms (b dead)") });
    expect(s.actions.some((a) => a.type === "event" && a.kind === "restart" && a.detail.includes("restarting here"))).toBe(false);
    // A peer that can take it appears: handed over.
    s.up(7000, "b", "SECOND", 2);
    s.settle(7100);
    expect(s.role).toBe("SECOND");
    expect(s.state.handover?.reason).toBe("checker");
  });

  it("on_fail failover with nobody to take it does not restart it over and over either", () => {
    const s = running([{ name: "app", onFail: "failover", fall: 1 }], "dead");
    const before = s.actions.length;
    for (const t of [1000, 2000, 3000]) {
      s.check(t, "app", t === 2000);
      s.settle(t + 100);
    }
    expect(s.actions.slice(before).some((a) => a.type === "stop-resource")).toBe(false);
    expect(s.state.failoverWanted?.checker).toBe("app");
  });

  it("results of checkers that are not running are ignored", () => {
    const s = new ModuleScript(testConfig({ checkers: [{ name: "app", onFail: "stop", fall: 1 }] }));
    s.up(0, "b", "PRIM", 2);
    s.check(100, "app", false);
    expect(s.state.checkers[0]?.failing).toBe(false);
    expect(s.state.stopped).toBeNull();
  });

  it("wait-class: failing puts the node in WAIT (a running module stopped), never taking the module; healthy again frees it", () => {
    const s = running([{ name: "lan", onFail: "wait", fall: 2, rise: 2 }]);
    expect(s.state.watching).toEqual(["lan"]);
    s.check(1000, "lan", false);
    expect(s.role).toBe("PRIM");
    s.check(1200, "lan", false);
    s.settle(1300);
    expect(s.role).toBe("WAIT");
    s.advert(1400, "b", "PRIM", 4);
    s.peer(2000, "b", "dead");
    expect(s.role).toBe("WAIT");
    // Still watched in WAIT: it is the node's health, not the app's.
    expect(s.state.watching).toEqual(["lan"]);
    s.check(2200, "lan", true);
    expect(s.role).toBe("WAIT");
    s.check(2400, "lan", true);
    expect(s.role).toBe("ALONE");
  });

  it("on_fail stop ends in STOP; ignore only reports", () => {
    const stop = running([{ name: "app", onFail: "stop", fall: 1 }]);
    stop.check(1000, "app", false);
    stop.settle(1100);
    expect(stop.role).toBe("STOP");
    expect(stop.state.decision.reason).toBe("checker");

    const ignore = running([{ name: "app", onFail: "ignore", fall: 1 }]);
    const out = ignore.check(1000, "app", false);
    expect(out.map((a) => a.type)).toEqual(["event"]);
    expect(ignore.role).toBe("PRIM");
  });
});
