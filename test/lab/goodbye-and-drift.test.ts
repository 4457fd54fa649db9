/**
 * A clean stop is not a death, and configs that differ between nodes are
 * noticed; through the real binary on two lab nodes (module-lab.ts).
 *
 * Goodbye: with a long deadtime (5 s), SIGTERM on the node that runs the
 * module. Its peer shows it STOPPED (info, not an ERROR "dead"), and runs
 * the module, start script finished, while the stopped node's deadline had
 * not come yet: the takeover did not wait for the deadtime. The node comes
 * back as usual.
 *
 * Drift: one node reloads with failback auto while the other keeps manual:
 * both warn, naming modules.web.failback, and show it in the status; when
 * the configs agree again, both say so.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, onTestFinished } from "vitest";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { waitUntil } from "./lab.ts";
import { startModuleLab } from "./module-lab.ts";

const DEADTIME_MS = 5_000;

describeLab("goodbye on a clean stop; config drift", () => {
  const lab = useLab({ hosts: 3, links: 2 });
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vigil-goodbye-"));
  });
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  labTest("SIGTERM on the primary: its peer shows it STOPPED and runs the module before its deadtime ran out", async () => {
    const m = await startModuleLab({
      lab: lab(),
      dir: mkdtempSync(join(dir, "bye-")),
      failback: "manual",
      heartbeat: { interval: "200ms", warntime: "1s", deadtime: "5s", initdead: "6s" },
    });
    onTestFinished(() => m.stop());
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await m.waitRole(h1, ["PRIM"], 30_000);
    await m.waitRole(h2, ["SECOND"], 30_000);
    await h1.waitForLog((e) => e.msg === "module web start script start.sh ok");

    const stoppedAt = Date.now();
    await m.terminate(h1);
    expect(h1.proc.exitStatus).toMatchObject({ code: 0 });
    expect(h1.events().some((e) => e.msg === "said goodbye to peers")).toBe(true);

    const bye = await h2.waitForLog((e) => e.msg === "peer h1 stopped", { after: stoppedAt });
    expect(bye.level).toBe("info");
    expect(bye.fields).toMatchObject({ peer: "h1", from: "up", to: "stopped", reason: "said-goodbye" });
    await h2.waitForLog((e) => e.msg === "module web start script start.sh ok", { after: stoppedAt });
    // The module runs on h2 with every resource started, and h1's deadline has not come:
    // h1 was last heard less than a deadtime ago, and it is STOPPED, not dead.
    const s = await h2.status();
    const peer = s.peers.find((p) => p.name === "h1");
    expect(peer?.state).toBe("stopped");
    const heard = Math.min(...(peer?.links ?? []).map((l) => l.lastHeardMsAgo ?? Infinity));
    expect(heard).toBeLessThan(DEADTIME_MS);
    const web = s.modules.find((x) => x.name === "web");
    expect(["PRIM", "ALONE"]).toContain(web?.state);
    expect(web?.nodes.find((n) => n.node === "h1")?.role).toBe("stopped");
    await m.waitServedBy("h2", stoppedAt);
    const afterStop = h2.events().filter((e) => e.at >= stoppedAt);
    expect(afterStop.filter((e) => e.msg === "peer h1 dead" || e.level === "error")).toEqual([]);

    // It comes back: alive again as usual, and stands by (failback manual).
    const backAt = Date.now();
    await h1.start();
    await h2.waitForLog((e) => e.msg === "peer h1 up", { after: backAt, timeoutMs: 15_000 });
    await m.waitRole(h1, ["SECOND"], 30_000);
    expect((await h2.status()).peers.find((p) => p.name === "h1")?.state).toBe("up");
  }, 120_000);

  labTest("different failback on the two nodes: both warn, naming modules.web.failback, until they agree again", async () => {
    const m = await startModuleLab({ lab: lab(), dir: mkdtempSync(join(dir, "drift-")), failback: "manual" });
    onTestFinished(() => m.stop());
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await m.waitRole(h1, ["PRIM"]);
    await m.waitRole(h2, ["SECOND"]);
    // Same config: no warning, and each sees the other's config as the same.
    await waitUntil(async () => (await h1.status()).peers.find((p) => p.name === "h2")?.configDrift?.length === 0, { timeoutMs: 15_000, what: "h1 to compare h2's config" });

    // Both nodes read the same file: change it, and reload only h2.
    const original = readFileSync(m.cluster.config, "utf8");
    const changed = original.replace("failback: manual", "failback: auto");
    expect(changed).not.toBe(original);
    writeFileSync(m.cluster.config, changed);
    const from = Date.now();
    h2.proc.kill("SIGHUP");
    const w1 = await h1.waitForLog((e) => e.level === "warn" && e.msg.startsWith("config differs from peer h2"), { after: from, timeoutMs: 15_000 });
    const w2 = await h2.waitForLog((e) => e.level === "warn" && e.msg.startsWith("config differs from peer h1"), { after: from, timeoutMs: 15_000 });
    expect(w1.msg).toBe("config differs from peer h2: modules.web.failback");
    expect(w2.msg).toBe("config differs from peer h1: modules.web.failback");
    expect(w1.fields.keys).toBe("modules.web.failback");
    expect((await h1.status()).peers.find((p) => p.name === "h2")?.configDrift).toEqual(["modules.web.failback"]);
    expect((await h2.status()).peers.find((p) => p.name === "h1")?.configDrift).toEqual(["modules.web.failback"]);

    // h1 takes the same file: they agree again, and both say so.
    const healed = Date.now();
    h1.proc.kill("SIGHUP");
    await h1.waitForLog((e) => e.msg === "config of peer h2 matches this node's", { after: healed, timeoutMs: 15_000 });
    await h2.waitForLog((e) => e.msg === "config of peer h1 matches this node's", { after: healed, timeoutMs: 15_000 });
    expect((await h2.status()).peers.find((p) => p.name === "h1")?.configDrift).toEqual([]);
  }, 120_000);
});
