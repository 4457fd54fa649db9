/**
 * Aggregation of log lines that come in bursts and say the same thing each
 * time. The first one of a quiet period goes out as it is; those that follow
 * within the window are held (still written to the log, kept out of the
 * event list), and when the window ends one summary says how many there were and
 * the worst of them. Windows follow each other while the lines keep coming;
 * a window without any ends the burst.
 *
 * Pure: time comes in as `now` (ms); the Logger arms the timer.
 */
import type { LogEvent } from "../api/status.ts";

type Fields = LogEvent["fields"];

export interface NoiseRule {
  readonly key: string;
  matches(msg: string): boolean;
  readonly windowMs: number;
  /** The number field whose largest value the summary names. */
  readonly worstField: string;
  summary(times: number, worst: number, windowMs: number): { msg: string; fields: Fields };
}

/** The heartbeat's "ran late" line (src/daemon/heartbeat/engine.ts): 3-4 of them per 30 s on a loaded host. */
export const RAN_LATE_RULE: NoiseRule = {
  key: "ran-late",
  matches: (msg) => msg.startsWith("this node ran late;"),
  windowMs: 60_000,
  worstField: "gap_ms",
  summary: (times, worst, windowMs) => ({
    msg: `this node ran late ${times} ${times === 1 ? "time" : "times"} in the last ${windowWords(windowMs)}, worst ${worst} ms; peer deadlines stretched`,
    fields: { times, worst_gap_ms: worst, window_s: Math.round(windowMs / 1000) },
  }),
};

export const NOISE_RULES: readonly NoiseRule[] = [RAN_LATE_RULE];

function windowWords(ms: number): string {
  return ms === 60_000 ? "minute" : `${Math.round(ms / 1000)} s`;
}

interface Burst {
  /** When the current window ends. */
  until: number;
  times: number;
  worst: number;
}

export type Offer =
  | { readonly verdict: "pass"; readonly flushAt: number | null }
  | { readonly verdict: "hold" };

export class NoiseGate {
  private readonly bursts = new Map<string, Burst>();

  constructor(private readonly rules: readonly NoiseRule[] = NOISE_RULES) {}

  /** Whether a line goes out now; `flushAt` asks for flush() at that time. */
  offer(msg: string, fields: Fields, now: number): Offer {
    const rule = this.rules.find((r) => r.matches(msg));
    if (rule === undefined) return { verdict: "pass", flushAt: null };
    const burst = this.bursts.get(rule.key);
    // A window that ended with lines held waits for its flush (timers run late too) and counts this one.
    if (burst === undefined || (now >= burst.until && burst.times === 0)) {
      this.bursts.set(rule.key, { until: now + rule.windowMs, times: 0, worst: 0 });
      return { verdict: "pass", flushAt: now + rule.windowMs };
    }
    burst.times++;
    const v = fields[rule.worstField];
    if (typeof v === "number" && v > burst.worst) burst.worst = v;
    return { verdict: "hold" };
  }

  /**
   * Summaries of the windows that ended by `now`, and when to flush next
   * (null when no burst is open).
   */
  flush(now: number): { summaries: { msg: string; fields: Fields }[]; next: number | null } {
    const summaries: { msg: string; fields: Fields }[] = [];
    for (const rule of this.rules) {
      const b = this.bursts.get(rule.key);
      if (b === undefined || now < b.until) continue;
      if (b.times === 0) {
        this.bursts.delete(rule.key);
        continue;
      }
      summaries.push(rule.summary(b.times, b.worst, rule.windowMs));
      this.bursts.set(rule.key, { until: now + rule.windowMs, times: 0, worst: 0 });
    }
    const open = [...this.bursts.values()].map((b) => b.until);
    return { summaries, next: open.length === 0 ? null : Math.min(...open) };
  }
}
