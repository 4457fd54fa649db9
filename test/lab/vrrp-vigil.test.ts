/**
 * Two vigil nodes (the real dist/vigil binary) on one VRID, on a real
 * kernel: the keepalived interop scenarios again with vigil on both sides,
 * plus tracked objects and notify scripts.
 *
 * Lab: h1 and h2 run vigil with a shared key (heartbeats run beside VRRP),
 * h3 is a client that keeps asking the VIP who it is and watches its ARP
 * entry for the VIP. Each router runs a web server that answers its name.
 */
import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { type LabHost, waitUntil } from "./lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import {
  macOf,
  makeKey,
  Prober,
  restartVigil,
  startVigil,
  startWebServer,
  stopVigil,
  type VigilNode,
  vigilMetrics,
  vigilYaml,
  type VrrpInstanceYaml,
  vrrpStatus,
  waitForVipOn,
} from "./vrrp-lab.ts";

describeLab(
  "two vigil nodes on one VRID",
  () => {
    const lab = useLab({ hosts: 3 });
    let dir = "";
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "vigil-vrrp-pair-"));
    });
    afterAll(() => {
      if (dir !== "") rmSync(dir, { recursive: true, force: true });
    });

    interface Pair {
      h1: LabHost;
      h2: LabHost;
      dir: string;
      nodes: Record<"h1" | "h2", VigilNode>;
      macs: Record<"h1" | "h2", string>;
      prober: Prober;
    }

    /**
     * h1 and h2 with the same config (per-node priorities in `v`), the client
     * probing from h3. `h1Only` adds instance lines to h1's copy alone: the lab
     * hosts share one /proc and one file system, so a tracked process or file
     * would otherwise be the same object for both nodes.
     */
    async function setup(v: VrrpInstanceYaml, h1Only: string[] = []): Promise<Pair> {
      const [h1, h2, client] = [lab().host(1), lab().host(2), lab().host(3)];
      const sub = mkdtempSync(join(dir, "t-"));
      const key = await makeKey(sub);
      const yaml = vigilYaml([h1, h2], v, key);
      const yaml1 = vigilYaml([h1, h2], { ...v, extra: [...(v.extra ?? []), ...h1Only] }, key);
      startWebServer(h1, sub);
      startWebServer(h2, sub);
      const [n1, n2] = await Promise.all([startVigil(h1, sub, yaml1), startVigil(h2, sub, yaml)]);
      const prober = new Prober(client, sub);
      return { h1, h2, dir: sub, nodes: { h1: n1, h2: n2 }, macs: { h1: await macOf(h1), h2: await macOf(h2) }, prober };
    }

    async function teardown(p: Pair): Promise<void> {
      await p.prober.proc.stop();
      await Promise.all([stopVigil(p.nodes.h1), stopVigil(p.nodes.h2)]);
    }

    const host = (p: Pair, name: "h1" | "h2"): LabHost => (name === "h1" ? p.h1 : p.h2);

    /** `name` holds the VIP (alone, unless the other was killed holding it) and the client reaches it there. */
    async function ownedBy(p: Pair, name: "h1" | "h2", alone = true): Promise<void> {
      const owner = host(p, name);
      await waitForVipOn(owner, alone ? [p.h1, p.h2] : [owner]);
      await p.prober.waitForOwner(owner, p.macs[name]);
    }

    async function crash(node: VigilNode): Promise<void> {
      node.proc.killGroup("SIGKILL");
      await node.proc.exited;
    }

    for (const [master, backup] of [["h1", "h2"], ["h2", "h1"]] as const) {
      labTest(`${master} MASTER (150), ${backup} BACKUP (100): SIGKILL the master and the backup takes over; it returns and preempts`, async () => {
        const p = await setup({ priority: { [master]: 150, [backup]: 100 } });
        try {
          await ownedBy(p, master);
          expect(await vrrpStatus(p.nodes[backup])).toMatchObject({ role: "backup", effectivePriority: 100, masterAddress: host(p, master).addr() });
          const mark = p.prober.mark();

          await crash(p.nodes[master]);
          await ownedBy(p, backup, false);
          expect(await vrrpStatus(p.nodes[backup])).toMatchObject({ role: "master", lastTransition: { reason: "master-down" } });

          await restartVigil(p.nodes[master]);
          await p.nodes[master].proc.waitFor(/removed VIPs left on the interface by an earlier run/);
          await ownedBy(p, master);
          expect(await vrrpStatus(p.nodes[backup])).toMatchObject({ role: "backup", lastTransition: { reason: "higher-priority" } });
          expect(p.prober.owners(mark)).toEqual([master, backup, master]);
        } finally {
          await teardown(p);
        }
      }, 90_000);
    }

    labTest("VRRPv2 with a PASS password: they elect, fail over and fail back", async () => {
      const p = await setup({ priority: { h1: 150, h2: 100 }, version: 2, advertInt: "1s", password: "s3cret" });
      try {
        await ownedBy(p, "h1");
        const mark = p.prober.mark();
        await crash(p.nodes.h1);
        await ownedBy(p, "h2", false);
        await restartVigil(p.nodes.h1);
        await ownedBy(p, "h1");
        expect(p.prober.owners(mark)).toEqual(["h1", "h2", "h1"]);
        for (const n of [p.nodes.h1, p.nodes.h2]) {
          const m = await vigilMetrics(n);
          expect(m).not.toMatch(/^vigil_vrrp_packets_rejected_total\{/m);
        }
        expect(await vigilMetrics(p.nodes.h2)).toMatch(/vigil_vrrp_adverts_received_total\{instance="VI_1"\} [1-9]/);
      } finally {
        await teardown(p);
      }
    }, 90_000);

    labTest("unicast peers, no multicast: they elect and fail over with unicast adverts only", async () => {
      const [h1, h2] = [lab().host(1), lab().host(2)];
      for (const h of [h1, h2]) {
        await h.exec(["nft", "-f", "-"], {
          check: true,
          input: "table ip vrrplab {\n  chain out { type filter hook output priority 0; ip daddr 224.0.0.18 counter drop; }\n}\n",
        });
      }
      const p = await setup({ priority: { h1: 150, h2: 100 }, unicastPeers: [h1.addr(), h2.addr()] });
      try {
        await ownedBy(p, "h1");
        expect(await vrrpStatus(p.nodes.h2)).toMatchObject({ role: "backup", masterAddress: h1.addr(), unicastPeers: [h1.addr()] });
        await crash(p.nodes.h1);
        await ownedBy(p, "h2", false);
        await restartVigil(p.nodes.h1);
        await ownedBy(p, "h1");
        for (const h of [h1, h2]) {
          const listed = await h.exec(["nft", "list", "table", "ip", "vrrplab"], { check: true });
          expect(listed.stdout, `${h.name} sent VRRP multicast`).toMatch(/counter packets 0 bytes 0 drop/);
        }
      } finally {
        await teardown(p);
        for (const h of [h1, h2]) await h.exec(["nft", "delete", "table", "ip", "vrrplab"]);
      }
    }, 90_000);

    labTest("a clean stop (SIGTERM) hands over on the priority-0 advert, and notify scripts see every change", async () => {
      const notifyDir = mkdtempSync(join(dir, "notify-"));
      const script = join(notifyDir, "notify.sh");
      writeFileSync(script, `#!/bin/sh\necho "$*" >> ${notifyDir}/"$2".log\n`);
      chmodSync(script, 0o755);
      const master = join(notifyDir, "master.sh");
      writeFileSync(master, `#!/bin/sh\necho master >> ${notifyDir}/VI_1.log\n`);
      chmodSync(master, 0o755);
      const p = await setup({ priority: { h1: 150, h2: 100 }, extra: [`    notify: ${script}`, `    notify_master: ${master}`] });
      try {
        await ownedBy(p, "h1");
        const logFrom = p.nodes.h2.proc.output().length;
        expect(await stopVigil(p.nodes.h1)).toEqual({ code: 0, signal: null });
        await ownedBy(p, "h2");
        expect(p.nodes.h2.proc.output().slice(logFrom)).toMatch(/info  vrrp VI_1 MASTER .*reason=master-resigned/);
        expect(await vrrpStatus(p.nodes.h2)).toMatchObject({ role: "master", lastTransition: { reason: "master-resigned" } });
        // Notify scripts run after the change itself: wait for h2's.
        const read = () => readFileSync(join(notifyDir, "VI_1.log"), "utf8").trim().split("\n");
        await waitUntil(() => read().at(-1) === "INSTANCE VI_1 MASTER 100", { what: "h2's notify for MASTER" });
        const lines = read();
        // The priority argument tells the nodes apart: h1 runs at 150, h2 at 100.
        const of = (prio: number) => lines.filter((l) => l.endsWith(` ${prio}`));
        expect(of(150)[0]).toBe("INSTANCE VI_1 BACKUP 150");
        expect(of(150)).toContain("INSTANCE VI_1 MASTER 150");
        expect(of(150).at(-1)).toBe("INSTANCE VI_1 STOP 150");
        expect(of(100)[0]).toBe("INSTANCE VI_1 BACKUP 100");
        expect(of(100).at(-1)).toBe("INSTANCE VI_1 MASTER 100");
        // keepalived's order: notify_master first, then notify with INSTANCE NAME STATE PRIORITY.
        const firstMaster = lines.indexOf("INSTANCE VI_1 MASTER 150");
        expect(lines.slice(0, firstMaster)).toContain("master");
      } finally {
        await teardown(p);
      }
    }, 90_000);

    labTest("a tracked process dies: the priority drops and the backup takes over; it returns and the VIP comes back", async () => {
      const name = `vglsvc${process.pid % 100000}`;
      const exe = join(dir, name);
      copyFileSync("/bin/sleep", exe);
      const service = spawn(exe, ["600"], { stdio: "ignore" });
      const serviceExited = new Promise((r) => service.on("exit", r));
      let again: ReturnType<typeof spawn> | undefined;
      const p = await setup({ priority: { h1: 150, h2: 100 } }, [`    track: [{ process: ${name}, weight: -60 }]`]);
      try {
        await ownedBy(p, "h1");
        expect(await vrrpStatus(p.nodes.h1)).toMatchObject({ effectivePriority: 150, tracks: [{ name: `process ${name}`, weight: -60, up: true }] });
        const mark = p.prober.mark();

        service.kill("SIGKILL");
        await serviceExited;
        await ownedBy(p, "h2");
        expect(await vrrpStatus(p.nodes.h1)).toMatchObject({
          role: "backup",
          priority: 150,
          effectivePriority: 90,
          tracks: [{ name: `process ${name}`, up: false, detail: "not running" }],
          lastTransition: { reason: "higher-priority" },
        });
        expect(p.nodes.h1.proc.output()).toMatch(new RegExp(`warn  vrrp VI_1 track process ${name} down`));
        expect(await vigilMetrics(p.nodes.h1)).toMatch(/vigil_vrrp_priority\{instance="VI_1"\} 90/);

        again = spawn(exe, ["600"], { stdio: "ignore" });
        await ownedBy(p, "h1");
        expect(await vrrpStatus(p.nodes.h1)).toMatchObject({ role: "master", effectivePriority: 150, lastTransition: { reason: "master-down" } });
        expect(p.prober.owners(mark)).toEqual(["h1", "h2", "h1"]);
      } finally {
        service.kill("SIGKILL");
        again?.kill("SIGKILL");
        await teardown(p);
      }
    }, 90_000);

    labTest("the master's cable is pulled: it goes to FAULT and drops the VIP, the backup takes over; plugged back, it preempts", async () => {
      const p = await setup({ priority: { h1: 150, h2: 100 } });
      try {
        await ownedBy(p, "h1");
        await lab().linkDown(p.h1);
        // The client cannot reach h1 any more; it must find h2.
        await waitUntil(async () => (await vrrpStatus(p.nodes.h1)).role === "fault", { what: "h1 in FAULT" });
        await ownedBy(p, "h2");
        expect(await vrrpStatus(p.nodes.h1)).toMatchObject({ role: "fault", lastTransition: { reason: "interface-down" } });
        expect(p.nodes.h1.proc.output()).toMatch(/warn  vrrp VI_1 interface down .*detail="eth0 down/);
        await lab().linkUp(p.h1);
        await ownedBy(p, "h1");
        expect(await vrrpStatus(p.nodes.h1)).toMatchObject({ role: "master" });
      } finally {
        await lab().linkUp(p.h1);
        await teardown(p);
      }
    }, 90_000);

    labTest("a tracked file with weight 0 holding non-zero puts the node in FAULT; back to 0 and it returns", async () => {
      const file = join(dir, "maintenance");
      writeFileSync(file, "0\n");
      const p = await setup({ priority: { h1: 150, h2: 100 } }, [`    track: [{ file: ${file} }]`]);
      try {
        await ownedBy(p, "h1");
        writeFileSync(file, "1\n");
        await ownedBy(p, "h2");
        expect(await vrrpStatus(p.nodes.h1)).toMatchObject({ role: "fault", lastTransition: { reason: "tracked-object-down" }, tracks: [{ up: false, detail: "value 1" }] });
        writeFileSync(file, "0\n");
        await ownedBy(p, "h1");
      } finally {
        await teardown(p);
      }
    }, 90_000);
  },
  { tools: ["curl", "nft"] },
);
