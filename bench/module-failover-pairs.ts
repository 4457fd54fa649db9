/**
 * The two module pairs the benchmark compares, behind one surface: h1 runs
 * the module (VIP 198.51.100.100/24 on eth0 plus the HTTP service of
 * module-failover-service.ts), h2 stands by, heartbeats go over link 2 only
 * (eth1, 203.0.113.0/24), the client lives on link 1.
 *
 * - vigil: a failover module "web", prefer h1, failback manual; resources
 *   in order: the VIP (then a gratuitous ARP burst), start.sh. Without a
 *   witness ("vigil"), or with the client as cluster.witness.ping
 *   ("vigil-witness"): a node that hears no peer then takes the module only
 *   after a fresh ping round answered.
 * - Heartbeat: haresources `h1 IPaddr::VIP/24/eth0 websvc`, crm no,
 *   auto_failback off, websvc being svc.sh. IPaddr adds the address and sends
 *   gratuitous ARPs through send_arp (in the background, its default).
 *
 * With the service running all along (--service running) both modules are
 * the VIP alone: vigil's has no start/stop, Heartbeat's haresources is
 * `h1 IPaddr::VIP/24/eth0`.
 *
 * Both start afresh for every trial, so no trial depends on the one before.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LabHost } from "../test/lab/lab.ts";
import { waitUntil } from "../test/lab/lab.ts";
import { startVigilCluster, VIGIL_BIN, type HeartbeatYaml, type VigilCluster, type VigilNode } from "../test/lab/vigil-cluster.ts";
import { prepareHaNode, type HaNode, type HaTimers } from "./lib/linux-ha.ts";
import { type ServiceFiles, type ServiceMode, VIP, VIP_INTERFACE, VIP_PREFIX } from "./module-failover-service.ts";

/** vigil-compare: vigil without a witness, another build (--compare). */
export type Impl = "vigil" | "vigil-witness" | "vigil-compare" | "heartbeat";

export interface ModulePair {
  readonly impl: Impl;
  /** Starts both nodes; resolves once h1 runs the module and h2 stands by, ready to take it. */
  start(): Promise<void>;
  /** SIGKILL to the primary's HA daemon (every process of it) and to the service it runs, in one instant. */
  crashPrimary(): void;
  /** The operator's handover, run on the primary (`vigil swap web`, `hb_standby all`); resolves when the command returned. */
  swap(): Promise<void>;
  /** Stops both daemons and kills any service left behind. */
  stop(): Promise<void>;
  /** SIGKILL to both daemons and the services, synchronously, for Ctrl-C. */
  kill(): void;
  /** The standby's daemon process, where there is one process to name (vigil). */
  standbyPid?(): number | undefined;
}

export interface PairSpec {
  readonly primary: LabHost;
  readonly standby: LabHost;
  readonly dir: string;
  readonly service: ServiceFiles;
  /** vigil's heartbeat block (YAML durations). */
  readonly vigilHeartbeat: HeartbeatYaml;
  /** The same timers for Heartbeat's ha.cf. */
  readonly haTimers: HaTimers;
  /** running: the service runs on both nodes outside the HA daemons, the module is the VIP alone (no scripts, no websvc). */
  readonly serviceMode: ServiceMode;
  /** vigil only: the cluster.witness.ping address. */
  readonly witness?: string;
  /** vigil only: another build than VIGIL_BIN (the pair is then "vigil-compare"). */
  readonly bin?: string;
}

const READY_TIMEOUT_MS = 30_000;

/** Heartbeat-link addresses only: the cluster's addresses are the link-2 ones. */
const onLink2 = (h: LabHost): LabHost => ({ ...h, addrs: [h.addr(2)] });

function killPid(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Our services: processes running this run's server.js, wherever they were started from. */
export function killServices(service: ServiceFiles): void {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline = "";
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
    } catch {
      continue;
    }
    if (cmdline.split("\0").includes(service.serverJs)) killPid(Number(entry));
  }
}

function servicePid(service: ServiceFiles, node: string): number | null {
  try {
    const n = Number(readFileSync(service.pidfile(node), "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

function processAlive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    const state = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0];
    return state !== undefined && state !== "Z";
  } catch {
    return false;
  }
}

const runsResourceManager = (pid: number): boolean => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("ResourceManager");
  } catch {
    return false;
  }
};

export function vigilPair(spec: PairSpec): ModulePair {
  let cluster: VigilCluster | undefined;
  const need = (): VigilCluster => {
    if (cluster === undefined) throw new Error("the vigil pair has not been started");
    return cluster;
  };
  const role = async (n: VigilNode): Promise<string> => (await n.status()).modules.find((m) => m.name === "web")?.state ?? "none";
  const waitRole = async (n: VigilNode, want: string): Promise<void> => {
    let last = "";
    try {
      await waitUntil(async () => (last = await role(n)) === want, { timeoutMs: READY_TIMEOUT_MS, what: `vigil on ${n.name} to be ${want} for web` });
    } catch (e) {
      throw new Error(`${(e as Error).message}; it is ${last} (log: ${n.proc.log})`);
    }
  };
  return {
    impl: spec.bin !== undefined ? "vigil-compare" : spec.witness === undefined ? "vigil" : "vigil-witness",
    async start() {
      cluster = await startVigilCluster({
        hosts: [onLink2(spec.primary), onLink2(spec.standby)],
        dir: spec.dir,
        heartbeat: spec.vigilHeartbeat,
        extraYaml: [
          "modules:",
          "  - name: web",
          "    type: failover",
          `    vip: ${VIP}/${VIP_PREFIX}`,
          `    interface: ${VIP_INTERFACE}`,
          ...(spec.serviceMode === "started" ? [`    start: ${spec.service.start}`, `    stop: ${spec.service.stop}`] : []),
          `    prefer: ${spec.primary.name}`,
          "    failback: manual",
        ],
        start: [],
      });
      const c = cluster;
      if (spec.witness !== undefined) {
        // The witness belongs under cluster:, which clusterYaml writes without one.
        writeFileSync(c.config, readFileSync(c.config, "utf8").replace("  heartbeat:", `  witness: { ping: [${spec.witness}] }\n  heartbeat:`));
      }
      await Promise.all([c.node(spec.primary.name).start(spec.bin), c.node(spec.standby.name).start(spec.bin)]);
      await waitRole(c.node(spec.primary.name), "PRIM");
      await waitRole(c.node(spec.standby.name), "SECOND");
    },
    standbyPid: () => cluster?.node(spec.standby.name).proc.pid,
    crashPrimary() {
      const svc = servicePid(spec.service, spec.primary.name);
      need().node(spec.primary.name).proc.kill("SIGKILL");
      if (svc !== null) killPid(svc);
    },
    async swap() {
      const n = need().node(spec.primary.name);
      const r = await n.host.exec([spec.bin ?? VIGIL_BIN, "swap", "web", "--state-dir", n.stateDir], { timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`vigil swap web on ${n.name} failed (exit ${String(r.code)}): ${(r.stderr || r.stdout).trim()}`);
    },
    async stop() {
      try {
        if (cluster !== undefined) await cluster.stop();
      } finally {
        killServices(spec.service);
      }
    },
    kill() {
      for (const n of cluster?.nodes ?? []) {
        try {
          n.proc.kill("SIGKILL");
        } catch {
          // never started
        }
      }
      killServices(spec.service);
    },
  };
}

const HB_STANDBY = "/usr/share/heartbeat/hb_standby";
/** Where Heartbeat's master reads commands such as hb_standby's; the package's compiled-in path. */
const HA_FIFO = "/var/lib/heartbeat/fifo";

export function heartbeatPair(spec: PairSpec): ModulePair {
  const secret = randomBytes(16).toString("hex");
  const hosts = [spec.primary, spec.standby];
  let nodes: HaNode[] = [];
  const nodeOf = (h: LabHost): HaNode => {
    const n = nodes.find((x) => x.host === h);
    if (n === undefined) throw new Error(`the Heartbeat pair has no node on ${h.name}`);
    return n;
  };
  /** Heartbeat on `h` has logged the end of its initial resource round (which does not mean the resources are up yet). */
  const ownsResources = (h: LabHost): boolean => {
    const n = nodeOf(h);
    n.watch.readNew();
    return n.watch.lines.some((l) => /local resource transition completed|Initial resource acquisition complete/.test(l.text));
  };
  return {
    impl: "heartbeat",
    async start() {
      nodes = hosts.map((host) => {
        const n = prepareHaNode({ host, nodes: hosts, timers: spec.haTimers, dir: join(spec.dir, host.name), secret, links: [2] });
        const haD = join(n.dir, "ha.d");
        writeFileSync(join(haD, "haresources"), `${spec.primary.name} IPaddr::${VIP}/${VIP_PREFIX}/${VIP_INTERFACE}${spec.serviceMode === "started" ? " websvc" : ""}\n`);
        copyFileSync(spec.service.script, join(haD, "resource.d", "websvc"));
        // Each instance's /run is a fresh tmpfs, without the folder systemd-tmpfiles makes at boot for resource-agents.
        renameSync(join(haD, "resource.d", "IPaddr"), join(haD, "resource.d", "IPaddr.dist"));
        writeFileSync(join(haD, "resource.d", "IPaddr"), "#!/bin/sh\nmkdir -p /run/resource-agents\nexec /etc/ha.d/resource.d/IPaddr.dist \"$@\"\n");
        chmodSync(join(haD, "resource.d", "IPaddr"), 0o755);
        return n;
      });
      await Promise.all(nodes.map((n) => n.start()));
      await waitUntil(() => ownsResources(spec.primary) && ownsResources(spec.standby), {
        timeoutMs: READY_TIMEOUT_MS,
        what: "Heartbeat to finish its initial resource acquisition on both nodes",
      });
      // The acquisition itself runs after that line, in a ResourceManager child: wait for the service and for it to be done.
      const primary = nodeOf(spec.primary);
      const serviceUp = (): boolean => spec.serviceMode === "running" || processAlive(servicePid(spec.service, spec.primary.name));
      await waitUntil(() => serviceUp() && !primary.pids().some(runsResourceManager), {
        timeoutMs: READY_TIMEOUT_MS,
        what: `Heartbeat on ${spec.primary.name} to start the module's resources`,
      });
    },
    crashPrimary() {
      // Every process of the instance, its resource scripts and the service they started included.
      nodeOf(spec.primary).crash();
    },
    async swap() {
      const master = nodeOf(spec.primary).proc;
      if (master === undefined || master.exitStatus !== null) throw new Error(`Heartbeat on ${spec.primary.name} is not running`);
      // Inside the instance's mount namespace, where its FIFO is.
      const r = await spec.primary.exec(["nsenter", "-t", String(master.pid), "-m", "-u", "env", `HA_FIFO=${HA_FIFO}`, HB_STANDBY, "all"], { timeoutMs: 30_000 });
      if (r.code !== 0) throw new Error(`hb_standby on ${spec.primary.name} failed (exit ${String(r.code)}): ${(r.stderr || r.stdout).trim()}`);
    },
    async stop() {
      try {
        await Promise.all(nodes.map((n) => n.stop()));
      } finally {
        for (const n of nodes) n.watch.close();
        killServices(spec.service);
      }
    },
    kill() {
      for (const n of nodes) n.crash();
      killServices(spec.service);
    },
  };
}
