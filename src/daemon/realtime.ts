/**
 * Real-time scheduling and locked memory for a node whose timers are tight:
 * a heartbeat deadtime under 500 ms (the `fast` preset) or a VRRP advert_int
 * under 100 ms. There, a daemon starved of CPU for a tenth of a second is
 * silent long enough to be declared dead, and a page fault on a swapped-out
 * page can cost as much. Linux-HA Heartbeat runs SCHED_RR with its memory
 * locked for the same reason.
 *
 * - SCHED_RR for every thread the process has, all at REALTIME_PRIORITY
 *   (threadPriority says why one priority), with SCHED_RESET_ON_FORK so
 *   that what it starts (scripts, the service, `ip`) runs at normal
 *   priority. Threads started later (a Worker, and the runtime's compiler
 *   and collector helpers, which end when idle and start again when work
 *   comes) also begin at normal priority: applyRealtime runs again once the
 *   engines are up, and from then on new threads are taken in every
 *   TAKE_IN_EVERY_MS (a directory listing; a call per new thread only).
 * - mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT): every page the daemon
 *   touches stays in RAM; ONFAULT so the runtime's large untouched mappings
 *   (the binary itself, reserved heap) are not read in and pinned at once.
 *   Taken once the engines run and after the start-up trim
 *   (memory-trim.ts), not at start: a locked page can never be given back,
 *   so a lock taken before start-up would keep its peak (about 40 MiB more:
 *   the schema compiler, the config checks, the console's certificate)
 *   resident for good. What stays locked is what the running node uses.
 *
 * Where the host does not allow it (no root, a container without
 * CAP_SYS_NICE, RT throttled to 0) the daemon runs on and says so once, with
 * the reason, in the log; `vigil doctor` says the same beforehand.
 */
import { readdirSync, readFileSync } from "node:fs";
import { cString, openLibcTable } from "../sys/ffi/libc.ts";
import type { VigilConfig } from "../config/types.ts";
import { loadRealtimeCalls, type RealtimeCalls, MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, SCHED_RESET_ON_FORK, SCHED_RR } from "../sys/ffi/realtime.ts";
import { REALTIME_PRIORITY } from "../sys/realtime-host.ts";
import type { Logger } from "./log.ts";
import { restartEnv } from "./runtime-options.ts";

const TIGHT_DEADTIME_MS = 500;
const TIGHT_ADVERT_MS = 100;
const LATE_THREADS_MS = 5_000;
/** New threads wait at most this long at normal priority; see takeInNewThreads. */
const TAKE_IN_EVERY_MS = 100;

/**
 * The runtime's options that leave out its concurrent compiler and
 * collector threads (JIT and GC then run on the main thread, which the
 * kernel never makes wait behind them): threads the main thread would
 * otherwise wait for, spinning, and which share its round-robin turns
 * (threadPriority). They are read once, at the runtime's start, so a
 * daemon with tight timers starts itself again in place, same process id,
 * with them set (restartWithoutHelperThreads).
 */
export const NO_HELPER_THREADS: Readonly<Record<string, string>> = {
  BUN_JSC_useConcurrentJIT: "0",
  BUN_JSC_useConcurrentGC: "0",
  BUN_JSC_numberOfGCMarkers: "1",
};

/**
 * The environment to start again with, or undefined when this process
 * already runs with every one of these options set. A value the operator
 * set wins, as with the daemon's other runtime options (runtime-options.ts):
 * BUN_JSC_useConcurrentGC=1 keeps the concurrent collector at tight timers.
 */
export function envWithoutHelperThreads(env: Readonly<Record<string, string | undefined>>): Record<string, string> | undefined {
  if (Object.keys(NO_HELPER_THREADS).every((k) => env[k] !== undefined)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(NO_HELPER_THREADS)) out[k] = v;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/** "off" when this process runs without the runtime's helper threads, else which of the options are not "0" (set so by the operator). */
function helperThreadsIn(env: Readonly<Record<string, string | undefined>>): string {
  const kept = Object.keys(NO_HELPER_THREADS).filter((k) => env[k] !== NO_HELPER_THREADS[k]);
  return kept.length === 0 ? "off" : `on (${kept.map((k) => `${k}=${env[k] ?? "unset"}`).join(", ")})`;
}

/** The built binary (the only place where starting itself again is the same program). */
function compiledBinary(): boolean {
  return import.meta.url.includes("$bunfs") || (process.argv[1] ?? "").startsWith("/$bunfs/");
}

/**
 * execve(2) of this very binary with its own arguments and `env`: the
 * process id, the state lock (it names our pid) and the scheduling stay.
 * Returns only on failure, with the reason.
 */
async function restartWithoutHelperThreads(env: Record<string, string>): Promise<string> {
  try {
    const ffi = (await import(["bun", "ffi"].join(":"))) as { ptr(v: ArrayBufferView): number };
    const libc = await openLibcTable("starting again without helper threads", {
      execve: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
      __errno_location: { args: [], returns: "ptr" },
    });
    const argv = readFileSync("/proc/self/cmdline", "utf8").split("\0").filter((a, i, all) => a !== "" || i < all.length - 1);
    const strings = (list: string[]): { keep: Uint8Array[]; table: BigUint64Array } => {
      const keep = list.map((x) => cString(x));
      const table = new BigUint64Array(keep.length + 1);
      keep.forEach((b, i) => (table[i] = BigInt(ffi.ptr(b))));
      return { keep, table };
    };
    const a = strings(argv);
    const e = strings(Object.entries(env).map(([k, v]) => `${k}=${v}`));
    // The binary's own path, not /proc/self/exe: the process keeps its name (ps, pgrep, the journal).
    const path = cString(process.execPath);
    (libc.symbols as { execve(p: Uint8Array, a: BigUint64Array, e: BigUint64Array): number }).execve(path, a.table, e.table);
    return `execve failed, errno ${libc.errno()} (${a.keep.length} args)`;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Why this config wants real-time scheduling, or undefined. */
export function realtimeReason(c: VigilConfig): string | undefined {
  const hb = c.cluster.heartbeat;
  if (c.cluster.nodes.length > 1 && hb.deadtime < TIGHT_DEADTIME_MS) return `heartbeat deadtime ${hb.deadtime} ms`;
  const fast = c.vrrp.find((v) => v.advert_int < TIGHT_ADVERT_MS);
  if (fast !== undefined) return `VRRP ${fast.name} advert_int ${fast.advert_int} ms`;
  return undefined;
}

export interface RealtimeOutcome {
  readonly scheduled: number;
  readonly failed: number;
  readonly locked: boolean;
}

let memoryLocked = false;
let warned = false;
/** Set once SCHED_RR was granted: takeInNewThreads then has what it needs. */
let granted: RealtimeCalls | undefined;
let keepTakingIn: ReturnType<typeof setInterval> | undefined;

function rssKiB(): number {
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * The priority of one of our threads: the same for all. The runtime's
 * threads wait for each other in places by spinning on sched_yield()
 * (the main thread was seen doing so for minutes, waiting for its
 * allocator's or collector's helpers), and under SCHED_RR sched_yield()
 * hands the CPU only to a thread of the same priority. With the main
 * thread above its helpers, a helper holding what the main thread waits for
 * got no CPU once real-time spinners held both CPUs of a loaded machine
 * (two daemons did, after a minute of stress-ng --cpu 2): the main threads
 * spun at real-time priority for good, sent nothing, and took the real-time
 * share of every CPU from the node that still ran, which then ran late for
 * ~50 ms every second (the kernel's real-time throttling period). At one
 * priority a spinning thread yields to the holder and both go on. The price
 * is round-robin turns with a busy helper on the same CPU, which the
 * kernel's real-time balancing avoids by moving a woken thread to a CPU
 * that runs only normal tasks.
 */
export function threadPriority(_tid: number, _pid: number): number {
  return REALTIME_PRIORITY;
}

/** Threads already on SCHED_RR, so the periodic take-in calls nothing for them. */
const scheduledThreads = new Set<number>();

function setThreadScheduler(calls: RealtimeCalls, tid: number) {
  const r = calls.setScheduler(tid, SCHED_RR | SCHED_RESET_ON_FORK, threadPriority(tid, process.pid));
  if (r.ok) scheduledThreads.add(tid);
  return r;
}

function threadIds(): number[] {
  try {
    return readdirSync("/proc/self/task").map(Number).filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return [0];
  }
}

/**
 * Asks for SCHED_RR and locked memory if the config is tight; idempotent, so
 * it can run again to take in threads started since. Never throws.
 * `phase` "start" logs the outcome; "threads" (once the engines run) and
 * "late" (a few seconds later) only log a change for the worse.
 */
export async function applyRealtime(
  c: VigilConfig,
  log: Logger,
  phase: "start" | "threads" | "late",
  load: () => Promise<RealtimeCalls> = loadRealtimeCalls,
  restart: ((env: Record<string, string>) => Promise<string>) | undefined = compiledBinary() ? restartWithoutHelperThreads : undefined,
): Promise<RealtimeOutcome | undefined> {
  const reason = realtimeReason(c);
  if (reason === undefined) return undefined;
  let calls;
  try {
    calls = await load();
  } catch (e) {
    if (!warned) log.warn("real-time scheduling unavailable: timers may run late under CPU load", { reason, error: (e as Error).message });
    warned = true;
    return { scheduled: 0, failed: 0, locked: false };
  }
  const problems: string[] = [];
  // Locked only once the engines run and start-up's memory went back
  // (memory-trim.ts): locked pages cannot be given back, so a lock taken
  // at start would pin the start-up peak for good.
  if (!memoryLocked && phase !== "start") {
    const r = calls.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT);
    if (r.ok) memoryLocked = true;
    else problems.push(`mlockall: ${r.message}`);
  }
  const lockedNow = memoryLocked && !problems.some((p) => p.startsWith("mlockall")) && phase !== "start";
  let scheduled = 0;
  let failed = 0;
  for (const tid of threadIds()) {
    const r = setThreadScheduler(calls, tid);
    if (r.ok) scheduled += 1;
    else {
      failed += 1;
      // A thread that ended between the listing and the call (ESRCH) is no problem.
      if (r.errno !== 3 && !problems.some((p) => p.startsWith("sched_setscheduler"))) problems.push(`sched_setscheduler: ${r.message}`);
    }
  }
  const realProblems = problems.length > 0;
  if (scheduled > 0 && !realProblems) granted = calls;
  if (realProblems && !warned) {
    warned = true;
    log.warn("real-time scheduling not allowed here: timers may run late under CPU load (see vigil doctor)", {
      reason,
      problems: problems.join("; "),
      threads_scheduled: scheduled,
      memory_locked: memoryLocked,
    });
  } else if (!realProblems && phase === "start") {
    // The runtime options the daemon started with are out of process.env (runtime-options.ts), not off.
    const env = envWithoutHelperThreads(restartEnv());
    const helperThreads = env === undefined ? helperThreadsIn(restartEnv()) : "on";
    if (env !== undefined && restart !== undefined) {
      log.info("starting again in place without the runtime's compiler and collector threads", { reason, options: Object.keys(NO_HELPER_THREADS).join(",") });
      const why = await restart(env);
      log.warn("could not start again without the runtime's helper threads: running with them", { reason, error: why });
    }
    // The runtime read them at its start; the service's scripts, checkers and
    // tools started from here must not inherit them (a service that runs on
    // this runtime would lose its helper threads too).
    if (env === undefined) for (const k of Object.keys(NO_HELPER_THREADS)) delete process.env[k];
    log.info("real-time scheduling on", { reason, policy: "SCHED_RR", priority: `${REALTIME_PRIORITY} (every thread)`, threads: scheduled, helper_threads: helperThreads, memory_locked: "once started" });
  }
  if (lockedNow && phase === "threads") log.info("memory locked", { reason, rss_kib: rssKiB() });
  if (phase === "threads" && !realProblems) {
    // The runtime starts its I/O pool threads lazily, after the first file operations: take them in too.
    setTimeout(() => void applyRealtime(c, log, "late", load), LATE_THREADS_MS).unref();
    keepTakingIn ??= setInterval(takeInNewThreads, TAKE_IN_EVERY_MS);
    keepTakingIn.unref?.();
  }
  return { scheduled, failed, locked: memoryLocked };
}

/**
 * Gives threads started since (a receive Worker that must read adverts on
 * time) the same SCHED_RR, when the daemon has it. Synchronous and cheap;
 * a no-op otherwise. Call it right after starting such a thread.
 */
export function takeInNewThreads(): void {
  const calls = granted;
  if (calls === undefined) return;
  const tids = threadIds();
  for (const tid of tids) if (!scheduledThreads.has(tid)) setThreadScheduler(calls, tid);
  // Forget threads that ended: a new thread may get an old id.
  if (scheduledThreads.size > tids.length) {
    const live = new Set(tids);
    for (const tid of scheduledThreads) if (!live.has(tid)) scheduledThreads.delete(tid);
  }
}
