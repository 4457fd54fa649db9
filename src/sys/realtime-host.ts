/**
 * Whether this host lets vigil run with real-time scheduling (SCHED_RR) and
 * locked memory, read from /proc without changing anything: for `vigil
 * doctor`. The daemon itself simply tries (daemon/realtime.ts) and logs what
 * it got.
 *
 * - SCHED_RR needs CAP_SYS_NICE, or an RLIMIT_RTPRIO of at least the
 *   priority asked for, and a kernel that gives real-time tasks some time
 *   (kernel.sched_rt_runtime_us not 0).
 * - mlockall needs CAP_IPC_LOCK, or an RLIMIT_MEMLOCK big enough for what the
 *   process touches (tens of MiB): "unlimited" is the safe answer.
 */
import { readFileSync } from "node:fs";

/**
 * The SCHED_RR priority of the main thread, which keeps vigil's timers
 * (heartbeats, the engines' timers). Above the process's other threads
 * (HELPER_PRIORITY): at one priority a JIT compile or a collector's helper
 * can hold a CPU for a whole round-robin slice (100 ms) while the main
 * thread waits behind it; silences of 102-103 ms at the fast preset under
 * load looked like that. Below the threaded interrupt handlers of a
 * real-time kernel (50), which vigil's own packets need.
 */
export const REALTIME_PRIORITY = 10;
/** Every other thread (JIT compilers, collector helpers, the I/O pool, Workers): above every normal task, below the main thread. */
export const HELPER_PRIORITY = 1;
const CAP_IPC_LOCK = 14n;
const CAP_SYS_NICE = 23n;
/** Below this, locking what the runtime touches fails. */
const MIN_MEMLOCK_BYTES = 256 * 1024 * 1024;

export interface RealtimeFacts {
  /** /proc/self/status */
  status: string;
  /** /proc/self/limits */
  limits: string;
  /** /proc/sys/kernel/sched_rt_runtime_us, "" if unreadable */
  rtRuntimeUs: string;
}

export interface RealtimeVerdict {
  scheduling: { ok: boolean; why: string };
  memory: { ok: boolean; why: string };
}

function effectiveCaps(status: string): bigint {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  return m?.[1] === undefined ? 0n : BigInt(`0x${m[1]}`);
}

/** The soft limit of a /proc/self/limits row, or undefined when absent. */
function softLimit(limits: string, row: string): string | undefined {
  const line = limits.split("\n").find((l) => l.startsWith(row));
  return line?.slice(row.length).trim().split(/\s+/)[0];
}

export function judgeRealtime(f: RealtimeFacts, priority = REALTIME_PRIORITY): RealtimeVerdict {
  const caps = effectiveCaps(f.status);
  const has = (bit: bigint): boolean => ((caps >> bit) & 1n) === 1n;
  let scheduling: RealtimeVerdict["scheduling"];
  if (f.rtRuntimeUs.trim() === "0") {
    scheduling = { ok: false, why: "the kernel gives real-time tasks no time (kernel.sched_rt_runtime_us = 0)" };
  } else if (has(CAP_SYS_NICE)) {
    scheduling = { ok: true, why: `SCHED_RR priority ${priority} allowed (CAP_SYS_NICE)` };
  } else {
    const rt = softLimit(f.limits, "Max realtime priority");
    const n = rt === "unlimited" ? Infinity : Number(rt);
    scheduling =
      n >= priority
        ? { ok: true, why: `SCHED_RR priority ${priority} allowed (RLIMIT_RTPRIO ${rt})` }
        : { ok: false, why: `no CAP_SYS_NICE and RLIMIT_RTPRIO is ${rt ?? "unknown"} (needs ${priority}); run as root or raise LimitRTPRIO` };
  }
  let memory: RealtimeVerdict["memory"];
  if (has(CAP_IPC_LOCK)) {
    memory = { ok: true, why: "memory can be locked (CAP_IPC_LOCK)" };
  } else {
    const ml = softLimit(f.limits, "Max locked memory");
    const n = ml === "unlimited" ? Infinity : Number(ml);
    memory =
      n >= MIN_MEMLOCK_BYTES
        ? { ok: true, why: `memory can be locked (RLIMIT_MEMLOCK ${ml})` }
        : { ok: false, why: `no CAP_IPC_LOCK and RLIMIT_MEMLOCK is ${ml ?? "unknown"} bytes; run as root or set LimitMEMLOCK=infinity` };
  }
  return { scheduling, memory };
}

function read(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

export function readRealtimeFacts(): RealtimeFacts {
  return { status: read("/proc/self/status"), limits: read("/proc/self/limits"), rtRuntimeUs: read("/proc/sys/kernel/sched_rt_runtime_us") };
}

/** The `vigil doctor` line (a HostCheck of host-check.ts). */
export function realtimeHostCheck(facts: RealtimeFacts = readRealtimeFacts()): { name: string; ok: boolean; detail: string; neededBy: string } {
  const v = judgeRealtime(facts);
  const ok = v.scheduling.ok && v.memory.ok;
  return {
    name: "real-time scheduling",
    ok,
    detail: ok ? `${v.scheduling.why}; ${v.memory.why}` : [v.scheduling, v.memory].filter((x) => !x.ok).map((x) => x.why).join("; "),
    neededBy: "timers that stay on time under CPU load (heartbeat deadtime under 500 ms, VRRP advert_int under 100 ms)",
  };
}
