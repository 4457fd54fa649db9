/**
 * One VRRP instance's configuration, its defaults, its sanity rules, and the
 * RFC 5798 timer formulas the core uses.
 *
 * Timer formulas (section 6.1), in milliseconds here:
 *   Skew_Time            = ((256 - Priority) x Master_Adver_Interval) / 256
 *   Master_Down_Interval = down_timer_adverts x Master_Adver_Interval + Skew_Time
 * with down_timer_adverts = 3 in the RFC (keepalived makes it configurable).
 * VRRPv2 (RFC 3768) uses the same shape with its advert interval in seconds,
 * which is the same formula once both are in milliseconds. Results are
 * rounded down to whole milliseconds, so deadlines stay integers.
 */
import type { ConfigProblem } from "../membership/config.ts";
import { parseIpv4, VRRP_MAX_ADDRESSES, VRRP_V2_MAX_ADVERT_INT_S, VRRP_V3_MAX_ADVERT_INT_CS } from "../../proto/vrrp.ts";

export type { ConfigProblem } from "../membership/config.ts";
import type { ResolvedVrrpConfig, VrrpInstanceConfig } from "./types.ts";

export type { ResolvedVrrpConfig, VrrpInstanceConfig, VrrpTrack } from "./types.ts";

export const vrrpDefaults = {
  version: 3,
  advertIntCs: 100,
  preempt: true,
  preemptDelayMs: 0,
  acceptMode: false,
  downTimerAdverts: 3,
  auth: { type: "none" },
  track: [],
  heartbeatTakeover: true,
  heartbeatHold: true,
} as const satisfies Partial<ResolvedVrrpConfig>;

export const VRRP_OWNER_PRIORITY = 255;
/** keepalived's limit for preempt_delay. */
export const VRRP_MAX_PREEMPT_DELAY_MS = 1_000_000;
export const VRRP_MAX_DOWN_TIMER_ADVERTS = 100;

export function skewTimeMs(priority: number, masterAdverIntervalMs: number): number {
  return Math.floor(((256 - priority) * masterAdverIntervalMs) / 256);
}

export function masterDownIntervalMs(priority: number, masterAdverIntervalMs: number, downTimerAdverts: number): number {
  return downTimerAdverts * masterAdverIntervalMs + skewTimeMs(priority, masterAdverIntervalMs);
}

/** The address part of a VIP ("198.51.100.100/24" -> "198.51.100.100"). */
export function vipAddress(vip: string): string {
  const slash = vip.indexOf("/");
  return slash < 0 ? vip : vip.slice(0, slash);
}

const PREFIX = /^(?:[0-9]|[12][0-9]|3[0-2])$/;

function vipProblem(vip: string): string | null {
  const slash = vip.indexOf("/");
  const address = slash < 0 ? vip : vip.slice(0, slash);
  if (parseIpv4(address) === null) return `${JSON.stringify(vip)} is not an IPv4 address (a.b.c.d or a.b.c.d/len)`;
  if (slash >= 0 && !PREFIX.test(vip.slice(slash + 1))) return `${JSON.stringify(vip)} has a prefix length outside 0..32`;
  return null;
}

function isInt(n: unknown, min: number, max: number): boolean {
  return typeof n === "number" && Number.isInteger(n) && n >= min && n <= max;
}

/**
 * Fills in defaults and checks everything the core relies on. `path` is where
 * the instance sits in the config file (e.g. "vrrp[0]"), so problems point at
 * the right key.
 */
export function resolveVrrpConfig(
  input: VrrpInstanceConfig,
  path = "vrrp",
): { readonly ok: true; readonly config: ResolvedVrrpConfig } | { readonly ok: false; readonly problems: ConfigProblem[] } {
  // Field by field, so a loader's explicit `undefined` still gets the default.
  const c: ResolvedVrrpConfig = {
    name: input.name,
    vrid: input.vrid,
    priority: input.priority,
    version: input.version ?? vrrpDefaults.version,
    advertIntCs: input.advertIntCs ?? vrrpDefaults.advertIntCs,
    preempt: input.preempt ?? vrrpDefaults.preempt,
    preemptDelayMs: input.preemptDelayMs ?? vrrpDefaults.preemptDelayMs,
    acceptMode: input.acceptMode ?? vrrpDefaults.acceptMode,
    downTimerAdverts: input.downTimerAdverts ?? vrrpDefaults.downTimerAdverts,
    primaryAddress: input.primaryAddress,
    vips: input.vips,
    auth: input.auth ?? vrrpDefaults.auth,
    track: input.track ?? vrrpDefaults.track,
    heartbeatTakeover: input.heartbeatTakeover ?? vrrpDefaults.heartbeatTakeover,
    heartbeatHold: input.heartbeatHold ?? vrrpDefaults.heartbeatHold,
  };
  const problems: ConfigProblem[] = [];
  const bad = (key: string, message: string): void => {
    problems.push({ path: `${path}.${key}`, message });
  };
  if (typeof c.name !== "string" || c.name.length === 0) bad("name", "must not be empty");
  if (!isInt(c.vrid, 1, 255)) bad("vrid", `must be an integer in 1..255, got ${String(c.vrid)}`);
  if (!isInt(c.priority, 1, 255)) bad("priority", `must be an integer in 1..255 (255 = address owner), got ${String(c.priority)}`);
  if (c.version !== 2 && c.version !== 3) bad("version", `must be 2 or 3, got ${String(c.version)}`);
  if (c.version === 3 && !isInt(c.advertIntCs, 1, VRRP_V3_MAX_ADVERT_INT_CS)) {
    bad("advert_int", `must be 10 ms to 40.95 s in steps of 10 ms for VRRPv3, got ${String(c.advertIntCs)} cs`);
  }
  if (c.version === 2 && !(isInt(c.advertIntCs, 100, VRRP_V2_MAX_ADVERT_INT_S * 100) && c.advertIntCs % 100 === 0)) {
    bad("advert_int", `must be whole seconds from 1 to 255 for VRRPv2, got ${String(c.advertIntCs)} cs`);
  }
  if (typeof c.preempt !== "boolean") bad("preempt", `must be true or false, got ${String(c.preempt)}`);
  if (!isInt(c.preemptDelayMs, 0, VRRP_MAX_PREEMPT_DELAY_MS)) {
    bad("preempt_delay", `must be a whole number of milliseconds in 0..${VRRP_MAX_PREEMPT_DELAY_MS}, got ${String(c.preemptDelayMs)}`);
  }
  if (typeof c.acceptMode !== "boolean") bad("accept_mode", `must be true or false, got ${String(c.acceptMode)}`);
  if (typeof c.heartbeatTakeover !== "boolean") bad("heartbeat_takeover", `must be true or false, got ${String(c.heartbeatTakeover)}`);
  if (typeof c.heartbeatHold !== "boolean") bad("heartbeat_hold", `must be true or false, got ${String(c.heartbeatHold)}`);
  if (!isInt(c.downTimerAdverts, 1, VRRP_MAX_DOWN_TIMER_ADVERTS)) {
    bad("down_timer_adverts", `must be an integer in 1..${VRRP_MAX_DOWN_TIMER_ADVERTS}, got ${String(c.downTimerAdverts)}`);
  }
  if (parseIpv4(c.primaryAddress) === null) {
    bad("primary_address", `${JSON.stringify(c.primaryAddress)} is not a dotted-quad IPv4 address`);
  }
  if (c.vips.length === 0) bad("vips", "needs at least one virtual address");
  if (c.vips.length > VRRP_MAX_ADDRESSES) bad("vips", `has ${c.vips.length} addresses; an advert carries at most ${VRRP_MAX_ADDRESSES}`);
  const seen = new Set<string>();
  c.vips.forEach((vip, i) => {
    const problem = vipProblem(vip);
    if (problem !== null) bad(`vips[${i}]`, problem);
    else if (seen.has(vipAddress(vip))) bad(`vips[${i}]`, `${vipAddress(vip)} is listed twice`);
    seen.add(vipAddress(vip));
  });
  if (c.auth.type === "pass") {
    if (c.version !== 2) bad("auth", "VRRPv3 has no authentication; set version: 2 to use a password (keepalived auth_type PASS)");
    if (!/^[\u0020-\u007e]{1,8}$/.test(c.auth.password)) bad("auth.password", "must be 1 to 8 printable ASCII characters (keepalived uses only the first 8)");
  }
  const names = new Set<string>();
  c.track.forEach((t, i) => {
    if (typeof t.name !== "string" || t.name.length === 0) bad(`track[${i}].name`, "must not be empty");
    else if (names.has(t.name)) bad(`track[${i}].name`, `"${t.name}" is tracked twice`);
    names.add(t.name);
    if (!isInt(t.weight, -254, 254)) bad(`track[${i}].weight`, `must be an integer in -254..254, got ${String(t.weight)}`);
    else if (c.priority === VRRP_OWNER_PRIORITY && t.weight !== 0) {
      bad(`track[${i}].weight`, "an address owner (priority 255) keeps priority 255; use weight 0 (fault on failure) or a lower priority");
    }
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config: c };
}
