/**
 * Runs a module's checkers: exactly the ones the core asks for (its
 * "watch-checkers" action), each at its interval with its timeout, and hands
 * every raw result back. Fall and rise are counted by the core, so each
 * schedule here runs with fall = rise = 1 and only its raw results matter.
 *
 * A checker of the application (started when the module starts here) first
 * runs one interval after it is asked for, so a service that is still
 * coming up is not counted as failed; checkers of the node (wait-class,
 * watched from the start) run at once.
 */
import { CheckSchedule, type ScheduleClock } from "../../sys/checkers/schedule.ts";
import type { Checker } from "../../sys/checkers/types.ts";

export interface ModuleCheckSpec {
  /** The name the core knows it by. */
  readonly name: string;
  readonly checker: Checker;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Wait this long before the first run; default 0. */
  readonly firstRunDelayMs?: number;
}

export interface LastResult {
  readonly ok: boolean;
  readonly detail: string;
  /** Wall-clock time of the result. */
  readonly at: Date;
}

export class ModuleChecks {
  private readonly running = new Map<string, CheckSchedule>();
  private readonly delayed = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly last = new Map<string, LastResult>();

  constructor(
    private readonly specs: readonly ModuleCheckSpec[],
    private readonly onResult: (name: string, ok: boolean, detail: string) => void,
    private readonly clock?: ScheduleClock,
  ) {}

  /** Runs exactly these checkers from now on; unknown names are ignored. */
  watch(names: readonly string[]): void {
    const want = new Set(names);
    for (const [name, s] of this.running) {
      if (want.has(name)) continue;
      s.stop();
      this.running.delete(name);
      const t = this.delayed.get(name);
      if (t !== undefined) clearTimeout(t);
      this.delayed.delete(name);
    }
    for (const spec of this.specs) {
      if (!want.has(spec.name) || this.running.has(spec.name)) continue;
      const s = new CheckSchedule({
        checker: spec.checker,
        intervalMs: spec.intervalMs,
        timeoutMs: spec.timeoutMs,
        rise: 1,
        fall: 1,
        ...(this.clock === undefined ? {} : { clock: this.clock }),
        onResult: (r) => {
          this.last.set(spec.name, { ok: r.ok, detail: r.detail, at: new Date() });
          this.onResult(spec.name, r.ok, r.detail);
        },
        onTransition: () => {},
      });
      this.running.set(spec.name, s);
      const delay = spec.firstRunDelayMs ?? 0;
      if (delay <= 0) {
        s.start();
        continue;
      }
      this.delayed.set(spec.name, setTimeout(() => {
        this.delayed.delete(spec.name);
        if (this.running.get(spec.name) === s) s.start();
      }, delay));
    }
  }

  watching(): string[] {
    return [...this.running.keys()];
  }

  lastResult(name: string): LastResult | undefined {
    return this.last.get(name);
  }

  stop(): void {
    for (const s of this.running.values()) s.stop();
    this.running.clear();
    for (const t of this.delayed.values()) clearTimeout(t);
    this.delayed.clear();
  }
}
