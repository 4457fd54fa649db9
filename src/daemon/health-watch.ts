/**
 * Alarms on what the cluster view shows: a module that runs on no node for
 * longer than a failover takes, and this node cut off from every peer. Each
 * alarm is logged when it begins and when it ends, counted in /metrics
 * (vigil_module_running_nowhere, vigil_node_isolated) and listed in the
 * status until it ends. The view itself is src/api/health.ts.
 */
import type { ClusterHealth, HealthAlarm } from "../api/status.ts";
import type { Engine } from "./engine.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";

/** Beyond the deadtime, how long a module may run nowhere before it is an alarm: a takeover's start scripts run meanwhile. */
export const NOWHERE_GRACE_MS = 5_000;
const CHECK_EVERY_MS = 1_000;

export interface HealthTimers {
  /** Nothing counts before this uptime: peers are still being found. */
  readonly initdeadMs: number;
  readonly deadtimeMs: number;
}

export class HealthWatch {
  private readonly nowhereSince = new Map<string, { at: number; raised: boolean }>();
  private isolatedSince: number | null = null;
  private readonly current: HealthAlarm[] = [];
  private readonly nowhereGauge: (v: number, l?: Record<string, string>) => void;
  private readonly isolatedGauge: (v: number, l?: Record<string, string>) => void;

  constructor(private readonly log: Logger, metrics: Metrics) {
    this.nowhereGauge = metrics.gauge("vigil_module_running_nowhere", "1 while a module has run on no node of the cluster for longer than a failover takes.");
    this.isolatedGauge = metrics.gauge("vigil_node_isolated", "1 while this node hears no peer on any link although peers are configured.");
    this.isolatedGauge(0);
  }

  alarms(): HealthAlarm[] {
    return [...this.current];
  }

  /** `now` is wall-clock ms (alarms carry their start time). */
  check(h: Omit<ClusterHealth, "alarms" | "drift">, now: number, uptimeMs: number, t: HealthTimers): void {
    const alarms: HealthAlarm[] = [];
    if (h.isolated !== null) {
      if (this.isolatedSince === null) {
        this.isolatedSince = now;
        this.log.error("this node is isolated: it hears no peer on any link", { detail: h.isolated });
      }
      alarms.push({ kind: "isolated", since: new Date(this.isolatedSince).toISOString(), text: h.isolated });
    } else if (this.isolatedSince !== null) {
      this.isolatedSince = null;
      this.log.info("this node hears its peers again");
    }
    this.isolatedGauge(h.isolated === null ? 0 : 1);

    const holdMs = t.deadtimeMs + NOWHERE_GRACE_MS;
    for (const m of h.modules) {
      const was = this.nowhereSince.get(m.module);
      // Stopped on every node is the operator's doing ("warn"), not an alarm.
      const nowhere = m.runsNowhere && m.severity === "bad" && uptimeMs >= t.initdeadMs;
      if (!nowhere) {
        if (was?.raised === true) {
          this.log.info(`module ${m.module} runs again`, { module: m.module, detail: m.text });
        }
        this.nowhereSince.delete(m.module);
        this.nowhereGauge(0, { module: m.module });
        continue;
      }
      const since = was ?? { at: now, raised: false };
      this.nowhereSince.set(m.module, since);
      if (!since.raised && now - since.at >= holdMs) {
        since.raised = true;
        this.log.error(`module ${m.module} runs nowhere`, { module: m.module, detail: m.text });
      }
      this.nowhereGauge(since.raised ? 1 : 0, { module: m.module });
      if (since.raised) alarms.push({ kind: "running-nowhere", module: m.module, since: new Date(since.at).toISOString(), text: m.text });
    }
    for (const name of [...this.nowhereSince.keys()]) {
      if (!h.modules.some((m) => m.module === name)) this.nowhereSince.delete(name);
    }
    this.current.splice(0, this.current.length, ...alarms);
  }
}

/**
 * A check comes with the first heartbeat round this many ms before it is
 * due or later: rounds whose phase jitters by a millisecond still carry it.
 */
const RIDE_EARLY_MS = 50;
/**
 * Without a round that carries it (heartbeats off, restarting, or slower
 * than a second), the watch's own timer checks this long after the last
 * check: a little later than a round would, never skipped.
 */
const OWN_TIMER_MS = 1_500;

/** Work that runs after each heartbeat round (SupervisedHeartbeat.afterRound). */
export interface Rounds {
  afterRound(fn: () => void): void;
}

/**
 * The watch as the supervisor runs it: a check every second while the node
 * runs. With `rounds`, the check runs after a heartbeat round, in the
 * wake-up the round already costs, and the watch's own timer, pushed back
 * at every check, only fires when no round carried it.
 */
export function supervisedHealthWatch(
  watch: HealthWatch,
  inputs: () => { health: Omit<ClusterHealth, "alarms" | "drift">; uptimeMs: number; timers: HealthTimers },
  rounds?: Rounds,
  clock: () => number = () => performance.now(),
): Engine {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let nextAt = Infinity;
  const check = (): void => {
    nextAt = clock() + CHECK_EVERY_MS;
    const i = inputs();
    watch.check(i.health, Date.now(), i.uptimeMs, i.timers);
  };
  const own = (): void => {
    timer = undefined;
    check();
    arm();
  };
  const arm = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(own, rounds === undefined ? CHECK_EVERY_MS : OWN_TIMER_MS);
    if (typeof timer === "object" && "unref" in timer) timer.unref();
  };
  rounds?.afterRound(() => {
    if (timer === undefined || clock() < nextAt - RIDE_EARLY_MS) return;
    check();
    // Pushed back without a new timer: refresh() re-arms the same one.
    if (typeof timer === "object" && "refresh" in timer) timer.refresh();
    else arm();
  });
  return {
    name: "health",
    tier: "surface",
    async start() {
      nextAt = clock() + CHECK_EVERY_MS;
      arm();
    },
    async stop() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      nextAt = Infinity;
    },
    async reload() {
      return "kept";
    },
    status: () => ({}),
  };
}
