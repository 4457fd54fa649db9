/**
 * `vigil swap` answers truthfully, through the real binary on two lab nodes
 * (module-lab.ts): "done" only once the service runs on the other node with
 * its start script finished, and "failed", with a non-zero exit, naming the
 * failed start and where the module runs now when the other node's start
 * script exits 1. The daemon's own event says the same.
 *
 * The start script is replaced once the module runs (atomically: a running
 * shell reads its script as it goes) by one that takes a while after the
 * service listens, writes its own finish time, and exits 1 on a node with a
 * "fail-start-<node>" marker.
 */
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, onTestFinished } from "vitest";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { startModuleLab, VIP } from "./module-lab.ts";

describeLab("vigil swap answers with the real outcome", () => {
  const lab = useLab({ hosts: 3, links: 2 });
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vigil-swap-outcome-"));
  });
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  labTest("done only after the start script finished; failed, naming it, when it exits 1 (and the module is back)", async () => {
    const m = await startModuleLab({ lab: lab(), dir: mkdtempSync(join(dir, "run-")), failback: "manual" });
    onTestFinished(() => m.stop());
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await m.waitRole(h1, ["PRIM"]);
    await m.waitRole(h2, ["SECOND"]);
    await h1.waitForLog((e) => e.msg === "module web start script start.sh ok");

    const start = join(m.dir, "start.sh");
    const original = readFileSync(start, "utf8");
    const finished = (node: string) => join(m.dir, `start-finished-${node}`);
    const marker = (node: string) => join(m.dir, `fail-start-${node}`);
    const slow = original.replace(
      /&& exit 0;/,
      `&& { sleep 1; date +%s%3N > ${join(m.dir, "start-finished-")}"$VIGIL_NODE"; exit 0; };`,
    ).replace("#!/bin/sh\n", `#!/bin/sh\n[ -e ${join(m.dir, "fail-start-")}"$VIGIL_NODE" ] && { echo "refusing to start on $VIGIL_NODE" >&2; exit 1; }\n`);
    expect(slow).not.toBe(original);
    writeFileSync(`${start}.new`, slow, { mode: 0o755 });
    renameSync(`${start}.new`, start);

    // 1. A swap that works: answered after h2's start script wrote its finish time.
    const asked = Date.now();
    const ok = await m.cli(h1, ["swap", "web"]);
    const answeredAt = Date.now();
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout.split("\n")[0]).toBe("swap web: done: h2 runs web now, all its resources started");
    expect(existsSync(finished("h2"))).toBe(true);
    const scriptDone = Number(readFileSync(finished("h2"), "utf8").trim());
    expect(scriptDone).toBeGreaterThanOrEqual(asked);
    expect(scriptDone).toBeLessThanOrEqual(answeredAt);
    await m.waitServedBy("h2", asked);

    // 2. A swap to a node whose start script exits 1: failed, named, and the module back on h2.
    writeFileSync(marker("h1"), "");
    const bad = await m.cli(h2, ["swap", "web"]);
    expect(bad.code, JSON.stringify(bad)).toBe(1);
    expect(bad.stdout).toBe("");
    const head = bad.stderr.split("\n")[0] ?? "";
    expect(head).toMatch(/^swap web: failed: h1 could not start web \(start of script start\.sh failed: .*exit.* 1.*\); web is back on h2$/);
    expect(head).toContain("refusing to start on h1");
    await m.waitRole(h2, ["PRIM"]);
    await m.waitRole(h1, ["WAIT"]);
    const event = await h2.waitForLog((e) => e.msg === "module web command swap failed");
    expect(String(event.fields.detail)).toBe(head.replace(/^swap web: failed: /, ""));
    expect(h2.events().filter((e) => e.msg === "module web command swap done" && e.at >= asked + 1 && e.at > answeredAt)).toEqual([]);

    // 3. From the failed node itself (prim on h1): failed, naming its own start, and where the module runs.
    rmSync(marker("h1"));
    const cleared = await m.cli(h1, ["start", "web"]);
    expect(cleared.code).toBe(0);
    writeFileSync(marker("h1"), "");
    const own = await m.cli(h1, ["prim", "web"]);
    expect(own.code).toBe(1);
    expect(own.stderr.split("\n")[0]).toMatch(/^prim web: failed: h1 could not start web \(start of script start\.sh failed: .*refusing to start on h1.*\); web runs on h2$/);
    rmSync(marker("h1"));
    await m.waitServedBy("h2", Date.now());
    expect(VIP).toBe("198.51.100.100");
    console.log(`swap outcomes: "${ok.stdout.split("\n")[0]}" (h2's start script finished ${answeredAt - scriptDone} ms before the answer); "${head}"; "${own.stderr.split("\n")[0]}"`);
  }, 120_000);
});
