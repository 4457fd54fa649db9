/**
 * Every default of vigil.yaml, in one place: the schema shows them to editors
 * and the loader applies them, so the two cannot drift apart.
 * Durations are in milliseconds.
 */
export const DEFAULTS = {
  heartbeat: {
    /** Used when neither `preset` nor `interval` is given; the other timers derive from it. */
    interval: 100,
    /** Smallest interval accepted: below it timer jitter alone would look like loss. */
    minInterval: 10,
    /** UDP port of the heartbeat links (same on every node); matches the transport's default. */
    port: 7694,
  },
  vrrp: {
    version: 3,
    advert_int: 1_000,
    priority: 100,
    preempt: true,
    preempt_delay: 0,
    /** keepalived's defaults: 3 missed adverts (RFC 5798), 5 gratuitous ARPs at once, a second burst 5 s later. */
    down_timer_adverts: 3,
    garp_master_repeat: 5,
    garp_interval: 0,
    garp_master_delay: 5_000,
    garp_master_refresh: 0,
    /** As keepalived without vrrp_strict: services listen on the VIPs, so the MASTER accepts their traffic. */
    accept_mode: true,
    /** The heartbeat's deadtime (500 ms) beats Master_Down_Interval (3.6 s at 1 s adverts): use it. */
    heartbeat_takeover: true,
    /** Three adverts lost in a row while the heartbeat hears the MASTER say so are a lossy link, not a dead MASTER. */
    heartbeat_hold: true,
    track: { weight: 0, interval: 1_000, timeout: 1_000, fall: 1, rise: 1 },
  },
  module: {
    failback: "manual",
    failback_delay: 0,
    split: "client_ip",
    /** How long a drained farm node (vigil stop) waits for its established connections. */
    drain_timeout: 30_000,
    /** TCP port of a mirror module's replication link, one per folder from it (the port plan below). */
    mirror_port: 7696,
    mirror_mode: "sync",
    /** How a mirror PRIM serves reads of files opened read-only: through the mount's page cache. */
    mirror_read: "cache",
    /** MiB a mirror in mode async may acknowledge ahead of its standby. */
    mirror_async_queue: 64,
    /**
     * How long a mirror's standby may owe an acknowledgement before the link to
     * it is dropped (DRBD's timeout x ko-count, 42 s there); the reasons are in
     * src/core/mirror/ack-bound.ts, whose DEFAULT_ACK_TIMEOUT_MS is the same.
     */
    mirror_ack_timeout: 30_000,
    /**
     * How long the disk beneath a mirror standby's copy may finish none of the
     * applier's ops before the copy is detached (DRBD's disk-timeout); the
     * reasons are in src/core/mirror/disk-bound.ts, whose DEFAULT_DISK_TIMEOUT_MS is the same.
     */
    mirror_disk_timeout: 10_000,
    /** Pacemaker's default operation timeout is 20 s; application starts (databases, VMS) often need more. */
    start_timeout: 60_000,
    stop_timeout: 60_000,
  },
  checker: {
    interval: 1_000,
    timeout: 1_000,
    fall: 3,
    rise: 1,
    on_fail: "restart",
    /** Checkers that say "this node cannot serve", not "the service broke". */
    wait_kinds: ["ping", "interface"],
    then: "failover",
    restarts: 1,
    restart_window: 600_000,
    tls_verify: true,
    protocol: "icmp",
  },
  witness: {
    /**
     * Where `vigil witness` listens when its config names no arbiter (the
     * endpoint always carries its port, so nodes and witness meet there).
     * Below the heartbeat port, clear of every port a node holds (the port plan below).
     */
    port: 7693,
    lease: 3_000,
    grace: 1_000,
  },
  web: { listen: "0.0.0.0:9010" },
} as const;

// The port plan: what a node holds by default. UDP: heartbeats 7694, the
// news the heartbeat sends from 7695 (NEWS_PORT_OFFSET), farm flow messages
// 7697 (FARM_FLOWS_PORT_OFFSET, with a farm module). TCP: mirror replication
// 7696 (and up, one per folder), the console 9010. The witness, on a third
// machine, 7693. port-checks.ts refuses a config whose ports collide on one node.

/** A node with news paths sends its heartbeat news from the heartbeat port + this (udp-transport.ts, "News"). */
export const NEWS_PORT_OFFSET = 1;
/** Farm modules' flow messages (src/daemon/farm/flow-link.ts) use the heartbeat port + this. */
export const FARM_FLOWS_PORT_OFFSET = 3;
/**
 * From this deadtime on, a node reads its peers' frames once per round and
 * has news paths, holding the heartbeat port + 1 (src/daemon/heartbeat/supervised.ts);
 * below it (the `fast` preset, whose daemons run at real-time priority) each frame is read as it comes.
 */
export const POLLED_FROM_DEADTIME_MS = 500;

/**
 * cluster.heartbeat.preset: named timer sets, in milliseconds. Keys written
 * beside a preset override its values (see heartbeat-timers.ts).
 */
export const HEARTBEAT_PRESETS = {
  /** Sub-second failover on a quiet, dedicated LAN. */
  fast: { interval: 20, warntime: 50, deadtime: 100, initdead: 5_000 },
  /** The default interval's timers: half a second to detect a dead peer. */
  lan: { interval: 100, warntime: 250, deadtime: 500, initdead: 5_000 },
  /** Links with jitter and loss bursts: deadtime is ten intervals rather than five. */
  wan: { interval: 1_000, warntime: 5_000, deadtime: 10_000, initdead: 20_000 },
} as const satisfies Record<string, { interval: number; warntime: number; deadtime: number; initdead: number }>;

export type HeartbeatPresetName = keyof typeof HEARTBEAT_PRESETS;
