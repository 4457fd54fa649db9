/**
 * Shared by the lab tests of fencing (daemon-death, module-fence-slow-stop):
 * two nodes h1 (preferred) and h2 run module `web` (a VIP on link 1 and a
 * small HTTP service, see arbiter-pair.ts) and, if asked, a VRRP instance
 * with a VIP of its own on link 1 (h1 the master); heartbeats on link 2; an
 * arbiter on h3 if asked. A sampler looks at both nodes every 20 ms: module
 * VIP, VRRP VIP, and whether each node's service process runs.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { onTestFinished } from "vitest";
import type { LabHost, LabProcess } from "./lab.ts";
import { createTestLab } from "./lab-test.ts";
import { ARBITER_VIP, arbiterPairYaml, isPrimary, writeWebService } from "./arbiter-pair.ts";
import { launchVigil, parseVigilLog, requireVigilBinary, VIGIL_BIN, vigilKeygen, type VigilLogEvent } from "./vigil-cluster.ts";
import { sampleUntilStopped } from "./sampler.ts";
import { sleep, waitUntil } from "./wait.ts";

export const MODULE_VIP = ARBITER_VIP;
export const VRRP_VIP = "198.51.100.200";
const PORT = 8090;

export interface FenceNode {
  host: LabHost;
  name: "h1" | "h2";
  stateDir: string;
  proc: LabProcess;
}

export interface FencePair {
  dir: string;
  n1: FenceNode;
  n2: FenceNode;
  events(n: FenceNode): VigilLogEvent[];
  role(n: FenceNode): Promise<string>;
  holds(n: FenceNode, vip: string): Promise<boolean>;
  /** The node's service process is running (its PID file names a live, non-zombie process). */
  serviceRuns(n: FenceNode): boolean;
  servicePid(n: FenceNode): number | null;
  /** The fencing watchdog's PID, from the node's state dir. */
  watchdogPid(n: FenceNode): number | null;
}

export interface FencePairOptions {
  arbiter: boolean;
  vrrp: boolean;
  /** The stop script sleeps this long before it stops the service. */
  stopDelaySeconds?: number;
  stopTimeout?: string;
}

export function processRuns(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}

function readPid(file: string): number | null {
  if (!existsSync(file)) return null;
  const n = Number(readFileSync(file, "utf8").trim());
  return Number.isInteger(n) && n > 1 ? n : null;
}

function noArbiterYaml(keyFile: string, h1: LabHost, h2: LabHost, stopTimeout: string): string {
  return [
    "cluster:",
    "  name: lab",
    `  key_file: ${keyFile}`,
    "  nodes:",
    `    - { name: h1, addresses: [${h1.addr(2)}] }`,
    `    - { name: h2, addresses: [${h2.addr(2)}] }`,
    "  heartbeat: { preset: lan }",
    "web: { listen: 127.0.0.1:0 }",
    "modules:",
    "  - name: web",
    "    type: failover",
    "    prefer: h1",
    "    failback: manual",
    `    vip: ${MODULE_VIP}/24`,
    `    interface: ${h1.ifname(1)}`,
    "    start: ./web-start.sh",
    "    stop: ./web-stop.sh",
    "    start_timeout: 10s",
    `    stop_timeout: ${stopTimeout}`,
    "",
  ].join("\n");
}

function vrrpYaml(h1: LabHost): string {
  return [
    "vrrp:",
    "  - name: VI_1",
    `    interface: ${h1.ifname(1)}`,
    "    vrid: 61",
    "    advert_int: 100ms",
    "    priority: { h1: 150, h2: 100 }",
    `    vips: [${VRRP_VIP}/24]`,
    "    garp_master_delay: 0s",
    "",
  ].join("\n");
}

/** The stop script, slowed down: it sleeps before it stops the service, as a real one waiting for clients would. */
function slowStop(dir: string, seconds: number): void {
  const file = join(dir, "web-stop.sh");
  const lines = readFileSync(file, "utf8").split("\n");
  const at = lines.findIndex((l) => l.startsWith("echo "));
  lines.splice(at + 1, 0, `sleep ${seconds}`);
  writeFileSync(file, lines.join("\n"));
  chmodSync(file, 0o755);
}

/** h1 PRIM (and VRRP master) with the VIPs and its service, h2 SECOND; stopped when the test ends. */
export async function startFencePair(root: string, o: FencePairOptions): Promise<FencePair> {
  requireVigilBinary();
  const lab = await createTestLab({ hosts: o.arbiter ? 3 : 2, links: 2 });
  const [h1, h2] = [lab.host(1), lab.host(2)];
  const dir = mkdtempSync(join(root, "run-"));
  const keyFile = await vigilKeygen(join(dir, "vigil.key"));
  const config = join(dir, "vigil.yaml");
  const stopTimeout = o.stopTimeout ?? "10s";
  let yaml = o.arbiter ? arbiterPairYaml(keyFile, h1, h2, lab.host(3), "manual").replace("stop_timeout: 10s", `stop_timeout: ${stopTimeout}`) : noArbiterYaml(keyFile, h1, h2, stopTimeout);
  if (o.vrrp) yaml += vrrpYaml(h1);
  writeFileSync(config, yaml);
  writeWebService(dir, PORT);
  if (o.stopDelaySeconds !== undefined) slowStop(dir, o.stopDelaySeconds);

  let witness: LabProcess | undefined;
  if (o.arbiter) {
    witness = lab.host(3).spawn([VIGIL_BIN, "witness", "--config", config, "--state-dir", join(dir, "state-witness"), "--log-format", "json"], { logName: "witness" });
    await witness.waitFor(/"msg":"vigil witness started"/, 15_000);
  }
  // h1 first, so it is the VRRP master and takes the module before h2 is up.
  const start = async (host: LabHost): Promise<FenceNode> => {
    const stateDir = join(dir, `state-${host.name}`);
    return { host, name: host.name as "h1" | "h2", stateDir, proc: await launchVigil(host, { config, node: host.name, stateDir }) };
  };
  const n1 = await start(h1);
  const n2 = await start(h2);
  onTestFinished(async () => {
    await Promise.all([n1, n2].map((n) => n.proc.stop(5_000)));
    await witness?.stop(3_000);
  });
  const pair: FencePair = {
    dir,
    n1,
    n2,
    events: (n) => parseVigilLog(n.proc.output()),
    async role(n) {
      const r = await n.host.exec([VIGIL_BIN, "status", "--json", "--state-dir", n.stateDir]);
      if (r.code !== 0) return "unreachable";
      const st = JSON.parse(r.stdout) as { modules: { name: string; state: string }[] };
      return st.modules.find((m) => m.name === "web")?.state ?? "absent";
    },
    async holds(n, vip) {
      const r = await n.host.exec(["ip", "-4", "-o", "addr", "show", "dev", n.host.ifname(1)]);
      return r.stdout.includes(` ${vip}/`);
    },
    servicePid: (n) => readPid(join(dir, `svc-${n.name}.pid`)),
    serviceRuns: (n) => processRuns(readPid(join(dir, `svc-${n.name}.pid`))),
    watchdogPid: (n) => readPid(join(n.stateDir, "fence-watchdog.pid")),
  };
  await waitUntil(async () => {
    const ok = isPrimary(await pair.role(n1)) && (await pair.role(n2)) === "SECOND" && (await pair.holds(n1, MODULE_VIP)) && !(await pair.holds(n2, MODULE_VIP));
    return ok && (!o.vrrp || ((await pair.holds(n1, VRRP_VIP)) && !(await pair.holds(n2, VRRP_VIP))));
  }, { timeoutMs: 30_000, intervalMs: 200, what: "h1 PRIM with the VIPs, h2 SECOND" });
  // Give the watchdog's deadline a few renewals to move on.
  if (o.arbiter) await sleep(3_000);
  return pair;
}

export interface FenceSample {
  at: number;
  vip: [boolean, boolean];
  vrrp: [boolean, boolean];
  service: [boolean, boolean];
}

/** Both nodes every 20 ms until stop(). */
export function sampleBoth(p: FencePair, vrrp: boolean): { stop(): Promise<FenceSample[]> } {
  return sampleUntilStopped(async () => {
    const [a, b, c, d] = await Promise.all([
      p.holds(p.n1, MODULE_VIP), p.holds(p.n2, MODULE_VIP),
      vrrp ? p.holds(p.n1, VRRP_VIP) : false, vrrp ? p.holds(p.n2, VRRP_VIP) : false,
    ]);
    return { vip: [a, b] as [boolean, boolean], vrrp: [c, d] as [boolean, boolean], service: [p.serviceRuns(p.n1), p.serviceRuns(p.n2)] as [boolean, boolean] };
  });
}

/** Times (ms after `from`) of the first sample where `pred` holds, or null. */
export function firstAt(samples: readonly FenceSample[], from: number, pred: (s: FenceSample) => boolean): number | null {
  const s = samples.find((x) => x.at >= from && pred(x));
  return s === undefined ? null : s.at - from;
}

export function bothAt(samples: readonly FenceSample[], pick: (s: FenceSample) => [boolean, boolean]): string[] {
  return samples.filter((s) => pick(s)[0] && pick(s)[1]).map((s) => new Date(s.at).toISOString());
}

export function vmRssKiB(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
  } catch {
    return null;
  }
}
