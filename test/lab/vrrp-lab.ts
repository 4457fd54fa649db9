/**
 * Helpers for the VRRP lab tests: vigil nodes (the real dist/vigil binary),
 * keepalived peers, a web server on every node that answers its name, and
 * a client that keeps asking the VIP who it is while watching its own ARP
 * entry for the VIP.
 *
 * Everything runs inside the lab's namespaces and is started through the
 * lab, which kills it by PID at the end. Files go to a temp dir the caller
 * removes.
 */
import { runForOutput, type RunOutput } from "./exec.ts";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { StatusSnapshot, VrrpStatus } from "../../src/api/status.ts";
import { createIpRunner } from "../../src/sys/ip-command.ts";
import { hasVip } from "./vip-check.ts";
import { type ExitStatus, type LabHost, type LabProcess, REPO_ROOT, waitUntil } from "./lab.ts";
import { procState, signalPid } from "./procfs.ts";

export const VIGIL = process.env.VIGIL_BIN || join(REPO_ROOT, "dist", "vigil");
export const VIP = "198.51.100.100";
export const VRID = 51;
const HTTP_PORT = 8080;

export function requireVigilBinary(): void {
  if (!existsSync(VIGIL)) throw new Error(`${VIGIL} is missing: run "node scripts/build.mjs" first`);
}

// ---- vigil ----------------------------------------------------------------------

export interface VrrpInstanceYaml {
  /** Priority per node name. */
  priority: Record<string, number>;
  version?: 2 | 3;
  /** "100ms", "1s"... */
  advertInt?: string;
  password?: string;
  /** Unicast peers (the same list on every node: each skips its own address). */
  unicastPeers?: string[];
  /** Extra YAML lines inside the instance, indented by the caller to 4 spaces. */
  extra?: string[];
}

/** vigil.yaml for the lab: the given hosts as nodes, one VRRP instance on eth0. */
export function vigilYaml(nodes: readonly LabHost[], vrrp: VrrpInstanceYaml, keyFile?: string): string {
  const lines = [
    "cluster:",
    "  name: vrrp-lab",
    ...(keyFile === undefined ? [] : [`  key_file: ${keyFile}`]),
    "  nodes:",
    ...nodes.map((h) => `    - { name: ${h.name}, addresses: [${h.addr()}] }`),
    "vrrp:",
    "  - name: VI_1",
    "    interface: eth0",
    `    vrid: ${VRID}`,
    `    version: ${vrrp.version ?? 3}`,
    `    advert_int: ${vrrp.advertInt ?? "100ms"}`,
    `    priority: { ${Object.entries(vrrp.priority).map(([n, p]) => `${n}: ${p}`).join(", ")} }`,
    `    vips: [${VIP}/24]`,
    // One burst of ARPs is enough on a lab bridge; the repeat only costs time.
    "    garp_master_delay: 0s",
    ...(vrrp.password === undefined ? [] : [`    authentication: { auth_type: PASS, auth_pass: ${vrrp.password} }`]),
    ...(vrrp.unicastPeers === undefined ? [] : [`    unicast_peer: [${vrrp.unicastPeers.join(", ")}]`]),
    ...(vrrp.extra ?? []),
    "web:",
    "  listen: 127.0.0.1:9010",
    "",
  ];
  return lines.join("\n");
}

const run = (file: string, args: string[]): Promise<RunOutput> => runForOutput([file, ...args]);

/** A shared key made by `vigil keygen`. */
export async function makeKey(dir: string): Promise<string> {
  const path = join(dir, "vigil.key");
  const r = await run(VIGIL, ["keygen", path]);
  if (r.code !== 0) throw new Error(`vigil keygen failed: ${r.stderr}`);
  return path;
}

export interface VigilNode {
  readonly host: LabHost;
  readonly config: string;
  readonly stateDir: string;
  proc: LabProcess;
}

/** Writes the config and starts `vigil run` on the host; resolves once it logged "vigil started". */
export async function startVigil(host: LabHost, dir: string, yaml: string): Promise<VigilNode> {
  requireVigilBinary();
  const config = join(dir, `vigil-${host.name}.yaml`);
  writeFileSync(config, yaml);
  const stateDir = join(dir, `state-${host.name}`);
  mkdirSync(stateDir, { recursive: true });
  const node: VigilNode = { host, config, stateDir, proc: spawnVigil(host, config, stateDir) };
  await node.proc.waitFor(/vigil started/, 15_000);
  return node;
}

function spawnVigil(host: LabHost, config: string, stateDir: string): LabProcess {
  return host.spawn([VIGIL, "run", "--config", config, "--node", host.name, "--state-dir", stateDir], { logName: "vigil" });
}

/** Starts vigil again after it was stopped or killed (same config and state dir). */
export async function restartVigil(node: VigilNode): Promise<void> {
  node.proc = spawnVigil(node.host, node.config, node.stateDir);
  await node.proc.waitFor(/vigil started/, 15_000);
}

/**
 * A clean stop as an init system does it: SIGTERM to the daemon alone (a
 * group-wide signal would also kill the `ip` it runs while shutting down),
 * then SIGKILL to its group if it has not exited within `graceMs`.
 */
export async function stopVigil(node: VigilNode, graceMs = 5_000): Promise<ExitStatus> {
  if (node.proc.exitStatus !== null) return node.proc.exitStatus;
  node.proc.kill("SIGTERM");
  const done = await Promise.race([node.proc.exited, new Promise<null>((r) => setTimeout(() => r(null), graceMs))]);
  if (done !== null) return done;
  node.proc.killGroup("SIGKILL");
  return node.proc.exited;
}

/** The daemon's status over its control socket (a file in the state dir, reachable from any namespace). */
export async function vigilStatus(node: VigilNode): Promise<StatusSnapshot> {
  const r = await run(VIGIL, ["status", "--json", "--state-dir", node.stateDir]);
  if (r.code !== 0) throw new Error(`vigil status failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as StatusSnapshot;
}

export async function vrrpStatus(node: VigilNode): Promise<VrrpStatus> {
  const s = await vigilStatus(node);
  const v = s.vrrp?.[0];
  if (v === undefined) throw new Error(`vigil on ${node.host.name} reports no VRRP instance`);
  return v;
}

/** /metrics as the daemon serves it, fetched inside the node's namespace. */
export async function vigilMetrics(node: VigilNode): Promise<string> {
  // Over the control socket: the network console needs a login.
  const r = await node.host.exec(["curl", "-s", "-m", "2", "--unix-socket", join(node.stateDir, "vigil.sock"), "http://localhost/metrics"], { check: true });
  return r.stdout;
}

// ---- keepalived ------------------------------------------------------------------

export interface KeepalivedOptions {
  priority: number;
  version?: 2 | 3;
  /** keepalived's advert_int in seconds, e.g. "0.1" or "1". */
  advertInt?: string;
  password?: string;
  unicast?: { src: string; peers: string[] };
}

export function keepalivedConf(host: LabHost, o: KeepalivedOptions): string {
  return [
    "global_defs {",
    `  router_id lab_${host.name}`,
    `  vrrp_version ${o.version ?? 3}`,
    "}",
    "vrrp_instance VI_1 {",
    "  state BACKUP",
    `  interface ${host.ifname()}`,
    `  virtual_router_id ${VRID}`,
    `  priority ${o.priority}`,
    `  advert_int ${o.advertInt ?? "0.1"}`,
    "  garp_master_delay 0",
    ...(o.password === undefined ? [] : ["  authentication {", "    auth_type PASS", `    auth_pass ${o.password}`, "  }"]),
    ...(o.unicast === undefined ? [] : [`  unicast_src_ip ${o.unicast.src}`, "  unicast_peer {", ...o.unicast.peers.map((p) => `    ${p}`), "  }"]),
    "  virtual_ipaddress {",
    `    ${VIP}/32`,
    "  }",
    "}",
    "",
  ].join("\n");
}

export interface Keepalived {
  readonly host: LabHost;
  readonly conf: string;
  readonly dir: string;
  proc: LabProcess;
}

function spawnKeepalived(host: LabHost, conf: string, dir: string): LabProcess {
  return host.spawn(
    [
      "keepalived", "--dont-fork", "--log-console", "--log-detail", "--no-syslog", "--vrrp", "--dont-respawn",
      "--use-file", conf, "--pid", join(dir, `keepalived-${host.name}.pid`), "--vrrp_pid", join(dir, `vrrp-${host.name}.pid`),
    ],
    { logName: "keepalived" },
  );
}

/** keepalived with its config and pid files in `dir`, logging to the lab log. Resolves once it runs its instance. */
export async function startKeepalived(host: LabHost, dir: string, o: KeepalivedOptions): Promise<Keepalived> {
  const conf = join(dir, `keepalived-${host.name}.conf`);
  writeFileSync(conf, keepalivedConf(host, o));
  const k: Keepalived = { host, conf, dir, proc: spawnKeepalived(host, conf, dir) };
  await k.proc.waitFor(/\(VI_1\) Entering BACKUP STATE/, 15_000);
  return k;
}

/**
 * A keepalived crash: SIGKILL to its VRRP child (which may sit in a process
 * group of its own) and to keepalived, by the PIDs this run recorded. The pid files
 * go too, or the next start would find the dead child's and refuse to run.
 */
export async function killKeepalived(k: Keepalived): Promise<void> {
  const childPidFile = join(k.dir, `vrrp-${k.host.name}.pid`);
  let child: number | null = null;
  try {
    child = Number(readFileSync(childPidFile, "utf8").trim());
  } catch {
    // No child started yet.
  }
  // The child first: it speaks VRRP, and would send a clean priority-0 goodbye on seeing its parent die.
  if (child !== null && Number.isInteger(child) && child > 0 && procState(child) !== null && comm(child) === "keepalived") {
    signalPid(child, "SIGKILL");
    const pid = child;
    await waitUntil(() => procState(pid) === null || procState(pid) === "Z", { timeoutMs: 5_000, what: `keepalived's VRRP child ${pid} to die` });
  }
  k.proc.killGroup("SIGKILL");
  await k.proc.exited;
  for (const f of [childPidFile, join(k.dir, `keepalived-${k.host.name}.pid`)]) rmSync(f, { force: true });
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

export async function restartKeepalived(k: Keepalived): Promise<void> {
  k.proc = spawnKeepalived(k.host, k.conf, k.dir);
  await k.proc.waitFor(/\(VI_1\) Entering BACKUP STATE/, 15_000);
}

/** Waits for `re` in the log after offset `from`; returns the offset just past the match, so waits chain in order. */
export async function logAfter(proc: LabProcess, from: number, re: RegExp, timeoutMs = 15_000): Promise<number> {
  let end = -1;
  await proc.waitFor(() => {
    const rest = proc.output().slice(from);
    const m = re.exec(rest);
    if (m === null) return false;
    end = from + m.index + m[0].length;
    return true;
  }, timeoutMs);
  return end;
}

// ---- the service and the client --------------------------------------------------

/** A web server on every address of the host (the VIP included, while it holds it) that answers GET /name with the host's name. */
export function startWebServer(host: LabHost, dir: string): LabProcess {
  const root = join(dir, `www-${host.name}`);
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, "name"), host.name);
  return host.spawn(["/usr/bin/python3", "-m", "http.server", String(HTTP_PORT), "--bind", "0.0.0.0", "--directory", root], { logName: "http" });
}

export interface Probe {
  /** The node name that answered, or "-". */
  readonly answer: string;
  /** The MAC the client's neighbour entry for the VIP holds, or "-". */
  readonly mac: string;
}

/**
 * The client: asks http://VIP/name every 50 ms and notes, each time, who
 * answered and where its ARP entry for the VIP points.
 */
export class Prober {
  readonly proc: LabProcess;

  constructor(readonly client: LabHost, dir: string) {
    const script = join(dir, `probe-${client.name}.sh`);
    writeFileSync(script, [
      "#!/bin/sh",
      "while :; do",
      `  a=$(curl -s -m 0.3 http://${VIP}:${HTTP_PORT}/name 2>/dev/null)`,
      `  m=$(ip neigh show ${VIP} dev ${client.ifname()} | awk '{for(i=1;i<=NF;i++) if($i=="lladdr") print $(i+1)}')`,
      '  echo "probe ${a:--} ${m:--}"',
      "  sleep 0.05",
      "done",
      "",
    ].join("\n"));
    chmodSync(script, 0o755);
    this.proc = client.spawn(["/bin/sh", script], { logName: "prober" });
  }

  probes(): Probe[] {
    const out: Probe[] = [];
    for (const line of this.proc.output().split("\n")) {
      const m = /^probe (\S+) (\S+)$/.exec(line);
      if (m !== null) out.push({ answer: m[1] as string, mac: m[2] as string });
    }
    return out;
  }

  /** A position in the history, for owners(from). */
  mark(): number {
    return this.probes().length;
  }

  /** Who answered, in order, repeats and unanswered probes folded away. */
  owners(from = 0): string[] {
    const out: string[] = [];
    for (const p of this.probes().slice(from)) if (p.answer !== "-" && out[out.length - 1] !== p.answer) out.push(p.answer);
    return out;
  }

  /** Waits until `host` answers and the client's ARP entry for the VIP holds `host`'s MAC. */
  async waitForOwner(host: LabHost, mac: string, timeoutMs = 15_000): Promise<void> {
    await waitUntil(
      () => {
        const last = this.probes().at(-1);
        return last !== undefined && last.answer === host.name && last.mac === mac;
      },
      { timeoutMs, what: `the client to reach ${host.name} at ${mac} through ${VIP}; last probes: ${JSON.stringify(this.probes().slice(-5))}` },
    );
  }
}

export async function macOf(host: LabHost): Promise<string> {
  return (await host.exec(["cat", `/sys/class/net/${host.ifname()}/address`], { check: true })).stdout.trim();
}

export async function vipOn(host: LabHost): Promise<boolean> {
  const r = await hasVip({ address: VIP, interface: host.ifname() }, createIpRunner({ netns: host.ns }));
  if (!r.ok) throw new Error(r.message);
  return r.present;
}

/** Waits until exactly `owner` holds the VIP among `hosts`. */
export async function waitForVipOn(owner: LabHost, hosts: readonly LabHost[], timeoutMs = 15_000): Promise<void> {
  await waitUntil(async () => {
    for (const h of hosts) if ((await vipOn(h)) !== (h === owner)) return false;
    return true;
  }, { timeoutMs, what: `${VIP} on ${owner.name} only` });
}
