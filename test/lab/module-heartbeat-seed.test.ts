/**
 * Issue #5, scenario 2 (Linux-HA Heartbeat's seed case): an HTTP service
 * behind the module's VIP, runnable on both nodes, a client probing the
 * VIP. The primary's daemon is SIGKILLed and its links go down: the other
 * node takes the module and the client is served by it. When the primary
 * comes back, failback auto returns the module to it; manual leaves it.
 * A daemon stopped with SIGTERM hands over at once instead.
 * Topology and service: module-lab.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, onTestFinished } from "vitest";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { startModuleLab } from "./module-lab.ts";

describeLab("failover module: heartbeat seed (SIGKILL of the primary's daemon, link down)", () => {
  const lab = useLab({ hosts: 3, links: 2 });
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vigil-module-hb-"));
  });
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  labTest("SIGTERM on the primary: it stops its resources, announces STOP and says goodbye, so the standby takes over before the deadtime", async () => {
    const m = await startModuleLab({ lab: lab(), dir: mkdtempSync(join(dir, "term-")), failback: "manual" });
    onTestFinished(() => m.stop());
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await m.waitRunsOn("h1", 0);
    // PRIM is announced before the resources start, and the service answers
    // before its start script has finished: the cut-off below is only clean
    // once h1 reported the script done.
    await h1.waitForLog((e) => e.msg === "module web start script start.sh ok");
    const stoppedAt = Date.now();
    await m.terminate(h1);
    expect(h1.proc.exitStatus).toMatchObject({ code: 0 });
    // Resources stopped in reverse: the service first, the VIP last; then STOP.
    const h1Lines = h1.events().filter((e) => e.at >= stoppedAt && typeof e.fields.module === "string" && e.level !== "debug").map((e) => e.msg);
    expect(h1Lines).toEqual(["module web stop script stop.sh ok", "module web stop vip 198.51.100.100/24 ok", "module web PRIM -> STOP"]);
    expect(await m.holdsVip(h1.host)).toBe(false);
    expect(m.servicePid("h1")).toBeNull();
    // h2 took over on h1's STOP advert (PRIM) or on its goodbye (ALONE, when the goodbye
    // round carried the STOP advert first): either way h1 is stopped, never dead.
    await h2.waitForLog((e) => e.msg === "module web SECOND -> PRIM" || e.msg === "module web SECOND -> ALONE", { after: stoppedAt });
    await h2.waitForLog((e) => e.msg === "peer h1 stopped", { after: stoppedAt });
    await m.waitServedBy("h2", stoppedAt);
    expect(h2.events().filter((e) => e.msg === "peer h1 dead")).toEqual([]);
  }, 60_000);

  for (const failback of ["auto", "manual"] as const) {
    labTest(`the standby serves the client after the primary dies; failback ${failback} on its return`, async () => {
      const m = await startModuleLab({ lab: lab(), dir: mkdtempSync(join(dir, `${failback}-`)), failback });
      onTestFinished(async () => {
        await m.stop();
        await lab().linkUp(m.node("h1").host);
      });
      const [h1, h2] = [m.node("h1"), m.node("h2")];
      await m.waitRunsOn("h1", 0);
      expect(await m.holdsVip(h1.host)).toBe(true);
      expect(await m.holdsVip(h2.host)).toBe(false);
      // Each node shows both nodes' roles.
      expect((await m.module(h2)).nodes).toEqual([
        { node: "h1", role: "PRIM", generation: expect.any(Number) },
        { node: "h2", role: "SECOND", generation: expect.any(Number) },
      ]);

      const killedAt = Date.now();
      h1.proc.kill("SIGKILL");
      await lab().linkDown(h1.host);
      await m.waitRole(h2, ["ALONE"]);
      await m.waitServedBy("h2", killedAt);
      const taken = h2.events().find((e) => e.msg === "module web SECOND -> ALONE");
      expect(taken?.fields).toMatchObject({ module: "web", from: "SECOND", to: "ALONE", reason: "isolated-witness-ok" });
      expect((await m.module(h2)).nodes.find((n) => n.node === "h1")?.role).toBe("dead");

      // The primary returns: its daemon cleans up what the killed one left (service, VIP), then rejoins.
      await lab().linkUp(h1.host);
      const backAt = Date.now();
      await h1.start();
      if (failback === "auto") {
        await m.waitRunsOn("h1", backAt, 30_000);
        expect(await m.holdsVip(h2.host)).toBe(false);
        expect(h2.events().some((e) => e.msg === "module web ALONE -> SECOND" || (e.fields.to === "SECOND" && e.fields.reason === "failback"))).toBe(true);
      } else {
        await m.waitRole(h1, ["SECOND"], 30_000);
        await m.waitRole(h2, ["PRIM"]);
        expect(await m.holdsVip(h1.host)).toBe(false);
        expect(m.servicePid("h1")).toBeNull();
        await m.waitServedBy("h2", backAt);
        expect(m.answers(backAt).filter((a) => a.who === "h1")).toEqual([]);
      }
    }, 120_000);
  }
});
