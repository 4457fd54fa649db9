/**
 * Real-time scheduling of the real binary at tight timers (the fast
 * preset): every thread of the process (the main thread, which runs the
 * timers, and the runtime's compiler and collector helpers, its I/O pool)
 * on SCHED_RR at one priority (threadPriority in src/daemon/realtime.ts
 * says why), none of the runtime's concurrent compiler and collector
 * threads (NO_HELPER_THREADS), and memory locked, as the kernel reports
 * them in /proc.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, expect, onTestFinished } from "vitest";
import { REALTIME_PRIORITY } from "../../src/sys/realtime-host.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { peerChange, startVigilCluster, VIGIL_BIN } from "./vigil-cluster.ts";

const SCHED_RR = 2;

/** Policy and real-time priority of each thread of `pid`, from /proc (the fields after the command name). */
function threads(pid: number): { tid: number; name: string; policy: number; priority: number }[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((t) => {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
    } catch {
      return []; // the thread ended meanwhile
    }
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    // Fields after ")" start at field 3 (state); rt_priority is field 40, policy 41.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return [{ tid: Number(t), name, priority: Number(rest[40 - 3]), policy: Number(rest[41 - 3]) }];
  });
}

describeLab("real-time scheduling of the daemon at the fast preset", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vigil-realtime-"));
  });
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  labTest("the main thread and the process's other threads on SCHED_RR at one priority, memory locked", async () => {
    const c = await startVigilCluster({ hosts: [lab().host(1), lab().host(2)], dir: mkdtempSync(join(dir, "c-")), heartbeat: { preset: "fast" } });
    onTestFinished(() => c.stop());
    const h1 = c.node("h1");
    await h1.waitForLog(peerChange("h2", "up"), { timeoutMs: 15_000 });
    await h1.waitForLog((e) => e.msg === "memory locked", { timeoutMs: 15_000 });
    // The second pass (a few seconds after the engines run) takes in the I/O pool's threads.
    await h1.waitForLog((e) => e.msg === "real-time scheduling on", { timeoutMs: 1_000 });
    const pid = h1.proc.pid;
    const all = threads(pid);
    const main = all.find((t) => t.tid === pid);
    expect(main, "the main thread").toMatchObject({ policy: SCHED_RR, priority: REALTIME_PRIORITY });
    // Started again under its own name (the kernel keeps 15 characters of it).
    expect(main?.name).toBe(basename(VIGIL_BIN).slice(0, 15));
    const others = all.filter((t) => t.tid !== pid);
    const rr = others.filter((t) => t.policy === SCHED_RR);
    expect(rr.length, `other threads on SCHED_RR: ${JSON.stringify(others)}`).toBeGreaterThan(0);
    expect(rr.filter((t) => t.priority !== REALTIME_PRIORITY), "other threads at another priority than the main thread's").toEqual([]);
    // Runs without the runtime's concurrent compiler and collector threads (given at its first start, runtime-options.ts).
    expect(h1.events().find((e) => e.msg === "real-time scheduling on")?.fields["helper_threads"], "runs without helper threads").toBe("off");
    expect(all.filter((t) => /JITWorker|HeapHelper|Collector|ollector Thread/.test(t.name)), "compiler or collector threads").toEqual([]);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    expect(Number(/^VmLck:\s+(\d+)/m.exec(status)?.[1] ?? 0), "locked memory (kB)").toBeGreaterThan(0);
  });
});
