/**
 * The membership core's configuration and the sanity rules it must obey.
 * Presets and defaults are the config's business (src/config/defaults.ts,
 * heartbeat-timers.ts); the heartbeat's setup.ts hands the resolved timers in.
 *
 * Detection bound = deadtime + one interval: a peer that stops sending is
 * declared dead at most that long after its last frame arrived, when the
 * driver wakes the core at least once per interval. A peer in its own
 * start-up (up to initdead after we first heard its new incarnation) gets
 * one deadtime more ("Start-up grace" in membership.ts).
 */
import type { HeartbeatTimers, MembershipConfig } from "./types.ts";

export type { HeartbeatTimers, MembershipConfig, MembershipNode } from "./types.ts";

/** Worst-case time from a peer's last frame to our "dead" verdict. */
export function detectionBoundMs(timers: HeartbeatTimers): number {
  return timers.deadtimeMs + timers.intervalMs;
}

/** The start-up grace the daemon gives a peer in its start-up: one deadtime. */
export function daemonStartGraceMs(timers: HeartbeatTimers): number {
  return timers.deadtimeMs;
}

/** Worst-case time from the last frame of a peer in its start-up to our "dead" verdict. */
export function startGraceBoundMs(timers: HeartbeatTimers, startGraceMs: number): number {
  return detectionBoundMs(timers) + startGraceMs;
}

export interface ConfigProblem {
  /** Where the problem is, as a config key path, e.g. "cluster.heartbeat.deadtime". */
  readonly path: string;
  readonly message: string;
}

function isPositive(n: number): boolean {
  return typeof n === "number" && Number.isFinite(n) && n > 0;
}

/**
 * Timer sanity. `path` is the config location of the heartbeat block, so the
 * caller's error can point at the right key.
 */
export function validateHeartbeatTimers(t: HeartbeatTimers, path = "cluster.heartbeat"): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const fields: [keyof HeartbeatTimers, string][] = [
    ["intervalMs", "interval"],
    ["warntimeMs", "warntime"],
    ["deadtimeMs", "deadtime"],
    ["initdeadMs", "initdead"],
  ];
  for (const [field, key] of fields) {
    if (!isPositive(t[field])) {
      problems.push({ path: `${path}.${key}`, message: `must be a positive number of milliseconds, got ${String(t[field])}` });
    }
  }
  if (problems.length > 0) return problems;
  if (t.deadtimeMs < 2 * t.intervalMs) {
    problems.push({
      path: `${path}.deadtime`,
      message:
        `${t.deadtimeMs} ms is shorter than 2 intervals (2 x ${t.intervalMs} ms): ` +
        `one lost frame would declare a peer dead; use at least ${2 * t.intervalMs} ms (5 intervals recommended)`,
    });
  }
  if (!(t.warntimeMs > t.intervalMs && t.warntimeMs < t.deadtimeMs)) {
    problems.push({
      path: `${path}.warntime`,
      message: `${t.warntimeMs} ms must lie strictly between interval (${t.intervalMs} ms) and deadtime (${t.deadtimeMs} ms)`,
    });
  }
  if (t.initdeadMs < t.deadtimeMs) {
    problems.push({
      path: `${path}.initdead`,
      message: `${t.initdeadMs} ms is shorter than deadtime (${t.deadtimeMs} ms); at boot peers would get less grace than a running node`,
    });
  }
  return problems;
}

/** Everything the membership core needs to be true of its configuration. */
export function validateMembershipConfig(c: MembershipConfig): ConfigProblem[] {
  const problems = validateHeartbeatTimers(c);
  if (c.startGraceMs !== undefined && !(Number.isFinite(c.startGraceMs) && c.startGraceMs >= 0)) {
    problems.push({ path: "cluster.heartbeat", message: `start-up grace must be a number of milliseconds >= 0, got ${String(c.startGraceMs)}` });
  }
  if (c.cluster.length === 0) problems.push({ path: "cluster.name", message: "must not be empty" });
  const seen = new Set<string>();
  c.nodes.forEach((n, i) => {
    const at = `cluster.nodes[${i}]`;
    if (n.name.length === 0) problems.push({ path: `${at}.name`, message: "must not be empty" });
    else if (seen.has(n.name)) problems.push({ path: `${at}.name`, message: `"${n.name}" is listed twice` });
    seen.add(n.name);
    if (n.links.length === 0) problems.push({ path: `${at}.addresses`, message: "needs one address per heartbeat link, got none" });
  });
  const self = c.nodes.find((n) => n.name === c.self);
  if (self === undefined) {
    problems.push({ path: "cluster.nodes", message: `our own node "${c.self}" is not listed` });
  } else {
    c.nodes.forEach((n, i) => {
      if (n.links.length !== self.links.length && n.links.length > 0) {
        problems.push({
          path: `cluster.nodes[${i}].addresses`,
          message: `"${n.name}" has ${n.links.length} link addresses but "${self.name}" has ${self.links.length}; every node needs one per link`,
        });
      }
    });
  }
  return problems;
}
