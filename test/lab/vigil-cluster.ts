/**
 * A vigil cluster on lab hosts: one config and one key shared by every node,
 * `dist/vigil run` started on each host with JSON logs, and readers for what
 * the daemons say (log events, `vigil status --json`, /metrics).
 *
 *   const cluster = await startVigilCluster({ hosts: lab.hosts, dir, heartbeat: { preset: "lan" } });
 *   await cluster.waitForMesh();                       // every node sees every peer up
 *   const h1 = cluster.node("h1");
 *   h1.proc.kill("SIGKILL");
 *   await cluster.node("h2").waitForLog(peerChange("h1", "dead"));
 *   await cluster.stop();
 *
 * Works in vitest and in plain scripts (bench/): nothing here imports vitest.
 * Processes are started through the lab, which kills them by PID at destroy;
 * files go to `dir`, which the caller owns and removes.
 */
import { runForOutput, type RunOutput } from "./exec.ts";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import type { StatusSnapshot } from "../../src/api/status.ts";
import { type LabHost, type LabProcess, REPO_ROOT, waitUntil } from "./lab.ts";

export const VIGIL_BIN = process.env.VIGIL_BIN || join(REPO_ROOT, "dist", "vigil");

export type HeartbeatPreset = "fast" | "lan" | "wan";

/** Heartbeat settings as they are written in vigil.yaml (durations like "100ms"). */
export interface HeartbeatYaml {
  preset?: HeartbeatPreset;
  interval?: string;
  warntime?: string;
  deadtime?: string;
  initdead?: string;
  port?: number;
}

export interface ClusterSpec {
  /** The cluster's nodes, named after their hosts (h1, h2...), one address per lab link. */
  hosts: readonly LabHost[];
  /** Where the config, the key and the state dirs go; owned by the caller. */
  dir: string;
  /** Default "lab". */
  name?: string;
  heartbeat?: HeartbeatYaml;
  /** An existing key file; default: a fresh one made by `vigil keygen` in `dir`. */
  keyFile?: string;
  /** Top-level YAML after `cluster:` and `web:` (a `vrrp:` or `modules:` block), as full lines. */
  extraYaml?: readonly string[];
  /** Starts only these hosts' daemons (default all); the others can be started later with node(x).start(). */
  start?: readonly LabHost[];
}

/** One line of a daemon's JSON log. */
export interface VigilLogEvent {
  /** Wall-clock ms since the epoch, from the line's own timestamp. */
  readonly at: number;
  readonly time: string;
  readonly level: string;
  readonly msg: string;
  readonly seq: number;
  /** Every other key of the line (peer, link, from, to, reason...). */
  readonly fields: Readonly<Record<string, unknown>>;
}

export type LogPredicate = (e: VigilLogEvent) => boolean;

export interface VigilNode {
  readonly host: LabHost;
  /** The node name in the config: the host's name. */
  readonly name: string;
  readonly config: string;
  readonly stateDir: string;
  /** The running (or last) daemon; replaced by start(). */
  readonly proc: LabProcess;
  /** The binary the current daemon runs (VIGIL_BIN unless start() was given another); status() uses it too. */
  readonly bin: string;
  /**
   * Starts the daemon (again, after a kill) with the same config and state dir; resolves once it logged "vigil started".
   * `bin`: another build (an older release, for upgrade tests); default VIGIL_BIN.
   */
  start(bin?: string): Promise<void>;
  /** Every JSON event the current daemon has logged so far, in order. */
  events(): VigilLogEvent[];
  /**
   * Waits for a matching event and returns the first one. `after` skips
   * events before a wall-clock ms, so a wait only sees what happened since.
   */
  waitForLog(pred: LogPredicate, opts?: { after?: number; timeoutMs?: number; what?: string }): Promise<VigilLogEvent>;
  /** `vigil status --json --state-dir D`, as an operator would run it. */
  status(): Promise<StatusSnapshot>;
  /** /metrics over the daemon's control socket. */
  metrics(): Promise<string>;
}

export interface VigilCluster {
  readonly nodes: readonly VigilNode[];
  readonly dir: string;
  readonly config: string;
  readonly keyFile: string;
  /** The node on the host of that name ("h2"). */
  node(name: string): VigilNode;
  /** Resolves when every running node has logged "peer X up" for every other running node. */
  waitForMesh(timeoutMs?: number): Promise<void>;
  /** SIGTERM to every daemon (SIGKILL after a grace); resolves when all have exited. */
  stop(): Promise<void>;
}

export function requireVigilBinary(): void {
  if (!existsSync(VIGIL_BIN)) throw new Error(`${VIGIL_BIN} is missing: run "npm run build" first`);
}

const runVigil = (args: string[], bin: string = VIGIL_BIN): Promise<RunOutput> => runForOutput([bin, ...args]);

/** A fresh cluster key made by `vigil keygen`. */
export async function vigilKeygen(path: string): Promise<string> {
  requireVigilBinary();
  const r = await runVigil(["keygen", path]);
  if (r.code !== 0) throw new Error(`vigil keygen ${path} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return path;
}

export interface ConfigNode {
  name: string;
  addresses: readonly string[];
}

/** vigil.yaml for a cluster: its nodes, heartbeat settings and whatever `extraYaml` adds. */
export function clusterYaml(o: { name: string; keyFile: string; nodes: readonly ConfigNode[]; heartbeat?: HeartbeatYaml; extraYaml?: readonly string[] }): string {
  const hb = o.heartbeat ?? {};
  const hbFields = [
    hb.preset === undefined ? null : `preset: ${hb.preset}`,
    hb.interval === undefined ? null : `interval: ${hb.interval}`,
    hb.warntime === undefined ? null : `warntime: ${hb.warntime}`,
    hb.deadtime === undefined ? null : `deadtime: ${hb.deadtime}`,
    hb.initdead === undefined ? null : `initdead: ${hb.initdead}`,
    hb.port === undefined ? null : `port: ${hb.port}`,
  ].filter((x): x is string => x !== null);
  return [
    "cluster:",
    `  name: ${o.name}`,
    `  key_file: ${o.keyFile}`,
    "  nodes:",
    ...o.nodes.map((n) => `    - { name: ${n.name}, addresses: [${n.addresses.join(", ")}] }`),
    ...(hbFields.length === 0 ? [] : [`  heartbeat: { ${hbFields.join(", ")} }`]),
    "web:",
    "  listen: 127.0.0.1:9010",
    ...(o.extraYaml ?? []),
    "",
  ].join("\n");
}

/** The JSON lines of a daemon's output; anything else (a crash trace, lab notes) is skipped. */
export function parseVigilLog(text: string): VigilLogEvent[] {
  const out: VigilLogEvent[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      continue; // a line still being written
    }
    if (typeof raw !== "object" || raw === null) continue;
    const { time, level, msg, seq, ...fields } = raw as Record<string, unknown>;
    if (typeof time !== "string" || typeof msg !== "string") continue;
    const at = Date.parse(time);
    if (Number.isNaN(at)) continue;
    out.push({ at, time, level: String(level), msg, seq: typeof seq === "number" ? seq : -1, fields });
  }
  return out;
}

/** A peer state change as the heartbeat engine logs it ("peer h2 dead"). */
export function peerChange(peer: string, to?: "up" | "late" | "dead", reason?: string): LogPredicate {
  return (e) =>
    e.msg === `peer ${peer} ${String(e.fields.to)}` &&
    e.fields.peer === peer &&
    (to === undefined || e.fields.to === to) &&
    (reason === undefined || e.fields.reason === reason);
}

/** Any peer state change, optionally only to one state. */
export function anyPeerChange(to?: "up" | "late" | "dead"): LogPredicate {
  // Other lines about a peer ("peer h2: it reads our news from our port + 1") name it too, but carry no `to`.
  return (e) =>
    typeof e.fields.peer === "string" && e.msg.startsWith("peer ") && e.fields.link === undefined && typeof e.fields.to === "string" && (to === undefined || e.fields.to === to);
}

/** A link state change ("link 1 to h3 down"); links are numbered from 0 in the log, in config order. */
export function linkChange(peer: string, link: number, to?: "up" | "down"): LogPredicate {
  return (e) => e.msg.startsWith("link ") && e.fields.peer === peer && e.fields.link === link && (to === undefined || e.fields.to === to);
}

/** The local-health warning the engine logs when its own process did not run for a while. */
export const isStall: LogPredicate = (e) => e.level === "warn" && typeof e.fields.gap_ms === "number" && typeof e.fields.credited_ms === "number";

/**
 * A sample's value from Prometheus text, 0 when the series is absent (a
 * counter nobody has moved yet). `labels` must all match; others may exist.
 */
export function metricValue(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let total = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const pair of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have.set(pair[1] ?? "", pair[2] ?? "");
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) total += Number(m[3]);
  }
  return total;
}

function getOverSocket(socketPath: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: "GET", timeout: 5_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${path} on ${socketPath}: HTTP ${res.statusCode}`))));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${path} on ${socketPath}: no answer in 5 s`)));
    req.on("error", reject);
    req.end();
  });
}

const STARTED = /"msg":"vigil started"/;

/**
 * `vigil run` with JSON logs on a lab host, the console on a free loopback
 * port; it has not necessarily started yet (wait for "vigil started").
 * For daemons outside a cluster's shape, such as an impostor.
 */
export function spawnVigil(host: LabHost, o: { config: string; node: string; stateDir: string; logName?: string; bin?: string }): LabProcess {
  requireVigilBinary();
  mkdirSync(o.stateDir, { recursive: true });
  return host.spawn(
    [o.bin ?? VIGIL_BIN, "run", "--config", o.config, "--node", o.node, "--state-dir", o.stateDir, "--log-format", "json", "--listen", "127.0.0.1:0"],
    { logName: o.logName ?? "vigil" },
  );
}

/** spawnVigil, resolved once the daemon logged "vigil started". */
export async function launchVigil(host: LabHost, o: { config: string; node: string; stateDir: string; logName?: string }): Promise<LabProcess> {
  const p = spawnVigil(host, o);
  await p.waitFor(STARTED, 15_000);
  return p;
}

function makeNode(host: LabHost, config: string, stateDir: string): VigilNode {
  let proc: LabProcess | undefined;
  let bin = VIGIL_BIN;
  const current = (): LabProcess => {
    if (proc === undefined) throw new Error(`vigil on ${host.name} has not been started`);
    return proc;
  };
  const events = (): VigilLogEvent[] => (proc === undefined ? [] : parseVigilLog(proc.output()));
  return {
    host,
    name: host.name,
    config,
    stateDir,
    get proc() {
      return current();
    },
    get bin() {
      return bin;
    },
    async start(other?: string) {
      // A daemon just SIGKILLed may take a moment to be gone (its exit runs after peers already declared it dead).
      if (proc !== undefined && proc.exitStatus === null) await Promise.race([proc.exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (proc !== undefined && proc.exitStatus === null) throw new Error(`vigil on ${host.name} is already running (pid ${proc.pid})`);
      bin = other ?? VIGIL_BIN;
      const p = spawnVigil(host, { config, node: host.name, stateDir, bin });
      proc = p;
      await p.waitFor(STARTED, 15_000);
    },
    events,
    async waitForLog(pred, opts = {}) {
      const after = opts.after ?? -Infinity;
      let found: VigilLogEvent | undefined;
      await current().waitFor(() => {
        found = events().find((e) => e.at >= after && pred(e));
        return found !== undefined;
      }, opts.timeoutMs ?? 10_000);
      if (found === undefined) throw new Error(`vigil on ${host.name}: ${opts.what ?? "the awaited event"} never came`);
      return found;
    },
    async status() {
      const r = await runVigil(["status", "--json", "--state-dir", stateDir], bin);
      // With --json the reason is JSON on stdout.
      if (r.code !== 0) throw new Error(`vigil status --state-dir ${stateDir} (node ${host.name}) exited ${r.code}: ${`${r.stdout.trim()} ${r.stderr.trim()}`.trim()}`);
      return JSON.parse(r.stdout) as StatusSnapshot;
    },
    metrics: () => getOverSocket(join(stateDir, "vigil.sock"), "/metrics"),
  };
}

/** Writes the config and key, then starts `vigil run` on every host (in parallel). */
export async function startVigilCluster(spec: ClusterSpec): Promise<VigilCluster> {
  requireVigilBinary();
  mkdirSync(spec.dir, { recursive: true });
  const keyFile = spec.keyFile ?? (await vigilKeygen(join(spec.dir, "vigil.key")));
  const config = join(spec.dir, "vigil.yaml");
  writeFileSync(
    config,
    clusterYaml({
      name: spec.name ?? "lab",
      keyFile,
      nodes: spec.hosts.map((h) => ({ name: h.name, addresses: h.addrs })),
      ...(spec.heartbeat === undefined ? {} : { heartbeat: spec.heartbeat }),
      ...(spec.extraYaml === undefined ? {} : { extraYaml: spec.extraYaml }),
    }),
  );
  const nodes = spec.hosts.map((h) => {
    const stateDir = join(spec.dir, `state-${h.name}`);
    mkdirSync(stateDir, { recursive: true });
    return makeNode(h, config, stateDir);
  });
  const byName = (name: string): VigilNode => {
    const n = nodes.find((x) => x.name === name);
    if (n === undefined) throw new Error(`the cluster has no node ${name} (nodes: ${nodes.map((x) => x.name).join(", ")})`);
    return n;
  };
  const first = spec.start ?? spec.hosts;
  await Promise.all(first.map((h) => byName(h.name).start()));

  const running = (): VigilNode[] =>
    nodes.filter((n) => {
      try {
        return n.proc.exitStatus === null;
      } catch {
        return false; // never started
      }
    });

  return {
    nodes,
    dir: spec.dir,
    config,
    keyFile,
    node: byName,
    async waitForMesh(timeoutMs = 15_000) {
      const live = running();
      try {
        await waitUntil(() => live.every((n) => live.every((p) => p === n || n.events().some(peerChange(p.name, "up")))), {
          timeoutMs,
          what: "every node to see every peer up",
        });
      } catch (e) {
        const seen = live.map((n) => `${n.name} saw ${n.events().filter(anyPeerChange("up")).map((x) => String(x.fields.peer)).join("+") || "nobody"} up`);
        throw new Error(`${(e as Error).message} (${seen.join("; ")}; logs in ${live.map((n) => n.proc.log).join(", ")})`);
      }
    },
    async stop() {
      await Promise.all(running().map((n) => n.proc.stop(3_000)));
    },
  };
}
