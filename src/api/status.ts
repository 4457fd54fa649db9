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
}

export interface PeerStatus {
  name: string;
  addresses: string[];
  /** "unknown" until the heartbeat engine reports on the peer. */
  state: "unknown" | "up" | "late" | "dead";
  links: { address: string; state: "unknown" | "up" | "down"; lastHeardMsAgo: number | null }[];
  rttMs: number | null;
  badFrames: number;
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
  web: { listen: string };
  peers: PeerStatus[];
  /** Every configured module; see modules.ts. */
  modules: ModuleStatus[];
  /** VRRP instances of this node; absent from daemons that predate VRRP. */
  vrrp?: VrrpStatus[];
  /** Farm modules as this node runs them (see farm.ts); absent from daemons that predate farms. */
  farms?: FarmStatus[];
  events: LogEvent[];
}
