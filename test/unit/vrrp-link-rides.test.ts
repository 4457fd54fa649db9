import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { linkRide } from "../../src/daemon/vrrp/link-rides.ts";

/** A ride over fake timers: `rounds(ms, every)` calls round() every `every` ms; checks record when and from where they ran. */
function setup(o: { everyMs?: number; interval: () => number | undefined }) {
  const checks: { at: number; inRound: boolean }[] = [];
  let inRound = false;
  let hold: Promise<void> | undefined;
  const ride = linkRide({
    everyMs: o.everyMs ?? 500,
    roundIntervalMs: o.interval,
    clock: () => Date.now(),
    job: async () => {
      checks.push({ at: Date.now(), inRound });
      await hold;
    },
  });
  const round = (): void => {
    inRound = true;
    ride.round();
    inRound = false;
  };
  const rounds = async (ms: number, every: number): Promise<void> => {
    for (let t = 0; t < ms; t += every) {
      await vi.advanceTimersByTimeAsync(every);
      round();
    }
  };
  return { ride, checks, rounds, round, holdChecks: (p: Promise<void> | undefined) => (hold = p) };
}

describe("a VRRP link check riding the heartbeat's rounds", () => {
  beforeEach(() => vi.useFakeTimers({ now: 0 }));
  afterEach(() => vi.useRealTimers());

  it("at 100 ms rounds it runs every 500 ms, each time in a round's wake-up, never on its own timer", async () => {
    const s = setup({ interval: () => 100 });
    await s.rounds(5_000, 100);
    expect(s.checks.map((c) => c.at)).toEqual([500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000]);
    expect(s.checks.every((c) => c.inRound)).toBe(true);
    s.ride.stop();
  });

  it("with rounds of 30 ms it still comes every 500 ms on average, within half a round", async () => {
    const s = setup({ interval: () => 30 });
    await s.rounds(10_020, 30);
    const gaps = s.checks.slice(1).map((c, i) => c.at - (s.checks[i]?.at ?? 0));
    expect(s.checks.length).toBeGreaterThanOrEqual(19);
    for (const g of gaps) expect(Math.abs(g - 500)).toBeLessThanOrEqual(15);
    s.ride.stop();
  });

  it("when rounds stop, its own timer runs it linkPollMs plus two rounds after the last check, then again", async () => {
    const s = setup({ interval: () => 100 });
    await s.rounds(1_000, 100);
    expect(s.checks.map((c) => c.at)).toEqual([500, 1000]);
    await vi.advanceTimersByTimeAsync(1_400);
    expect(s.checks.map((c) => c.at)).toEqual([500, 1000, 1700, 2400]);
    expect(s.checks.slice(2).every((c) => !c.inRound)).toBe(true);
    s.ride.stop();
  });

  it("rounds further apart than half the poll (wan) or none at all: its own timer every linkPollMs", async () => {
    let interval: number | undefined = 1_000;
    const s = setup({ interval: () => interval });
    await s.rounds(2_000, 1_000);
    expect(s.checks.map((c) => c.at)).toEqual([500, 1000, 1500, 2000]);
    expect(s.checks.every((c) => !c.inRound)).toBe(true);
    interval = undefined;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(s.checks.map((c) => c.at)).toEqual([500, 1000, 1500, 2000, 2500, 3000]);
    s.ride.stop();
  });

  it("a check still running is not started again; stopped, nothing runs", async () => {
    const s = setup({ interval: () => 100 });
    let release = (): void => {};
    s.holdChecks(new Promise<void>((r) => (release = r)));
    await s.rounds(2_000, 100);
    expect(s.checks.map((c) => c.at)).toEqual([500]);
    release();
    s.holdChecks(undefined);
    await s.rounds(500, 100);
    expect(s.checks.map((c) => c.at)).toEqual([500, 2100]);
    s.ride.stop();
    await s.rounds(2_000, 100);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(s.checks.length).toBe(2);
  });
});
