/**
 * Issue #5, scenario 1 (keepalived's seed case): a small HTTP service that
 * runs on the primary only, watched by a TCP checker on the VIP with
 * `on_fail: restart, restarts: 1, then: failover`. Killing the service once
 * restarts it on the same node; killing it again (past the restart limit)
 * moves the module to the other node. When the primary comes back (its
 * daemon restarted, as after a repair), failback auto returns the module to
 * it; manual keeps it where it is until `vigil swap`.
 * Topology and service: module-lab.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, onTestFinished } from "vitest";
import { waitUntil } from "./lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { startModuleLab, VIP, type ModuleLab } from "./module-lab.ts";

const CHECKER = `{ tcp: "${VIP}:PORT", interval: 200ms, timeout: 300ms, fall: 2, rise: 1, on_fail: restart, restarts: 1, then: failover }`;

/** Kills the service the module started on `node` (its PID from the start script's pidfile) and waits for the new one. */
async function killService(m: ModuleLab, node: string): Promise<number> {
  const pid = m.servicePid(node);
  if (pid === null) throw new Error(`the service does not run on ${node}`);
  process.kill(pid, "SIGKILL");
  return pid;
}

describeLab("failover module: keepalived seed (service killed, restarted, then failed over)", () => {
  const lab = useLab({ hosts: 3, links: 2 });
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vigil-module-ka-"));
  });
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  for (const failback of ["auto", "manual"] as const) {
    labTest(`restart, then failover past the limit; failback ${failback} when the primary returns`, async () => {
      const m = await startModuleLab({ lab: lab(), dir: mkdtempSync(join(dir, `${failback}-`)), failback, checkers: [CHECKER] });
      onTestFinished(() => m.stop());
      const [h1, h2] = [m.node("h1"), m.node("h2")];
      await m.waitRunsOn("h1", 0);
      // The service runs on the primary only.
      expect(m.servicePid("h2")).toBeNull();
      await waitUntil(async () => (await m.module(h1)).checkers[0]?.ok === true, { timeoutMs: 10_000, what: "h1's checker to pass" });

      // First kill: restarted here.
      const t1 = Date.now();
      const first = await killService(m, "h1");
      const restart = await h1.waitForLog((e) => e.msg === "module web restart", { after: t1, timeoutMs: 10_000 });
      expect(String(restart.fields.detail)).toContain("(1 of 1)");
      await waitUntil(() => m.servicePid("h1") !== null && m.servicePid("h1") !== first, { timeoutMs: 10_000, what: "the service to be restarted on h1" });
      await m.waitServedBy("h1", Date.now());
      expect((await m.module(h1)).state).toBe("PRIM");
      expect((await m.module(h1)).restarts).toBe(1);
      expect((await m.module(h2)).state).toBe("SECOND");

      // Second kill within the window: past the limit, so the module fails over.
      const t2 = Date.now();
      await killService(m, "h1");
      await m.waitRunsOn("h2", t2);
      const left = h1.events().find((e) => e.at >= t2 && e.msg === "module web PRIM -> SECOND");
      expect(left?.fields).toMatchObject({ reason: "checker" });
      expect(await m.holdsVip(h1.host)).toBe(false);
      expect(m.servicePid("h1")).toBeNull();

      // The primary comes back: its daemon restarted, as after a repair.
      await m.terminate(h1);
      const backAt = Date.now();
      await h1.start();
      if (failback === "auto") {
        await m.waitRunsOn("h1", backAt, 30_000);
      } else {
        await m.waitRole(h1, ["SECOND"], 30_000);
        await m.waitRole(h2, ["PRIM"]);
        await m.waitServedBy("h2", backAt);
        expect(m.answers(backAt).filter((a) => a.who === "h1")).toEqual([]);
        // Until the operator swaps it back.
        const swapAt = Date.now();
        const r = await m.cli(h1, ["swap", "web"]);
        expect(r.code, `vigil swap web: ${r.stdout}${r.stderr}`).toBe(0);
        expect((await m.module(h1)).state).toBe("PRIM");
        await m.waitRole(h2, ["SECOND"]);
        await m.waitServedBy("h1", swapAt);
      }
    }, 150_000);
  }
});
