/**
 * keepalived's track_process: is a process of this name running?
 *
 * Matching is exact, like keepalived's (`pgrep "^name$"`, never a substring):
 * - a name without "/" matches the process name in /proc/PID/stat (what
 *   `ps -o comm` shows). The kernel keeps only its first 15 bytes, so a
 *   longer name is also checked against the basename of argv[0];
 * - a name with "/" matches argv[0] exactly (a full path).
 * Zombies do not count: a process that has exited is not running, even if
 * its parent has not reaped it yet.
 *
 * /proc is read on each call (one small read per process), which costs well
 * under a millisecond per hundred processes; the driver polls it.
 */
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";

/** The kernel's TASK_COMM_LEN minus the terminating NUL. */
export const COMM_MAX = 15;

export interface ProcessCount {
  readonly ok: true;
  readonly count: number;
  /** PIDs that matched, ascending, for messages. */
  readonly pids: readonly number[];
}

export interface ProcessCountFailure {
  readonly ok: false;
  readonly message: string;
}

export interface ProcessTrackOptions {
  /** Where /proc is; for tests. */
  readonly procDir?: string;
}

/** Name and state from the contents of /proc/PID/stat: "1234 (my proc) S 1 ...". Null if it is not that shape. */
export function parseStat(text: string): { comm: string; state: string } | null {
  const open = text.indexOf("(");
  // The name may itself contain ")" or spaces: it ends at the LAST ")".
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const state = text.slice(close + 1).trimStart().charAt(0);
  if (state === "") return null;
  return { comm: text.slice(open + 1, close), state };
}

/** argv[0] from the NUL-separated contents of /proc/PID/cmdline ("" for kernel threads). */
export function argv0(cmdline: string): string {
  const nul = cmdline.indexOf("\0");
  return nul < 0 ? cmdline : cmdline.slice(0, nul);
}

function readOrNull(file: string): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch {
    // The process exited between the directory listing and the read.
    return null;
  }
}

const utf8 = new TextEncoder();

/** Whether one process (its stat and, lazily, its cmdline) is an instance of `name`. */
export function matchesProcess(name: string, stat: string, cmdline: () => string | null): boolean {
  const parsed = parseStat(stat);
  if (parsed === null || parsed.state === "Z" || parsed.state === "X") return false;
  if (name.includes("/")) return argv0(cmdline() ?? "") === name;
  const bytes = utf8.encode(name);
  if (bytes.length <= COMM_MAX) return parsed.comm === name;
  // Decoded the way readFileSync decodes the kernel's truncated copy, so a cut multi-byte character compares equal.
  if (parsed.comm !== new TextDecoder().decode(bytes.subarray(0, COMM_MAX))) return false;
  return basename(argv0(cmdline() ?? "")) === name;
}

/** Counts running processes called `name`. Never throws. */
export function countProcesses(name: string, opts: ProcessTrackOptions = {}): ProcessCount | ProcessCountFailure {
  const proc = opts.procDir ?? "/proc";
  if (typeof name !== "string" || name.length === 0) return { ok: false, message: "track process: the process name is empty" };
  let entries: string[];
  try {
    entries = readdirSync(proc);
  } catch (e) {
    return { ok: false, message: `track process ${name}: cannot list ${proc}: ${e instanceof Error ? e.message : String(e)}` };
  }
  const pids: number[] = [];
  for (const entry of entries) {
    if (!/^[1-9][0-9]*$/.test(entry)) continue;
    const stat = readOrNull(join(proc, entry, "stat"));
    if (stat === null) continue;
    if (matchesProcess(name, stat, () => readOrNull(join(proc, entry, "cmdline")))) pids.push(Number(entry));
  }
  pids.sort((a, b) => a - b);
  return { ok: true, count: pids.length, pids };
}
