/**
 * The health watch checks once a second. With heartbeat rounds going, the
 * check runs after a round (the wake-up the round already costs) and the
 * watch's own timer never fires; without rounds (heartbeats off or
 * restarting) its own timer still checks.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { HealthWatch, type Rounds, supervisedHealthWatch } from "../../src/daemon/health-watch.ts";
import { Logger } from "../../src/daemon/log.ts";
import { Metrics } from "../../src/daemon/metrics.ts";

const INPUTS = { health: { isolated: null, nodes: [], modules: [] }, uptimeMs: 60_000, timers: { initdeadMs: 2_000, deadtimeMs: 500 } };

function watched(withRounds: boolean) {
  const riders: (() => void)[] = [];
  const rounds: Rounds = { afterRound: (fn) => riders.push(fn) };
  let inRound = false;
  const checks: { at: number; inRound: boolean }[] = [];
  const engine = supervisedHealthWatch(
    new HealthWatch(new Logger("text", () => {}), new Metrics()),
    () => {
      checks.push({ at: Date.now(), inRound });
      return INPUTS;
    },
    withRounds ? rounds : undefined,
    () => Date.now(),
  );
  /** A heartbeat round: what the heartbeat engine calls after it sent its frames. */
  const round = (): void => {
    inRound = true;
    try {
      for (const f of riders) f();
    } finally {
      inRound = false;
    }
  };
  return { engine, checks, round };
}

/** `ms` of rounds every `everyMs` (phase 37 ms off the watch's start, as a heartbeat's would be). */
async function roundsFor(round: () => void, ms: number, everyMs: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(37);
  for (let t = 37; t + everyMs <= ms; t += everyMs) {
    await vi.advanceTimersByTimeAsync(everyMs);
    round();
  }
}

describe("the health watch and the heartbeat's rounds", () => {
  beforeEach(() => vi.useFakeTimers({ now: 7_000_000 }));
  afterEach(() => vi.useRealTimers());

  it("checks after a round about once a second, and its own timer never fires while rounds go", async () => {
    const w = watched(true);
    await w.engine.start();
    await roundsFor(w.round, 10_000, 100);
    expect(w.checks.length).toBeGreaterThanOrEqual(9);
    expect(w.checks.length).toBeLessThanOrEqual(10);
    expect(w.checks.filter((c) => !c.inRound)).toEqual([]);
    for (let i = 1; i < w.checks.length; i++) {
      const gap = (w.checks[i]?.at ?? 0) - (w.checks[i - 1]?.at ?? 0);
      expect(gap).toBeGreaterThanOrEqual(950);
      expect(gap).toBeLessThanOrEqual(1_100);
    }
    await w.engine.stop("shutdown");
  });

  it("rides rounds of a whole second whose phase jitters by a millisecond", async () => {
    const w = watched(true);
    await w.engine.start();
    await vi.advanceTimersByTimeAsync(5);
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(i % 2 === 0 ? 999 : 1_001);
      w.round();
    }
    expect(w.checks.filter((c) => !c.inRound)).toEqual([]);
    expect(w.checks.length).toBe(10);
    await w.engine.stop("shutdown");
  });

  it("checks on its own timer when no round comes, and again after rounds when they resume", async () => {
    const w = watched(true);
    await w.engine.start();
    await vi.advanceTimersByTimeAsync(6_000);
    const alone = w.checks.length;
    expect(alone).toBeGreaterThanOrEqual(3);
    expect(w.checks.every((c) => !c.inRound)).toBe(true);
    await roundsFor(w.round, 5_000, 100);
    const after = w.checks.slice(alone + 1);
    expect(after.length).toBeGreaterThanOrEqual(3);
    expect(after.filter((c) => !c.inRound)).toEqual([]);
    await w.engine.stop("shutdown");
  });

  it("checks every second on its own without rounds to ride, and not at all once stopped", async () => {
    const w = watched(false);
    await w.engine.start();
    await vi.advanceTimersByTimeAsync(5_050);
    expect(w.checks.length).toBe(5);
    await w.engine.stop("shutdown");
    w.round();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(w.checks.length).toBe(5);
  });

  it("does not check after a round once stopped", async () => {
    const w = watched(true);
    await w.engine.start();
    await roundsFor(w.round, 3_000, 100);
    const n = w.checks.length;
    await w.engine.stop("shutdown");
    await roundsFor(w.round, 3_000, 100);
    expect(w.checks.length).toBe(n);
  });
});
