/**
 * Operator commands: each one accepted and answered when done, or refused
 * at once with the reason.
 */
import { describe, expect, it } from "vitest";
import type { ModuleAction } from "../../src/core/module/module.ts";
import { ModuleScript, testArbiter, testConfig } from "./module-driver.ts";

function answer(s: ModuleScript, id: string): { ok: boolean; detail: string } | undefined {
  const a = s.answers(id)[0] as Extract<ModuleAction, { type: "answer" }> | undefined;
  return a === undefined ? undefined : { ok: a.ok, detail: a.detail };
}

function runningOnA(over: Parameters<typeof testConfig>[0] = {}) {
  const s = new ModuleScript(testConfig({ prefer: "a", ...over }));
  s.up(0, "b", "SECOND");
  s.settle(10);
  expect(s.role).toBe("PRIM");
  return s;
}

function standbyOnA(over: Parameters<typeof testConfig>[0] = {}) {
  const s = new ModuleScript(testConfig({ prefer: "b", ...over }));
  s.up(0, "b", "PRIM", 2);
  expect(s.role).toBe("SECOND");
  return s;
}

describe("operator commands", () => {
  it("stop: stops here, answers once stopped, and the standby may take over", () => {
    const s = runningOnA();
    const { id } = s.command(100, "stop");
    expect(answer(s, id)).toBeUndefined();
    s.settle(200);
    expect(answer(s, id)).toEqual({ ok: true, detail: "vms is STOP on a; b stands by to take it over" });
    expect(s.state.published?.role).toBe("STOP");
    // STOP stays STOP whatever happens to the peers.
    s.peer(1000, "b", "dead");
    expect(s.role).toBe("STOP");
  });

  it("a stop for the daemon's own shutdown says so, not that the operator stopped it", () => {
    const s = runningOnA();
    s.command(100, "stop", true);
    s.settle(200);
    const last = s.actions.filter((a) => a.type === "transition").at(-1) as Extract<ModuleAction, { type: "transition" }> | undefined;
    expect(last).toMatchObject({ from: "PRIM", to: "STOP", reason: "shutdown", detail: "vigil is stopping on a" });
    const operator = runningOnA();
    operator.command(100, "stop");
    operator.settle(200);
    const byHand = operator.actions.filter((a) => a.type === "transition").at(-1);
    expect(byHand).toMatchObject({ to: "STOP", reason: "operator", detail: "stopped by the operator" });
  });

  it("start: leaves STOP; already started is fine", () => {
    const s = new ModuleScript(testConfig(), { autostart: false });
    s.peer(0, "b", "dead");
    expect(s.role).toBe("STOP");
    const { id } = s.command(100, "start");
    s.settle(200);
    expect(answer(s, id)).toEqual({ ok: true, detail: "vms is ALONE on a" });
    const again = s.command(300, "start");
    expect(answer(s, again.id)).toEqual({ ok: true, detail: "vms is already started on a (ALONE)" });
  });

  it("restart: stop and start where it runs, staying PRIM; refused on a standby", () => {
    const s = runningOnA();
    const { id } = s.command(100, "restart");
    const kinds: string[] = [];
    for (let t = 110; s.pendingRun() !== null; t += 10) {
      kinds.push(...s.resource(t, true).filter((a) => a.type.endsWith("-resource")).map((a) => a.type));
      expect(s.role).toBe("PRIM");
    }
    expect(kinds).toEqual(["stop-resource", "start-resource", "start-resource"]);
    expect(answer(s, id)).toEqual({ ok: true, detail: "vms restarted on a" });

    const standby = standbyOnA();
    const r = standby.command(100, "restart");
    expect(answer(standby, r.id)).toEqual({ ok: false, detail: "vms does not run on a (SECOND); restart restarts it where it runs" });
  });

  it("prim while the peer runs it healthy: asks it to hand over, takes it once it stepped down", () => {
    const s = standbyOnA();
    const { id, actions } = s.command(100, "prim");
    expect(actions).toEqual([{ type: "publish", module: "vms", role: "SECOND", generation: 3 }]);
    // b hands over (publishes SECOND once stopped): a is first in line.
    s.advert(300, "b", "SECOND", 2);
    expect(s.role).toBe("PRIM");
    s.settle(400);
    expect(answer(s, id)).toEqual({ ok: true, detail: "vms runs on a (PRIM), all its resources started" });
    expect(s.state.generation).toBe(4);
  });

  it("the running node hands over when a peer's advert carries a takeover request", () => {
    const s = runningOnA();
    s.advert(100, "b", "SECOND", 3);
    s.settle(200);
    expect(s.role).toBe("SECOND");
    expect(s.state.decision.reason).toBe("standby");
    expect(s.state.handover?.reason).toBe("takeover-request");
  });

  it("prim that is never handed over fails after the handover timeout", () => {
    const s = standbyOnA({ handoverTimeoutMs: 2000 });
    const { id } = s.command(100, "prim");
    s.until(2099);
    expect(answer(s, id)).toBeUndefined();
    s.until(2100);
    expect(answer(s, id)).toEqual({ ok: false, detail: "vms was not handed over to us within 2000 ms" });
    expect(s.state.published?.generation).toBe(2);
  });

  it("prim is refused where the node cannot run the module", () => {
    const stopped = new ModuleScript(testConfig(), { autostart: false });
    stopped.up(0, "b", "SECOND");
    expect(answer(stopped, stopped.command(10, "prim").id)?.detail).toBe('vms is STOP on a (not started (autostart is off)); "start" first');

    const isolated = new ModuleScript(testConfig({ witnessPing: true }));
    isolated.peer(0, "b", "dead");
    expect(answer(isolated, isolated.command(10, "prim").id)?.detail).toBe('no peer heard and the witness does not answer; "forceprim" overrides');

    const blocked = new ModuleScript(testConfig(), { blocked: "start of script start_prim.sh failed: exit 3" });
    blocked.up(0, "b", "SECOND");
    expect(answer(blocked, blocked.command(10, "prim").id)?.detail).toBe('start of script start_prim.sh failed: exit 3; "start" clears it, "forceprim" overrides');
  });

  it("second: hands over, answered once the other node claims; refused when no other node can take it", () => {
    const s = runningOnA();
    const { id } = s.command(100, "second");
    s.settle(200);
    expect(s.role).toBe("SECOND");
    expect(answer(s, id)).toBeUndefined();
    s.advert(300, "b", "PRIM", 4);
    expect(answer(s, id)).toEqual({ ok: true, detail: "b runs vms now, all its resources started" });

    const alone = runningOnA();
    alone.advert(100, "b", "WAIT");
    expect(answer(alone, alone.command(200, "second").id)).toEqual({ ok: false, detail: "no other node can take vms: b WAIT" });
    alone.peer(300, "b", "dead");
    expect(answer(alone, alone.command(400, "second").id)).toEqual({ ok: false, detail: "no other node can take vms: b dead" });
    expect(alone.role).toBe("ALONE");
  });

  it("second that nobody takes: the module comes back after the handover timeout", () => {
    const s = runningOnA({ handoverTimeoutMs: 2000 });
    const { id } = s.command(100, "second");
    s.settle(200);
    expect(s.role).toBe("SECOND");
    s.until(2199);
    expect(s.role).toBe("SECOND");
    s.until(2200);
    expect(answer(s, id)).toEqual({ ok: false, detail: "no other node took vms within 2000 ms" });
    expect(s.role).toBe("PRIM");
  });

  it("swap: second where it runs, prim where it stands by, refused with nothing to swap", () => {
    const a = runningOnA();
    a.command(100, "swap");
    expect(a.state.handover?.reason).toBe("operator");
    const b = standbyOnA();
    b.command(100, "swap");
    expect(b.state.request).not.toBeNull();
    const none = new ModuleScript(testConfig({ prefer: "b" }));
    none.up(0, "b", "SECOND");
    expect(answer(none, none.command(100, "swap").id)).toEqual({ ok: false, detail: "nothing to swap: no node runs vms (a SECOND; b SECOND)" });
  });

  it("one command at a time; stop overrides the pending one", () => {
    const s = standbyOnA();
    const prim = s.command(100, "prim");
    const second = s.command(110, "second");
    expect(answer(s, second.id)).toEqual({ ok: false, detail: "prim is still in progress on vms" });
    const stop = s.command(120, "stop");
    expect(answer(s, prim.id)).toEqual({ ok: false, detail: "overridden by stop" });
    expect(answer(s, stop.id)).toEqual({ ok: true, detail: "vms is STOP on a; it runs on b" });
    expect(s.state.request).toBeNull();
  });

  it("forceprim: refused while a peer is heard running it; overrides the witness rule and a block", () => {
    const s = new ModuleScript(testConfig({ witnessPing: true }), { blocked: "start of script start_prim.sh failed: exit 3" });
    s.up(0, "b", "PRIM", 2);
    expect(answer(s, s.command(10, "forceprim").id)).toEqual({ ok: false, detail: "b runs vms (PRIM) and is heard: use prim for a handover" });
    s.peer(1000, "b", "dead");
    expect(s.role).toBe("WAIT");
    const { id } = s.command(1100, "forceprim");
    s.settle(1200);
    expect(answer(s, id)).toEqual({ ok: true, detail: "vms runs on a (ALONE), all its resources started" });
    expect(s.state.blocked).toBeNull();
    // Once a peer is heard, the normal rules apply again.
    s.up(2000, "b", "SECOND", 2);
    expect(s.state.forced).toBe(false);
    expect(s.role).toBe("PRIM");
  });

  it("forceprim whose own start fails: the next resource is not started, the started ones are stopped, and the answer says why", () => {
    const s = new ModuleScript(testConfig({ witnessPing: true }));
    s.peer(0, "b", "dead");
    expect(s.role).toBe("WAIT");
    const { id } = s.command(100, "forceprim");
    const first = s.pendingRun();
    expect(first).not.toBeNull();
    const after = s.resource(110, false, "exit 3");
    expect(after.filter((a) => a.type === "start-resource")).toEqual([]);
    s.settle(200);
    expect(s.actions.filter((a) => a.type === "start-resource")).toHaveLength(1);
    expect(s.state.forced).toBe(false);
    expect(s.state.blocked).toMatch(/^start of .* failed: exit 3$/);
    expect(s.role).toBe("WAIT");
    expect(answer(s, id)?.ok).toBe(false);
  });

  it("an unknown command from outside is refused, never left unanswered", () => {
    const s = runningOnA();
    const out = s.at(100, { type: "command", id: "x1", command: "reboot" as never });
    expect(out).toEqual([
      { type: "answer", module: "vms", id: "x1", ok: false, detail: 'unknown command "reboot"; expected one of swap, stop, start, restart, prim, second, forceprim' },
    ]);
  });

  it("forceprim with an arbiter still needs the lease, and is refused while the arbiter names another holder", () => {
    const s = new ModuleScript(testConfig({ arbiter: testArbiter(3000) }));
    s.up(0, "b", "PRIM", 2);
    s.peer(1000, "b", "dead");
    s.deny(1010, "b");
    expect(answer(s, s.command(1020, "forceprim").id)).toEqual({ ok: false, detail: "the arbiter gives the lease of vms to b: it may still run there" });
    s.until(3000);
    const { id } = s.command(3000, "forceprim");
    expect(s.role).not.toBe("ALONE");
    s.grant(3010);
    expect(s.role).toBe("ALONE");
    expect(answer(s, id)).toBeUndefined();
  });
});
