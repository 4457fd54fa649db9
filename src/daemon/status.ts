import type { VigilConfig } from "../config/types.ts";
import { VERSION } from "../version.ts";
import type { ModuleStatus } from "../api/modules.ts";
import type { HealthAlarm, LogEvent, ModuleResources, PeerStatus, StatusSnapshot, VrrpStatus } from "../api/status.ts";
import { clusterHealth } from "../api/health.ts";
import type { FarmStatus } from "../api/farm.ts";

export interface StatusInputs {
  config: VigilConfig;
  configFile: string;
  self: { name: string; addresses: string[] };
  stateDir: string;
  listen: string;
  /** The console's address and certificate (console.ts). */
  console?: { url: string; tls: { sha256: string; selfSigned: boolean; notAfter: string } | null };
  startedAt: Date;
  now: Date;
  events: LogEvent[];
  /** Live peer views from the heartbeat engine, by node name, when it runs. */
  peers?: ReadonlyMap<string, PeerStatus>;
  /** VRRP instances from the VRRP engine, when it runs. */
  vrrp?: readonly VrrpStatus[];
  /** Modules from the module engine, when it runs; others show as STOP. */
  modules?: readonly ModuleStatus[];
  /** Farm modules from the farm engine, when it runs. */
  farms?: readonly FarmStatus[];
  /** Alarms that lasted (health-watch.ts). */
  alarms?: readonly HealthAlarm[];
  /** Each module's resources here (resource-state.ts). */
  resources?: readonly ModuleResources[];
  logFile?: { path: string; problem: string | null } | null;
}

/** A module no engine drives (yet): STOP here, nothing known of the peers. */
function idleModule(config: VigilConfig, m: VigilConfig["modules"][number], self: string): ModuleStatus {
  return {
    name: m.name,
    type: m.type,
    state: "STOP",
    prefer: "prefer" in m ? (m.prefer ?? null) : null,
    failback: "failback" in m && m.failback === "manual" ? "manual" : "auto",
    nodes: config.cluster.nodes.map((n) => ({ node: n.name, role: n.name === self ? "STOP" : "unknown", generation: null })),
    lastTransition: null,
    checkers: [],
    blocked: null,
    restarts: 0,
    pending: null,
    witness: null,
    lease: null,
  };
}

/** Builds the one snapshot shape every surface shows (see src/api/status.ts). */
export function buildStatus(i: StatusInputs): StatusSnapshot {
  const peers = i.config.cluster.nodes
    .filter((n) => n.name !== i.self.name)
    .map((n): PeerStatus => i.peers?.get(n.name) ?? {
      name: n.name,
      addresses: [...n.addresses],
      state: "unknown",
      links: n.addresses.map((address) => ({ address, state: "unknown", lastHeardMsAgo: null })),
      rttMs: null,
      badFrames: 0,
    });
  const snap: StatusSnapshot = {
    version: VERSION,
    node: { name: i.self.name, addresses: [...i.self.addresses] },
    cluster: { name: i.config.cluster.name },
    pid: process.pid,
    startedAt: i.startedAt.toISOString(),
    uptimeMs: i.now.getTime() - i.startedAt.getTime(),
    configFile: i.configFile,
    stateDir: i.stateDir,
    web: { listen: i.listen, ...(i.console === undefined ? {} : { url: i.console.url, tls: i.console.tls }) },
    peers,
    modules: i.config.modules.map((m) => i.modules?.find((x) => x.name === m.name) ?? idleModule(i.config, m, i.self.name)),
    vrrp: [...(i.vrrp ?? [])],
    farms: [...(i.farms ?? [])],
    events: i.events,
  };
  // Resources first: the summaries say when one is being started or stopped.
  if (i.resources !== undefined) snap.resources = [...i.resources];
  snap.health = { ...clusterHealth(snap, { isolatedAfterMs: i.config.cluster.heartbeat.initdead, peerListen: i.config.web.listen }), alarms: [...(i.alarms ?? [])] };
  if (i.logFile !== undefined) snap.logFile = i.logFile;
  return snap;
}
