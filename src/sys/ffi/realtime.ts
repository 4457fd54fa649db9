/**
 * Real-time scheduling and locked memory through `bun:ffi`: what keeps a
 * node's timers on time while other work starves the CPU (Linux-HA
 * Heartbeat does the same: SCHED_RR and mlockall).
 *
 * Only the Bun runtime (the vigil binary) has FFI; elsewhere
 * loadRealtimeCalls rejects with FfiUnavailableError.
 */
import { openLibcTable } from "./libc.ts";

export const SCHED_RR = 2;
/** Children (scripts, the service) and threads started later begin at normal priority, not ours. */
export const SCHED_RESET_ON_FORK = 0x40000000;
export const MCL_CURRENT = 1;
export const MCL_FUTURE = 2;
/** Lock pages as they are first touched, not all mapped pages at once (the runtime maps far more than it uses). */
export const MCL_ONFAULT = 4;

const SYMBOLS = {
  sched_setscheduler: { args: ["i32", "i32", "ptr"], returns: "i32" },
  mlockall: { args: ["i32"], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
  strerror: { args: ["i32"], returns: "cstring" },
} as const;

interface Symbols {
  sched_setscheduler(pid: number, policy: number, param: Int32Array): number;
  mlockall(flags: number): number;
  __errno_location(): number | bigint | null;
  strerror(errno: number): unknown;
}

/** 0 on success, else the errno and its text. */
export type CallResult = { ok: true } | { ok: false; errno: number; message: string };

export interface RealtimeCalls {
  /** sched_setscheduler(tid, policy, { priority }); tid 0 is the calling thread. */
  setScheduler(tid: number, policy: number, priority: number): CallResult;
  mlockall(flags: number): CallResult;
}

let cached: RealtimeCalls | undefined;

export async function loadRealtimeCalls(): Promise<RealtimeCalls> {
  if (cached !== undefined) return cached;
  const libc = await openLibcTable("real-time scheduling", SYMBOLS);
  const s = libc.symbols as Symbols;
  const result = (rc: number): CallResult => {
    if (rc === 0) return { ok: true };
    const errno = libc.errno();
    return { ok: false, errno, message: String(s.strerror(errno) ?? `errno ${errno}`) };
  };
  cached = {
    setScheduler: (tid, policy, priority) => result(s.sched_setscheduler(tid, policy, Int32Array.of(priority))),
    mlockall: (flags) => result(s.mlockall(flags)),
  };
  return cached;
}
