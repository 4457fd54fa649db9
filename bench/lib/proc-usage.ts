/** CPU time and memory of a set of processes, from /proc. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  ticksPerSecond ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  return ticksPerSecond;
}

export interface Usage {
  /** User + system CPU seconds consumed so far. */
  cpuSeconds: number;
  /** Sum of VmRSS: counts pages shared between the processes once per process. */
  rssKiB: number;
  /** Sum of Pss (proportional set size): shared pages split between their users, so processes of one daemon add up fairly. */
  pssKiB: number;
  /** Processes that were still there to be read. */
  processes: number;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null; // exited meanwhile
  }
}

export function usageOf(pids: readonly number[]): Usage {
  const u: Usage = { cpuSeconds: 0, rssKiB: 0, pssKiB: 0, processes: 0 };
  for (const pid of pids) {
    const stat = read(`/proc/${pid}/stat`);
    const status = read(`/proc/${pid}/status`);
    if (stat === null || status === null) continue;
    // Fields after the command name, which sits in parentheses and may hold spaces.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    u.cpuSeconds += (Number(f[11]) + Number(f[12])) / clockTicks();
    u.rssKiB += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    u.pssKiB += Number(/^Pss:\s+(\d+)/m.exec(read(`/proc/${pid}/smaps_rollup`) ?? "")?.[1] ?? 0);
    u.processes += 1;
  }
  return u;
}

export interface IdleFigures {
  /** Average CPU over the window, in % of one core. */
  cpuPercent: number;
  /** Median of the samples taken over the window. */
  rssMiB: number;
  pssMiB: number;
  processes: number;
  seconds: number;
}

/**
 * Samples `pids()` (asked again each time, for daemons that fork) every
 * second for `seconds` and reports CPU over the whole window and the median
 * memory.
 */
export async function measureIdle(pids: () => number[], seconds: number): Promise<IdleFigures> {
  const first = usageOf(pids());
  const startedAt = performance.now();
  const rss: number[] = [];
  const pss: number[] = [];
  let last = first;
  for (let i = 0; i < seconds; i++) {
    await new Promise((r) => setTimeout(r, 1_000));
    last = usageOf(pids());
    rss.push(last.rssKiB);
    pss.push(last.pssKiB);
  }
  const elapsed = (performance.now() - startedAt) / 1_000;
  const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? Number.NaN;
  return {
    cpuPercent: ((last.cpuSeconds - first.cpuSeconds) / elapsed) * 100,
    rssMiB: mid(rss) / 1024,
    pssMiB: mid(pss) / 1024,
    processes: last.processes,
    seconds: elapsed,
  };
}

const POLICIES: Readonly<Record<number, string>> = { 0: "SCHED_OTHER", 1: "SCHED_FIFO", 2: "SCHED_RR", 3: "SCHED_BATCH", 5: "SCHED_IDLE", 6: "SCHED_DEADLINE" };

/**
 * How the kernel schedules a process, e.g. "SCHED_RR 1" or "SCHED_OTHER nice 0";
 * null once it is gone. A real-time daemon is never preempted by normal
 * load, which decides how it fares under CPU stress.
 */
export function schedulingOf(pid: number): string | null {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // Fields 3.. of proc(5), so field k is at k - 3: nice 19, rt_priority 40, policy 41.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const policy = Number(f[38]);
  const name = POLICIES[policy] ?? `policy ${policy}`;
  return policy === 1 || policy === 2 ? `${name} ${f[37]}` : `${name} nice ${f[16]}`;
}
