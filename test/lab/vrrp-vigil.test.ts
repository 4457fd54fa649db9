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
  logAfter,
  macOf,
  makeKey,
  Prober,
  restartVigil,
  startVigil,
  startWebServer,
  stopVigil,
  type VigilNode,
  vigilMetrics,
  VIP,
  vigilYaml,
  type VrrpInstanceYaml,
  vrrpStatus,
  waitForVipOn,
} from "./vrrp-lab.ts";

/** The table a MASTER with accept_mode false installs for VRID 51 on eth0. */
const ACCEPT_TABLE = "vigil_noaccept_eth0_51";

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

    /**
     * SIGKILL to the daemon's process group, once the client has been answered
     * by it (so a mark taken before sees it). Its fencing watchdog runs in a
     * session of its own, survives, and takes the VIP away at once.
     */
    async function crash(p: Pair, node: VigilNode): Promise<void> {
      const from = p.prober.mark();
      await waitUntil(() => p.prober.owners(from).includes(node.host.name), { what: `a probe answered by ${node.host.name}` });
      node.proc.killGroup("SIGKILL");
      await node.proc.exited;
      await waitUntil(async () => !(await node.host.exec(["ip", "-4", "-o", "addr", "show"])).stdout.includes(` ${VIP}/`), { what: `the killed daemon's VIP to leave ${node.host.name}` });
    }

    for (const [master, backup] of [["h1", "h2"], ["h2", "h1"]] as const) {
      labTest(`${master} MASTER (150), ${backup} BACKUP (100): SIGKILL the master and the backup takes over; it returns and preempts`, async () => {
        const p = await setup({ priority: { [master]: 150, [backup]: 100 } });
        try {
          await ownedBy(p, master);
          expect(await vrrpStatus(p.nodes[backup])).toMatchObject({ role: "backup", effectivePriority: 100, masterAddress: host(p, master).addr() });
          const mark = p.prober.mark();

          await crash(p, p.nodes[master]);
          await ownedBy(p, backup);
          expect(await vrrpStatus(p.nodes[backup])).toMatchObject({ role: "master", lastTransition: { reason: "master-down" } });

          await restartVigil(p.nodes[master]);
          await ownedBy(p, master);
          expect(await vrrpStatus(p.nodes[backup])).toMatchObject({ role: "backup", lastTransition: { reason: "higher-priority" } });
          expect(p.prober.owners(mark)).toEqual([master, backup, master]);
        } finally {
          await teardown(p);
        }
      }, 90_000);
    }

    /** Each pattern matches in `node`'s log from `from`, after the match of the one before; fails naming the missing one. */
    function inOrder(node: VigilNode, from: number, patterns: readonly RegExp[]): void {
      let at = from;
      const log = node.proc.output();
      for (const re of patterns) {
        const m = re.exec(log.slice(at));
        expect(m, `${re} after offset ${at} in ${node.host.name}'s log`).not.toBeNull();
        at += (m?.index ?? 0) + (m?.[0].length ?? 0);
      }
    }

    labTest("advert_int 1s, SIGKILL the master: the backup takes over on the heartbeat's verdict (reason peer-dead), and the client follows", async () => {
      const p = await setup({ priority: { h1: 150, h2: 100 }, advertInt: "1s" });
      try {
        await ownedBy(p, "h1");
        const mark = p.prober.mark();
        const logFrom = p.nodes.h2.proc.output().length;
        await crash(p, p.nodes.h1);
        await ownedBy(p, "h2");
        // The heartbeat declares h1 dead, then VRRP takes over citing it; no master-down in between.
        inOrder(p.nodes.h2, logFrom, [/error peer h1 dead /, new RegExp(`info  vrrp VI_1 MASTER .*reason=peer-dead .*detail="the heartbeat declared node h1 \\(master ${p.h1.addr().replaceAll(".", "\\.")}\\) dead`)]);
        expect(p.nodes.h2.proc.output().slice(logFrom)).not.toMatch(/reason=master-down/);
        expect(await vrrpStatus(p.nodes.h2)).toMatchObject({ role: "master", lastTransition: { from: "backup", to: "master", reason: "peer-dead" } });
        expect(p.prober.owners(mark)).toEqual(["h1", "h2"]);
      } finally {
        await teardown(p);
      }
    }, 90_000);

    labTest("advert_int 1s with heartbeat_takeover: false: the heartbeat's verdict is ignored and the backup takes over by the master-down timer", async () => {
      const p = await setup({ priority: { h1: 150, h2: 100 }, advertInt: "1s", extra: ["    heartbeat_takeover: false"] });
      try {
        await ownedBy(p, "h1");
        const mark = p.prober.mark();
        const logFrom = p.nodes.h2.proc.output().length;
        await crash(p, p.nodes.h1);
        await ownedBy(p, "h2");
        inOrder(p.nodes.h2, logFrom, [/error peer h1 dead /, /info  vrrp VI_1 MASTER .*reason=master-down .*detail="no advert for 3609 ms \(Master_Down_Interval\)"/]);
        expect(p.nodes.h2.proc.output().slice(logFrom)).not.toMatch(/reason=peer-dead/);
        expect(await vrrpStatus(p.nodes.h2)).toMatchObject({ role: "master", lastTransition: { reason: "master-down" } });
        expect(p.prober.owners(mark)).toEqual(["h1", "h2"]);
      } finally {
        await teardown(p);
      }
    }, 90_000);

    labTest("advert_int 1s, heartbeats cut but VRRP fine: the backup hears the verdict, yet the master's adverts keep it BACKUP", async () => {
      const h2 = lab().host(2);
      const p = await setup({ priority: { h1: 150, h2: 100 }, advertInt: "1s" });
      try {
        await ownedBy(p, "h1");
        const mark = p.prober.mark();
        const logFrom = p.nodes.h2.proc.output().length;
        // h2 stops hearing h1's heartbeats (UDP 7694); VRRP (IP protocol 112) still gets through.
        await h2.exec(["nft", "-f", "-"], {
          check: true,
          input: "table ip hbcut {\n  chain in { type filter hook input priority 0; udp dport 7694 counter drop; }\n}\n",
        });
        await logAfter(p.nodes.h2.proc, logFrom, /error peer h1 dead /);
        const heard = (await vrrpStatus(p.nodes.h2)).advertsReceived;
        // Three more adverts from h1: each would have cut a takeover short.
        await waitUntil(async () => (await vrrpStatus(p.nodes.h2)).advertsReceived >= heard + 3, { what: "three more adverts from h1 at h2" });
        expect(await vrrpStatus(p.nodes.h2)).toMatchObject({ role: "backup", masterAddress: p.h1.addr() });
        expect(p.nodes.h2.proc.output().slice(logFrom)).not.toMatch(/vrrp VI_1 MASTER/);
        expect(await vrrpStatus(p.nodes.h1)).toMatchObject({ role: "master" });
        expect(p.prober.owners(mark)).toEqual(["h1"]);
      } finally {
        await h2.exec(["nft", "delete", "table", "ip", "hbcut"]);
        await teardown(p);
      }
    }, 90_000);

    labTest("VRRPv2 with a PASS password: they elect, fail over and fail back", async () => {
      const p = await setup({ priority: { h1: 150, h2: 100 }, version: 2, advertInt: "1s", password: "s3cret" });
      try {
        await ownedBy(p, "h1");
        const mark = p.prober.mark();
        await crash(p, p.nodes.h1);
        await ownedBy(p, "h2");
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
        await crash(p, p.nodes.h1);
        await ownedBy(p, "h2");
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

    /** vigil's nftables tables on a host. */
    async function vigilTables(h: LabHost): Promise<string[]> {
      const r = await h.exec(["nft", "list", "tables"], { check: true });
      return r.stdout.split("\n").map((l) => l.trim()).filter((l) => l.includes("vigil_")).map((l) => l.split(" ").at(-1) ?? "");
    }

    /** What the client gets from the VIP: an echo reply, and the name of the web server. */
    async function reach(client: LabHost): Promise<{ ping: boolean; http: string }> {
      const ping = await client.exec(["ping", "-c", "1", "-W", "1", VIP]);
      const http = await client.exec(["curl", "-s", "-m", "1", `http://${VIP}:8080/name`]);
      return { ping: ping.code === 0, http: http.stdout.trim() };
    }

    labTest("accept_mode: by default the MASTER answers on the VIP; with false it drops traffic to it but answers ARP, and no nft table outlives it", async () => {
      const client = lab().host(3);
      const p = await setup({ priority: { h1: 150, h2: 100 } });
      try {
        await ownedBy(p, "h1");
        expect(await reach(client)).toEqual({ ping: true, http: "h1" });
        expect(await vigilTables(p.h1)).toEqual([]);
      } finally {
        await teardown(p);
      }

      await client.exec(["ip", "neigh", "flush", "dev", client.ifname()], { check: true });
      const q = await setup({ priority: { h1: 150, h2: 100 }, extra: ["    accept_mode: false"] });
      try {
        await waitForVipOn(q.h1, [q.h1, q.h2]);
        // ARP is still answered: the client's entry for the VIP points at the master...
        await waitUntil(() => q.prober.probes().at(-1)?.mac === q.macs.h1, { what: `the client's ARP entry for ${VIP} to hold h1's MAC` });
        // ...but nothing addressed to the VIP gets through.
        expect(await reach(client)).toEqual({ ping: false, http: "" });
        expect(q.prober.owners()).toEqual([]);
        expect(await vigilTables(q.h1)).toEqual([ACCEPT_TABLE]);
        expect(await vigilTables(q.h2)).toEqual([]);
        const rule = await q.h1.exec(["nft", "list", "table", "ip", ACCEPT_TABLE], { check: true });
        expect(rule.stdout).toMatch(new RegExp(`ip daddr ${VIP.replaceAll(".", "\\.")} counter packets [1-9]\\d* bytes \\d+ drop`));

        // A clean stop takes the table away with the VIP; the new master puts its own in.
        expect(await stopVigil(q.nodes.h1)).toEqual({ code: 0, signal: null });
        await waitForVipOn(q.h2, [q.h1, q.h2]);
        expect(await vigilTables(q.h1)).toEqual([]);
        await waitUntil(() => q.prober.probes().at(-1)?.mac === q.macs.h2, { what: "the client's ARP entry to follow to h2" });
        expect(await vigilTables(q.h2)).toEqual([ACCEPT_TABLE]);
        expect(await reach(client)).toEqual({ ping: false, http: "" });

        // A crash leaves it; the next start removes it, here with accept_mode back to true.
        q.nodes.h2.proc.killGroup("SIGKILL");
        await q.nodes.h2.proc.exited;
        expect(await vigilTables(q.h2)).toEqual([ACCEPT_TABLE]);
        const yaml = vigilYaml([q.h1, q.h2], { priority: { h1: 150, h2: 100 } }, join(q.dir, "vigil.key"));
        q.nodes.h2 = await startVigil(q.h2, q.dir, yaml);
        await ownedBy(q, "h2");
        expect(await vigilTables(q.h2)).toEqual([]);
        expect(await reach(client)).toEqual({ ping: true, http: "h2" });
      } finally {
        await teardown(q);
      }
      expect([...(await vigilTables(q.h1)), ...(await vigilTables(q.h2))]).toEqual([]);
    }, 120_000);

    labTest("an interface down at start: the daemon runs with the instance in FAULT naming it; brought up, the node joins and preempts", async () => {
      const h1 = lab().host(1);
      await lab().linkDown(h1, { side: "host" });
      let p: Pair | undefined;
      try {
        p = await setup({ priority: { h1: 150, h2: 100 } });
        await ownedBy(p, "h2");
        expect(await vrrpStatus(p.nodes.h1)).toMatchObject({
          role: "fault",
          lastTransition: { from: "initialize", to: "fault", reason: "interface-down", detail: expect.stringMatching(/^eth0 down \(operstate down/) },
        });
        expect(p.nodes.h1.proc.output()).toMatch(/warn  vrrp VI_1 interface down .*detail="eth0 down/);
        expect(p.nodes.h1.proc.exitStatus).toBeNull();
        const mark = p.prober.mark();

        await lab().linkUp(h1, { side: "host" });
        await ownedBy(p, "h1");
        expect(await vrrpStatus(p.nodes.h1)).toMatchObject({ role: "master", primaryAddress: h1.addr(), lastTransition: { reason: "master-down" } });
        expect(p.nodes.h1.proc.output()).toMatch(/info  vrrp VI_1 BACKUP .*reason=fault-cleared/);
        expect(p.prober.owners(mark)).toEqual(["h2", "h1"]);
      } finally {
        await lab().linkUp(h1);
        if (p !== undefined) await teardown(p);
      }
    }, 90_000);

    labTest("an interface missing at start: FAULT naming it; once created, up and addressed, the instance learns its address and runs", async () => {
      const h1 = lab().host(1);
      const sub = mkdtempSync(join(dir, "t-"));
      const yaml = vigilYaml([h1], { priority: { h1: 150 } }).replace("interface: eth0", "interface: eth9");
      const node = await startVigil(h1, sub, yaml);
      try {
        expect(await vrrpStatus(node)).toMatchObject({
          role: "fault",
          interface: "eth9",
          lastTransition: { to: "fault", reason: "interface-down", detail: "eth9 does not exist" },
        });
        // A veth pair inside h1 stands for a NIC that shows up late (a USB adapter, a VLAN made by a later unit).
        await h1.exec(["ip", "link", "add", "eth9", "type", "veth", "peer", "name", "eth9p"], { check: true });
        await h1.exec(["ip", "addr", "add", "192.0.2.11/24", "dev", "eth9"], { check: true });
        await h1.exec(["ip", "link", "set", "eth9p", "up"], { check: true });
        await h1.exec(["ip", "link", "set", "eth9", "up"], { check: true });
        await waitUntil(async () => (await vrrpStatus(node)).role === "master", { what: "VI_1 on eth9 to become MASTER" });
        expect(await vrrpStatus(node)).toMatchObject({ primaryAddress: "192.0.2.11", lastTransition: { reason: "master-down" } });
        expect(node.proc.output()).toMatch(/info  vrrp VI_1 BACKUP .*reason=fault-cleared/);
        const addrs = await h1.exec(["ip", "-4", "addr", "show", "dev", "eth9"], { check: true });
        // Added with the prefix the config gives it, and said so.
        expect(addrs.stdout).toContain(`inet ${VIP}/24`);
        const added = new RegExp(`info  VIP added instance=VI_1 vip=${VIP.replace(/\./g, "\\.")}/24 interface=eth9`);
        await waitUntil(() => added.test(node.proc.output()), { what: "the VIP added line with its prefix" });
      } finally {
        await stopVigil(node);
        await h1.exec(["ip", "link", "del", "eth9"]);
      }
    }, 60_000);

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
