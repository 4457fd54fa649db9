/**
 * What `vigil check-config` says about each failover module's takeover:
 * how long a node that takes over from one it cannot hear waits, and why
 * (the fence's stop budget is part of it), so an operator sees what a
 * generous stop_timeout costs.
 */
import type { FailoverModule, VigilConfig } from "../config/types.ts";
import { arbiterTerms, FENCE_KILL_GRACE_MS, fenceStopBudgetMs } from "../core/module/config.ts";
import type { ModuleResource } from "../core/module/types.ts";

/** The module's stops as the core sees them (VIPs left out: they go at once). */
function stops(m: FailoverModule): ModuleResource[] {
  const timeouts = (r: { start_timeout: number; stop_timeout: number }) => ({ startMs: r.start_timeout, stopMs: r.stop_timeout });
  if (m.resources === undefined) return m.stop === undefined ? [] : [{ kind: "script", start: m.start ?? null, stop: m.stop, timeouts: timeouts(m) }];
  return m.resources.flatMap((r): ModuleResource[] => {
    if ("vip" in r) return [];
    if ("service" in r) return [{ kind: "service", unit: r.service, timeouts: timeouts(r) }];
    return [{ kind: "script", start: r.start ?? null, stop: r.stop ?? null, timeouts: timeouts(r) }];
  });
}

export function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

/** One line per failover module, indented for check-config's output. */
export function fenceTradeLines(config: VigilConfig): string[] {
  // One node: nobody takes over from anybody.
  if (config.cluster.nodes.length < 2) return [];
  const hb = config.cluster.heartbeat;
  const timers = { intervalMs: hb.interval, warntimeMs: hb.warntime, deadtimeMs: hb.deadtime, initdeadMs: hb.initdead };
  const lease = config.cluster.witness.arbiter === undefined ? undefined : config.cluster.witness.lease;
  const grace = duration(FENCE_KILL_GRACE_MS);
  return config.modules
    .filter((m): m is FailoverModule => m.type === "failover")
    .map((m) => {
      const budget = fenceStopBudgetMs(stops(m));
      if (lease !== undefined) {
        const a = arbiterTerms(lease, timers, timers.intervalMs, budget);
        const parts = `deadtime ${duration(hb.deadtime)} + interval ${duration(hb.interval)} + delay ${duration(hb.interval)} + fence ${duration(a.fenceMs)} + stop budget ${duration(a.stopBudgetMs)}`;
        const why = budget > 0 ? `; the stop budget is every stop's stop_timeout plus ${grace} to kill it, so the old node has stopped before the new one starts; a shorter stop_timeout takes over sooner` : "";
        return `  module ${m.name}: a takeover from a node that is not heard waits ${duration(a.takeoverWaitMs)} (${parts})${why}`;
      }
      const detect = duration(hb.deadtime + hb.interval);
      return `  module ${m.name}: no arbiter: a takeover from a node that is not heard starts after ${detect} without waiting for it to stop; if its daemon died, its watchdog removes the VIPs at once and stops the rest within ${duration(budget)}, a node cut off stops nothing (set cluster.witness.arbiter to rule out two nodes running it)`;
    });
}
