import { describe, expect, it, vi } from "vitest";
import { dropAgainLater, droppableRangesOf, LATER_COLLECTION_BEFORE_DROP_MS, LATER_DROP_AFTER_INITDEAD_MS, LaterDropOnce, START_TRIM_LINE, startTrimPlan, wantsLaterDrop } from "../../src/daemon/memory-trim.ts";
import { Logger } from "../../src/daemon/log.ts";

const mapping = (range: string, perms: string, path: string, anonKiB: number): string =>
  [
    `${range} ${perms} 00000000 fe:00 5312829                            ${path}`,
    "Size:              25700 kB",
    "Rss:               6436 kB",
    `Anonymous:         ${anonKiB} kB`,
    "VmFlags: rd mr mw me dw sd",
  ].join("\n");

const EXE = "/usr/local/bin/vigil";

describe("which pages the start-up trim may drop", () => {
  it("the executable's read-only private mappings that hold no private copy of a page", () => {
    const smaps = [
      mapping("00200000-01a39000", "r--p", EXE, 0),
      mapping("01a40000-0684a000", "r-xp", EXE, 0),
      mapping("0684a000-0685f000", "rw-p", EXE, 52),
      // Written at start, then made read-only (relocations, frozen runtime settings): its bytes are ours, not the file's.
      mapping("0685f000-06867000", "r--p", EXE, 12),
      mapping("06867000-070c5000", "rw-p", EXE, 116),
      mapping("465b7600000-465f7600000", "rw-p", "", 31820),
      mapping("7f7883949000-7f7883a9f000", "r-xp", "/usr/lib/x86_64-linux-gnu/libc.so.6", 0),
      mapping("7f7883a9f000-7f7883aa0000", "r--s", EXE, 0),
    ].join("\n");
    expect(droppableRangesOf(smaps, EXE)).toEqual([
      { start: 0x00200000n, end: 0x01a39000n },
      { start: 0x01a40000n, end: 0x0684a000n },
    ]);
  });

  it("a path with spaces is matched whole; text that does not parse drops nothing", () => {
    const spaced = "/opt/my tools/vigil";
    expect(droppableRangesOf(mapping("1000-2000", "r-xp", spaced, 0), spaced)).toEqual([{ start: 0x1000n, end: 0x2000n }]);
    expect(droppableRangesOf(mapping("1000-2000", "r-xp", spaced, 0), "/opt/my")).toEqual([]);
    expect(droppableRangesOf("garbage\nAnonymous: 0 kB\n", EXE)).toEqual([]);
    // No Anonymous line for a mapping: nothing known of its pages, so it is kept.
    expect(droppableRangesOf(`1000-2000 r-xp 00000000 fe:00 1 ${EXE}\nRss: 4 kB`, EXE)).toEqual([]);
  });
});

describe("the later drop, once the engines' start-up work is done", () => {
  it("is wanted on nodes with modules or VRRP instances, not with heartbeats only", () => {
    expect(wantsLaterDrop({ modules: [], vrrp: [] })).toBe(false);
    expect(wantsLaterDrop({ modules: [{}], vrrp: [] })).toBe(true);
    expect(wantsLaterDrop({ modules: [], vrrp: [{}] })).toBe(true);
  });

  it("runs once, after its delay, and not at all when cancelled first", async () => {
    vi.useFakeTimers();
    try {
      const seen: string[] = [];
      const log = new Logger("json", () => {});
      log.onEvent((e) => seen.push(e.msg));
      const cancel = dropAgainLater(log, 30_000);
      await vi.advanceTimersByTimeAsync(29_999);
      expect(seen).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      // Off Bun there is no FFI: the drop says it could not be done, which shows it ran.
      await vi.waitFor(() => expect(seen).toEqual(["memory trimmed again once the engines' start-up work was done: not done"]));
      cancel();
      seen.length = 0;
      const cancelled = dropAgainLater(log, 30_000);
      cancelled();
      await vi.advanceTimersByTimeAsync(60_000);
      expect(seen).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("collects the heap right after a round, and drops its delay later right after a round", async () => {
    vi.useFakeTimers();
    try {
      const order: string[] = [];
      const log = new Logger("json", () => {});
      log.onEvent((e) => order.push(e.msg.replace(/:.*/, "")));
      const rounds: (() => void)[] = [];
      const beforeStep = () => new Promise<void>((r) => {
        order.push("wait for a round");
        rounds.push(r);
      });
      const cancel = dropAgainLater(log, 30_000, { beforeStep, collect: () => order.push("collect") });
      await vi.advanceTimersByTimeAsync(30_000 - LATER_COLLECTION_BEFORE_DROP_MS - 1);
      expect(order).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(order).toEqual(["wait for a round"]);
      rounds.shift()?.();
      await vi.advanceTimersByTimeAsync(0);
      expect(order).toEqual(["wait for a round", "collect"]);
      await vi.advanceTimersByTimeAsync(LATER_COLLECTION_BEFORE_DROP_MS);
      expect(order).toEqual(["wait for a round", "collect", "wait for a round"]);
      rounds.shift()?.();
      await vi.waitFor(() => expect(order).toEqual(["wait for a round", "collect", "wait for a round", "memory trimmed again once the engines' start-up work was done"]));
      cancel();
    } finally {
      vi.useRealTimers();
    }
  });

  it("a stop while it waits for a round ends it: no collection, no drop", async () => {
    vi.useFakeTimers();
    try {
      const order: string[] = [];
      const log = new Logger("json", () => {});
      log.onEvent((e) => order.push(e.msg));
      const rounds: (() => void)[] = [];
      const cancel = dropAgainLater(log, 30_000, { beforeStep: () => new Promise<void>((r) => rounds.push(r)), collect: () => order.push("collect") });
      await vi.advanceTimersByTimeAsync(30_000 - LATER_COLLECTION_BEFORE_DROP_MS);
      expect(rounds.length).toBe(1);
      cancel();
      rounds.shift()?.();
      await vi.advanceTimersByTimeAsync(0);
      await vi.advanceTimersByTimeAsync(60_000);
      expect(order).toEqual([]);
      expect(rounds).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("the later drop across reloads", () => {
  const config = (modules: number, vrrp: number, initdead = 30_000) => ({
    modules: Array.from({ length: modules }, (_, i) => ({ name: `m${i}` })),
    vrrp: Array.from({ length: vrrp }, (_, i) => ({ name: `v${i}` })),
    cluster: { heartbeat: { initdead } },
  });
  const scheduler = () => {
    const delays: number[] = [];
    const cancel = vi.fn();
    return { delays, cancel, once: new LaterDropOnce((afterMs) => (delays.push(afterMs), cancel)) };
  };

  it("a reload that brings the first module or VRRP instance schedules it, with the reloaded initdead", () => {
    for (const next of [config(1, 0, 60_000), config(0, 1, 60_000)]) {
      const s = scheduler();
      s.once.consider(config(0, 0));
      expect(s.delays).toEqual([]);
      s.once.consider(config(0, 0)); // A reload that brings neither.
      expect(s.delays).toEqual([]);
      s.once.consider(next);
      expect(s.delays).toEqual([60_000 + LATER_DROP_AFTER_INITDEAD_MS]);
    }
  });

  it("once a run: not again at a later reload, nor at a reload of a node that had it at start", () => {
    const late = scheduler();
    late.once.consider(config(0, 0));
    late.once.consider(config(1, 0));
    late.once.consider(config(2, 1));
    late.once.consider(config(0, 0));
    late.once.consider(config(1, 0));
    expect(late.delays).toEqual([30_000 + LATER_DROP_AFTER_INITDEAD_MS]);

    const atStart = scheduler();
    atStart.once.consider(config(1, 0));
    atStart.once.consider(config(3, 2));
    expect(atStart.delays).toEqual([30_000 + LATER_DROP_AFTER_INITDEAD_MS]);
  });

  it("a stop cancels what was scheduled; with nothing scheduled it does nothing", () => {
    const s = scheduler();
    s.once.cancelPending();
    s.once.consider(config(0, 1));
    s.once.cancelPending();
    expect(s.cancel).toHaveBeenCalledTimes(1);
  });
});

describe("when the trim after start runs", () => {
  const config = (modules: number, vrrp: number, initdead = 5_000) => ({
    modules: Array.from({ length: modules }, () => ({})),
    vrrp: Array.from({ length: vrrp }, () => ({})),
    cluster: { heartbeat: { initdead } },
  });

  it("at the end of start-up only where memory is locked afterwards", () => {
    for (const c of [config(0, 0), config(1, 0), config(0, 1)]) expect(startTrimPlan(c, true)).toEqual({ when: "end-of-start-up" });
  });

  it("elsewhere not before initdead: the later collection and drop on a node with modules or VRRP, the same steps from initdead on a node with heartbeats only", () => {
    expect(startTrimPlan(config(1, 0), false)).toEqual({ when: "later-drop" });
    expect(startTrimPlan(config(0, 2), false)).toEqual({ when: "later-drop" });
    const alone = startTrimPlan(config(0, 0, 5_000), false);
    expect(alone).toEqual({ when: "after-initdead", dropAfterMs: 5_000 + LATER_COLLECTION_BEFORE_DROP_MS });
  });

  it("the heartbeat-only node's trim collects at initdead and logs its drop as the trim after start", async () => {
    vi.useFakeTimers();
    try {
      const seen: string[] = [];
      const log = new Logger("json", () => {});
      log.onEvent((e) => seen.push(e.msg));
      let collected = 0;
      const plan = startTrimPlan(config(0, 0, 5_000), false);
      if (plan.when !== "after-initdead") throw new Error(plan.when);
      const cancel = dropAgainLater(log, plan.dropAfterMs, { collect: () => void collected++, what: START_TRIM_LINE });
      await vi.advanceTimersByTimeAsync(4_999);
      expect(collected).toBe(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(collected).toBe(1);
      await vi.advanceTimersByTimeAsync(LATER_COLLECTION_BEFORE_DROP_MS);
      // Off Bun there is no FFI: the drop says it could not be done, which shows it ran.
      await vi.waitFor(() => expect(seen).toEqual([`${START_TRIM_LINE}: not done`]));
      cancel();
    } finally {
      vi.useRealTimers();
    }
  });
});
