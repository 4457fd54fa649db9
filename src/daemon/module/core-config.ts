/**
 * vigil.yaml's `failover` and `mirror` modules as the module core sees them:
 * the one place a module's YAML becomes a ModuleCoreConfig (and a checker's
 * YAML its core name and policy).
 */
import { checkerName } from "../../config/checker-name.ts";
import type { Checker, ClusterConfig, FailoverModule, MirrorModule, ModuleConfig } from "../../config/types.ts";
import type { HeartbeatTimers } from "../../core/membership/types.ts";
import { arbiterTerms, fenceStopBudgetMs, type ModuleCheckerConfig, type ModuleCoreConfig, moduleDefaults } from "../../core/module/config.ts";
import type { ModuleResource, ResourceTimeouts } from "../../core/module/types.ts";

/** The core's resources of a module of vigil.yaml, in start order. */
export function moduleResources(m: FailoverModule | MirrorModule): ModuleResource[] {
  const timeouts = (r: { start_timeout: number; stop_timeout: number }): ResourceTimeouts => ({ startMs: r.start_timeout, stopMs: r.stop_timeout });
  // A mirror's folders come first: mounted before anything starts, unmounted after everything stopped.
  const mirror: ModuleResource[] = m.type === "mirror" ? [{ kind: "mirror", folders: [...m.replicate] }] : [];
  if (m.resources !== undefined) {
    return [...mirror, ...m.resources.map((r): ModuleResource => {
      if ("vip" in r) return { kind: "vip", address: r.vip, interface: r.interface ?? m.interface ?? null };
      if ("service" in r) return { kind: "service", unit: r.service, timeouts: timeouts(r) };
      return { kind: "script", start: r.start ?? null, stop: r.stop ?? null, timeouts: timeouts(r) };
    })];
  }
  // The short form: every VIP first (an app may bind to it), then the start/stop scripts.
  const out: ModuleResource[] = [...mirror, ...m.vips.map((address): ModuleResource => ({ kind: "vip", address, interface: m.interface ?? null }))];
  if (m.start !== undefined || m.stop !== undefined) out.push({ kind: "script", start: m.start ?? null, stop: m.stop ?? null, timeouts: timeouts(m) });
  return out;
}

/** Every virtual address of a module, from vip/vips or from its resources. */
export function moduleVips(m: ModuleConfig): string[] {
  if (m.type === "farm" || m.resources === undefined) return [...m.vips];
  return m.resources.flatMap((r) => ("vip" in r ? [r.vip] : []));
}

/** The core's view of a checker of vigil.yaml. */
export function moduleChecker(c: Checker, index: number): ModuleCheckerConfig {
  const base = { name: checkerName(c, index), fall: c.fall, rise: c.rise };
  if (c.on_fail === "restart") return { ...base, onFail: "restart", then: c.then, restarts: c.restarts, windowMs: c.restart_window };
  return { ...base, onFail: c.on_fail };
}

/**
 * The core config of a `failover` (or `mirror`) module of vigil.yaml, as
 * seen from node `self`. `extra` overrides what the file says (tests).
 */
export function failoverModuleCore(
  m: FailoverModule | MirrorModule,
  cluster: {
    readonly nodes: readonly Pick<ClusterConfig["nodes"][number], "name">[];
    readonly heartbeat: Pick<ClusterConfig["heartbeat"], "interval" | "warntime" | "deadtime" | "initdead">;
    readonly witness: { readonly ping: readonly string[]; readonly arbiter?: string; readonly lease?: number };
  },
  self: string,
  extra: { arbiterLeaseMs?: number; failbackDelayMs?: number } = {},
): ModuleCoreConfig {
  const timers: HeartbeatTimers = {
    intervalMs: cluster.heartbeat.interval,
    warntimeMs: cluster.heartbeat.warntime,
    deadtimeMs: cluster.heartbeat.deadtime,
    initdeadMs: cluster.heartbeat.initdead,
  };
  const leaseMs = extra.arbiterLeaseMs ?? (cluster.witness.arbiter === undefined ? undefined : cluster.witness.lease);
  const failbackDelayMs = extra.failbackDelayMs ?? m.failback_delay;
  const resources = moduleResources(m);
  return {
    module: m.name,
    self,
    nodes: cluster.nodes.map((n) => n.name),
    ...(m.prefer === undefined ? {} : { prefer: m.prefer }),
    failback: m.failback,
    ...(failbackDelayMs === undefined ? {} : { failbackDelayMs }),
    resources,
    checkers: m.checkers.map(moduleChecker),
    witnessPing: cluster.witness.ping.length > 0,
    ...(leaseMs === undefined ? {} : { arbiter: arbiterTerms(leaseMs, timers, timers.intervalMs, fenceStopBudgetMs(resources)) }),
    handoverTimeoutMs: Math.max(moduleDefaults.handoverTimeoutMs, 4 * timers.deadtimeMs + (leaseMs ?? 0)),
    absentGraceMs: timers.initdeadMs,
    rejoinWaitMs: timers.deadtimeMs + timers.intervalMs,
  };
}
