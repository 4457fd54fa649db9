/**
 * CPU time per thread of a process and its descendants, from
 * /proc/PID/task/TID/stat (utime + stime, clock ticks). A vigil mirror node
 * starts itself again once with its runtime options, so the daemon doing
 * the work is a child of the PID a bench started: the whole tree is read.
 * Threads are summed by their name (the main thread of each process as
 * "main"), so a bench can say where a phase's CPU went.
 */
import { readdirSync, readFileSync } from "node:fs";

const TICK_MS = 10; // USER_HZ is 100 on Linux

function read(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null; // gone meanwhile
  }
}

/** Fields after the command name (which sits in parentheses and may hold spaces), and that name. */
function statFields(text: string): { comm: string; f: string[] } {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  return { comm: text.slice(open + 1, close), f: text.slice(close + 2).split(" ") };
}

/** `pid` and every process beneath it. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = read(`/proc/${name}/stat`);
    if (stat === null) continue;
    const ppid = Number(statFields(stat).f[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** A sample: CPU ms of each thread (by "pid/tid"), with its name. */
export type ThreadSample = Map<string, { name: string; ms: number }>;

export function sampleThreads(pid: number | null): ThreadSample {
  const out: ThreadSample = new Map();
  if (pid === null) return out;
  for (const p of processTree(pid)) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      const stat = read(`/proc/${p}/task/${tid}/stat`);
      if (stat === null) continue;
      const { comm, f } = statFields(stat);
      out.set(`${p}/${tid}`, { name: tid === String(p) ? "main" : comm, ms: (Number(f[11]) + Number(f[12])) * TICK_MS });
    }
  }
  return out;
}

/** CPU ms by thread name between two samples (threads born meanwhile count from 0; names under 5 ms left out). */
export function threadDelta(before: ThreadSample, after: ThreadSample): Record<string, number> {
  const by: Record<string, number> = {};
  for (const [k, a] of after) by[a.name] = (by[a.name] ?? 0) + a.ms - (before.get(k)?.ms ?? 0);
  return Object.fromEntries(Object.entries(by).filter(([, ms]) => ms >= 5).sort((x, y) => y[1] - x[1]));
}

export function totalMs(by: Record<string, number>): number {
  return Object.values(by).reduce((a, b) => a + b, 0);
}
