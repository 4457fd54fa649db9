import { readdirSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { describe, expect, it, vi } from "vitest";
import { judgeRealtime, REALTIME_PRIORITY, realtimeHostCheck } from "../../src/sys/realtime-host.ts";
import { realtimeReason, threadPriority } from "../../src/daemon/realtime.ts";
import type { VigilConfig } from "../../src/config/types.ts";

const limits = (rtprio: string, memlock: string): string =>
  [
    "Limit                     Soft Limit           Hard Limit           Units",
    `Max locked memory         ${memlock}              ${memlock}              bytes`,
    `Max realtime priority     ${rtprio}                    ${rtprio}                    `,
  ].join("\n");
const root = { status: "Name:\tvigil\nCapEff:\t000001ffffffffff\n", limits: limits("0", "8388608"), rtRuntimeUs: "950000\n" };
const user = { status: "CapEff:\t0000000000000000\n", limits: limits("0", "8388608"), rtRuntimeUs: "950000\n" };

describe("may this host run vigil with SCHED_RR and locked memory", () => {
  it("root (CAP_SYS_NICE, CAP_IPC_LOCK): yes, whatever the limits", () => {
    expect(judgeRealtime(root)).toEqual({
      scheduling: { ok: true, why: "SCHED_RR priority 10 allowed (CAP_SYS_NICE)" },
      memory: { ok: true, why: "memory can be locked (CAP_IPC_LOCK)" },
    });
    expect(realtimeHostCheck(root)).toMatchObject({ name: "real-time scheduling", ok: true });
  });

  it("an ordinary user: no, naming the capability and the limit to raise", () => {
    const c = realtimeHostCheck(user);
    expect(c.ok).toBe(false);
    expect(c.detail).toBe(
      "no CAP_SYS_NICE and RLIMIT_RTPRIO is 0 (needs 10); run as root or raise LimitRTPRIO; no CAP_IPC_LOCK and RLIMIT_MEMLOCK is 8388608 bytes; run as root or set LimitMEMLOCK=infinity",
    );
  });

  it("a user with the limits raised (systemd LimitRTPRIO, LimitMEMLOCK=infinity): yes", () => {
    const v = judgeRealtime({ ...user, limits: limits("20", "unlimited") });
    expect(v.scheduling).toEqual({ ok: true, why: "SCHED_RR priority 10 allowed (RLIMIT_RTPRIO 20)" });
    expect(v.memory).toEqual({ ok: true, why: "memory can be locked (RLIMIT_MEMLOCK unlimited)" });
  });

  it("root where the kernel gives real-time tasks no time: scheduling refused, saying why", () => {
    expect(judgeRealtime({ ...root, rtRuntimeUs: "0\n" }).scheduling).toEqual({ ok: false, why: "the kernel gives real-time tasks no time (kernel.sched_rt_runtime_us = 0)" });
  });

  it("unreadable /proc files count as not allowed, never as a crash", () => {
    expect(realtimeHostCheck({ status: "", limits: "", rtRuntimeUs: "" }).ok).toBe(false);
  });
});

function config(deadtime: number, nodes: number, advertInts: number[]): VigilConfig {
  return {
    cluster: { nodes: Array.from({ length: nodes }, (_, i) => ({ name: `n${i}`, addresses: [] })), heartbeat: { interval: deadtime / 5, warntime: deadtime / 2, deadtime, initdead: 5000, port: 7694, links: [] } },
    vrrp: advertInts.map((a, i) => ({ name: `VI_${i}`, advert_int: a })),
  } as unknown as VigilConfig;
}

describe("which configs ask for real-time scheduling", () => {
  it("a heartbeat deadtime under 500 ms (the fast preset) or a VRRP advert_int under 100 ms", () => {
    expect(realtimeReason(config(100, 2, []))).toBe("heartbeat deadtime 100 ms");
    expect(realtimeReason(config(500, 2, [20]))).toBe("VRRP VI_0 advert_int 20 ms");
  });

  it("not the default lan preset, nor a single node's heartbeat timers (it has no peer to miss)", () => {
    expect(realtimeReason(config(500, 2, [100, 1000]))).toBeUndefined();
    expect(realtimeReason(config(100, 1, [1000]))).toBeUndefined();
  });
});

describe("when memory is locked", () => {
  it("not at start, only once the engines run (after the start-up trim), and once", async () => {
    const { applyRealtime } = await import("../../src/daemon/realtime.ts");
    const { Logger } = await import("../../src/daemon/log.ts");
    const { MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT } = await import("../../src/sys/ffi/realtime.ts");
    const locks: number[] = [];
    const calls = {
      setScheduler: () => ({ ok: true as const }),
      mlockall: (flags: number) => {
        locks.push(flags);
        return { ok: true as const };
      },
    };
    const lines: string[] = [];
    const log = new Logger("text", (l) => lines.push(l));
    const fast = config(100, 2, []);
    await applyRealtime(fast, log, "start", async () => calls);
    expect(locks).toEqual([]);
    const outcome = await applyRealtime(fast, log, "threads", async () => calls);
    expect(locks).toEqual([MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT]);
    expect(outcome?.locked).toBe(true);
    expect(lines.some((l) => l.includes("memory locked"))).toBe(true);
    await applyRealtime(fast, log, "late", async () => calls);
    expect(locks).toHaveLength(1);
  });
});

describe("which thread gets which real-time priority", () => {
  it("every thread the main thread's priority: a thread spinning on sched_yield() for a helper must hand it the CPU", () => {
    expect(threadPriority(4100, 4100)).toBe(REALTIME_PRIORITY);
    expect(threadPriority(4101, 4100)).toBe(REALTIME_PRIORITY);
    expect(REALTIME_PRIORITY).toBeGreaterThanOrEqual(1);
  });
});

describe("threads started after the engines run", () => {
  const tidsNow = (): number[] => readdirSync("/proc/self/task").map(Number);

  it("are taken in by the periodic pass, each once, without a call for threads already taken in", async () => {
    vi.resetModules();
    vi.useFakeTimers({ toFake: ["setInterval", "setTimeout", "clearInterval", "clearTimeout"] });
    try {
      const { applyRealtime } = await import("../../src/daemon/realtime.ts");
      const { Logger } = await import("../../src/daemon/log.ts");
      const set: number[] = [];
      const calls = {
        setScheduler: (tid: number) => {
          set.push(tid);
          return { ok: true as const };
        },
        mlockall: () => ({ ok: true as const }),
      };
      await applyRealtime(config(100, 2, []), new Logger("text", () => {}), "threads", async () => calls);
      const first = new Set(set);
      expect([...first].sort()).toEqual(tidsNow().sort());
      set.length = 0;
      vi.advanceTimersByTime(1_000);
      expect(set, "no call for threads already on SCHED_RR").toEqual([]);
      const worker = new Worker("const { parentPort } = require('node:worker_threads'); parentPort.postMessage('up'); setInterval(() => {}, 1000);", { eval: true });
      try {
        await new Promise((r) => worker.once("message", r));
        const fresh = tidsNow().filter((t) => !first.has(t));
        expect(fresh.length).toBeGreaterThan(0);
        vi.advanceTimersByTime(1_000);
        expect(set.length).toBeGreaterThan(0);
        expect(set.every((t) => !first.has(t)), "only the new threads").toBe(true);
        expect(new Set(set).size).toBe(set.length);
      } finally {
        await worker.terminate();
      }
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("the runtime's compiler and collector threads at tight timers", () => {
  it("the environment to start again with adds the runtime's options and keeps the rest; none when they are set", async () => {
    const { envWithoutHelperThreads, NO_HELPER_THREADS } = await import("../../src/daemon/realtime.ts");
    const again = envWithoutHelperThreads({ PATH: "/usr/bin", VIGIL_CONFIG: "/etc/vigil/vigil.yaml" });
    expect(again).toEqual({ PATH: "/usr/bin", VIGIL_CONFIG: "/etc/vigil/vigil.yaml", ...NO_HELPER_THREADS });
    expect(Object.keys(NO_HELPER_THREADS).sort()).toEqual(["BUN_JSC_numberOfGCMarkers", "BUN_JSC_useConcurrentGC", "BUN_JSC_useConcurrentJIT"]);
    expect(envWithoutHelperThreads({ PATH: "/usr/bin", ...NO_HELPER_THREADS })).toBeUndefined();
  });

  it("an operator's own value wins: set ones are kept, missing ones added; all set means no second start", async () => {
    const { envWithoutHelperThreads } = await import("../../src/daemon/realtime.ts");
    const again = envWithoutHelperThreads({ PATH: "/usr/bin", BUN_JSC_useConcurrentGC: "1" });
    expect(again).toEqual({ PATH: "/usr/bin", BUN_JSC_useConcurrentGC: "1", BUN_JSC_useConcurrentJIT: "0", BUN_JSC_numberOfGCMarkers: "1" });
    expect(envWithoutHelperThreads({ BUN_JSC_useConcurrentGC: "1", BUN_JSC_useConcurrentJIT: "1", BUN_JSC_numberOfGCMarkers: "2" })).toBeUndefined();
  });

  it("the daemon starts itself again without them once real-time scheduling is granted, and runs on if that fails", async () => {
    vi.resetModules();
    const { applyRealtime, NO_HELPER_THREADS } = await import("../../src/daemon/realtime.ts");
    const { Logger } = await import("../../src/daemon/log.ts");
    const calls = { setScheduler: () => ({ ok: true as const }), mlockall: () => ({ ok: true as const }) };
    const asked: Record<string, string>[] = [];
    const lines: string[] = [];
    const saved = Object.fromEntries(Object.keys(NO_HELPER_THREADS).map((k) => [k, process.env[k]]));
    for (const k of Object.keys(NO_HELPER_THREADS)) delete process.env[k];
    try {
      await applyRealtime(config(100, 2, []), new Logger("text", (l) => lines.push(l)), "start", async () => calls, async (env) => {
        asked.push(env);
        return "execve refused";
      });
      expect(asked).toHaveLength(1);
      expect(asked[0]).toMatchObject(NO_HELPER_THREADS);
      expect(lines.some((l) => l.includes("running with them") && l.includes("execve refused"))).toBe(true);
      // Already without them (the process started again): nothing more, and
      // what it starts from now on does not inherit them.
      Object.assign(process.env, NO_HELPER_THREADS);
      const again: string[] = [];
      await applyRealtime(config(100, 2, []), new Logger("text", (l) => again.push(l)), "start", async () => calls, async (env) => {
        asked.push(env);
        return "";
      });
      expect(asked).toHaveLength(1);
      expect(Object.keys(NO_HELPER_THREADS).filter((k) => process.env[k] !== undefined)).toEqual([]);
      expect(again.some((l) => l.includes("real-time scheduling on") && l.includes("helper_threads=off"))).toBe(true);
      // Not at the default timers.
      for (const k of Object.keys(NO_HELPER_THREADS)) delete process.env[k];
      await applyRealtime(config(500, 2, []), new Logger("text", () => {}), "start", async () => calls, async (env) => {
        asked.push(env);
        return "";
      });
      expect(asked).toHaveLength(1);
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
});
