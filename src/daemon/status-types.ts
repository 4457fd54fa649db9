/**
 * The status snapshot the daemon publishes on /api/status, over the control
 * socket to `vigil status`, and to the console page. One shape for all three,
 * so the CLI and the page can never disagree with the API.
 */
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
  modules: { name: string; type: string; state: string }[];
  events: LogEvent[];
}
