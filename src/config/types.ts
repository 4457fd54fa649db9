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
import type { HeartbeatPresetName } from "./defaults.ts";

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
  witness: WitnessConfig;
}

export interface WitnessConfig {
  /** Addresses a node must reach to claim resources while no peer is heard. */
  ping: string[];
  /** The arbiter (`vigil witness`) as address:port; absent: no arbiter. */
  arbiter?: string;
  /** How long a PRIM lease granted by the arbiter lasts; renewed at a third of it. */
  lease: Millis;
  /** After a lease ran out, the arbiter grants it to no other node for this long (clock rate differences). */
  grace: Millis;
}

/** The `witness:` section: settings of `vigil witness`, the arbiter process. */
export interface ArbiterConfig {
  /** Where the arbiter listens, "address:port". */
  listen: string;
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
  /** While MASTER, a burst of ARPs this often; 0 means never (keepalived's garp_master_refresh). */
  garp_master_refresh: Millis;
  /** RFC 5798 Accept_Mode: the MASTER accepts packets addressed to the VIPs (keepalived's accept / no_accept). */
  accept_mode: boolean;
  /**
   * A BACKUP whose MASTER is a cluster node takes over once the heartbeat
   * declares that node dead and its next advert is late, before the down timer.
   */
  heartbeat_takeover: boolean;
  /**
   * A BACKUP whose down timer ran out waits up to one more down timer while
   * the heartbeat still hears the MASTER's node say it is MASTER.
   */
  heartbeat_hold: boolean;
  /** Instances with the same sync group name change state together (keepalived's vrrp_sync_group). */
  sync_group?: string;
  /** Absolute paths of notify scripts, keepalived's notify / notify_master / notify_backup / notify_fault / notify_stop. */
  notify?: string;
  notify_master?: string;
  notify_backup?: string;
  notify_fault?: string;
  notify_stop?: string;
}

/**
 * What a checker looks at, one kind per entry. `script:` in the file is the
 * older spelling of `custom:` and reads back as custom.
 */
export type CheckerTarget =
  /** host:port accepts a TCP connection. */
  | { tcp: string }
  /** A GET of the URL answers one of `status` (absent: any 2xx or 3xx), with `body` in it when given. */
  | { http: string; status?: number[]; body?: string; tls_verify: boolean }
  /** At least `min` processes of this name run; or, with `pidfile`, the PID it holds runs and is this program. */
  | { process: string; min?: number; pidfile?: string }
  /** The PID the file holds runs. */
  | { pidfile: string }
  /** The address answers: ICMP echo, or any answer on a TCP or UDP `port`. */
  | { ping: string; protocol: "icmp" | "tcp" | "udp"; port?: number }
  /** The interface is up with carrier. */
  | { interface: string }
  /** The file exists (or, `exists: false`, does not), and holds `contains` when given. */
  | { file: string; exists: boolean; contains?: string }
  /** The command exits 0 within the timeout. */
  | { custom: string; args?: string[] };

/** What a failing checker does; `then`, `restarts` and `restart_window` belong to on_fail: restart only. */
export type CheckerAction =
  | {
    on_fail: "restart";
    /** What to do when `restarts` restarts within `restart_window` did not help. */
    then: "failover" | "stop";
    restarts: number;
    restart_window: Millis;
  }
  /** wait: this node cannot serve while it fails (WAIT); the default of ping and interface. */
  | { on_fail: "failover" | "stop" | "ignore" | "wait" };

export type Checker = CheckerTarget & CheckerAction & {
  interval: Millis;
  timeout: Millis;
  /** Consecutive failures before acting. */
  fall: number;
  /** Consecutive successes before the check counts as healthy again. */
  rise: number;
};

/**
 * One entry of a module's `resources:` list, started in list order and
 * stopped in reverse (Heartbeat's haresources line, SafeKit's start_prim /
 * stop_prim). Script paths are absolute; timeouts are filled in from the
 * module's start_timeout / stop_timeout when the entry gives none.
 */
export type ResourceConfig =
  /** A virtual address; `interface` absent: the module's, else the one whose subnet holds it. */
  | { vip: string; interface?: string }
  /** A systemd unit: `systemctl start` / `systemctl stop`. */
  | { service: string; start_timeout: Millis; stop_timeout: Millis }
  /** Scripts run to start and to stop; either may be absent. */
  | { start?: string; stop?: string; start_timeout: Millis; stop_timeout: Millis };

interface ModuleCommon {
  name: string;
  /**
   * Addresses with prefix length; `vip: x` in the file becomes `vips: [x]`.
   * Empty when the module lists `resources`; moduleVips() (src/daemon/module/core-config.ts)
   * gives every VIP of a module in either form.
   */
  vips: string[];
  /** Interface for the VIPs; absent means the one whose subnet holds them. */
  interface?: string;
  /** Absolute path of the script run to become primary. */
  start?: string;
  /** Absolute path of the script run to stop being primary. */
  stop?: string;
  /** Longest run of a start script or service start before its process group is killed and the start fails. */
  start_timeout: Millis;
  /** The same for stopping. */
  stop_timeout: Millis;
  checkers: Checker[];
  /** Absolute path of a script run on every state change with MODULE FROM TO REASON. */
  notify?: string;
  /** URL that gets a JSON POST on every state change. */
  webhook?: string;
}

interface FailbackPolicy {
  failback: "auto" | "manual";
  /** With auto: how long the preferred node must be back before the module moves to it. */
  failback_delay: Millis;
  /** The node that runs the module when it can (Heartbeat's haresources owner). */
  prefer?: string;
  /**
   * The ordered resources, instead of vip/vips/start/stop (which are then
   * empty); absent in the short form.
   */
  resources?: ResourceConfig[];
}

export interface FailoverModule extends ModuleCommon, FailbackPolicy {
  type: "failover";
}

export interface MirrorModule extends ModuleCommon, FailbackPolicy {
  type: "mirror";
  /** Absolute directories mirrored synchronously to the other node. */
  replicate: string[];
  /** TCP port of the replication link. */
  port: number;
  /** Cap on a resync's data in MiB/s; absent: none. */
  resync_rate?: number;
  /** sync: a write returns once the standby applied it; async: once queued for it. */
  mode: "sync" | "async";
  /** mode async only: MiB acknowledged ahead of the standby at most. */
  async_queue?: number;
  /** ms an acknowledgement of the standby may be owed before the link to it is dropped; 0: no bound. */
  ack_timeout: number;
  /** ms the disk beneath the standby's copy may finish none of its applier's ops before the copy is detached; 0: never. */
  disk_timeout: number;
  /** Name patterns left out of the copy (src/config/exclude-pattern.ts); absent: none. */
  exclude?: string[];
  /** How the PRIM serves reads of files opened read-only: the mount's page cache, or direct I/O from the file beneath. */
  read: "cache" | "direct";
}

export interface FarmModule extends ModuleCommon {
  type: "farm";
  ports: number[];
  /** How clients are shared out among live nodes. */
  split: "client_ip" | "client_ip_port";
  /** Weight per node name; a node not listed weighs 1. */
  weights: Record<string, number>;
  /** How long a drained node waits for its established connections. */
  drain_timeout: Millis;
}

export type ModuleConfig = FailoverModule | MirrorModule | FarmModule;

export interface LogFileConfig {
  /** MiB per file. */
  file_size: number;
  /** Older files kept. */
  files: number;
}

export interface WebConfig {
  /** Where the console listens, "address:port". */
  listen: string;
}

export interface ConsoleUser {
  name: string;
  role: "viewer" | "operator" | "admin";
  /** A scrypt hash (config/password-hash.ts), never the password. */
  password: string;
}

export interface ConsoleConfig {
  users: ConsoleUser[];
  tls: boolean;
  /** Absolute paths, both or neither; neither with tls: a self-signed certificate in the state dir. */
  cert?: string;
  key?: string;
  /** Host names the console answers to beyond the node's own. */
  names: string[];
  session_timeout: Millis;
  /** Accept the `vigil token` bearer token for commands. */
  api_token: boolean;
}

export interface VigilConfig {
  cluster: ClusterConfig;
  vrrp: VrrpInstance[];
  modules: ModuleConfig[];
  web: WebConfig;
  /** Always set by the loader; optional so configs built by hand in tests need not spell it. */
  console?: ConsoleConfig;
  /** Only when the file has a log: section; the daemon's defaults otherwise (4 MiB, one older file). */
  log?: LogFileConfig;
  /** Only when the file has a witness: section; `vigil witness` otherwise listens on the arbiter's port. */
  witness?: ArbiterConfig;
}
