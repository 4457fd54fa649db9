/**
 * The module core with an arbiter: the lease gates every claim, the
 * watchdog is armed before anything starts, the right to run ends in time,
 * and the lease is released only after everything stopped.
 */
import { describe, expect, it } from "vitest";
import { arbiterTerms, FENCE_DEFAULT_STOP_MS, FENCE_KILL_GRACE_MS, fenceStopBudgetMs, validateModuleConfig, type ModuleAction } from "../../src/core/module/module.ts";
import { initLease, leaseUsable, nextRequestAt, sendRequest, takeAnswer } from "../../src/core/module/lease.ts";
import { ModuleScript, testArbiter, testConfig, TEST_TIMERS } from "./module-driver.ts";

const terms = testArbiter(3000);

const kinds = (actions: readonly ModuleAction[]) => actions.map((a) => (a.type === "event" ? `event:${a.kind}` : a.type));

describe("lease bookkeeping", () => {
  it("counts a lease from when the request was sent, not when the answer came", () => {
    const sent = sendRequest(initLease(), 1000, terms);
    const got = takeAnswer(sent.lease, { request: sent.id, granted: true, durationMs: 3000, holder: "a" }, 1900);
    expect(got.result).toEqual({ kind: "extended", validUntil: 4000, afterDenials: 0 });
    expect(leaseUsable(got.lease, terms, 2999)).toBe(true);
    expect(leaseUsable(got.lease, terms, 3000)).toBe(false);
  });

  it("ignores answers to unknown requests and grants that add nothing", () => {
    const a = sendRequest(initLease(), 1000, terms);
    const b = sendRequest(a.lease, 1500, terms);
    expect(takeAnswer(b.lease, { request: 99, granted: true, durationMs: 3000, holder: "a" }, 1600).result).toEqual({ kind: "unknown" });
    const newer = takeAnswer(b.lease, { request: b.id, granted: true, durationMs: 3000, holder: "a" }, 1600);
    const older = takeAnswer(newer.lease, { request: a.id, granted: true, durationMs: 3000, holder: "a" }, 1700);
    expect(older.result).toEqual({ kind: "stale" });
    expect(older.lease.validUntil).toBe(4500);
  });

  it("renews on schedule while holding, retries faster otherwise", () => {
    const sent = sendRequest(initLease(), 1000, terms);
    expect(nextRequestAt(sent.lease, terms)).toBe(1000 + terms.retryMs);
    const held = takeAnswer(sent.lease, { request: sent.id, granted: true, durationMs: 3000, holder: "a" }, 1010).lease;
    expect(nextRequestAt(held, terms)).toBe(1000 + terms.renewMs);
  });

  it("derived timings satisfy the config's rules; broken ones are reported", () => {
    expect(terms).toEqual({ leaseMs: 3000, renewMs: 1000, retryMs: 200, stopBeforeMs: 1000, fenceMs: 500, stopBudgetMs: 0, takeoverWaitMs: 500 + 100 + 100 + 500 });
    expect(validateModuleConfig(testConfig({ arbiter: arbiterTerms(900, TEST_TIMERS) }))).toEqual([]);
    const bad = validateModuleConfig(testConfig({ arbiter: { ...terms, renewMs: 2500, retryMs: 2600 } }));
    expect(bad.map((p) => p.path)).toEqual(["arbiter.renewMs", "arbiter.retryMs"]);
  });
});

describe("the takeover wait covers the fence's stop budget", () => {
  it("a fence takes every stop at its timeout plus the kill grace; VIPs and scripts without a stop take nothing", () => {
    expect(fenceStopBudgetMs([{ kind: "vip", address: "198.51.100.100/24", interface: null }])).toBe(0);
    expect(fenceStopBudgetMs([
      { kind: "vip", address: "198.51.100.100/24", interface: null },
      { kind: "script", start: "/s/start", stop: "/s/stop", timeouts: { startMs: 1000, stopMs: 6000 } },
      { kind: "script", start: "/s/only-start", stop: null, timeouts: { startMs: 1000, stopMs: 9000 } },
      { kind: "service", unit: "app.service" },
    ])).toBe(6000 + FENCE_KILL_GRACE_MS + FENCE_DEFAULT_STOP_MS + FENCE_KILL_GRACE_MS);
  });

  it("adds the stop budget to the takeover wait, and refuses terms that would let a new PRIM start during a fence", () => {
    const slow = arbiterTerms(3000, TEST_TIMERS, 100, 8000);
    expect(slow).toMatchObject({ stopBudgetMs: 8000, takeoverWaitMs: 500 + 100 + 100 + 500 + 8000 });
    expect(validateModuleConfig(testConfig({ arbiter: slow }))).toEqual([]);
    const short = validateModuleConfig(testConfig({ arbiter: { ...slow, takeoverWaitMs: 5000 } }));
    expect(short).toEqual([{ path: "arbiter.takeoverWaitMs", message: expect.stringContaining("shorter than fence (500 ms) + stop budget (8000 ms)") }]);
  });

  it("a new PRIM that does not hear the old one starts only after the old one's fence may have run to its end", () => {
    const slow = arbiterTerms(3000, TEST_TIMERS, 100, 8000);
    const s = new ModuleScript(testConfig({ arbiter: slow }));
    s.up(0, "b", "PRIM", 2);
    s.peer(1000, "b", "dead");
    s.deny(1010, "b");
    s.until(1200);
    s.grant(1210);
    // The arbiter renews the lease all along; the wait alone holds the start back.
    const end = 1210 + slow.takeoverWaitMs;
    for (let t = 1300; t < end; t += 100) {
      s.until(t);
      expect(s.state.run, `at ${t}`).toBeNull();
      s.grant(t);
    }
    s.until(end - 1);
    expect(s.state.run).toBeNull();
    expect(s.until(end).some((a) => a.type === "start-resource")).toBe(true);
  });
});

describe("module core with an arbiter", () => {
  it("takes over only with the lease: watchdog armed, claim published, then the takeover wait, then starts", () => {
    const s = new ModuleScript(testConfig({ arbiter: terms }));
    s.up(0, "b", "PRIM", 2);
    const dead = s.peer(1000, "b", "dead");
    expect(kinds(dead)).toContain("lease-request");
    expect(dead.some((a) => a.type === "start-resource")).toBe(false);
    // Isolated and the arbiter silent: WAIT. Denied while b's lease runs: no claim, SECOND.
    expect(s.role).toBe("WAIT");
    s.deny(1010, "b");
    expect(s.role).toBe("SECOND");
    s.until(1200);
    const granted = s.grant(1210);
    expect(kinds(granted)).toEqual(["event:lease-granted", "watchdog", "event:takeover-wait", "transition", "publish"]);
    expect(granted[1]).toEqual({ type: "watchdog", module: "vms", deadline: 1200 + 3000 });
    // b was not heard: it may still be stopping; nothing starts before the takeover wait.
    s.until(1210 + terms.takeoverWaitMs - 1);
    expect(s.state.run).toBeNull();
    const started = s.until(1210 + terms.takeoverWaitMs);
    expect(started.some((a) => a.type === "start-resource" && a.index === 0)).toBe(true);
  });

  it("skips the takeover wait when every peer is heard and none runs the module", () => {
    const s = new ModuleScript(testConfig({ prefer: "a", arbiter: terms }));
    s.up(0, "b", "SECOND");
    const out = s.grant(10);
    expect(kinds(out)).toEqual(["event:lease-granted", "watchdog", "transition", "publish", "start-resource"]);
  });

  it("an isolated PRIM whose renewals go unanswered stops before its lease runs out, then releases it", () => {
    const s = new ModuleScript(testConfig({ arbiter: terms }));
    s.peer(0, "b", "dead");
    s.grant(10);
    s.until(10 + terms.takeoverWaitMs);
    s.settle(20 + terms.takeoverWaitMs);
    expect(s.role).toBe("ALONE");
    const validUntil = s.state.lease.validUntil as number;
    s.until(validUntil - terms.stopBeforeMs - 1);
    expect(s.state.run).toBeNull();
    const lost = s.until(validUntil - terms.stopBeforeMs);
    expect(kinds(lost)).toEqual(["event:lease-lost", "stop-resource"]);
    s.resource(validUntil - 900, true);
    const last = s.resource(validUntil - 800, true);
    // Isolated with a silent arbiter: WAIT, asking again for the lease.
    expect(kinds(last)).toEqual(["lease-release", "watchdog", "transition", "publish", "lease-request"]);
    expect(last[1]).toEqual({ type: "watchdog", module: "vms", deadline: null });
    expect(s.role).toBe("WAIT");
  });

  it("a PRIM that hears every peer keeps running without the lease, moving its watchdog along", () => {
    const s = new ModuleScript(testConfig({ prefer: "a", arbiter: terms }));
    s.up(0, "b", "SECOND");
    s.grant(10);
    s.settle(20);
    s.until(10_000);
    expect(s.role).toBe("PRIM");
    expect(s.state.lease.validUntil).toBe(3000);
    const w = s.state.lease.watchdog as number;
    expect(w).toBeGreaterThan(10_000);
    expect(w).toBeLessThanOrEqual(10_000 + terms.fenceMs);
    // Then b is not heard: the right to run ends, and the watchdog is no longer moved.
    const out = s.peer(10_050, "b", "dead");
    expect(kinds(out)).toContain("stop-resource");
    expect(s.state.lease.lost).toBe(true);
    s.until(w - 1);
    expect(s.state.lease.watchdog).toBe(w);
  });

  it("when the watchdog fired (a frozen daemon), cleans up everything before anything else", () => {
    const s = new ModuleScript(testConfig({ arbiter: terms }));
    s.peer(0, "b", "dead");
    s.grant(10);
    s.until(10 + terms.takeoverWaitMs);
    s.settle(20 + terms.takeoverWaitMs);
    const w = s.state.lease.watchdog as number;
    // Frozen past the deadline; the first thing after thawing is a late grant.
    const thawed = s.step({ type: "lease", request: s.lastLeaseRequest(), granted: true, durationMs: 3000, holder: "a", detail: "late" }, w + 500);
    expect(kinds(thawed).slice(0, 2)).toEqual(["event:fenced", "stop-resource"]);
    // Said as it happens: the resources are being stopped, not gone yet.
    expect(thawed[0]).toMatchObject({ type: "event", detail: `watchdog deadline ${w} passed: fencing vms here (stopping its resources)` });
    expect(thawed.find((a) => a.type === "stop-resource")).toMatchObject({ index: 1, cleanup: true });
    expect(thawed.some((a) => a.type === "watchdog" || a.type === "start-resource")).toBe(false);
    const rest = s.settle(w + 600);
    // The late grant is given back only once everything is stopped.
    expect(kinds(rest)).toEqual(["stop-resource", "lease-release", "transition", "publish", "transition", "publish", "lease-request"]);
    expect(rest.flatMap((a) => (a.type === "transition" ? [a.to] : []))).toEqual(["WAIT", "SECOND"]);
  });

  it("gives back a lease granted after it stopped wanting it", () => {
    const s = new ModuleScript(testConfig({ prefer: "a", arbiter: terms }));
    s.up(0, "b", "SECOND");
    const req = s.lastLeaseRequest();
    s.advert(5, "b", "PRIM", 2);
    const out = s.at(10, { type: "lease", request: req, granted: true, durationMs: 3000, holder: "a", detail: "granted" });
    expect(kinds(out)).toEqual(["lease-release"]);
    expect(s.state.lease.validUntil).toBeNull();
  });

  it("a failed stop keeps the lease and the watchdog: the watchdog must still fire", () => {
    const s = new ModuleScript(testConfig({ prefer: "a", arbiter: terms }));
    s.up(0, "b", "SECOND");
    s.grant(10);
    s.settle(20);
    s.command(100, "stop");
    s.resource(110, false, "exit 1");
    const out = s.settle(120);
    expect(kinds(out)).not.toContain("lease-release");
    expect(out.some((a) => a.type === "watchdog")).toBe(false);
    expect(s.role).toBe("STOP");
    expect(s.state.lease.watchdog).not.toBeNull();
  });
});
