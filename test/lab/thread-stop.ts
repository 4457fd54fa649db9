/**
 * One thread of a running process stopped while the others run on, as a
 * hung disk leaves the one thread that wrote to it: fixtures/thread-stop.ts
 * (under bun) ptrace-stops it and holds it until released. The thread runs
 * on as soon as the helper is gone, however it goes (the kernel detaches a
 * dead tracer's threads), so `kill` is the clean-up on any path.
 *
 * Stop a thread only inside the system calls it would hang in (`inCalls`):
 * stopped at an arbitrary point it may be waiting on a lock of the runtime,
 * which can then be handed to it, and the other threads wait for it too
 * (see the helper), which no hung disk would do.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, FIXTURES } from "./fuse-lab.ts";
import { waitUntil } from "./wait.ts";

/** The tids of `pid`'s threads whose name (comm) is `name`. */
export function threadsNamed(pid: number, name: string): number[] {
  const out: number[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      if (readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim() === name) out.push(Number(t));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out.sort((a, b) => a - b);
}

/** Every thread of `pid` as "tid name", for a failure's message. */
export function threadList(pid: number): string {
  return readdirSync(`/proc/${pid}/task`).map((t) => {
    try {
      return `${t} ${readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim()}`;
    } catch {
      return `${t} (gone)`;
    }
  }).join(", ");
}

/** The state letter of one thread ("t": stopped by a tracer), or null once it is gone. */
export function threadState(pid: number, tid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return null;
  }
}

/** x86-64 numbers of the calls a thread that writes files hangs in when its disk does. */
export const FILE_WRITE_CALLS = { write: 1, pwrite64: 18, writev: 20, fsync: 74, fdatasync: 75, pwritev: 296, pwritev2: 328 } as const;

export interface StoppedThread {
  readonly tid: number;
  /** The system call it was stopped in (or returning from); -1: none. */
  readonly syscall: number;
  /** The file that call's first argument names ("" for none). */
  readonly file: string;
  /** Lets the thread run on and waits for the helper to say so. */
  release(): Promise<void>;
  /** Ends the helper at once (the thread runs on); a no-op once it is gone. */
  kill(): void;
}

/**
 * Stops thread `tid` of process `pid`, only in one of the calls `o.inCalls` (any point when absent)
 * on a file under one of `o.under` (any file when absent); resolves once the kernel reports it stopped.
 */
export async function stopThread(pid: number, tid: number, o: { inCalls?: readonly (keyof typeof FILE_WRITE_CALLS)[]; under?: readonly string[] } = {}): Promise<StoppedThread> {
  const calls = o.inCalls ?? [];
  if (calls.length > 0 && process.arch !== "x64") throw new Error(`stopThread knows the system call numbers of x86-64 only, not ${process.arch}`);
  const args = [String(tid), calls.map((c) => FILE_WRITE_CALLS[c]).join(","), (o.under ?? []).join(",")];
  const child = spawn(BUN, [join(FIXTURES, "thread-stop.ts"), ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  let exited = false;
  const gone = new Promise<void>((r) => child.once("exit", () => {
    exited = true;
    r();
  }));
  const kill = (): void => {
    if (!exited) child.kill("SIGKILL");
  };
  try {
    await waitUntil(() => {
      if (exited) throw new Error(`thread-stop ${tid} exited: ${err.trim() || out.trim()}`);
      return out.includes(`stopped ${tid} `) && threadState(pid, tid) === "t";
    }, { timeoutMs: 40_000, what: `thread ${tid} of ${pid} stopped` });
  } catch (e) {
    kill();
    throw e;
  }
  return {
    tid,
    syscall: Number(/stopped \d+ in (-?\d+)/.exec(out)?.[1] ?? -1),
    file: JSON.parse(/stopped \d+ in -?\d+ (".*") after/.exec(out)?.[1] ?? '""') as string,
    kill,
    async release() {
      if (exited) return;
      child.stdin.end("release\n");
      await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
      kill();
    },
  };
}
