/**
 * A node started with heartbeats only gains a failover module and a VRRP
 * instance by a reload (SIGHUP). Such a node never loaded the module or
 * VRRP code at start (lazy loading, supervised.ts of each engine): the
 * reload must load it and run both as a start would, and the VRRP
 * instance's link check, which rides the heartbeat's rounds
 * (vrrp/link-rides.ts), must see its interface go down.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, onTestFinished } from "vitest";
import { waitUntil } from "./lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { startVigilCluster } from "./vigil-cluster.ts";

const MODULE_VIP = "198.51.100.80";
const VRRP_VIP = "198.51.100.81";

describeLab("a heartbeat-only node that gains a module and VRRP by a reload", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vigil-reload-gains-"));
  });
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  labTest("loads and runs both on SIGHUP; the VRRP link check sees the interface go down", async () => {
    const [h1, h2] = [lab().host("h1"), lab().host("h2")];
    const c = await startVigilCluster({ hosts: [h1, h2], dir: mkdtempSync(join(dir, "c-")), heartbeat: { preset: "lan" } });
    onTestFinished(() => c.stop());
    await c.waitForMesh(30_000);
    const [n1, n2] = [c.node("h1"), c.node("h2")];
    for (const n of [n1, n2]) {
      expect(n.proc.output()).not.toMatch(/modules on|vrrp on/);
      expect((await n.status()).vrrp ?? []).toEqual([]);
    }

    for (const s of ["start", "stop"]) writeFileSync(join(c.dir, `svc-${s}.sh`), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    writeFileSync(c.config, [
      readFileSync(c.config, "utf8").trimEnd(),
      "modules:", "  - name: web", "    type: failover", "    prefer: h1",
      `    vip: ${MODULE_VIP}/24`, `    interface: ${h1.ifname(1)}`, `    start: ${join(c.dir, "svc-start.sh")}`, `    stop: ${join(c.dir, "svc-stop.sh")}`,
      "vrrp:", "  - name: VI_1", `    interface: ${h1.ifname(1)}`, "    vrid: 63", "    priority: { h1: 200, h2: 150 }", "    advert_int: 1s", `    vips: [${VRRP_VIP}/24]`,
      "",
    ].join("\n"));
    const from = { h1: n1.proc.output().length, h2: n2.proc.output().length };
    n1.proc.kill("SIGHUP");
    n2.proc.kill("SIGHUP");
    await waitUntil(() => n1.proc.output().slice(from.h1).includes("config reloaded") && n2.proc.output().slice(from.h2).includes("config reloaded"), {
      timeoutMs: 20_000, what: "both nodes to reload",
    });
    for (const [name, n] of [["h1", n1], ["h2", n2]] as const) {
      const after = n.proc.output().slice(from[name]);
      expect(after, name).toContain("modules on");
      expect(after, name).toContain("vrrp on");
    }
    const web = async (n: typeof n1) => (await n.status()).modules.find((m) => m.name === "web")?.state;
    const vi1 = async (n: typeof n1) => (await n.status()).vrrp?.find((v) => v.name === "VI_1")?.role;
    await waitUntil(async () => (await web(n1)) === "PRIM" && (await web(n2)) === "SECOND", { timeoutMs: 30_000, intervalMs: 250, what: "web PRIM on h1, SECOND on h2" });
    await waitUntil(async () => (await vi1(n1)) === "master" && (await vi1(n2)) === "backup", { timeoutMs: 30_000, intervalMs: 250, what: "VI_1 master on h1, backup on h2" });
    const onH1 = (await h1.exec(["ip", "-4", "-o", "addr", "show", "dev", h1.ifname(1)], { check: true })).stdout;
    expect(onH1).toContain(`${MODULE_VIP}/24`);
    expect(onH1).toContain(`${VRRP_VIP}/24`);

    const down = n1.proc.output().length;
    await lab().linkDown(h1);
    try {
      await waitUntil(async () => (await vi1(n1)) === "fault", { timeoutMs: 10_000, intervalMs: 100, what: "VI_1 in FAULT on h1" });
      expect(n1.proc.output().slice(down)).toMatch(/vrrp VI_1 interface down/);
    } finally {
      await lab().linkUp(h1);
    }
    await waitUntil(async () => (await vi1(n1)) === "master", { timeoutMs: 30_000, intervalMs: 250, what: "VI_1 master on h1 again" });
  }, 120_000);
});
