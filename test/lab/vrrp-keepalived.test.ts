/**
 * vigil beside keepalived 2.2.7 on one VRID, on a real kernel: vigil can
 * replace one keepalived node at a time.
 *
 * Lab: h1 runs vigil (dist/vigil), h2 runs keepalived, h3 is a client that
 * keeps asking the VIP who it is and watches its ARP entry for the VIP. Both
 * routers run a web server that answers its own name, so the client sees
 * exactly which node holds the address. Every move is checked three ways:
 * who holds the VIP (ip addr), what the client's ARP entry says, and who
 * answers.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { type LabHost, waitUntil } from "./lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import {
  type Keepalived,
  type KeepalivedOptions,
  killKeepalived,
  logAfter,
  macOf,
  Prober,
  restartKeepalived,
  restartVigil,
  startKeepalived,
  startVigil,
  startWebServer,
  stopVigil,
  type VigilNode,
  vigilMetrics,
  vigilYaml,
  type VrrpInstanceYaml,
  vipOn,
  vrrpStatus,
  waitForVipOn,
} from "./vrrp-lab.ts";

/** Signs that keepalived refused our packets. */
const KEEPALIVED_REJECTIONS = /Invalid VRRPv3 checksum|invalid ttl|ip ttl|bad checksum|authentication|advertisement interval mismatch/i;

describeLab(
  "vigil and keepalived 2.2.7 on one VRID",
  () => {
    const lab = useLab({ hosts: 3 });
    let dir = "";
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "vigil-vrrp-ka-"));
    });
    afterAll(() => {
      if (dir !== "") rmSync(dir, { recursive: true, force: true });
    });

    interface Setup {
      vigilHost: LabHost;
      kaHost: LabHost;
      client: LabHost;
      macs: { vigil: string; ka: string };
      vigil: VigilNode;
      ka: Keepalived;
      prober: Prober;
    }

    /** A fresh pair for one test: vigil on h1 with `v`, keepalived on h2 with `k`, the client probing from h3. */
    async function setup(v: Omit<VrrpInstanceYaml, "priority"> & { priority: number }, k: KeepalivedOptions): Promise<Setup> {
      const [vigilHost, kaHost, client] = [lab().host(1), lab().host(2), lab().host(3)];
      const sub = mkdtempSync(join(dir, "t-"));
      startWebServer(vigilHost, sub);
      startWebServer(kaHost, sub);
      const ka = await startKeepalived(kaHost, sub, k);
      const vigil = await startVigil(vigilHost, sub, vigilYaml([vigilHost], { ...v, priority: { [vigilHost.name]: v.priority } }));
      const prober = new Prober(client, sub);
      return { vigilHost, kaHost, client, macs: { vigil: await macOf(vigilHost), ka: await macOf(kaHost) }, vigil, ka, prober };
    }

    async function teardown(s: Setup): Promise<void> {
      await s.prober.proc.stop();
      await stopVigil(s.vigil);
      await s.ka.proc.stop(3000);
    }

    /** `who` holds the VIP and the client reaches it there; `alone` also checks the other node does not hold it. */
    const ownedBy = async (s: Setup, who: "vigil" | "ka", alone = true): Promise<void> => {
      const owner = who === "vigil" ? s.vigilHost : s.kaHost;
      await waitForVipOn(owner, alone ? [s.vigilHost, s.kaHost] : [owner]);
      await s.prober.waitForOwner(owner, s.macs[who]);
    };

    labTest("vigil MASTER (150), keepalived BACKUP (100): SIGKILL vigil and keepalived takes the VIP; vigil returns and preempts", async () => {
      const s = await setup({ priority: 150 }, { priority: 100 });
      try {
        await ownedBy(s, "vigil");
        const mastered = s.ka.proc.output().length;
        expect(await vrrpStatus(s.vigil)).toMatchObject({ role: "master", effectivePriority: 150, masterAddress: s.vigilHost.addr() });
        const mark = s.prober.mark();
        await waitUntil(() => s.prober.owners(mark).length > 0, { what: "a probe answered by vigil" });

        s.vigil.proc.killGroup("SIGKILL");
        await s.vigil.proc.exited;
        await logAfter(s.ka.proc, mastered, /\(VI_1\) Entering MASTER STATE/);
        await s.prober.waitForOwner(s.kaHost, s.macs.ka);
        // A killed vigil leaves no address behind: its fencing watchdog took the VIP away at once.
        await waitForVipOn(s.kaHost, [s.vigilHost, s.kaHost]);

        await restartVigil(s.vigil);
        await ownedBy(s, "vigil");
        expect(s.prober.owners(mark)).toEqual([s.vigilHost.name, s.kaHost.name, s.vigilHost.name]);
        const back = await vrrpStatus(s.vigil);
        expect(back).toMatchObject({ role: "master", lastTransition: { from: "backup", to: "master", reason: "master-down" } });
        expect(s.ka.proc.output()).not.toMatch(KEEPALIVED_REJECTIONS);
      } finally {
        await teardown(s);
      }
    }, 90_000);

    labTest("keepalived MASTER (150), vigil BACKUP (100): SIGKILL keepalived and vigil takes the VIP; keepalived returns and preempts", async () => {
      const s = await setup({ priority: 100 }, { priority: 150 });
      try {
        await ownedBy(s, "ka");
        // vigil started after keepalived holds the VIP; under load its first advert heard may come later still.
        await waitUntil(async () => {
          const v = await vrrpStatus(s.vigil);
          return v.role === "backup" && v.masterAddress === s.kaHost.addr();
        }, { timeoutMs: 10_000, what: "vigil to be BACKUP, hearing keepalived as the master" });
        const mark = s.prober.mark();

        await killKeepalived(s.ka);
        // A killed keepalived leaves its address behind (it removes it when it starts again); the client follows vigil's GARP.
        await ownedBy(s, "vigil", false);
        expect(await vrrpStatus(s.vigil)).toMatchObject({ role: "master", lastTransition: { reason: "master-down" } });

        await restartKeepalived(s.ka);
        await ownedBy(s, "ka");
        expect(await vrrpStatus(s.vigil)).toMatchObject({ role: "backup", masterAddress: s.kaHost.addr(), lastTransition: { reason: "higher-priority" } });
        expect(s.prober.owners(mark)).toEqual([s.kaHost.name, s.vigilHost.name, s.kaHost.name]);
      } finally {
        await teardown(s);
      }
    }, 90_000);

    labTest("VRRPv2 with a PASS password: keepalived accepts vigil's adverts and vigil accepts keepalived's", async () => {
      const s = await setup({ priority: 150, version: 2, advertInt: "1s", password: "s3cret" }, { priority: 100, version: 2, advertInt: "1", password: "s3cret" });
      try {
        await ownedBy(s, "vigil");
        const backup = s.ka.proc.output().length;
        // Longer than keepalived's master-down interval (3 x 1 s + skew): it keeps accepting our adverts.
        await new Promise((r) => setTimeout(r, 4_500));
        expect(s.ka.proc.output().slice(backup)).not.toMatch(/Entering MASTER STATE/);

        s.vigil.proc.killGroup("SIGKILL");
        await s.vigil.proc.exited;
        await logAfter(s.ka.proc, backup, /\(VI_1\) Entering MASTER STATE/);
        await restartVigil(s.vigil);
        // vigil hears keepalived's v2 adverts with the password, and takes over by preemption.
        await ownedBy(s, "vigil");
        const metrics = await vigilMetrics(s.vigil);
        expect(metrics).toMatch(/vigil_vrrp_adverts_received_total\{instance="VI_1"\} [1-9]/);
        expect(metrics).not.toMatch(/vigil_vrrp_packets_rejected_total\{[^}]*reason="auth"/);
        expect(s.ka.proc.output()).not.toMatch(KEEPALIVED_REJECTIONS);
      } finally {
        await teardown(s);
      }
    }, 90_000);

    labTest("unicast peers, no multicast: both send to each other only, and fail over", async () => {
      const [h1, h2] = [lab().host(1), lab().host(2)];
      // Count (and drop) VRRP multicast in both hosts: none may be sent.
      for (const h of [h1, h2]) {
        await h.exec(["nft", "-f", "-"], {
          check: true,
          input: "table ip vrrplab {\n  chain out { type filter hook output priority 0; ip daddr 224.0.0.18 counter drop; }\n}\n",
        });
      }
      const s = await setup(
        { priority: 150, unicastPeers: [h1.addr(), h2.addr()] },
        { priority: 100, unicast: { src: h2.addr(), peers: [h1.addr()] } },
      );
      try {
        await ownedBy(s, "vigil");
        expect(await vrrpStatus(s.vigil)).toMatchObject({ role: "master", unicastPeers: [h2.addr()] });
        const backup = s.ka.proc.output().length;
        s.vigil.proc.killGroup("SIGKILL");
        await s.vigil.proc.exited;
        await logAfter(s.ka.proc, backup, /\(VI_1\) Entering MASTER STATE/);
        await s.prober.waitForOwner(s.kaHost, s.macs.ka);
        await restartVigil(s.vigil);
        await ownedBy(s, "vigil");
        for (const h of [h1, h2]) {
          const listed = await h.exec(["nft", "list", "table", "ip", "vrrplab"], { check: true });
          expect(listed.stdout, `${h.name} sent VRRP multicast`).toMatch(/counter packets 0 bytes 0 drop/);
        }
      } finally {
        await teardown(s);
        for (const h of [h1, h2]) await h.exec(["nft", "delete", "table", "ip", "vrrplab"]);
      }
    }, 90_000);

    labTest("a clean vigil stop (SIGTERM) hands over after keepalived's skew time, through a priority-0 advert", async () => {
      const s = await setup({ priority: 150 }, { priority: 100 });
      try {
        await ownedBy(s, "vigil");
        const backup = s.ka.proc.output().length;
        const status = await stopVigil(s.vigil);
        expect(status).toEqual({ code: 0, signal: null });
        expect(s.vigil.proc.output()).toMatch(/vrrp VI_1 STOP/);
        const resigned = await logAfter(s.ka.proc, backup, /\(VI_1\) Backup received priority 0 advertisement/);
        const mastered = await logAfter(s.ka.proc, resigned, /\(VI_1\) Entering MASTER STATE/);
        // Taken over on the priority-0 advert: its timer (now Skew_Time) ran out only after it, never before.
        expect(s.ka.proc.output().slice(backup, resigned)).not.toMatch(/Receive advertisement timeout|Entering MASTER STATE/);
        expect(s.ka.proc.output().slice(resigned, mastered).match(/Receive advertisement timeout/g) ?? []).toHaveLength(1);
        await s.prober.waitForOwner(s.kaHost, s.macs.ka);
        expect(await vipOn(s.vigilHost)).toBe(false);
      } finally {
        await teardown(s);
      }
    }, 90_000);
  },
  { tools: ["keepalived", "curl", "nft"] },
);
