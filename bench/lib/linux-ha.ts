/**
 * Linux-HA Heartbeat (the Debian `heartbeat` package, 3.0.x) as a peer in the
 * network lab, configured with the same timers as vigil: keepalive, warntime,
 * deadtime, initdead, one `ucast` per link to every peer, sha1 authkeys,
 * `crm no` (the haresources mode, with no resources).
 *
 * Heartbeat insists on /etc/ha.d, /var/lib/heartbeat, /run/heartbeat and the
 * host name, so each instance runs in a mount and UTS namespace of its own,
 * inside its lab host's network namespace: its own copies of those folders
 * are bind-mounted over the real ones, /run is a fresh tmpfs, and the host
 * name is the lab host's. Nothing it mounts is visible outside, and the
 * mounts vanish with the last process of the instance, so a killed
 * instance leaves nothing mounted behind.
 *
 * Its log has whole-second timestamps, so detection is timed by when a line
 * appears in the file (LogWatch).
 */
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LabHost, LabProcess } from "../../test/lab/lab.ts";
import { LogWatch } from "./log-watch.ts";

export const HEARTBEAT_BIN = "/usr/libexec/heartbeat/heartbeat";
export const HEARTBEAT_PORT = 694;

/** "3.0.6" from the installed package, or null when heartbeat is not installed. */
export function heartbeatVersion(): string | null {
  if (!existsSync(HEARTBEAT_BIN)) return null;
  try {
    const v = execFileSync("dpkg-query", ["-W", "-f", "${Version}", "heartbeat"], { encoding: "utf8" }).trim();
    return /^(?:\d+:)?([^-]+)/.exec(v)?.[1] ?? v;
  } catch {
    return "unknown";
  }
}

export interface HaTimers {
  intervalMs: number;
  warntimeMs: number;
  deadtimeMs: number;
  initdeadMs: number;
}

/** ha.cf for `self` in a cluster of `nodes`, unicast to each peer on each link. */
export function haCf(o: { self: LabHost; nodes: readonly LabHost[]; timers: HaTimers; logfile: string; links: readonly (1 | 2)[]; realtime?: boolean }): string {
  const peers = o.nodes.filter((n) => n !== o.self);
  return [
    `logfile ${o.logfile}`,
    "use_logd no",
    `keepalive ${o.timers.intervalMs}ms`,
    `warntime ${o.timers.warntimeMs}ms`,
    `deadtime ${o.timers.deadtimeMs}ms`,
    `initdead ${o.timers.initdeadMs}ms`,
    `udpport ${HEARTBEAT_PORT}`,
    ...o.links.flatMap((l) => peers.map((p) => `ucast ${o.self.ifname(l)} ${p.addr(l)}`)),
    "auto_failback off",
    // Heartbeat's default is on: SCHED_RR priority 1 and memory locked.
    ...(o.realtime === false ? ["realtime off"] : []),
    ...o.nodes.map((n) => `node ${n.name}`),
    "crm no",
    "",
  ].join("\n");
}

export interface HaNode {
  readonly host: LabHost;
  readonly dir: string;
  readonly logfile: string;
  readonly watch: LogWatch;
  /** The process that started the instance; replaced by start(). Heartbeat may restart itself under a new master, so it can exit while the instance lives on. */
  readonly proc: LabProcess | undefined;
  /** Starts heartbeat (again); resolves once it has read its config and started its links. */
  start(): Promise<void>;
  /** Every process of the running instance (the master and its children, scripts included, also after it restarted itself). */
  pids(): number[];
  /** SIGKILL to every process of the instance, as a crash would; returns Date.now() taken just before. */
  crash(): number;
  /** SIGKILL to the whole instance; resolves once none of its processes is left. */
  stop(): Promise<void>;
}

/** A process's mount and network namespaces, or null once it is gone. */
interface Namespaces {
  mnt: string;
  net: string;
}

function namespacesOf(pid: number | string): Namespaces | null {
  try {
    return { mnt: readlinkSync(`/proc/${pid}/ns/mnt`), net: readlinkSync(`/proc/${pid}/ns/net`) };
  } catch {
    return null; // gone, or a kernel thread
  }
}

/**
 * The processes in both namespaces. The mount namespace is the instance's
 * own; the network namespace (the lab host's) is checked too because a freed
 * namespace's number can be given to a new one, which then is not ours.
 */
function processesIn(ns: Namespaces): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const theirs = namespacesOf(e);
    if (theirs !== null && theirs.mnt === ns.mnt && theirs.net === ns.net) out.push(Number(e));
  }
  return out;
}

/** Writes the node's private copies of heartbeat's folders and config under `dir`. */
export function prepareHaNode(o: {
  host: LabHost;
  nodes: readonly LabHost[];
  timers: HaTimers;
  dir: string;
  secret: string;
  links: readonly (1 | 2)[];
  realtime?: boolean;
}): HaNode {
  const { host, dir } = o;
  mkdirSync(dir, { recursive: true });
  const haD = join(dir, "ha.d");
  const lib = join(dir, "lib");
  cpSync("/etc/ha.d", haD, { recursive: true });
  cpSync("/var/lib/heartbeat", lib, { recursive: true });
  const logfile = join(dir, "ha.log");
  const cf = { self: host, nodes: o.nodes, timers: o.timers, logfile, links: o.links };
  writeFileSync(join(haD, "ha.cf"), haCf(o.realtime === undefined ? cf : { ...cf, realtime: o.realtime }));
  writeFileSync(join(haD, "authkeys"), `auth 1\n1 sha1 ${o.secret}\n`);
  chmodSync(join(haD, "authkeys"), 0o600); // heartbeat refuses a readable one
  writeFileSync(join(haD, "haresources"), "");
  const watch = new LogWatch(logfile);

  // Runs as the instance's first process; `exec` makes heartbeat's master that same PID.
  const script = [
    "set -e",
    `hostname ${host.name}`,
    `mount --bind ${haD} /etc/ha.d`,
    `mount --bind ${lib} /var/lib/heartbeat`,
    "mount -t tmpfs -o mode=0755 vigil-bench-run /run",
    "mkdir -p /run/heartbeat/ccm /run/heartbeat/crm /run/heartbeat/dopd /run/crm",
    "chown -R hacluster:haclient /run/heartbeat /run/crm",
    `exec ${HEARTBEAT_BIN} -f`,
  ].join("\n");

  let proc: LabProcess | undefined;
  // The running instance's namespaces, forgotten as soon as it has no process left.
  let instance: Namespaces | null = null;
  const pids = (): number[] => {
    // While it is still starting, whatever its first process has become so far.
    const ns = instance ?? (proc !== undefined && proc.exitStatus === null ? namespacesOf(proc.pid) : null);
    if (ns === null) return [];
    const found = processesIn(ns);
    if (found.length === 0) instance = null;
    return found;
  };
  const node: HaNode = {
    host,
    dir,
    logfile,
    watch,
    get proc() {
      return proc;
    },
    async start() {
      const left = pids();
      if (left.length > 0) throw new Error(`heartbeat on ${host.name} is already running (pids ${left.join(" ")})`);
      const from = watch.mark();
      proc = host.spawn(["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", script], { logName: "heartbeat" });
      const p = proc;
      await Promise.race([
        watch.waitFor((l) => /Local status now set to: 'up'/.test(l.text), { from, timeoutMs: 30_000, what: `heartbeat on ${host.name} to start` }),
        p.exited.then((s) => {
          throw new Error(`heartbeat on ${host.name} exited (${JSON.stringify(s)}) while starting; see ${p.log} and ${logfile}`);
        }),
      ]);
      // `exec` made heartbeat's master the spawned PID, inside the new mount namespace by now.
      instance = namespacesOf(p.pid);
      if (instance === null) throw new Error(`heartbeat on ${host.name} vanished right after starting; see ${p.log} and ${logfile}`);
    },
    pids,
    crash() {
      const victims = pids();
      const at = Date.now();
      for (const pid of victims) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      return at;
    },
    async stop() {
      const deadline = Date.now() + 10_000;
      while (pids().length > 0) {
        if (Date.now() > deadline) throw new Error(`heartbeat on ${host.name} still has processes ${pids().join(" ")} after SIGKILL`);
        node.crash();
        await new Promise((r) => setTimeout(r, 20));
      }
      await proc?.exited;
    },
  };
  return node;
}

/** Heartbeat's verdict on a peer: `WARN: node h2: is dead`. */
export const haDeadLine = (peer: string) => (text: string): boolean => text.includes(`node ${peer}: is dead`);

/** Heartbeat hearing a peer (again): `Status update for node h2: status active` (or `up`). */
export const haUpLine = (peer: string) => (text: string): boolean => new RegExp(`Status update for node ${peer}: status (up|active)`).test(text);

/** Heartbeat hearing a peer on one link: `Link h2:eth0 up.` */
export const haLinkUpLine = (peer: string, ifname: string) => (text: string): boolean => text.includes(`Link ${peer}:${ifname} up.`);

/** Which peer a dead verdict is about, or null: `WARN: node h2: is dead`. */
export function haDeadPeer(text: string): string | null {
  return /\bnode (\S+): is dead/.exec(text)?.[1] ?? null;
}

/**
 * Which peer a late-heartbeat warning is about, or null:
 * `WARN: Late heartbeat: Node h2: interval 260 ms` (CRIT once beyond deadtime).
 */
export function haLatePeer(text: string): string | null {
  return /Late heartbeat: Node (\S+): interval/.exec(text)?.[1] ?? null;
}

/** A link given up on a peer: `Link h2:eth0 dead.` */
export const haLinkDeadLine = (text: string): boolean => /\bLink \S+:\S+ dead\./.test(text);
