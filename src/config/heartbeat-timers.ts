/**
 * The heartbeat timers as configured: explicit keys win, then the preset's
 * values, then values derived from the interval (Linux-HA Heartbeat's rules
 * of thumb, as in src/core/membership/config.ts).
 */
import { type HeartbeatPresetName, heartbeatPresets } from "../core/membership/config.ts";
import { DEFAULTS } from "./defaults.ts";
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
  if (presetName !== undefined && !(typeof presetName === "string" && Object.hasOwn(heartbeatPresets, presetName))) return undefined;
  const preset = presetName === undefined ? undefined : heartbeatPresets[presetName as HeartbeatPresetName];

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
  const interval = pick("interval", preset?.intervalMs, () => DEFAULTS.heartbeat.interval);
  const deadtime = pick("deadtime", preset?.deadtimeMs, () => 5 * interval);
  const warntime = pick("warntime", preset?.warntimeMs, () => defaultWarntime(interval, deadtime));
  const initdead = pick("initdead", preset?.initdeadMs, () => Math.max(2 * deadtime, 5_000));
  return {
    timers: { interval, warntime, deadtime, initdead },
    source,
    ...(presetName === undefined ? {} : { preset: presetName as HeartbeatPresetName }),
  };
}
