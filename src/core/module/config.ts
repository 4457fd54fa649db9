/**
 * The failover module core's configuration: its shape, defaults and sanity
 * rules. src/daemon/module/core-config.ts derives it from vigil.yaml.
 *
 * Arbiter timing (all on each node's own monotonic clock):
 *   lease        the arbiter grants the PRIM lease for this long, counted by
 *                the holder from when it SENT the request (so the holder's
 *                view always ends before the arbiter's).
 *   renew        the holder asks again this long after the request that
 *                got its current lease (lease / 3 by default).
 *   stop before  without a renewal, the holder starts a graceful stop when
 *                this much of the lease is left (lease / 3).
 *   fence        the watchdog kills what still runs this long after we lost
 *                the right to run (default: deadtime).
 *   stop budget  how long the watchdog's fence may take once it fired: the
 *                VIPs go at once, then the module's stops run one after the
 *                other, each bounded by its stop timeout plus the kill grace
 *                (SIGTERM to its process group at the timeout, SIGKILL
 *                FENCE_KILL_GRACE_MS later). Sum of those.
 *   takeover wait  after winning the lease while some peer is not heard, a
 *                new PRIM waits this long before starting:
 *                deadtime + interval + max delay + fence + stop budget. A
 *                PRIM that keeps running without a lease (it sees every
 *                peer) loses that right at most deadtime + interval + max
 *                delay after our grant, its watchdog fires `fence` later and
 *                has finished its stops `stop budget` after that. So the
 *                rule "the old PRIM is stopped before the new one starts"
 *                holds whatever the stop scripts take; the price is a
 *                takeover that waits for the slowest allowed stop (see
 *                `vigil check-config`), so stop_timeout should be what the
 *                stop really needs, not a generous guess.
 */
import type { ConfigProblem, HeartbeatTimers } from "../membership/config.ts";
import type { ArbiterTerms, CheckerPolicy, ModuleCheckerConfig, ModuleCoreConfig, ModuleResource, ResolvedCheckerConfig, ResolvedModuleConfig } from "./types.ts";

export type { ArbiterTerms, CheckerPolicy, ModuleCheckerConfig, ModuleCoreConfig, ResolvedCheckerConfig, ResolvedModuleConfig } from "./types.ts";

export type { ConfigProblem } from "../membership/config.ts";

/** Between SIGTERM and SIGKILL of a stop that outlived its timeout; the fencing watchdog uses the same. */
export const FENCE_KILL_GRACE_MS = 2_000;
/** A stop timeout the config did not give: the driver's default (src/daemon/module/resources.ts). */
export const FENCE_DEFAULT_STOP_MS = 60_000;

/** The longest a fence of these resources can take: every stop at its timeout, plus the kill grace. */
export function fenceStopBudgetMs(resources: readonly ModuleResource[]): number {
  let total = 0;
  for (const r of resources) {
    const stops = r.kind === "service" || (r.kind === "script" && r.stop !== null);
    if (stops) total += (r.timeouts?.stopMs ?? FENCE_DEFAULT_STOP_MS) + FENCE_KILL_GRACE_MS;
  }
  return total;
}

export const moduleDefaults = {
  failbackDelayMs: 0,
  handoverTimeoutMs: 10_000,
  absentGraceMs: 5_000,
  rejoinWaitMs: 2_000,
  checker: { then: "failover", restarts: 1, windowMs: 600_000, fall: 3, rise: 1 },
} as const;

const POLICIES: readonly CheckerPolicy[] = ["restart", "failover", "stop", "ignore", "wait"];

function whole(n: unknown, min: number): boolean {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= min;
}

function resolveChecker(c: ModuleCheckerConfig): ResolvedCheckerConfig {
  const d = moduleDefaults.checker;
  return {
    name: c.name,
    onFail: c.onFail,
    then: c.then ?? d.then,
    restarts: c.restarts ?? d.restarts,
    windowMs: c.windowMs ?? d.windowMs,
    fall: c.fall ?? d.fall,
    rise: c.rise ?? d.rise,
  };
}

function arbiterProblems(a: ArbiterTerms): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const keys = ["leaseMs", "renewMs", "retryMs", "stopBeforeMs", "fenceMs", "takeoverWaitMs"] as const;
  for (const k of keys) {
    if (!whole(a[k], 1)) out.push({ path: `arbiter.${k}`, message: `must be a whole number of milliseconds >= 1, got ${String(a[k])}` });
  }
  if (!whole(a.stopBudgetMs, 0)) out.push({ path: "arbiter.stopBudgetMs", message: `must be a whole number of milliseconds >= 0, got ${String(a.stopBudgetMs)}` });
  if (out.length > 0) return out;
  if (a.takeoverWaitMs < a.fenceMs + a.stopBudgetMs) {
    out.push({
      path: "arbiter.takeoverWaitMs",
      message: `${a.takeoverWaitMs} ms is shorter than fence (${a.fenceMs} ms) + stop budget (${a.stopBudgetMs} ms): a new PRIM could start before the old one's watchdog has stopped it`,
    });
  }
  if (a.renewMs + a.stopBeforeMs >= a.leaseMs) {
    out.push({
      path: "arbiter.renewMs",
      message: `renew (${a.renewMs} ms) + stop before (${a.stopBeforeMs} ms) must be shorter than the lease (${a.leaseMs} ms), or a holder would stop before its first renewal`,
    });
  }
  if (a.retryMs > a.renewMs) out.push({ path: "arbiter.retryMs", message: `${a.retryMs} ms is longer than renew (${a.renewMs} ms); a lost answer would cost the lease` });
  return out;
}

export function validateModuleConfig(c: ModuleCoreConfig): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  if (c.module.length === 0) out.push({ path: "name", message: "must not be empty" });
  if (new Set(c.nodes).size !== c.nodes.length) out.push({ path: "nodes", message: `node names must be unique, got ${c.nodes.join(", ")}` });
  if (!c.nodes.includes(c.self)) out.push({ path: "nodes", message: `our own node "${c.self}" is not listed (${c.nodes.join(", ")})` });
  if (c.prefer !== undefined && !c.nodes.includes(c.prefer)) {
    out.push({ path: "prefer", message: `"${c.prefer}" is not a node of the cluster (${c.nodes.join(", ")})` });
  }
  if (c.failback === "auto" && c.prefer === undefined) out.push({ path: "failback", message: "auto needs prefer: the node to fail back to" });
  if (c.failbackDelayMs !== undefined && !whole(c.failbackDelayMs, 0)) {
    out.push({ path: "failback_delay", message: `must be a whole number of milliseconds >= 0, got ${String(c.failbackDelayMs)}` });
  }
  if (c.absentGraceMs !== undefined && !whole(c.absentGraceMs, 0)) {
    out.push({ path: "absent_grace", message: `must be a whole number of milliseconds >= 0, got ${String(c.absentGraceMs)}` });
  }
  if (c.rejoinWaitMs !== undefined && !whole(c.rejoinWaitMs, 0)) {
    out.push({ path: "rejoin_wait", message: `must be a whole number of milliseconds >= 0, got ${String(c.rejoinWaitMs)}` });
  }
  if (c.handoverTimeoutMs !== undefined && !whole(c.handoverTimeoutMs, 1)) {
    out.push({ path: "handover_timeout", message: `must be a whole number of milliseconds >= 1, got ${String(c.handoverTimeoutMs)}` });
  }
  const names = new Set<string>();
  (c.checkers ?? []).forEach((k, i) => {
    const at = `checkers[${i}]`;
    if (k.name.length === 0) out.push({ path: `${at}.name`, message: "must not be empty" });
    else if (names.has(k.name)) out.push({ path: `${at}.name`, message: `"${k.name}" is used twice` });
    names.add(k.name);
    if (!POLICIES.includes(k.onFail)) out.push({ path: `${at}.on_fail`, message: `must be one of ${POLICIES.join(", ")}, got ${String(k.onFail)}` });
    const r = resolveChecker(k);
    if (!whole(r.restarts, 1)) out.push({ path: `${at}.restarts`, message: `must be a whole number >= 1, got ${String(r.restarts)}` });
    if (!whole(r.windowMs, 1)) out.push({ path: `${at}.window`, message: `must be a whole number of milliseconds >= 1, got ${String(r.windowMs)}` });
    if (!whole(r.fall, 1)) out.push({ path: `${at}.fall`, message: `must be a whole number >= 1, got ${String(r.fall)}` });
    if (!whole(r.rise, 1)) out.push({ path: `${at}.rise`, message: `must be a whole number >= 1, got ${String(r.rise)}` });
  });
  if (c.arbiter !== undefined) out.push(...arbiterProblems(c.arbiter));
  return out;
}

/** Applies the defaults; throws RangeError on a config validateModuleConfig() rejects. */
export function resolveModuleConfig(c: ModuleCoreConfig): ResolvedModuleConfig {
  const problems = validateModuleConfig(c);
  if (problems.length > 0) {
    throw new RangeError(`invalid module config for "${c.module}": ${problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`);
  }
  return {
    module: c.module,
    self: c.self,
    nodes: [...c.nodes],
    prefer: c.prefer ?? null,
    failback: c.failback,
    failbackDelayMs: c.failbackDelayMs ?? moduleDefaults.failbackDelayMs,
    resources: [...c.resources],
    checkers: (c.checkers ?? []).map(resolveChecker),
    witnessPing: c.witnessPing ?? false,
    arbiter: c.arbiter ?? null,
    handoverTimeoutMs: c.handoverTimeoutMs ?? moduleDefaults.handoverTimeoutMs,
    absentGraceMs: c.absentGraceMs ?? moduleDefaults.absentGraceMs,
    rejoinWaitMs: c.rejoinWaitMs ?? moduleDefaults.rejoinWaitMs,
  };
}

/** The arbiter timings for a lease length and a stop budget (fenceStopBudgetMs), following the formulas in the header. */
export function arbiterTerms(leaseMs: number, timers: HeartbeatTimers, maxDelayMs = timers.intervalMs, stopBudgetMs = 0): ArbiterTerms {
  const third = Math.max(1, Math.floor(leaseMs / 3));
  const fenceMs = timers.deadtimeMs;
  return {
    leaseMs,
    renewMs: third,
    retryMs: Math.max(1, Math.min(third, 2 * timers.intervalMs)),
    stopBeforeMs: third,
    fenceMs,
    stopBudgetMs,
    takeoverWaitMs: timers.deadtimeMs + timers.intervalMs + maxDelayMs + fenceMs + stopBudgetMs,
  };
}
