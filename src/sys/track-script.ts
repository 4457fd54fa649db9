/**
 * keepalived's track_script: run a check script now and then; it passes
 * when it exits 0 within its timeout. rise/fall debounce the result:
 * `fall` failures in a row before the object counts as down, `rise`
 * passes in a row before it counts as up again. Before the first result it
 * counts as up (keepalived without init_fail), so a booting node is not
 * held in FAULT by a check that has not run yet.
 *
 * runScript is also what notify scripts run with (src/sys/notify.ts).
 * Each script gets its own process group, so a timeout kills whatever it
 * started as well (a shell script's children), by the group of the PID we
 * spawned.
 */
import { spawn } from "node:child_process";

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

/** Output kept per run, for messages. */
const OUTPUT_TAIL = 2048;
/** How long output may still arrive after the script itself exited. */
const EXIT_GRACE_MS = 100;

function lastLine(output: string): string {
  const lines = output.trim().split("\n");
  const line = (lines[lines.length - 1] ?? "").trim();
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

/** Runs `path args...` directly (no shell). Never throws or rejects. */
export const runScript: ScriptRunner = (path, args, opts) =>
  new Promise((resolve) => {
    let output = "";
    let timedOut = false;
    let settled = false;
    const finish = (r: Omit<ScriptRunResult, "output">): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      resolve({ ...r, output });
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(path, [...args], {
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
        env: { ...process.env, ...opts.env },
      });
    } catch (e) {
      resolve({ ok: false, code: null, signal: null, timedOut: false, output: "", message: `cannot run it: ${e instanceof Error ? e.message : String(e)}` });
      return;
    }
    const killGroup = (): void => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    };
    const onAbort = (): void => killGroup();
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString("utf8")).slice(-OUTPUT_TAIL);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    const timer = setTimeout(() => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      timedOut = true;
      killGroup();
    }, opts.timeoutMs);
    if (opts.signal?.aborted === true) killGroup();
    else opts.signal?.addEventListener("abort", onAbort, { once: true });
    child.on("error", (e: NodeJS.ErrnoException) => {
      finish({ ok: false, code: null, signal: null, timedOut: false, message: `cannot run it: ${e.code ?? e.message}` });
    });
    const exited = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (timedOut) {
        finish({ ok: false, code, signal, timedOut: true, message: `killed after ${opts.timeoutMs} ms (timeout)` });
        return;
      }
      const said = lastLine(output);
      const how = code === null ? `killed by ${signal ?? "a signal"}` : `exited ${code}`;
      finish({ ok: code === 0, code, signal, timedOut: false, message: said === "" ? how : `${how}: ${said}` });
    };
    // "close" also waits for the output; a daemon the script left running may
    // hold the pipes open for ever, so "exit" settles it shortly after anyway.
    child.on("close", exited);
    child.on("exit", (code, signal) => {
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        exited(code, signal);
      }, EXIT_GRACE_MS).unref?.();
    });
  });

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
