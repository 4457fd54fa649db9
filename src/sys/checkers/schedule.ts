/**
 * Runs one checker every `intervalMs`, each run bounded by `timeoutMs`,
 * and debounces the answers:
 * - `fall` failures in a row make it "failed",
 * - `rise` successes in a row make it "healthy",
 * - until either happens it is "unknown" (or `initial`).
 * A run that has not answered within `timeoutMs` counts as a failure at
 * that moment and is aborted; a late answer from it is ignored.
 *
 * Runs never overlap: the next one starts `intervalMs` after the previous
 * one started, or as soon as it finished if it took longer than that.
 * Every raw result goes to `onResult` (the module core counts rise and
 * fall itself from those); `onTransition` reports the debounced changes.
 */
import type { CheckResult, Checker } from "./types.ts";

export type Health = "unknown" | "healthy" | "failed";

export interface RiseFall {
  readonly rise: number;
  readonly fall: number;
}

export interface RiseFallState {
  readonly health: Health;
  /** Successes in a row, up to the last result. */
  readonly passes: number;
  /** Failures in a row, up to the last result. */
  readonly failures: number;
}

export function initialRiseFall(health: Health = "unknown"): RiseFallState {
  return { health, passes: 0, failures: 0 };
}

/** One more result through rise/fall. */
export function countCheck(s: RiseFallState, ok: boolean, rf: RiseFall): RiseFallState {
  const passes = ok ? s.passes + 1 : 0;
  const failures = ok ? 0 : s.failures + 1;
  let health = s.health;
  if (ok && health !== "healthy" && passes >= rf.rise) health = "healthy";
  if (!ok && health !== "failed" && failures >= rf.fall) health = "failed";
  return { health, passes, failures };
}

/** The time source and timers; injectable for tests. */
export interface ScheduleClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: ScheduleClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface HealthTransition {
  readonly from: Health;
  readonly to: "healthy" | "failed";
  /** The result that completed the streak. */
  readonly result: CheckResult;
  /** clock.now() when it happened. */
  readonly at: number;
}

export interface ScheduleOptions extends RiseFall {
  readonly checker: Checker;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Default "unknown". */
  readonly initial?: Health;
  readonly clock?: ScheduleClock;
  readonly onResult?: (result: CheckResult, state: RiseFallState) => void;
  readonly onTransition: (t: HealthTransition) => void;
}

export class CheckSchedule {
  private state: RiseFallState;
  private lastResult: CheckResult | null = null;
  private running = false;
  private nextTimer: unknown = null;
  private timeoutTimer: unknown = null;
  private inflight: AbortController | null = null;
  private readonly clock: ScheduleClock;

  constructor(private readonly opts: ScheduleOptions) {
    this.clock = opts.clock ?? realClock;
    this.state = initialRiseFall(opts.initial);
  }

  get health(): Health {
    return this.state.health;
  }

  get counts(): RiseFallState {
    return this.state;
  }

  /** The last result, raw; null before the first. */
  get last(): CheckResult | null {
    return this.lastResult;
  }

  /** Starts checking; the first run starts now. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.runOnce();
  }

  /** Stops checking and aborts a run in progress; its result is dropped. */
  stop(): void {
    this.running = false;
    if (this.nextTimer !== null) this.clock.clearTimeout(this.nextTimer);
    if (this.timeoutTimer !== null) this.clock.clearTimeout(this.timeoutTimer);
    this.nextTimer = null;
    this.timeoutTimer = null;
    this.inflight?.abort(new DOMException("the checker was stopped", "AbortError"));
    this.inflight = null;
  }

  private runOnce(): void {
    this.nextTimer = null;
    if (!this.running) return;
    const { checker, timeoutMs } = this.opts;
    const startedAt = this.clock.now();
    const ac = new AbortController();
    this.inflight = ac;
    let answered = false;
    const answer = (result: CheckResult): void => {
      if (answered || this.inflight !== ac) return;
      answered = true;
      this.inflight = null;
      if (this.timeoutTimer !== null) this.clock.clearTimeout(this.timeoutTimer);
      this.timeoutTimer = null;
      this.record(result, startedAt);
    };
    this.timeoutTimer = this.clock.setTimeout(() => {
      this.timeoutTimer = null;
      if (answered || this.inflight !== ac) return;
      answer({ ok: false, detail: `${checker.target}: no result within ${timeoutMs} ms, aborted`, durationMs: timeoutMs });
      ac.abort(new DOMException(`no result within ${timeoutMs} ms`, "TimeoutError"));
    }, timeoutMs);
    let pending: Promise<CheckResult>;
    try {
      pending = Promise.resolve(checker.run(ac.signal));
    } catch (e) {
      pending = Promise.reject(e);
    }
    pending.then(
      (r) => answer(r),
      (e: unknown) => answer({
        ok: false,
        detail: `${checker.target}: the ${checker.kind} checker failed: ${e instanceof Error ? e.message : String(e)}`,
        durationMs: Math.round(this.clock.now() - startedAt),
      }),
    );
  }

  private record(result: CheckResult, startedAt: number): void {
    const before = this.state;
    this.state = countCheck(before, result.ok, this.opts);
    this.lastResult = result;
    const now = this.clock.now();
    try {
      this.opts.onResult?.(result, this.state);
    } catch {
      // A faulty listener must not stop the checking.
    }
    if (this.state.health !== before.health && this.state.health !== "unknown") {
      try {
        this.opts.onTransition({ from: before.health, to: this.state.health, result, at: now });
      } catch {
        // As above.
      }
    }
    if (!this.running) return;
    const wait = Math.max(0, startedAt + this.opts.intervalMs - now);
    this.nextTimer = this.clock.setTimeout(() => this.runOnce(), wait);
  }
}
