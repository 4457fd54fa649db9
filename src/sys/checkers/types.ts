/**
 * The common shape of a module's checkers. A checker answers one question
 * per run ("is it there?"); the schedule (schedule.ts) decides how often,
 * for how long, and when a run of answers means "failed" or "healthy".
 */

export type CheckResult = {
  readonly ok: boolean;
  /** One line for the log and the console, naming what was checked. */
  readonly detail: string;
  readonly durationMs: number;
};

export type CheckerKind = "tcp" | "http" | "ping" | "probe" | "interface" | "file" | "custom" | "process";

export interface Checker {
  readonly kind: CheckerKind;
  /** What is checked, e.g. "127.0.0.1:8080" or "/run/app.pid". */
  readonly target: string;
  /**
   * One check. Resolves, never rejects or throws; aborting `signal` makes it
   * give up promptly with ok false.
   */
  run(signal: AbortSignal): Promise<CheckResult>;
}
