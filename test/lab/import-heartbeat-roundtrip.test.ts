/**
 * `vigil import heartbeat` round trip on a real kernel: a Heartbeat pair
 * (ha.cf with ucast and auto_failback on, haresources with an IPaddr VIP and
 * a script resource, authkeys sha1) runs under Heartbeat 3.0.6 on one lab,
 * and, imported by the vigil binary, under vigil on a twin lab (the same
 * addresses on a bridge of its own; both run at once to keep the test short).
 * The same faults must move the VIP (and the script's service with it) the
 * same way:
 *
 *   both start     h1 (the haresources owner) takes it;
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
 * /var/lib/heartbeat and a tmpfs on /run, and the hostname h1 or h2. The
 * folder imported is the user's /etc/ha.d with its resource.d/demoapp, which
 * the importer turns into start and stop wrapper scripts; they are written as
 * its comment says, calling each node's own copy of the script.
 */
import { runForOutput, type RunOutput } from "./exec.ts";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import type { StatusSnapshot } from "../../src/api/status.ts";
import { type Lab, type LabHost, type LabProcess, waitUntil } from "./lab.ts";
import { createTestLab, describeLab, labTest } from "./lab-test.ts";
import { VIGIL_BIN } from "./vigil-cluster.ts";

const HEARTBEAT = "/usr/libexec/heartbeat/heartbeat";
const VIP = "198.51.100.100";
const NODES = ["h1", "h2"] as const;
type Node = (typeof NODES)[number];

const run = (file: string, args: string[]): Promise<RunOutput> => runForOutput([file, ...args]);

/** Heartbeat's three files as a user would write them for this pair (fast timers, so the test is short). */
function heartbeatFiles(hosts: readonly LabHost[]): Record<string, string> {
  return {
    "ha.cf": [
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

/** The four observations, in order: after start, after h1's crash, after its return, with its cable out. */
const EXPECTED = ["h1", "h2", "h1", "h1+h2"];

/** A lab, the nodes on it and the files of one run (Heartbeat's or vigil's). */
interface Side {
  lab: Lab;
  dir: string;
  host(n: Node): LabHost;
  marker(n: Node): string;
  /** Who holds the VIP, as "h1", "h2", "h1+h2" or "-"; with the service's state beside it when they differ. */
  holders(): Promise<string>;
  /** Waits for `want`; returns what holds the VIP then, or when time ran out (the comparison says the rest). */
  settle(want: string, timeoutMs?: number): Promise<string>;
  /** A crash and a reboot: every process of the node's HA stack killed, the addresses and the service it had gone. */
  crash(n: Node, p: LabProcess): Promise<void>;
  /** The node's resource.d: the package's scripts (IPaddr...) and demoapp. */
  resourceD(n: Node): string;
}

function side(lab: Lab, dir: string): Side {
  mkdirSync(dir);
  const host = (n: Node): LabHost => lab.host(n);
  const marker = (n: Node): string => join(dir, `demoapp-running-${n}`);
  const holders = async (): Promise<string> => {
    const vip: Node[] = [];
    for (const n of NODES) {
      const r = await host(n).exec(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
      if (r.stdout.includes(` ${VIP}/`)) vip.push(n);
    }
    const app = NODES.filter((n) => existsSync(marker(n)));
    const v = vip.join("+") || "-";
    const a = app.join("+") || "-";
    return v === a ? v : `${v} (demoapp on ${a})`;
  };
  for (const n of NODES) {
    // The package's /etc/ha.d (harc, rc.d, resource.d with IPaddr), per node; the pair's files go in by the caller.
    cpSync("/etc/ha.d", join(dir, `${n}-ha.d`), { recursive: true });
    writeFileSync(join(dir, `${n}-ha.d`, "resource.d", "demoapp"), demoappScript(marker(n)));
    chmodSync(join(dir, `${n}-ha.d`, "resource.d", "demoapp"), 0o755);
  }
  return {
    lab,
    dir,
    host,
    marker,
    holders,
    async settle(want, timeoutMs = 20_000) {
      let now = "";
      try {
        await waitUntil(async () => (now = await holders()) === want, { timeoutMs, what: `the VIP on ${want}` });
      } catch {
        // Recorded as it is.
      }
      return now;
    },
    async crash(n, p) {
      p.killGroup("SIGKILL");
      await p.exited;
      await host(n).exec(["ip", "addr", "del", `${VIP}/24`, "dev", "eth0"]);
      rmSync(marker(n), { force: true });
    },
    resourceD: (n) => join(dir, `${n}-ha.d`, "resource.d"),
  };
}

/** Heartbeat on both nodes of `s`, with the pair's files from `src`: the four observations. */
async function underHeartbeat(s: Side, src: string): Promise<{ seen: string[]; log: string }> {
  const haD = (n: Node): string => join(s.dir, `${n}-ha.d`);
  for (const n of NODES) {
    for (const f of ["haresources", "authkeys"]) cpSync(join(src, f), join(haD(n), f));
    // Each node's own log file; the rest of ha.cf as the user wrote it.
    writeFileSync(join(haD(n), "ha.cf"), `logfile ${join(s.dir, `ha-log-${n}`)}\n${readFileSync(join(src, "ha.cf"), "utf8")}`);
    chmodSync(join(haD(n), "authkeys"), 0o600);
    // The package's empty state tree (cores/, owned by hacluster): Heartbeat keeps its uuid and generation there.
    const varLib = await s.host(n).exec(["cp", "-a", "/var/lib/heartbeat/.", join(s.dir, `${n}-var-lib`)]);
    if (varLib.code !== 0) throw new Error(`copying /var/lib/heartbeat: ${varLib.stderr}`);
  }
  const start = (n: Node): LabProcess =>
    s.host(n).spawn([
      "unshare", "-m", "-u", "--propagation", "private", "sh", "-c",
      [
        `hostname ${n}`,
        `mount --bind ${haD(n)} /etc/ha.d`,
        `mount --bind ${join(s.dir, `${n}-var-lib`)} /var/lib/heartbeat`,
        "mount -t tmpfs tmpfs /run",
        "mkdir -p /run/heartbeat/rsctmp /run/resource-agents /run/lock",
        "chown -R hacluster:haclient /run/heartbeat",
        // -f: in the foreground, so the lab holds the master's PID and its process group.
        `exec ${HEARTBEAT} -f`,
      ].join(" && "),
    ], { logName: `heartbeat-${n}` });
  const log = (n: Node): string => {
    try {
      return readFileSync(join(s.dir, `ha-log-${n}`), "utf8");
    } catch {
      return "";
    }
  };
  const seen: string[] = [];
  const hb: Record<Node, LabProcess | undefined> = { h1: undefined, h2: undefined };
  try {
    // Both at once, as after a power cut: Heartbeat settles who runs what in one negotiation.
    hb.h1 = start("h1");
    hb.h2 = start("h2");
    seen.push(await s.settle(EXPECTED[0] ?? ""));
    // h2 stands by once that negotiation is over.
    await waitUntil(() => log("h2").includes("Initial resource acquisition complete"), { timeoutMs: 30_000, what: "Heartbeat on h2 to join as standby" });
    await s.crash("h1", hb.h1);
    seen.push(await s.settle(EXPECTED[1] ?? ""));
    hb.h1 = start("h1");
    seen.push(await s.settle(EXPECTED[2] ?? ""));
    await s.lab.linkDown(s.host("h1"));
    seen.push(await s.settle(EXPECTED[3] ?? ""));
  } finally {
    for (const n of NODES) hb[n]?.killGroup("SIGKILL");
    for (const n of NODES) await hb[n]?.exited;
  }
  return { seen, log: log("h2") };
}

/** vigil with the imported config on both nodes of `s`: the same four observations. */
async function underVigil(s: Side, config: string): Promise<{ seen: string[]; log: string }> {
  for (const n of NODES) mkdirSync(join(s.dir, `${n}-state`));
  const start = async (n: Node): Promise<LabProcess> => {
    const p = s.host(n).spawn([
      VIGIL_BIN, "run", "--config", config, "--node", n, "--state-dir", join(s.dir, `${n}-state`), "--listen", "127.0.0.1:0",
    ], { logName: `vigil-${n}` });
    await p.waitFor(/vigil started/, 15_000);
    return p;
  };
  const role = async (n: Node): Promise<string> => {
    const r = await run(VIGIL_BIN, ["status", "--json", "--state-dir", join(s.dir, `${n}-state`)]);
    if (r.code !== 0) return `no status (${r.stderr.trim()})`;
    return (JSON.parse(r.stdout) as StatusSnapshot).modules.find((m) => m.name === "demoapp")?.state ?? "no module demoapp";
  };
  const seen: string[] = [];
  const vg: Record<Node, LabProcess | undefined> = { h1: undefined, h2: undefined };
  try {
    [vg.h1, vg.h2] = await Promise.all([start("h1"), start("h2")]);
    seen.push(await s.settle(EXPECTED[0] ?? ""));
    await waitUntil(async () => (await role("h2")) === "SECOND", { timeoutMs: 20_000, what: "vigil on h2 to join as SECOND" });
    await s.crash("h1", vg.h1);
    seen.push(await s.settle(EXPECTED[1] ?? ""));
    vg.h1 = await start("h1");
    seen.push(await s.settle(EXPECTED[2] ?? ""));
    await s.lab.linkDown(s.host("h1"));
    seen.push(await s.settle(EXPECTED[3] ?? ""));
  } finally {
    for (const n of NODES) vg[n]?.killGroup("SIGKILL");
    for (const n of NODES) await vg[n]?.exited;
  }
  return { seen, log: vg.h2?.output() ?? "" };
}

describeLab(
  "a Heartbeat pair imported into vigil moves its VIP the same way",
  () => {
    labTest("crash, return (auto_failback on) and a pulled cable move the VIP and the script resource alike under Heartbeat and under the imported vigil config", async () => {
      if (!existsSync(HEARTBEAT)) throw new Error(`${HEARTBEAT} is missing: install the Debian package heartbeat (apt-get install heartbeat net-tools)`);
      const dir = mkdtempSync(join(tmpdir(), "vigil-import-hb-rt-"));
      // VIGIL_KEEP_LAB_DIR=1 keeps the logs and files for a look after a failure.
      onTestFinished(() => {
        if (process.env["VIGIL_KEEP_LAB_DIR"] !== "1") rmSync(dir, { recursive: true, force: true });
      });
      const [hbLab, vgLab] = await Promise.all([createTestLab({ hosts: 2 }), createTestLab({ hosts: 2 })]);
      const hb = side(hbLab, join(dir, "heartbeat"));
      const vg = side(vgLab, join(dir, "vigil"));

      // The pair's files, as a user would write them (fast timers, so the test is short).
      const src = join(dir, "ha.d");
      mkdirSync(join(src, "resource.d"), { recursive: true });
      const hosts = [hbLab.host("h1"), hbLab.host("h2")];
      for (const [f, text] of Object.entries(heartbeatFiles(hosts))) writeFileSync(join(src, f), text);
      writeFileSync(join(src, "resource.d", "demoapp"), demoappScript(join(dir, "unused")));

      const config = join(dir, "vigil.yaml");
      const imported = await run(VIGIL_BIN, ["import", "heartbeat", src, "--addresses", `h1=${vgLab.host("h1").addr()},h2=${vgLab.host("h2").addr()}`, "--out", config]);
      expect(imported.code, imported.stderr).toBe(0);
      expect(imported.stderr).not.toMatch(/warning/);
      const yaml = readFileSync(config, "utf8");
      expect(yaml).toContain("failback: auto");
      expect(yaml).toContain(`vip: ${VIP}/24`);
      expect(yaml).toContain("- start: ./demoapp-start.sh\n        stop: ./demoapp-stop.sh");
      expect(yaml).toContain(`put "exec /etc/ha.d/resource.d/demoapp start" in ./demoapp-start.sh`);
      // The wrappers as the comment says; in the lab each node's /etc/ha.d/resource.d is a folder of its own.
      for (const action of ["start", "stop"]) {
        const wrapper = join(dir, `demoapp-${action}.sh`);
        writeFileSync(wrapper, `#!/bin/sh\nexec ${vg.dir}/"$VIGIL_NODE"-ha.d/resource.d/demoapp ${action}\n`);
        chmodSync(wrapper, 0o755);
      }
      expect((await run(VIGIL_BIN, ["keygen", join(dir, "vigil.key")])).code).toBe(0);
      const check = await run(VIGIL_BIN, ["check-config", config]);
      expect(check.stderr).toBe("");
      expect(check.code).toBe(0);

      const [underHb, underVg] = await Promise.all([underHeartbeat(hb, src), underVigil(vg, config)]);
      expect(underHb.seen, `Heartbeat's log on h2:\n${underHb.log.slice(-3000)}`).toEqual(EXPECTED);
      expect(underVg.seen, `vigil's log on h2:\n${underVg.log.slice(-3000)}`).toEqual(underHb.seen);
    }, 90_000);
  },
  { tools: ["unshare", "mount", "ifconfig"] },
);
