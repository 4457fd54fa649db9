/**
 * `vigil import keepalived` round trip on a real kernel: the keepalived.conf
 * pair the VRRP lab runs (h1 priority 150, h2 priority 100, VRRPv3, unicast)
 * first runs under keepalived 2.2.7, then is imported by the vigil binary and
 * run by vigil on the same namespaces. The same fault (the master's daemon
 * SIGKILLed, then started again) must move the VIP the same way: to h2, then
 * back to h1 (preempt) or staying on h2 (nopreempt).
 */
import { runForOutput, type RunOutput } from "./exec.ts";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { type LabHost, type LabProcess, waitUntil } from "./lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import {
  type Keepalived,
  keepalivedConf,
  killKeepalived,
  logAfter,
  requireVigilBinary,
  restartKeepalived,
  stopVigil,
  VIGIL,
  type VigilNode,
  vipOn,
  vrrpStatus,
  waitForVipOn,
} from "./vrrp-lab.ts";

const run = (file: string, args: string[]): Promise<RunOutput> => runForOutput([file, ...args]);

/** Who holds the VIP among the routers, as "h1", "h2", "h1+h2" or "-". */
async function holders(hosts: readonly LabHost[]): Promise<string> {
  const on: string[] = [];
  for (const h of hosts) if (await vipOn(h)) on.push(h.name);
  return on.length === 0 ? "-" : on.join("+");
}

/** Long enough for a preempting master to have taken over many times (adverts every 100 ms). */
const SETTLE_MS = 1_500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeLab(
  "a keepalived pair imported into vigil moves its VIP the same way",
  () => {
    const lab = useLab({ hosts: 2 });
    let dir = "";
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "vigil-import-rt-"));
    });
    afterAll(() => {
      if (dir !== "") rmSync(dir, { recursive: true, force: true });
    });

    /** The lab's keepalived.conf for a host, unicast to the other, with nopreempt if asked. */
    function confOf(host: LabHost, other: LabHost, priority: number, preempt: boolean): string {
      const conf = keepalivedConf(host, { priority, unicast: { src: host.addr(), peers: [other.addr()] } });
      return preempt ? conf : conf.replace("  state BACKUP\n", "  state BACKUP\n  nopreempt\n");
    }

    function spawnKeepalived(host: LabHost, conf: string, sub: string): LabProcess {
      return host.spawn([
        "keepalived", "--dont-fork", "--log-console", "--log-detail", "--no-syslog", "--vrrp", "--dont-respawn",
        "--use-file", conf, "--pid", join(sub, `keepalived-${host.name}.pid`), "--vrrp_pid", join(sub, `vrrp-${host.name}.pid`),
      ], { logName: "keepalived" });
    }

    function spawnVigil(host: LabHost, config: string, stateDir: string): LabProcess {
      // The node is found by its address (the imported nodes are named after keepalived's router_id).
      return host.spawn([VIGIL, "run", "--config", config, "--state-dir", stateDir], { logName: "vigil" });
    }

    /** keepalived on both hosts: the VIP's owners after start, after h1's daemon is killed, after it is back. */
    async function underKeepalived(sub: string, confs: readonly string[], preempt: boolean): Promise<string[]> {
      const [h1, h2] = [lab().host(1), lab().host(2)];
      const kas: Keepalived[] = [];
      const seen: string[] = [];
      try {
        // h1 first: with nopreempt, whoever is MASTER first stays MASTER.
        for (const [i, host] of [h1, h2].entries()) {
          const conf = confs[i] as string;
          const k: Keepalived = { host, conf, dir: sub, proc: spawnKeepalived(host, conf, sub) };
          kas.push(k);
          await k.proc.waitFor(/\(VI_1\) Entering BACKUP STATE/, 15_000);
          if (host === h1) await waitUntil(() => vipOn(h1), { what: "h1 to become MASTER alone" });
        }
        await waitForVipOn(h1, [h1, h2]);
        seen.push(await holders([h1, h2]));
        const k1 = kas[0] as Keepalived;
        await killKeepalived(k1);
        // A SIGKILLed keepalived leaves its addresses behind: only h2's side is the backup's move.
        await waitUntil(() => vipOn(h2), { what: "h2 to take the VIP from the dead keepalived" });
        seen.push("h2");
        const from = (kas[1] as Keepalived).proc.output().length;
        await restartKeepalived(k1);
        if (preempt) {
          await logAfter((kas[1] as Keepalived).proc, from, /\(VI_1\) Entering BACKUP STATE/);
          await waitForVipOn(h1, [h1, h2]);
        } else {
          // Nothing should happen: give a preempting master many adverts to show itself.
          await sleep(SETTLE_MS);
        }
        seen.push(await holders([h1, h2]));
      } finally {
        for (const k of kas) await k.proc.stop(3_000);
      }
      await waitUntil(async () => (await holders([h1, h2])) === "-", { what: "keepalived to take its VIPs away on stop" });
      return seen;
    }

    /** vigil on both hosts with the imported config: the same three observations. */
    async function underVigil(sub: string, config: string, preempt: boolean): Promise<string[]> {
      requireVigilBinary();
      const [h1, h2] = [lab().host(1), lab().host(2)];
      const nodes: VigilNode[] = [];
      const seen: string[] = [];
      try {
        for (const host of [h1, h2]) {
          const stateDir = join(sub, `state-${host.name}`);
          mkdirSync(stateDir, { recursive: true });
          const n: VigilNode = { host, config, stateDir, proc: spawnVigil(host, config, stateDir) };
          nodes.push(n);
          await n.proc.waitFor(/vigil started/, 15_000);
          if (host === h1) await waitUntil(() => vipOn(h1), { what: "h1 to become MASTER alone" });
        }
        await waitForVipOn(h1, [h1, h2]);
        seen.push(await holders([h1, h2]));
        const n1 = nodes[0] as VigilNode;
        n1.proc.killGroup("SIGKILL");
        await n1.proc.exited;
        await waitUntil(() => vipOn(h2), { what: "h2 to take the VIP from the dead vigil" });
        seen.push("h2");
        n1.proc = spawnVigil(h1, config, n1.stateDir);
        await n1.proc.waitFor(/vigil started/, 15_000);
        if (preempt) {
          await waitForVipOn(h1, [h1, h2]);
        } else {
          await waitUntil(async () => (await vrrpStatus(n1)).role === "backup", { what: "h1's instance to join as BACKUP" });
          await sleep(SETTLE_MS);
        }
        seen.push(await holders([h1, h2]));
      } finally {
        for (const n of nodes) await stopVigil(n);
      }
      return seen;
    }

    async function roundTrip(preempt: boolean): Promise<{ keepalived: string[]; vigil: string[]; yaml: string }> {
      const [h1, h2] = [lab().host(1), lab().host(2)];
      const sub = mkdtempSync(join(dir, preempt ? "preempt-" : "nopreempt-"));
      const confs = [join(sub, "h1-keepalived.conf"), join(sub, "h2-keepalived.conf")];
      writeFileSync(confs[0] as string, confOf(h1, h2, 150, preempt));
      writeFileSync(confs[1] as string, confOf(h2, h1, 100, preempt));
      const keepalived = await underKeepalived(sub, confs, preempt);

      const config = join(sub, "vigil.yaml");
      const imported = await run(VIGIL, ["import", "keepalived", ...confs, "--out", config]);
      expect(imported.stderr).not.toMatch(/warning/);
      expect(imported.code).toBe(0);
      expect((await run(VIGIL, ["keygen", join(sub, "vigil.key")])).code).toBe(0);
      const check = await run(VIGIL, ["check-config", config]);
      expect(check.stderr).toBe("");
      expect(check.code).toBe(0);
      const vigil = await underVigil(sub, config, preempt);
      return { keepalived, vigil, yaml: readFileSync(config, "utf8") };
    }

    labTest("preempt: killed master's VIP goes to h2 and comes back to h1, under keepalived and under the imported vigil config", async () => {
      const r = await roundTrip(true);
      expect(r.yaml).toMatch(/priority:\n\s+lab_h1: 150\n\s+lab_h2: 100/);
      expect(r.keepalived).toEqual(["h1", "h2", "h1"]);
      expect(r.vigil).toEqual(r.keepalived);
    }, 60_000);

    labTest("nopreempt: the VIP stays on h2 when h1 comes back, under keepalived and under the imported vigil config", async () => {
      const r = await roundTrip(false);
      expect(r.yaml).toContain("preempt: false");
      expect(r.keepalived).toEqual(["h1", "h2", "h2"]);
      expect(r.vigil).toEqual(r.keepalived);
    }, 60_000);
  },
  { tools: ["keepalived"] },
);
