/**
 * The heartbeat timers as configured: explicit keys win, then the preset's
 * values, then values derived from the interval. The one place the defaults
 * are computed; Linux-HA Heartbeat's rules of thumb:
 *   deadtime = 5 x interval (five frames in a row lost on every link)
 *   warntime = deadtime / 2, moved up when that would not exceed the interval
 *   initdead = max(2 x deadtime, 5 s) (links and peers take a while to boot)
 */
import { DEFAULTS, HEARTBEAT_PRESETS, type HeartbeatPresetName } from "./defaults.ts";
import { parseDuration } from "./duration.ts";

export const TIMER_KEYS = ["interval", "warntime", "deadtime", "initdead"] as const;
export type TimerKey = (typeof TIMER_KEYS)[number];
export type Timers = Record<TimerKey, number>;

export interface ResolvedTimers {
  timers: Timers;
  /** Where each value came from, for messages about values the operator did not write. */
  source: Record<TimerKey, "explicit" | "preset" | "derived">;
  preset?: HeartbeatPresetName;
}

/** Half the deadtime, moved up to the middle of (interval, deadtime) when half would not exceed the interval. */
export function defaultWarntime(interval: number, deadtime: number): number {
  const half = Math.round(deadtime / 2);
  return half > interval ? half : Math.round((interval + deadtime) / 2);
}

/** undefined when a timer or the preset is unreadable; the schema check reports that. */
export function resolveHeartbeatTimers(raw: unknown): ResolvedTimers | undefined {
  const hb = (typeof raw === "object" && raw !== null && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>;
  const explicit: Partial<Timers> = {};
  for (const k of TIMER_KEYS) {
    const v = hb[k];
    if (v === undefined) continue;
    const ms = typeof v === "string" ? parseDuration(v) : undefined;
    if (ms === undefined) return undefined;
    explicit[k] = ms;
  }
  const presetName = hb["preset"];
  if (presetName !== undefined && !(typeof presetName === "string" && Object.hasOwn(HEARTBEAT_PRESETS, presetName))) return undefined;
  const preset = presetName === undefined ? undefined : HEARTBEAT_PRESETS[presetName as HeartbeatPresetName];

  const source = {} as ResolvedTimers["source"];
  const pick = (k: TimerKey, fromPreset: number | undefined, derive: () => number): number => {
    const e = explicit[k];
    if (e !== undefined) {
      source[k] = "explicit";
      return e;
    }
    if (fromPreset !== undefined) {
      source[k] = "preset";
      return fromPreset;
    }
    source[k] = "derived";
    return derive();
  };
  const interval = pick("interval", preset?.interval, () => DEFAULTS.heartbeat.interval);
  const deadtime = pick("deadtime", preset?.deadtime, () => 5 * interval);
  const warntime = pick("warntime", preset?.warntime, () => defaultWarntime(interval, deadtime));
  const initdead = pick("initdead", preset?.initdead, () => Math.max(2 * deadtime, 5_000));
  return {
    timers: { interval, warntime, deadtime, initdead },
    source,
    ...(presetName === undefined ? {} : { preset: presetName as HeartbeatPresetName }),
  };
}
