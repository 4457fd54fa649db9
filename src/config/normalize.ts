/**
 * Validated config data -> the effective config: defaults applied, durations
 * in milliseconds, relative paths made absolute against the config's folder,
 * `vip` folded into `vips`, a single priority spread over every node.
 * Only called once the schema and the cross-field checks found nothing, so
 * the shapes below hold.
 */
import { resolve } from "node:path";
import { DEFAULTS } from "./defaults.ts";
import { parseDuration } from "./duration.ts";
import { resolveHeartbeatTimers } from "./heartbeat-timers.ts";
import { normalizeConsole } from "./console-normalize.ts";
import { checkerKind, defaultOnFail } from "./checker-checks.ts";
import type {
  ArbiterConfig, HeartbeatLink,
  Checker, CheckerAction, CheckerTarget, ClusterConfig, ModuleConfig, NodeConfig, ResourceConfig, VigilConfig, VrrpInstance, VrrpTrack, WitnessConfig,
} from "./types.ts";

type Raw = Record<string, unknown>;

const ms = (v: unknown, fallback: number): number => (typeof v === "string" ? parseDuration(v) ?? fallback : fallback);
const num = (v: unknown, fallback: number): number => (typeof v === "number" ? v : fallback);
const strings = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]).slice() : []);
const raws = (v: unknown): Raw[] => (Array.isArray(v) ? (v as Raw[]) : []);

/** Optional keys stay absent (not `undefined`) so the printed config shows only what is set. */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

export function normalizeConfig(data: Raw, configDir: string): VigilConfig {
  const path = (p: unknown): string | undefined => (typeof p === "string" ? resolve(configDir, p) : undefined);
  const cluster = normalizeCluster(data["cluster"] as Raw, path);
  const nodeNames = cluster.nodes.map((n) => n.name);
  return {
    cluster,
    vrrp: raws(data["vrrp"]).map((v) => normalizeVrrp(v, nodeNames, path)),
    modules: raws(data["modules"]).map((m) => normalizeModule(m, path)),
    web: { listen: (data["web"] as Raw | undefined)?.["listen"] as string | undefined ?? DEFAULTS.web.listen },
    console: normalizeConsole(data["console"], path),
    ...optional("log", normalizeLog(data["log"])),
    ...optional("witness", normalizeArbiter(data["witness"], cluster.witness)),
  };
}

/** The `log:` section, only when the file has one. */
function normalizeLog(l: unknown): { file_size: number; files: number } | undefined {
  if (typeof l !== "object" || l === null) return undefined;
  const r = l as Raw;
  return { file_size: (r["file_size"] as number | undefined) ?? 4, files: (r["files"] as number | undefined) ?? 1 };
}

/** The `witness:` section, only when the file has one; its listen address defaults to every address on the arbiter's port. */
function normalizeArbiter(w: unknown, witness: WitnessConfig): ArbiterConfig | undefined {
  if (typeof w !== "object" || w === null) return undefined;
  const port = witness.arbiter === undefined ? DEFAULTS.witness.port : Number(witness.arbiter.slice(witness.arbiter.lastIndexOf(":") + 1));
  return { listen: ((w as Raw)["listen"] as string | undefined) ?? `0.0.0.0:${port}` };
}

function normalizeCluster(c: Raw, path: (p: unknown) => string | undefined): ClusterConfig {
  const hb = (c["heartbeat"] ?? {}) as Raw;
  const timers = resolveHeartbeatTimers(hb);
  if (timers === undefined) throw new Error("heartbeat timers were validated but do not resolve");
  return {
    name: c["name"] as string,
    ...optional("key_file", path(c["key_file"])),
    nodes: raws(c["nodes"]).map((n): NodeConfig => ({ name: n["name"] as string, addresses: strings(n["addresses"]) })),
    heartbeat: {
      ...optional("preset", timers.preset),
      ...timers.timers,
      port: num(hb["port"], DEFAULTS.heartbeat.port),
      links: normalizeLinks(raws(hb["links"]), strings(raws(c["nodes"])[0]?.["addresses"]).length),
    },
    witness: normalizeWitness((c["witness"] ?? {}) as Raw),
  };
}

function normalizeWitness(w: Raw): WitnessConfig {
  return {
    ping: strings(w["ping"]),
    ...optional("arbiter", w["arbiter"] as string | undefined),
    lease: ms(w["lease"], DEFAULTS.witness.lease),
    grace: ms(w["grace"], DEFAULTS.witness.grace),
  };
}

function normalizeLinks(given: Raw[], count: number): HeartbeatLink[] {
  return Array.from({ length: count }, (_, i): HeartbeatLink => {
    const l = given[i];
    if (l?.["mode"] === "multicast") return { mode: "multicast", group: l["group"] as string };
    if (l?.["mode"] === "broadcast") return { mode: "broadcast", broadcast: l["broadcast"] as string };
    return { mode: "unicast" };
  });
}

function normalizeTrack(t: Raw, path: (p: unknown) => string | undefined): VrrpTrack {
  const weight = num(t["weight"], DEFAULTS.vrrp.track.weight);
  const d = DEFAULTS.vrrp.track;
  if (typeof t["script"] === "string") {
    return {
      script: path(t["script"]) as string,
      weight,
      interval: ms(t["interval"], d.interval),
      timeout: ms(t["timeout"], d.timeout),
      fall: num(t["fall"], d.fall),
      rise: num(t["rise"], d.rise),
    };
  }
  if (typeof t["process"] === "string") return { process: t["process"], weight };
  if (typeof t["interface"] === "string") return { interface: t["interface"], weight };
  return { file: path(t["file"]) as string, weight };
}

function normalizeVrrp(v: Raw, nodes: readonly string[], path: (p: unknown) => string | undefined): VrrpInstance {
  const p = v["priority"] ?? DEFAULTS.vrrp.priority;
  const priority = typeof p === "number" ? Object.fromEntries(nodes.map((n) => [n, p])) : { ...(p as Record<string, number>) };
  const auth = v["authentication"] as VrrpInstance["authentication"] | undefined;
  return {
    name: v["name"] as string,
    interface: v["interface"] as string,
    vrid: v["vrid"] as number,
    version: num(v["version"], DEFAULTS.vrrp.version) as 2 | 3,
    advert_int: ms(v["advert_int"], DEFAULTS.vrrp.advert_int),
    priority,
    vips: strings(v["vips"]),
    track: raws(v["track"]).map((t) => normalizeTrack(t, path)),
    preempt: v["nopreempt"] === true ? false : typeof v["preempt"] === "boolean" ? v["preempt"] : DEFAULTS.vrrp.preempt,
    preempt_delay: ms(v["preempt_delay"], DEFAULTS.vrrp.preempt_delay),
    unicast_peer: strings(v["unicast_peer"]),
    ...optional("authentication", auth === undefined ? undefined : { auth_type: auth.auth_type, auth_pass: auth.auth_pass }),
    ...optional("unicast_src_ip", perNode(v["unicast_src_ip"], nodes)),
    down_timer_adverts: num(v["down_timer_adverts"], DEFAULTS.vrrp.down_timer_adverts),
    garp_master_repeat: num(v["garp_master_repeat"], DEFAULTS.vrrp.garp_master_repeat),
    garp_interval: ms(v["garp_interval"], DEFAULTS.vrrp.garp_interval),
    garp_master_delay: ms(v["garp_master_delay"], DEFAULTS.vrrp.garp_master_delay),
    garp_master_refresh: ms(v["garp_master_refresh"], DEFAULTS.vrrp.garp_master_refresh),
    accept_mode: typeof v["accept_mode"] === "boolean" ? v["accept_mode"] : DEFAULTS.vrrp.accept_mode,
    heartbeat_takeover: typeof v["heartbeat_takeover"] === "boolean" ? v["heartbeat_takeover"] : DEFAULTS.vrrp.heartbeat_takeover,
    heartbeat_hold: typeof v["heartbeat_hold"] === "boolean" ? v["heartbeat_hold"] : DEFAULTS.vrrp.heartbeat_hold,
    ...optional("sync_group", v["sync_group"] as string | undefined),
    ...optional("notify", path(v["notify"])),
    ...optional("notify_master", path(v["notify_master"])),
    ...optional("notify_backup", path(v["notify_backup"])),
    ...optional("notify_fault", path(v["notify_fault"])),
    ...optional("notify_stop", path(v["notify_stop"])),
  };
}

/** One value for every node, or a mapping of some nodes; undefined when absent. */
function perNode(v: unknown, nodes: readonly string[]): Record<string, string> | undefined {
  if (typeof v === "string") return Object.fromEntries(nodes.map((n) => [n, v]));
  if (typeof v === "object" && v !== null) return { ...(v as Record<string, string>) };
  return undefined;
}

function normalizeTarget(c: Raw, path: (p: unknown) => string | undefined): CheckerTarget {
  if (typeof c["tcp"] === "string") return { tcp: c["tcp"] };
  if (typeof c["http"] === "string") {
    const status = c["status"];
    return {
      http: c["http"],
      ...optional("status", typeof status === "number" ? [status] : Array.isArray(status) ? (status as number[]).slice() : undefined),
      ...optional("body", c["body"] as string | undefined),
      tls_verify: typeof c["tls_verify"] === "boolean" ? c["tls_verify"] : DEFAULTS.checker.tls_verify,
    };
  }
  if (typeof c["pidfile"] === "string") {
    const pidfile = path(c["pidfile"]) as string;
    return typeof c["process"] === "string" ? { process: c["process"], pidfile } : { pidfile };
  }
  if (typeof c["process"] === "string") return { process: c["process"], ...optional("min", c["min"] as number | undefined) };
  if (typeof c["ping"] === "string") {
    return {
      ping: c["ping"],
      protocol: (c["protocol"] ?? DEFAULTS.checker.protocol) as "icmp" | "tcp" | "udp",
      ...optional("port", c["port"] as number | undefined),
    };
  }
  if (typeof c["interface"] === "string") return { interface: c["interface"] };
  if (typeof c["file"] === "string") {
    return { file: path(c["file"]) as string, exists: c["exists"] !== false, ...optional("contains", c["contains"] as string | undefined) };
  }
  // `script:` is the older spelling of custom.
  return { custom: path(c["custom"] ?? c["script"]) as string, ...optional("args", Array.isArray(c["args"]) ? strings(c["args"]) : undefined) };
}

/** `farm`: a farm runs no service to restart, so its checkers' default is failover (leave the split while failing; config/farm-checks.ts). */
function normalizeChecker(c: Raw, path: (p: unknown) => string | undefined, farm = false): Checker {
  const d = DEFAULTS.checker;
  const fallback = farm && defaultOnFail(checkerKind(c)) === "restart" ? "failover" : defaultOnFail(checkerKind(c));
  const onFail = (c["on_fail"] ?? fallback) as CheckerAction["on_fail"];
  const action: CheckerAction = onFail === "restart"
    ? {
      on_fail: onFail,
      then: (c["then"] ?? d.then) as "failover" | "stop",
      restarts: num(c["restarts"], d.restarts),
      restart_window: ms(c["restart_window"], d.restart_window),
    }
    : { on_fail: onFail };
  return {
    ...normalizeTarget(c, path),
    interval: ms(c["interval"], d.interval),
    timeout: ms(c["timeout"], d.timeout),
    fall: num(c["fall"], d.fall),
    rise: num(c["rise"], d.rise),
    ...action,
  };
}

function normalizeResource(r: Raw, timeouts: { start_timeout: number; stop_timeout: number }, path: (p: unknown) => string | undefined): ResourceConfig {
  if (typeof r["vip"] === "string") return { vip: r["vip"], ...optional("interface", r["interface"] as string | undefined) };
  const own = {
    start_timeout: ms(r["start_timeout"], timeouts.start_timeout),
    stop_timeout: ms(r["stop_timeout"], timeouts.stop_timeout),
  };
  if (typeof r["service"] === "string") return { service: r["service"], ...own };
  return { ...optional("start", path(r["start"])), ...optional("stop", path(r["stop"])), ...own };
}

function normalizeModule(m: Raw, path: (p: unknown) => string | undefined): ModuleConfig {
  const name = m["name"] as string;
  const timeouts = {
    start_timeout: ms(m["start_timeout"], DEFAULTS.module.start_timeout),
    stop_timeout: ms(m["stop_timeout"], DEFAULTS.module.stop_timeout),
  };
  const common = {
    vips: typeof m["vip"] === "string" ? [m["vip"]] : strings(m["vips"]),
    ...optional("interface", m["interface"] as string | undefined),
    ...optional("start", path(m["start"])),
    ...optional("stop", path(m["stop"])),
    ...timeouts,
    checkers: raws(m["checkers"]).map((c) => normalizeChecker(c, path, m["type"] === "farm")),
    ...optional("notify", path(m["notify"])),
    ...optional("webhook", m["webhook"] as string | undefined),
  };
  const failback = {
    failback: (m["failback"] ?? DEFAULTS.module.failback) as "auto" | "manual",
    failback_delay: ms(m["failback_delay"], DEFAULTS.module.failback_delay),
    ...optional("prefer", m["prefer"] as string | undefined),
    ...optional("resources", Array.isArray(m["resources"]) ? raws(m["resources"]).map((r) => normalizeResource(r, timeouts, path)) : undefined),
  };
  switch (m["type"]) {
    case "failover":
      return { name, type: "failover", ...common, ...failback };
    case "mirror":
      return { name, type: "mirror", ...common, ...failback, replicate: strings(m["replicate"]), port: (m["port"] ?? DEFAULTS.module.mirror_port) as number, mode: (m["mode"] ?? DEFAULTS.module.mirror_mode) as "sync" | "async", ack_timeout: ms(m["ack_timeout"], DEFAULTS.module.mirror_ack_timeout), disk_timeout: ms(m["disk_timeout"], DEFAULTS.module.mirror_disk_timeout), ...(m["mode"] === "async" ? { async_queue: (m["async_queue"] ?? DEFAULTS.module.mirror_async_queue) as number } : {}), ...optional("resync_rate", m["resync_rate"] as number | undefined), ...(m["exclude"] === undefined ? {} : { exclude: strings(m["exclude"]) }), read: (m["read"] ?? DEFAULTS.module.mirror_read) as "cache" | "direct" };
    default:
      return {
        name,
        type: "farm",
        ...common,
        ports: (m["ports"] as number[]).slice(),
        split: (m["split"] ?? DEFAULTS.module.split) as "client_ip" | "client_ip_port",
        weights: { ...((m["weights"] ?? {}) as Record<string, number>) },
        drain_timeout: ms(m["drain_timeout"], DEFAULTS.module.drain_timeout),
      };
  }
}
