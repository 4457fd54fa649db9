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
import type {
  HeartbeatLink,
  Checker, CheckerAction, CheckerTarget, ClusterConfig, ModuleConfig, NodeConfig, VigilConfig, VrrpInstance, VrrpTrack,
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
  };
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
    witness: { ping: strings((c["witness"] as Raw | undefined)?.["ping"]) },
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

function normalizeChecker(c: Raw, path: (p: unknown) => string | undefined): Checker {
  const d = DEFAULTS.checker;
  const target: CheckerTarget = typeof c["tcp"] === "string"
    ? { tcp: c["tcp"] }
    : typeof c["http"] === "string"
      ? { http: c["http"] }
      : typeof c["process"] === "string"
        ? { process: c["process"] }
        : { script: path(c["script"]) as string };
  const onFail = (c["on_fail"] ?? d.on_fail) as CheckerAction["on_fail"];
  const action: CheckerAction = onFail === "restart"
    ? { on_fail: onFail, then: (c["then"] ?? d.then) as "failover" | "stop", restarts: num(c["restarts"], d.restarts) }
    : { on_fail: onFail };
  return {
    ...target,
    interval: ms(c["interval"], d.interval),
    timeout: ms(c["timeout"], d.timeout),
    fall: num(c["fall"], d.fall),
    rise: num(c["rise"], d.rise),
    ...action,
  };
}

function normalizeModule(m: Raw, path: (p: unknown) => string | undefined): ModuleConfig {
  const name = m["name"] as string;
  const common = {
    vips: typeof m["vip"] === "string" ? [m["vip"]] : strings(m["vips"]),
    ...optional("interface", m["interface"] as string | undefined),
    ...optional("start", path(m["start"])),
    ...optional("stop", path(m["stop"])),
    checkers: raws(m["checkers"]).map((c) => normalizeChecker(c, path)),
  };
  const failback = (m["failback"] ?? DEFAULTS.module.failback) as "auto" | "manual";
  const prefer = optional("prefer", m["prefer"] as string | undefined);
  switch (m["type"]) {
    case "failover":
      return { name, type: "failover", ...common, failback, ...prefer };
    case "mirror":
      return { name, type: "mirror", ...common, failback, ...prefer, replicate: strings(m["replicate"]) };
    default:
      return {
        name,
        type: "farm",
        ...common,
        ports: (m["ports"] as number[]).slice(),
        split: (m["split"] ?? DEFAULTS.module.split) as "client_ip" | "client_ip_port",
      };
  }
}
