/**
 * CPU load for the false-dead benchmarks: stress-ng started through the lab
 * (so the lab kills it by PID at the end, whatever happens), and how busy
 * the machine's CPUs really were over a window, from /proc/stat.
 */
import { existsSync, readFileSync } from "node:fs";
import type { LabNode, LabProcess } from "../../test/lab/lab.ts";

export const STRESS_NG = "/usr/bin/stress-ng";

/** Starts `stress-ng <args>` in a lab namespace; stop it with proc.stop(). */
export function startStress(where: LabNode, args: readonly string[]): LabProcess {
  if (!existsSync(STRESS_NG)) throw new Error(`${STRESS_NG} is missing: apt-get install -y stress-ng`);
  return where.spawn([STRESS_NG, ...args], { logName: "stress-ng" });
}

export interface CpuTimes {
  busy: number;
  total: number;
}

/** Jiffies of all CPUs together since boot: busy (everything but idle and iowait) and total. */
export function cpuTimes(): CpuTimes {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/** Share of all CPUs' time that was busy between two readings, in %. */
export function busyPercent(a: CpuTimes, b: CpuTimes): number {
  const total = b.total - a.total;
  return total > 0 ? ((b.busy - a.busy) / total) * 100 : Number.NaN;
}
