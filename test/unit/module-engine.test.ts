import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { blockedFile } from "../../src/daemon/module/blocked.ts";
import { forceprimRefusal } from "../../src/api/refusals.ts";
import { makeNode, roleOf, seenBy, SwitchChecker, until, Wire, type TestNode } from "./module-engine-harness.ts";

let wire: Wire | undefined;
afterEach(() => {
  wire?.stop();
  wire = undefined;
});

function pair(setup: Parameters<typeof makeNode>[2] = {}): [TestNode, TestNode, Wire] {
  const a = makeNode("a", ["a", "b"], setup);
  const b = makeNode("b", ["a", "b"], setup);
  wire = new Wire([a, b]);
  return [a, b, wire];
}

const running = (n: TestNode): boolean => roleOf(n) === "PRIM" || roleOf(n) === "ALONE";
const cmd = (n: TestNode, command: "swap" | "stop" | "start" | "prim" | "second" | "forceprim", yes = false) =>
  n.engine.command({ module: "web", command, yes, timeoutMs: 5000 });

describe("module engine", { timeout: 15_000 }, () => {
  test("two nodes: the preferred one runs the module, VIP first then the start script, GARP after the address", async () => {
    const [a, b, w] = pair();
    w.start();
    await until(() => roleOf(a) === "PRIM" && roleOf(b) === "SECOND" && a.host.effects.includes("run /srv/start.sh"));
    // Cleanup at start stops everything once, in reverse, on both nodes.
    expect(b.host.effects).toEqual(["run /srv/stop.sh", "del 198.51.100.100/24 eth0"]);
    const started = a.host.effects.slice(2);
    expect(started).toEqual(["add 198.51.100.100/24 eth0", "garp eth0 198.51.100.100", "run /srv/start.sh"]);
    const s = a.engine.statuses()[0];
    expect(s?.nodes).toEqual([
      { node: "a", role: "PRIM", generation: expect.any(Number) },
      { node: "b", role: "SECOND", generation: expect.any(Number) },
    ]);
    expect(s?.lastTransition?.to).toBe("PRIM");
    const line = a.log.map((l) => JSON.parse(l)).find((e) => e.msg === "module web SECOND -> PRIM");
    expect(line).toMatchObject({ module: "web", from: "SECOND", to: "PRIM", reason: "elected" });
    const metrics = a.metrics.render();
    expect(metrics).toContain('vigil_module_role{module="web",role="PRIM"} 1');
    expect(metrics).toContain('vigil_module_role{module="web",role="SECOND"} 0');
    expect(metrics).toMatch(/vigil_module_transitions_total\{module="web",reason="elected",to="PRIM"\} 1/);
  });

  test("the adverts carry what the core published, nothing before the start-up cleanup", async () => {
    const a = makeNode("a", ["a", "b"]);
    wire = new Wire([a]);
    expect(a.engine.adverts()).toEqual([]);
    a.engine.start();
    await until(() => a.engine.adverts().length > 0);
    expect(a.engine.adverts()[0]).toMatchObject({ module: "web" });
  });

  test("stopping a node stops its resources in reverse and the peer takes over", async () => {
    const [a, b, w] = pair();
    w.start();
    await until(() => roleOf(a) === "PRIM" && roleOf(b) === "SECOND");
    await until(() => a.host.effects.includes("run /srv/start.sh"));
    const before = a.host.effects.length;
    await a.engine.stop(5000);
    expect(a.host.effects.slice(before)).toEqual(["run /srv/stop.sh", "del 198.51.100.100/24 eth0"]);
    expect(a.engine.adverts()).toEqual([{ module: "web", role: "STOP", generation: expect.any(Number) }]);
    // b sees STOP in a's frames and takes the module without waiting for a deadtime.
    w.pump();
    await until(() => running(b));
    expect(b.host.effects).toContain("add 198.51.100.100/24 eth0");
  });

  test("a dead primary: the standby goes ALONE and starts the resources", async () => {
    const [a, b, w] = pair();
    w.start();
    await until(() => roleOf(a) === "PRIM" && roleOf(b) === "SECOND");
    w.kill("a");
    await until(() => roleOf(b) === "ALONE" && b.host.effects.includes("run /srv/start.sh"));
    expect(b.engine.statuses()[0]?.nodes.find((n) => n.node === "a")?.role).toBe("dead");
  });

  test("isolated with a witness that does not answer: WAIT; with one that answers: ALONE", async () => {
    let reachable = false;
    const [a, b, w] = pair({ witness: { reachable: () => reachable } });
    w.start();
    await until(() => roleOf(a) === "PRIM" && roleOf(b) === "SECOND");
    w.cut("a", "b");
    await until(() => roleOf(a) === "WAIT" && roleOf(b) === "WAIT");
    expect(a.engine.statuses()[0]?.witness).toMatchObject({ reachable: false });
    expect(a.host.effects.at(-1)).toBe("del 198.51.100.100/24 eth0");
    reachable = true;
    // Both reach the witness but not each other: without an arbiter both run it.
    await until(() => roleOf(a) === "ALONE" && roleOf(b) === "ALONE");
    w.join("a", "b");
    // Healed: one claim wins (the later one; equal ones go to the preferred node), the other steps down.
    await until(() => [roleOf(a), roleOf(b)].sort().join(" ") === "PRIM SECOND");
  });

  test("a node that loses its last peer decides on a witness round started after the loss, not on the last one", async () => {
    let reachable = true;
    const [a, b, w] = pair({ witness: { reachable: () => reachable } });
    w.start();
    await until(() => roleOf(a) === "PRIM" && roleOf(b) === "SECOND");
    await until(() => b.engine.statuses()[0]?.witness?.reachable === true);
    // The cable is pulled: the witness is gone at the same moment as the peer.
    reachable = false;
    w.cut("a", "b");
    await until(() => roleOf(a) === "WAIT" && roleOf(b) === "WAIT");
    const took = [...a.log, ...b.log].map((l) => JSON.parse(l)).filter((e) => e.to === "ALONE");
    expect(took).toEqual([]);
    expect(b.host.effects).not.toContain("run /srv/start.sh");
  });

  test("commands answer once the cluster got there: swap moves the module, then back", async () => {
    const [a, b, w] = pair();
    w.start();
    await until(() => seenBy(b, "a") === "PRIM" && seenBy(a, "b") === "SECOND");
    const out = await cmd(a, "swap");
    expect(out).toMatchObject({ ok: true, module: "web", command: "swap" });
    expect(out.detail).toContain("b runs web");
    expect(running(b)).toBe(true);
    await until(() => seenBy(a, "b") === "PRIM");
    const back = await cmd(a, "prim");
    expect(back.ok).toBe(true);
    expect(roleOf(a)).toBe("PRIM");
    await until(() => roleOf(b) === "SECOND");
  });

  test("forceprim needs yes and explains the risk; an unknown module is named", async () => {
    const [a, , w] = pair();
    w.start();
    const refused = await cmd(a, "forceprim");
    expect(refused).toMatchObject({ ok: false, detail: forceprimRefusal({ yes: "--yes", prim: "prim" }) });
    const unknown = await a.engine.command({ module: "nope", command: "stop", yes: false, timeoutMs: 1000 });
    expect(unknown.ok).toBe(false);
    expect(unknown.detail).toContain(`"nope"`);
    expect(unknown.detail).toContain("web");
  });

  test("stop and start: STOP here, the peer runs it; start brings this node back as SECOND", async () => {
    const [a, b, w] = pair();
    w.start();
    await until(() => roleOf(a) === "PRIM" && roleOf(b) === "SECOND");
    const stopped = await cmd(a, "stop");
    expect(stopped.ok).toBe(true);
    expect(roleOf(a)).toBe("STOP");
    await until(() => running(b));
    const started = await cmd(a, "start");
    expect(started.ok).toBe(true);
    expect(roleOf(a)).toBe("SECOND");
  });

  test("a failing start script blocks the node, persisted in the state dir, and a restart reads it back", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "vigil-me-blocked-"));
    try {
      const a = makeNode("a", ["a"], { stateDir });
      a.host.failing.add("/srv/start.sh");
      wire = new Wire([a]);
      wire.start();
      await until(() => roleOf(a) === "WAIT" && a.engine.statuses()[0]?.blocked !== null);
      const file = blockedFile(stateDir, "web");
      expect(existsSync(file)).toBe(true);
      expect(JSON.parse(readFileSync(file, "utf8")).blocked).toContain("start");
      // Everything started was stopped again, the failed script included.
      expect(a.host.effects.slice(-2)).toEqual(["run /srv/stop.sh", "del 198.51.100.100/24 eth0"]);
      wire.stop();
      wire = undefined;

      const again = makeNode("a", ["a"], { stateDir });
      wire = new Wire([again]);
      wire.start();
      await until(() => roleOf(again) === "WAIT");
      expect(again.engine.statuses()[0]?.blocked).toContain("start");
      expect(again.host.effects).not.toContain("run /srv/start.sh");
      const cleared = await cmd(again, "start");
      expect(cleared.ok).toBe(true);
      expect(JSON.parse(readFileSync(file, "utf8")).blocked).toBeNull();
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test("a restart-class checker restarts the module locally, then fails over", async () => {
    const checker = new SwitchChecker("http 127.0.0.1:80");
    const checks = [{ name: "1: http", checker, intervalMs: 10, timeoutMs: 100 }];
    const core = { checkers: [{ name: "1: http", onFail: "restart" as const, then: "failover" as const, restarts: 1, fall: 1, rise: 1 }] };
    const a = makeNode("a", ["a", "b"], { core, checks });
    const b = makeNode("b", ["a", "b"], { core, checks: [{ ...checks[0]!, checker: new SwitchChecker("http b") }] });
    wire = new Wire([a, b]);
    wire.start();
    await until(() => roleOf(a) === "PRIM" && roleOf(b) === "SECOND");
    await until(() => a.engine.statuses()[0]?.checkers[0]?.ok === true);
    checker.ok = false;
    await until(() => a.log.some((l) => JSON.parse(l).msg === "module web restart"));
    await until(() => running(b));
    expect(roleOf(a)).toBe("SECOND");
    const starts = a.host.effects.filter((e) => e === "run /srv/start.sh").length;
    expect(starts).toBe(2);
  });
});
