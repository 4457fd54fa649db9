/**
 * `vigil import heartbeat` round trip on a real kernel: a Heartbeat pair
 * (ha.cf with ucast and auto_failback on, haresources with an IPaddr VIP and
 * a script resource, authkeys sha1) first runs under Heartbeat 3.0.6, then is
 * imported by the vigil binary and run by vigil on the same namespaces. The
 * same faults must move the VIP (and the script's service with it) the same
 * way:
 *
 *   start          h1 (the haresources owner) takes it;
 *   h1 crashes     every HA process of h1 SIGKILLed and its addresses gone, as
 *                  after a reboot: h2 takes it;
 *   h1 back        auto_failback on: h1 takes it back;
 *   h1's cable out no ping node, so each side sees the other dead: h2 takes
 *                  it, and h1, alone, keeps its own.
 *
 * Heartbeat reads /etc/ha.d, keeps state in /var/lib/heartbeat and /run, and
 * names its node by `uname -n`: each Heartbeat node runs in a mount and UTS
 * namespace of its own (inside the lab host's network namespace) with a copy
 * of the package's /etc/ha.d holding this node's files, an empty
 * /var/lib/heartbeat and a tmpfs on /run, and the hostname h1 or h2. vigil
 * runs the imported `service: demoapp` through systemctl; a stand-in
 * systemctl on its PATH runs the same resource script, as systemd runs an
 * init script.
 */
import { execFile } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import type { StatusSnapshot } from "../../src/api/status.ts";
import { type LabHost, type LabProcess, waitUntil } from "./lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { VIGIL_BIN } from "./vigil-cluster.ts";

const HEARTBEAT = "/usr/libexec/heartbeat/heartbeat";
const VIP = "198.51.100.100";
const NODES = ["h1", "h2"] as const;
type Node = (typeof NODES)[number];

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: "utf8", timeout: 15_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Heartbeat's three files as a user would write them for this pair (fast timers, so the test is short). */
function heartbeatFiles(hosts: readonly LabHost[], logDir: string): Record<string, string> {
  return {
    "ha.cf": [
      `logfile ${logDir}/ha-log`,
      "use_logd no",
      "keepalive 200ms",
      "warntime 500ms",
      "deadtime 1",
      "initdead 2",
      "udpport 694",
      ...hosts.map((h) => `ucast eth0 ${h.addr()}`),
      "auto_failback on",
      ...hosts.map((h) => `node ${h.name}`),
      "crm off",
      "",
    ].join("\n"),
    haresources: `h1 IPaddr::${VIP}/24/eth0 demoapp\n`,
    authkeys: "auth 1\n1 sha1 the-lab-secret\n",
  };
}

/** The script resource: a service whose running state is a file per node (Heartbeat and systemd-style callers alike). */
function demoappScript(marker: string): string {
  return [
    "#!/bin/sh",
    "case \"$1\" in",
    `  start) touch ${marker} ;;`,
    `  stop) rm -f ${marker} ;;`,
    `  status) if [ -f ${marker} ]; then echo running; else echo stopped; fi ;;`,
    "esac",
    "exit 0",
    "",
  ].join("\n");
}

describeLab(
  "a Heartbeat pair imported into vigil moves its VIP the same way",
  () => {
    const lab = useLab({ hosts: 2 });

    labTest("crash, return (auto_failback on) and a pulled cable move the VIP and the script resource alike under Heartbeat and under the imported vigil config", async () => {
      if (!existsSync(HEARTBEAT)) throw new Error(`${HEARTBEAT} is missing: install the Debian package heartbeat (apt-get install heartbeat net-tools)`);
      const dir = mkdtempSync(join(tmpdir(), "vigil-import-hb-rt-"));
      // VIGIL_KEEP_LAB_DIR=1 keeps the logs and files for a look after a failure.
      onTestFinished(() => {
        if (process.env["VIGIL_KEEP_LAB_DIR"] !== "1") rmSync(dir, { recursive: true, force: true });
      });
      const hosts = [lab().host("h1"), lab().host("h2")] as const;
      const host = (n: Node): LabHost => (n === "h1" ? hosts[0] : hosts[1]);
      const marker = (n: Node): string => join(dir, `demoapp-running-${n}`);

      /** Who holds the VIP, as "h1", "h2", "h1+h2" or "-"; with the service's state beside it when they differ. */
      async function holders(): Promise<string> {
        const vip: Node[] = [];
        for (const n of NODES) {
          const r = await host(n).exec(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
          if (r.stdout.includes(` ${VIP}/`)) vip.push(n);
        }
        const app = NODES.filter((n) => existsSync(marker(n)));
        const v = vip.join("+") || "-";
        const a = app.join("+") || "-";
        return v === a ? v : `${v} (demoapp on ${a})`;
      }
      /** Waits for `want`; returns what holds the VIP then, or when time ran out (the comparison below says the rest). */
      async function settle(want: string, timeoutMs = 20_000): Promise<string> {
        let now = "";
        try {
          await waitUntil(async () => (now = await holders()) === want, { timeoutMs, what: `the VIP on ${want}` });
        } catch {
          // Recorded as it is.
        }
        return now;
      }
      /** A crash and a reboot: every process of the node's HA stack killed, the addresses and the service it had gone. */
      async function crash(n: Node, p: LabProcess): Promise<void> {
        p.killGroup("SIGKILL");
        await p.exited;
        await host(n).exec(["ip", "addr", "del", `${VIP}/24`, "dev", "eth0"]);
        rmSync(marker(n), { force: true });
      }

      // ---- Heartbeat ----
      const src = join(dir, "ha.d");
      mkdirSync(src);
      for (const [f, text] of Object.entries(heartbeatFiles(hosts, dir))) writeFileSync(join(src, f), text);
      const haD = (n: Node): string => join(dir, `${n}-ha.d`);
      for (const n of NODES) {
        // The package's /etc/ha.d (harc, rc.d, resource.d with IPaddr) plus this pair's files, per node.
        cpSync("/etc/ha.d", haD(n), { recursive: true });
        for (const f of ["ha.cf", "haresources", "authkeys"]) cpSync(join(src, f), join(haD(n), f));
        writeFileSync(join(haD(n), "ha.cf"), readFileSync(join(src, "ha.cf"), "utf8").replace(`logfile ${dir}/ha-log`, `logfile ${dir}/ha-log-${n}`));
        chmodSync(join(haD(n), "authkeys"), 0o600);
        writeFileSync(join(haD(n), "resource.d", "demoapp"), demoappScript(marker(n)));
        chmodSync(join(haD(n), "resource.d", "demoapp"), 0o755);
        // The package's empty state tree (cores/, owned by hacluster): Heartbeat keeps its uuid and generation there.
        const varLib = await host(n).exec(["cp", "-a", "/var/lib/heartbeat/.", join(dir, `${n}-var-lib`)]);
        if (varLib.code !== 0) throw new Error(`copying /var/lib/heartbeat: ${varLib.stderr}`);
      }
      const startHeartbeat = (n: Node): LabProcess =>
        host(n).spawn([
          "unshare", "-m", "-u", "--propagation", "private", "sh", "-c",
          [
            `hostname ${n}`,
            `mount --bind ${haD(n)} /etc/ha.d`,
            `mount --bind ${join(dir, `${n}-var-lib`)} /var/lib/heartbeat`,
            "mount -t tmpfs tmpfs /run",
            "mkdir -p /run/heartbeat/rsctmp /run/resource-agents /run/lock",
            "chown -R hacluster:haclient /run/heartbeat",
            // -f: in the foreground, so the lab holds the master's PID and its process group.
            `exec ${HEARTBEAT} -f`,
          ].join(" && "),
        ], { logName: `heartbeat-${n}` });
      const hbLog = (n: Node): string => {
        try {
          return readFileSync(join(dir, `ha-log-${n}`), "utf8");
        } catch {
          return "";
        }
      };
      const underHeartbeat: string[] = [];
      const hb: Record<Node, LabProcess | undefined> = { h1: undefined, h2: undefined };
      try {
        hb.h1 = startHeartbeat("h1");
        underHeartbeat.push(await settle("h1"));
        hb.h2 = startHeartbeat("h2");
        // h2 stands by once the two have settled who runs what.
        await waitUntil(() => hbLog("h2").includes("Initial resource acquisition complete"), { timeoutMs: 30_000, what: "Heartbeat on h2 to join as standby" });
        await crash("h1", hb.h1);
        underHeartbeat.push(await settle("h2"));
        hb.h1 = startHeartbeat("h1");
        underHeartbeat.push(await settle("h1"));
        await lab().linkDown(hosts[0]);
        underHeartbeat.push(await settle("h1+h2"));
      } finally {
        for (const n of NODES) hb[n]?.killGroup("SIGKILL");
        for (const n of NODES) await hb[n]?.exited;
        await lab().linkUp(hosts[0]);
      }
      // What Heartbeat left behind goes, as on a machine where it is uninstalled.
      for (const n of NODES) {
        await host(n).exec(["ip", "addr", "del", `${VIP}/24`, "dev", "eth0"]);
        rmSync(marker(n), { force: true });
      }
      expect(underHeartbeat, `Heartbeat's log on h2:\n${hbLog("h2").slice(-3000)}`).toEqual(["h1", "h2", "h1", "h1+h2"]);

      // ---- vigil, with the imported config ----
      const config = join(dir, "vigil.yaml");
      const imported = await run(VIGIL_BIN, ["import", "heartbeat", src, "--addresses", `h1=${hosts[0].addr()},h2=${hosts[1].addr()}`, "--out", config]);
      expect(imported.code, imported.stderr).toBe(0);
      expect(imported.stderr).not.toMatch(/warning/);
      const yaml = readFileSync(config, "utf8");
      expect(yaml).toContain("failback: auto");
      expect(yaml).toContain(`vip: ${VIP}/24`);
      expect(yaml).toContain("service: demoapp");
      expect((await run(VIGIL_BIN, ["keygen", join(dir, "vigil.key")])).code).toBe(0);
      const check = await run(VIGIL_BIN, ["check-config", config]);
      expect(check.stderr).toBe("");
      expect(check.code).toBe(0);
      for (const n of NODES) {
        // systemd runs an init script for `systemctl start NAME`; this one runs the node's resource script.
        const bin = join(dir, `${n}-bin`);
        mkdirSync(bin);
        writeFileSync(join(bin, "systemctl"), [
          "#!/bin/sh",
          `case "$1" in start|stop) exec ${join(haD(n), "resource.d")}/"\${2%.service}" "$1" ;; esac`,
          "exit 0",
          "",
        ].join("\n"));
        chmodSync(join(bin, "systemctl"), 0o755);
        mkdirSync(join(dir, `${n}-state`));
      }
      const startVigil = async (n: Node): Promise<LabProcess> => {
        const p = host(n).spawn([
          "env", `PATH=${join(dir, `${n}-bin`)}:${process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
          VIGIL_BIN, "run", "--config", config, "--node", n, "--state-dir", join(dir, `${n}-state`), "--listen", "127.0.0.1:0",
        ], { logName: `vigil-${n}` });
        await p.waitFor(/vigil started/, 15_000);
        return p;
      };
      const role = async (n: Node): Promise<string> => {
        const r = await run(VIGIL_BIN, ["status", "--json", "--state-dir", join(dir, `${n}-state`)]);
        if (r.code !== 0) return `no status (${r.stderr.trim()})`;
        return (JSON.parse(r.stdout) as StatusSnapshot).modules.find((m) => m.name === "demoapp")?.state ?? "no module demoapp";
      };
      const underVigil: string[] = [];
      const vg: Record<Node, LabProcess | undefined> = { h1: undefined, h2: undefined };
      try {
        vg.h1 = await startVigil("h1");
        underVigil.push(await settle(underHeartbeat[0] ?? ""));
        vg.h2 = await startVigil("h2");
        await waitUntil(async () => (await role("h2")) === "SECOND", { timeoutMs: 20_000, what: "vigil on h2 to join as SECOND" });
        await crash("h1", vg.h1);
        underVigil.push(await settle(underHeartbeat[1] ?? ""));
        vg.h1 = await startVigil("h1");
        underVigil.push(await settle(underHeartbeat[2] ?? ""));
        await lab().linkDown(hosts[0]);
        underVigil.push(await settle(underHeartbeat[3] ?? ""));
      } finally {
        for (const n of NODES) vg[n]?.killGroup("SIGKILL");
        for (const n of NODES) await vg[n]?.exited;
        await lab().linkUp(hosts[0]);
      }
      expect(underVigil, `vigil's log on h2:\n${vg.h2?.output().slice(-3000) ?? ""}`).toEqual(underHeartbeat);
    }, 90_000);
  },
  { tools: ["unshare", "mount", "ifconfig"] },
);
