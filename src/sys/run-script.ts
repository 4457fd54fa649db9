/**
 * Runs a module's start/stop script, or any command, the way an HA manager
 * must: bounded in time, killable, and never throwing.
 *
 * - The command runs directly (no shell) in its own process group, so a
 *   timeout or an abort reaches everything it started: the group gets
 *   SIGTERM, then SIGKILL `graceMs` later if anything of it is still there.
 * - A script that exits normally is left alone, and so is what it started:
 *   a start script that launches a daemon in the background is normal.
 * - Output (stdout and stderr as they arrive) is kept as its last 4 KiB,
 *   for the log and the console.
 *
 * Environment given to the command, on top of the daemon's own:
 *   VIGIL_MODULE  the module's name (e.g. "vms")
 *   VIGIL_NODE    this node's name (e.g. "vms1")
 *   VIGIL_ROLE    the role being entered or left (e.g. "PRIM", "SECOND", "STOP")
 *   VIGIL_REASON  why (e.g. "peer-dead", "operator", "checker")
 * Each is set only when the caller knows it.
 */
import { crlfFix, readShebang } from "./shebang.ts";
import { spawn } from "node:child_process";
import { accessSync, constants, readdirSync, readFileSync, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";

export interface ScriptContext {
  readonly module?: string;
  readonly node?: string;
  readonly role?: string;
  readonly reason?: string;
}

export interface RunOptions {
  readonly args?: readonly string[];
  /** After this long the process group is terminated and the run counts as failed. */
  readonly timeoutMs: number;
  /** Between SIGTERM and SIGKILL. Default 2000 ms. */
  readonly graceMs?: number;
  /** Aborting terminates the process group as a timeout does. */
  readonly signal?: AbortSignal;
  /** Becomes VIGIL_MODULE, VIGIL_NODE, VIGIL_ROLE, VIGIL_REASON. */
  readonly context?: ScriptContext;
  /** Further variables, added last. */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

export interface RunResult {
  /** Started, exited 0, and was neither timed out nor aborted. */
  readonly ok: boolean;
  /** Null when it was killed by a signal or never started. */
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly aborted: boolean;
  readonly durationMs: number;
  /** The last ~4 KiB of stdout and stderr together. */
  readonly outputTail: string;
  /** One line for the log: "exited 3: disk full", "timed out after 5000 ms, killed by SIGKILL", ... */
  readonly message: string;
}

export type ScriptCheck = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly message: string };

export const OUTPUT_TAIL_BYTES = 4096;
export const DEFAULT_GRACE_MS = 2000;
/** How long output may still arrive after the command itself exited. */
const EXIT_OUTPUT_WAIT_MS = 200;
/** How often a terminated group is looked at to see whether it is gone already. */
const GROUP_POLL_MS = 50;

function errCode(e: unknown): string {
  return typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : "";
}

/** The environment additions for `context`. */
export function scriptEnv(context: ScriptContext): Record<string, string> {
  const env: Record<string, string> = {};
  if (context.module !== undefined) env["VIGIL_MODULE"] = context.module;
  if (context.node !== undefined) env["VIGIL_NODE"] = context.node;
  if (context.role !== undefined) env["VIGIL_ROLE"] = context.role;
  if (context.reason !== undefined) env["VIGIL_REASON"] = context.reason;
  return env;
}

function checkFile(path: string): ScriptCheck {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const c = errCode(e);
    if (c === "ENOENT") return { ok: false, message: `${path}: no such file (ENOENT)` };
    if (c === "ENOTDIR") return { ok: false, message: `${path}: a part of the path is not a directory (ENOTDIR)` };
    if (c === "EACCES") return { ok: false, message: `${path}: permission denied on a directory of the path (EACCES)` };
    return { ok: false, message: `${path}: cannot be looked at (${c || String(e)})` };
  }
  if (st.isDirectory()) return { ok: false, message: `${path}: is a directory, not a script` };
  if (!st.isFile()) return { ok: false, message: `${path}: is not a regular file` };
  if ((st.mode & 0o111) === 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
    return { ok: false, message: `${path}: is not executable (mode ${mode}, no x bit); run chmod +x ${path}` };
  }
  try {
    accessSync(path, constants.X_OK);
  } catch (e) {
    // The x bit is there, but not for us (owner-only script, noexec mount).
    return { ok: false, message: `${path}: may not be executed by this user (${errCode(e) || "EACCES"})` };
  }
  const shebang = readShebang(path);
  if (shebang?.crlf === true) {
    return { ok: false, message: `${path}: its #! line ends with a carriage return (Windows line endings), so the kernel looks for an interpreter named "${shebang.interpreter}\\r"; convert it to Unix line endings: ${crlfFix(path)}` };
  }
  const interpreter = shebang === null || shebang.interpreter === "" ? null : shebang.interpreter;
  if (interpreter !== null && isAbsolute(interpreter)) {
    try {
      accessSync(interpreter, constants.X_OK);
    } catch (e) {
      const c = errCode(e);
      return { ok: false, message: `${path}: its #! line names ${interpreter}, which ${c === "ENOENT" ? "does not exist" : `cannot be run (${c || String(e)})`}` };
    }
  }
  return { ok: true, path };
}

/**
 * Whether `command` can be run: a path (containing "/") is checked as it is,
 * a bare name is looked up in PATH. For config-time checks, and run before
 * every spawn so a failure is explained rather than reported as a bare errno.
 */
export function checkScript(command: string, pathEnv: string | undefined = process.env["PATH"]): ScriptCheck {
  if (typeof command !== "string" || command === "") return { ok: false, message: "the command is empty" };
  if (command.includes("/")) return checkFile(command);
  const dirs = (pathEnv ?? "").split(delimiter).filter((d) => d !== "");
  let firstProblem: string | null = null;
  for (const dir of dirs) {
    const candidate = join(dir, command);
    const r = checkFile(candidate);
    if (r.ok) return r;
    if (firstProblem === null && !r.message.endsWith("(ENOENT)")) firstProblem = r.message;
  }
  return { ok: false, message: firstProblem ?? `${command}: not found in PATH (${dirs.join(delimiter) || "PATH is empty"})` };
}

/**
 * Whether a process of group `pgid` is still running. Zombies do not count:
 * orphans are reaped by PID 1, which in some containers takes seconds.
 */
function groupRunning(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false; // ESRCH: not even a zombie is left.
  }
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return true; // No /proc: trust kill(2).
  }
  for (const entry of entries) {
    if (!/^[0-9]+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[2] === String(pgid) && fields[0] !== "Z" && fields[0] !== "X") return true;
  }
  return false;
}

/** Keeps the last `limit` bytes written to it. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  private cut = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 0) {
      const first = this.chunks[0] as Buffer;
      const excess = this.size - this.limit;
      this.cut = true;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.size -= excess;
      }
    }
  }

  text(): string {
    let buf = Buffer.concat(this.chunks);
    // A cut may fall inside a multi-byte character: drop its continuation bytes.
    if (this.cut) {
      let i = 0;
      while (i < buf.length && i < 4 && ((buf[i] as number) & 0xc0) === 0x80) i++;
      buf = buf.subarray(i);
    }
    return buf.toString("utf8");
  }
}

function lastLine(output: string): string {
  const lines = output.trimEnd().split("\n");
  const line = (lines[lines.length - 1] ?? "").trim();
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

function spawnProblem(command: string, code: string): string {
  switch (code) {
    case "ENOENT":
      return `${command}: no such file, or its #! interpreter is missing (ENOENT)`;
    case "EACCES":
      return `${command}: permission denied (EACCES)`;
    case "ENOEXEC":
      return `${command}: not a program, and no #! line says how to run it (ENOEXEC)`;
    default:
      return `${command}: cannot be started (${code})`;
  }
}

/** Runs `command args...`. Resolves with the outcome; never throws or rejects. */
export function runScript(command: string, opts: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  const notStarted = (message: string): RunResult => ({
    ok: false, exitCode: null, signal: null, timedOut: false, aborted: false, durationMs: elapsed(), outputTail: "", message,
  });

  const check = checkScript(command, opts.env?.["PATH"] ?? process.env["PATH"]);
  if (!check.ok) return Promise.resolve(notStarted(check.message));
  if (opts.signal?.aborted === true) return Promise.resolve({ ...notStarted("not started: aborted"), aborted: true });

  return new Promise((resolve) => {
    const tail = new Tail(OUTPUT_TAIL_BYTES);
    const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
    let timedOut = false;
    let aborted = false;
    let exit: { code: number | null; signal: string | null } | null = null;
    /** Kill phase: none; TERM sent and waiting; done (KILL sent or the group is gone). */
    let killing: "none" | "term" | "done" = "none";
    let settled = false;
    let outputClosed = false;
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const later = (ms: number, fn: () => void): void => {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
    };

    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(command, [...(opts.args ?? [])], {
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
        env: { ...process.env, ...scriptEnv(opts.context ?? {}), ...opts.env },
        ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      });
    } catch (e) {
      resolve(notStarted(spawnProblem(command, errCode(e) || String(e))));
      return;
    }
    const pgid = child.pid;

    const signalGroup = (sig: NodeJS.Signals): boolean => {
      if (pgid === undefined) return false;
      try {
        process.kill(-pgid, sig);
        return true;
      } catch {
        return false; // ESRCH: nobody of the group is left.
      }
    };

    const settle = (): void => {
      if (settled || exit === null || !outputClosed) return;
      if (killing === "term") return; // The group is still being put down.
      settled = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      opts.signal?.removeEventListener("abort", onAbort);
      const output = tail.text();
      const said = lastLine(output);
      const how = exit.code !== null ? `exited ${exit.code}` : `killed by ${exit.signal ?? "a signal"}`;
      let message: string;
      if (timedOut) message = `timed out after ${opts.timeoutMs} ms, ${how}`;
      else if (aborted) message = `aborted, ${how}`;
      else message = said === "" ? how : `${how}: ${said}`;
      resolve({
        ok: exit.code === 0 && !timedOut && !aborted,
        exitCode: exit.code,
        signal: exit.signal,
        timedOut,
        aborted,
        durationMs: elapsed(),
        outputTail: output,
        message,
      });
    };

    const pollGroup = (): void => {
      if (killing !== "term") return;
      if (pgid === undefined || !groupRunning(pgid)) {
        killing = "done";
        settle();
        return;
      }
      later(GROUP_POLL_MS, pollGroup);
    };

    const terminate = (): void => {
      if (killing !== "none") return;
      killing = "term";
      signalGroup("SIGTERM");
      later(graceMs, () => {
        if (killing !== "term") return;
        killing = "done";
        signalGroup("SIGKILL");
        settle();
      });
      later(GROUP_POLL_MS, pollGroup);
    };

    const onAbort = (): void => {
      if (exit !== null || killing !== "none") return;
      aborted = true;
      terminate();
    };

    child.stdout?.on("data", (c: Buffer) => tail.push(c));
    child.stderr?.on("data", (c: Buffer) => tail.push(c));
    child.on("error", (e) => {
      if (exit !== null || settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener("abort", onAbort);
      resolve(notStarted(spawnProblem(command, errCode(e) || e.message)));
    });

    later(opts.timeoutMs, () => {
      if (exit !== null || killing !== "none") return;
      timedOut = true;
      terminate();
    });
    opts.signal?.addEventListener("abort", onAbort, { once: true });

    child.on("close", () => {
      outputClosed = true;
      settle();
    });
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      if (outputClosed) {
        settle();
        return;
      }
      later(EXIT_OUTPUT_WAIT_MS, () => {
        // Something the script started in the background still holds the
        // pipes. Keep draining them without holding the event loop: closing
        // them would kill that process with SIGPIPE on its next write.
        for (const s of [child.stdout, child.stderr]) {
          s?.removeAllListeners("data");
          s?.resume();
          (s as { unref?: () => void } | null)?.unref?.();
        }
        outputClosed = true;
        settle();
      });
    });
  });
}
