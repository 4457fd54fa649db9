/**
 * keepalived's track_script: run a check script now and then; it passes
 * when it exits 0 within its timeout. rise/fall debounce the result:
 * `fall` failures in a row before the object counts as down, `rise`
 * passes in a row before it counts as up again. Before the first result it
 * counts as up (keepalived without init_fail), so a booting node is not
 * held in FAULT by a check that has not run yet.
 *
 * runScript is also what notify scripts run with (src/sys/notify.ts). It is
 * the shared runner of src/sys/run-script.ts (own process group, so a
 * timeout kills whatever the script started) with this module's result shape.
 */
import { runScript as runCommand } from "./run-script.ts";

export interface ScriptRunOptions {
  /** Kill the script (and its process group) after this long. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** Added to the inherited environment. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface ScriptRunResult {
  /** Exited 0 in time. */
  readonly ok: boolean;
  readonly code: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  /** The tail of what it printed, stdout and stderr together. */
  readonly output: string;
  /** One line: "exited 0", "exited 3: disk full", "killed after 1000 ms (timeout)", "cannot run it: ENOENT". */
  readonly message: string;
}

export type ScriptRunner = (path: string, args: readonly string[], opts: ScriptRunOptions) => Promise<ScriptRunResult>;

/** Track scripts are health probes: a hung one gets little grace before SIGKILL. */
const TRACK_GRACE_MS = 200;

/** Runs `path args...` directly (no shell) through the shared runner. Never throws or rejects. */
export const runScript: ScriptRunner = async (path, args, opts) => {
  const r = await runCommand(path, {
    args,
    timeoutMs: opts.timeoutMs,
    graceMs: TRACK_GRACE_MS,
    ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    ...(opts.env === undefined ? {} : { env: opts.env }),
  });
  return { ok: r.ok, code: r.exitCode, signal: r.signal, timedOut: r.timedOut, output: r.outputTail, message: r.message };
};

export interface RiseFall {
  readonly rise: number;
  readonly fall: number;
}

export interface DebouncedState {
  readonly up: boolean;
  /** Results in a row that disagree with `up`. */
  readonly streak: number;
}

export const INITIAL_SCRIPT_STATE: DebouncedState = { up: true, streak: 0 };

/** One more result through rise/fall. */
export function debounce(state: DebouncedState, passed: boolean, rf: RiseFall): DebouncedState {
  if (passed === state.up) return { up: state.up, streak: 0 };
  const streak = state.streak + 1;
  const needed = state.up ? rf.fall : rf.rise;
  return streak >= needed ? { up: !state.up, streak: 0 } : { up: state.up, streak };
}
