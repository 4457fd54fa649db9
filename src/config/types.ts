/**
 * The effective configuration: what the daemon runs with after loading
 * vigil.yaml. Every default is applied and every relative path is absolute
 * (resolved against the config file's folder).
 *
 * Durations keep their YAML key names (`interval`, `deadtime`, ...) and are
 * whole numbers of milliseconds, typed `Millis`; `effectiveConfigYaml` shows
 * them readably again (100ms, 2s). Key names follow the YAML file, so the
 * effective config printed by `vigil check-config --print` loads back to the
 * same value. A test checks these interfaces against the JSON Schema.
 */
import type { HeartbeatPresetName } from "../core/membership-config.ts";

export type { HeartbeatPresetName };

/** A duration in whole milliseconds. */
export type Millis = number;

export interface HeartbeatConfig {
  /** Only informative here: its timers are already folded into the fields below. */
  preset?: HeartbeatPresetName;
  /** Time between two frames on each link. */
  interval: Millis;
  /** Silence after which a peer is reported late. */
  warntime: Millis;
  /** Silence after which a link is down and a peer silent on every link is dead. */
  deadtime: Millis;
  /** Grace after start before a never-heard peer is declared dead. */
  initdead: Millis;
  /** UDP port of every heartbeat link. */
  port: number;
  /** How frames go out on each link, by link index; one entry per node address. */
  links: HeartbeatLink[];
}

/** Unicast to each peer (the default: clouds and many switches block multicast), or one frame to a group or broadcast address. */
export type HeartbeatLink =
  | { mode: "unicast" }
  | { mode: "multicast"; group: string }
  | { mode: "broadcast"; broadcast: string };

export interface NodeConfig {
  name: string;
  /** One IPv4 address per heartbeat link, in link order; every node has the same count. */
  addresses: string[];
}

export interface ClusterConfig {
  name: string;
  /** Absolute path of the shared key; absent means heartbeats are not authenticated. */
  key_file?: string;
  nodes: NodeConfig[];
  heartbeat: HeartbeatConfig;
  witness: { ping: string[] };
}

/** keepalived's track_process / track_script / track_interface / track_file, one kind per entry. */
export type VrrpTrack =
  | { process: string; weight: number }
  | { script: string; weight: number; interval: Millis; timeout: Millis; fall: number; rise: number }
  | { interface: string; weight: number }
  | { file: string; weight: number };

export interface VrrpInstance {
  name: string;
  interface: string;
  vrid: number;
  version: 2 | 3;
  advert_int: Millis;
  /** Every node's priority (1..254); a single number in the file applies to all nodes. */
  priority: Record<string, number>;
  /** Addresses with prefix length, like 198.51.100.100/24. */
  vips: string[];
  track: VrrpTrack[];
  preempt: boolean;
  preempt_delay: Millis;
  /** Peers to advertise to by unicast; empty means multicast to 224.0.0.18. */
  unicast_peer: string[];
  /** VRRPv2 simple password (keepalived's auth_type PASS); never with version 3. */
  authentication?: { auth_type: "PASS"; auth_pass: string };
  /** Advert source per node (keepalived's unicast_src_ip); a node not listed uses its address on the interface. */
  unicast_src_ip?: Record<string, string>;
  /** Adverts missed before the master counts as down (keepalived's down_timer_adverts). */
  down_timer_adverts: number;
  /** Gratuitous ARPs sent for each VIP on becoming MASTER (keepalived's garp_master_repeat). */
  garp_master_repeat: number;
  /** Pause between those ARPs (keepalived's garp_interval). */
  garp_interval: Millis;
  /** Delay of a second burst of ARPs after becoming MASTER; 0 means none (keepalived's garp_master_delay). */
  garp_master_delay: Millis;
  /** Instances with the same sync group name change state together (keepalived's vrrp_sync_group). */
  sync_group?: string;
  /** Absolute paths of notify scripts, keepalived's notify / notify_master / notify_backup / notify_fault / notify_stop. */
  notify?: string;
  notify_master?: string;
  notify_backup?: string;
  notify_fault?: string;
  notify_stop?: string;
}

export type CheckerTarget = { tcp: string } | { http: string } | { process: string } | { script: string };

/** What a failing checker does; `then` and `restarts` belong to on_fail: restart only. */
export type CheckerAction =
  | {
    on_fail: "restart";
    /** What to do when `restarts` restarts did not help. */
    then: "failover" | "stop";
    restarts: number;
  }
  | { on_fail: "failover" | "stop" | "ignore" };

export type Checker = CheckerTarget & CheckerAction & {
  interval: Millis;
  timeout: Millis;
  /** Consecutive failures before acting. */
  fall: number;
  /** Consecutive successes before the check counts as healthy again. */
  rise: number;
};

interface ModuleCommon {
  name: string;
  /** Addresses with prefix length; `vip: x` in the file becomes `vips: [x]`. */
  vips: string[];
  /** Interface for the VIPs; absent means the one whose subnet holds them. */
  interface?: string;
  /** Absolute path of the script run to become primary. */
  start?: string;
  /** Absolute path of the script run to stop being primary. */
  stop?: string;
  checkers: Checker[];
}

export interface FailoverModule extends ModuleCommon {
  type: "failover";
  failback: "auto" | "manual";
  /** The node that runs the module when it can (Heartbeat's haresources owner). */
  prefer?: string;
}

export interface MirrorModule extends ModuleCommon {
  type: "mirror";
  failback: "auto" | "manual";
  prefer?: string;
  /** Absolute directories mirrored synchronously to the other node. */
  replicate: string[];
}

export interface FarmModule extends ModuleCommon {
  type: "farm";
  ports: number[];
  /** How clients are shared out among live nodes. */
  split: "client_ip" | "client_ip_port";
}

export type ModuleConfig = FailoverModule | MirrorModule | FarmModule;

export interface WebConfig {
  /** Where the console listens, "address:port". */
  listen: string;
}

export interface VigilConfig {
  cluster: ClusterConfig;
  vrrp: VrrpInstance[];
  modules: ModuleConfig[];
  web: WebConfig;
}
