/**
 * A SIGHUP that changes only cluster.witness.ping on both nodes of a
 * failover module (failback: manual, PRIM on h2 after a swap, so the
 * preferred node h1 would take it if the engine restarted): the new witness
 * is applied in place; no module stops, starts or moves, and the service
 * keeps its PID. Topology and service: module-lab.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, onTestFinished } from "vitest";
import { waitUntil } from "./lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { startModuleLab } from "./module-lab.ts";

describeLab("failover module: a witness-only reload", () => {
  const lab = useLab({ hosts: 3, links: 2 });
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vigil-witness-reload-"));
  });
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  labTest("applies new witness ping addresses without moving or restarting the module", async () => {
    const m = await startModuleLab({ lab: lab(), dir: mkdtempSync(join(dir, "c-")), failback: "manual" });
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    onTestFinished(() => m.stop());
    await m.waitRole(h1, ["PRIM"]);
    await m.waitRole(h2, ["SECOND"]);
    const swap = await m.cli(h2, ["swap", "web"]);
    expect(swap.code, `${swap.stdout}${swap.stderr}`).toBe(0);
    await m.waitRole(h2, ["PRIM"]);
    const pid = m.servicePid("h2");
    expect(pid).not.toBeNull();

    // Both nodes read the same file: a second witness address, then SIGHUP.
    const config = m.cluster.config;
    const text = readFileSync(config, "utf8");
    const moved = text.replace(/witness: \{ ping: \[([^\]]+)\] \}/, "witness: { ping: [$1, 203.0.113.250] }");
    expect(moved).not.toBe(text);
    writeFileSync(config, moved);
    const from = { h1: h1.proc.output().length, h2: h2.proc.output().length };
    h1.proc.kill("SIGHUP");
    h2.proc.kill("SIGHUP");
    await waitUntil(() => h1.proc.output().slice(from.h1).includes("config reloaded") && h2.proc.output().slice(from.h2).includes("config reloaded"), {
      timeoutMs: 10_000, what: "both nodes to reload",
    });
    // Long enough for a restarted engine to have stopped and re-elected (it did within a second).
    await new Promise((r) => setTimeout(r, 3000));
    const roles = [(await m.module(h1)).state, (await m.module(h2)).state];
    const pidAfter = m.servicePid("h2");
    console.log(`witness reload: roles h1, h2 = ${roles.join(", ")}; service PID on h2 ${pid} -> ${pidAfter}`);
    for (const [n, node] of [["h1", h1], ["h2", h2]] as const) {
      const after = node.proc.output().slice(from[n]);
      expect(after, n).toContain("witness ping applied; modules untouched");
      expect(after, n).not.toContain("restarting the module engine");
      expect(after, n).not.toMatch(/module web \w+ -> /);
    }
    expect(roles).toEqual(["SECOND", "PRIM"]);
    expect(pidAfter).toBe(pid);
  });
});
