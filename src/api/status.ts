/**
 * The status snapshot the daemon publishes on /api/status, over the control
 * socket to `vigil status`, and to the console page. One shape for all three,
 * so the CLI and the page can never disagree with the API.
 */
import type { ModuleStatus } from "./modules.ts";
import type { FarmStatus } from "./farm.ts";

export interface LogEvent {
  /** Per-daemon sequence number; gaps mean the ring buffer dropped events. */
  seq: number;
  /** Wall-clock time, ISO 8601. */
  time: string;
  level: "debug" | "info" | "warn" | "error";
  msg: string;
  fields: Record<string, string | number | boolean | null>;
  /** The event in one sentence for people (see event-text.ts); absent from daemons that predate it. */
  text?: string;
  /** The module it concerns, if any (console filter). */
  module?: string;
  /** The peer it concerns; absent means this node. */
  peer?: string;
}

export interface PeerStatus {
  name: string;
  addresses: string[];
  /** "unknown" until the heartbeat engine reports on the peer; "stopped": it said goodbye (a clean stop). */
  state: "unknown" | "up" | "late" | "dead" | "stopped";
  links: { address: string; state: "unknown" | "up" | "down"; lastHeardMsAgo: number | null }[];
  rttMs: number | null;
  badFrames: number;
  /** Keys of the cluster-relevant config that differ on this peer ([] = the same); absent until known. */
  configDrift?: string[];
  /** The heartbeat frame version the peer sends (1: the previous release, during a rolling upgrade); absent until heard. */
  frameVersion?: number;
}

/** One VRRP instance as the engine sees it (src/daemon/vrrp/). */
export interface VrrpStatus {
  name: string;
  vrid: number;
  version: 2 | 3;
  interface: string;
  /** The advert source and election tiebreak. */
  primaryAddress: string;
  role: "initialize" | "backup" | "master" | "fault";
  /** As configured for this node. */
  priority: number;
  /** Moved by tracked objects. */
  effectivePriority: number;
  /** Primary address of the current master: ours while MASTER; null when nobody is known. */
  masterAddress: string | null;
  vips: string[];
  syncGroup: string | null;
  /** Unicast peers; empty means multicast to 224.0.0.18. */
  unicastPeers: string[];
  lastTransition: { time: string; from: string; to: string; reason: string; detail: string } | null;
  tracks: { name: string; weight: number; up: boolean; detail: string }[];
  advertsSent: number;
  advertsReceived: number;
  becameMaster: number;
}

export interface StatusSnapshot {
  version: string;
  node: { name: string; addresses: string[] };
  cluster: { name: string };
  pid: number;
  startedAt: string;
  uptimeMs: number;
  configFile: string;
  stateDir: string;
  web: {
    listen: string;
    /** The console's address, https:// when it serves TLS; absent from daemons that predate the login. */
    url?: string;
    /** The certificate the console serves (its SHA-256 to compare with what a browser shows), or null for plain HTTP. */
    tls?: { sha256: string; selfSigned: boolean; notAfter: string } | null;
  };
  peers: PeerStatus[];
  /** Every configured module; see modules.ts. */
  modules: ModuleStatus[];
  /** VRRP instances of this node; absent from daemons that predate VRRP. */
  vrrp?: VrrpStatus[];
  /** Farm modules as this node runs them (see farm.ts); absent from daemons that predate farms. */
  farms?: FarmStatus[];
  events: LogEvent[];
  /** The cluster in words: every node side by side, each module summarised, isolation (see health.ts). */
  health?: ClusterHealth;
  /** Each module's resources and their state on this node. */
  resources?: ModuleResources[];
  /** Where this node's log file is, and why it is not written if it is not. */
  logFile?: { path: string; problem: string | null } | null;
}

/** One resource of a module as it is on this node now. */
export interface ResourceStatus {
  kind: "mirror" | "vip" | "script" | "service" | "farm";
  /** "vip 198.51.100.100/24", "script start.sh", "mirror /srv/data". */
  name: string;
  /** up: held or running here; down: not; starting/stopping: under way now; failed: its last start or stop failed. */
  state: "up" | "down" | "starting" | "stopping" | "failed" | "unknown";
  /** What was seen, in words: the interface, the last start or stop and when. */
  detail: string;
  /** Whether the state is what this node's role asks for (up while the module runs here, down otherwise). */
  expected: boolean;
}

export interface ModuleResources {
  module: string;
  /** In start order. */
  resources: ResourceStatus[];
}

/** A node of the cluster as this node sees it, for the cluster view. */
export interface NodeHealth {
  name: string;
  self: boolean;
  /** "self" for this node; a peer's liveness otherwise. */
  state: string;
  /** host:port of its console (its first address, the console port of this node's config). */
  console: string | null;
  links: { up: number; total: number };
  /** Its role for each module (a peer's as it last advertised it). */
  roles: { module: string; role: string }[];
  /** Keys of the cluster-relevant config that differ from this node's; absent while unknown (and for this node). */
  configDrift?: string[];
}

export interface ModuleSummary {
  module: string;
  type: string;
  /** Nodes where the service runs now. */
  runsOn: string[];
  /** Nodes ready to take it over. */
  ready: string[];
  runsNowhere: boolean;
  severity: "ok" | "warn" | "bad";
  /** "hmi runs on scada1; scada2 is ready to take over." */
  text: string;
}

export interface HealthAlarm {
  kind: "running-nowhere" | "isolated";
  /** running-nowhere only. */
  module?: string;
  /** When the condition began (ISO time). */
  since: string;
  text: string;
}

export interface ClusterHealth {
  /** The "this node is isolated" sentence, or null. */
  isolated: string | null;
  /** "scada2 runs another config: modules.hmi.failback differs.", or null when every peer heard runs the same. */
  drift?: string | null;
  nodes: NodeHealth[];
  modules: ModuleSummary[];
  /** Conditions that lasted past their hold time; each was also logged and counted in /metrics. */
  alarms: HealthAlarm[];
}
