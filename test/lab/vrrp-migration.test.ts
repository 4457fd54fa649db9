/**
 * The README's migration from keepalived, one node at a time, on a real
 * kernel: the cluster lists both nodes from the start, while one of them
 * still runs keepalived 2.2.7 (the VRRP master) and speaks no heartbeat.
 *
 * What must hold: vigil's heartbeat declares the keepalived node dead when
 * initdead runs out (it never heard it), and that verdict must NOT make the
 * vigil backup take the VIP from a keepalived master that is alive and
 * advertising. Then keepalived stops (priority 0, vigil takes over), vigil
 * replaces it on that node, and the higher-priority node takes the VIP back
 * as vigil. The client follows every move.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { waitUntil } from "./lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { signalPid } from "./procfs.ts";
import {
  logAfter,
  macOf,
  makeKey,
  Prober,
  startKeepalived,
  startVigil,
  startWebServer,
  stopVigil,
  type VigilNode,
  vigilYaml,
  vrrpStatus,
  waitForVipOn,
} from "./vrrp-lab.ts";

const sleepUntil = (at: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));

/** keepalived's VRRP child, from the pid file the lab's keepalived writes. */
function keepalivedVrrpPid(dir: string, host: string): number {
  const pid = Number(readFileSync(join(dir, `vrrp-${host}.pid`), "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no keepalived VRRP child pid in ${dir}`);
  return pid;
}

describeLab(
  "migrating a keepalived pair to vigil one node at a time",
  () => {
    const lab = useLab({ hosts: 3 });
    let dir = "";
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "vigil-vrrp-mig-"));
    });
    afterAll(() => {
      if (dir !== "") rmSync(dir, { recursive: true, force: true });
    });

    labTest("a never-heard keepalived node declared dead at initdead keeps its mastership; after the swap both nodes run vigil and the VIP ends on the higher one", async () => {
      const [h1, h2, client] = [lab().host(1), lab().host(2), lab().host(3)];
      startWebServer(h1, dir);
      startWebServer(h2, dir);
      const key = await makeKey(dir);
      // Both nodes listed, as the README's migration says; a short initdead so the verdict comes soon.
      const yaml = vigilYaml([h1, h2], { priority: { h1: 100, h2: 150 }, advertInt: "1s" }, key).replace("  nodes:", "  heartbeat: { interval: 100ms, deadtime: 500ms, initdead: 2s }\n  nodes:");
      const ka = await startKeepalived(h2, dir, { priority: 150, advertInt: "1" });
      const prober = new Prober(client, dir);
      let v1: VigilNode | undefined;
      let v2: VigilNode | undefined;
      try {
        await waitForVipOn(h2, [h1, h2]);
        await prober.waitForOwner(h2, await macOf(h2));
        const mark = prober.mark();
        v1 = await startVigil(h1, dir, yaml);
        const node1 = v1;
        const hbOn = /^(\S+) info  heartbeats on/m.exec(node1.proc.output());
        expect(hbOn, "heartbeats on").not.toBeNull();
        const hbStart = Date.parse(hbOn?.[1] ?? "");
        await waitUntil(async () => (await vrrpStatus(node1)).masterAddress === h2.addr(), { what: "vigil BACKUP hearing keepalived" });
        // Freeze keepalived's VRRP process across the verdict (initdead 2 s after the heartbeat started), for 1.6 s:
        // longer than 1.25 adverts, so a takeover on the verdict would happen, and with at most 1 s of silence
        // before it, shorter than Master_Down_Interval (3.61 s), so nothing else may end keepalived's mastership.
        await sleepUntil(hbStart + 1_200);
        const child = keepalivedVrrpPid(dir, h2.name);
        const kaLog = ka.proc.output().length;
        signalPid(child, "SIGSTOP");
        const stoppedAt = Date.now();
        let verdict: number;
        try {
          verdict = await logAfter(node1.proc, 0, /peer h2 dead .*reason=initdead-expired/, 1_500);
          await sleepUntil(stoppedAt + 1_600);
        } finally {
          signalPid(child, "SIGCONT");
        }
        await new Promise((r) => setTimeout(r, 1_000));
        expect(node1.proc.output().slice(verdict)).not.toMatch(/vrrp VI_1 MASTER/);
        expect(await vrrpStatus(node1)).toMatchObject({ role: "backup", masterAddress: h2.addr() });
        expect(ka.proc.output().slice(kaLog)).not.toMatch(/Entering BACKUP STATE|received lower priority/);
        await waitForVipOn(h2, [h1, h2]);
        expect(prober.owners(mark)).toEqual([h2.name]);

        // Step 1: keepalived stops cleanly (priority 0) and vigil on h1 takes over.
        const before = node1.proc.output().length;
        await ka.proc.stop(5_000);
        await logAfter(node1.proc, before, /vrrp VI_1 MASTER .*reason=master-resigned/);
        await waitForVipOn(h1, [h1, h2]);
        await prober.waitForOwner(h1, await macOf(h1));

        // Step 2: vigil on h2 with the same file: the heartbeat hears it, and it preempts with its higher priority.
        v2 = await startVigil(h2, dir, yaml);
        await logAfter(node1.proc, before, /peer h2 up/);
        await waitForVipOn(h2, [h1, h2]);
        await prober.waitForOwner(h2, await macOf(h2));
        expect(await vrrpStatus(v2)).toMatchObject({ role: "master" });
        expect(await vrrpStatus(node1)).toMatchObject({ role: "backup", masterAddress: h2.addr() });
        expect(prober.owners(mark)).toEqual([h2.name, h1.name, h2.name]);
      } finally {
        await prober.proc.stop();
        if (v2 !== undefined) await stopVigil(v2);
        if (v1 !== undefined) await stopVigil(v1);
        await ka.proc.stop(3_000);
      }
    }, 90_000);
  },
  { tools: ["keepalived", "curl"] },
);
