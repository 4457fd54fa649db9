import { describe, expect, it } from "vitest";
import { Breather, Turns } from "../../src/replicator/breathe.ts";

/**
 * A model of the event loop's turns: a yield waits until the loop comes
 * round; each turn first runs the timers (counted as a tick), then wakes the
 * yields queued before it one by one, each followed by all the work that
 * follows from it until every chain waits again (as setImmediate callbacks
 * run, microtasks drained between them).
 */
class Loop {
  private queued: (() => void)[] = [];
  ticks = 0;
  readonly yieldTurn = (): Promise<void> => new Promise<void>((resolve) => this.queued.push(resolve));

  async runUntil(done: () => boolean): Promise<void> {
    await settle();
    while (!done()) {
      this.ticks++;
      const batch = this.queued.splice(0);
      expect(batch.length).toBeGreaterThan(0);
      for (const wake of batch) {
        wake();
        await settle();
      }
    }
  }
}

/** Lets every chain run until it waits on the loop (only the loop's own yields are pending). */
const settle = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

describe("Breather", () => {
  it("chains at once share the thread's turn: between two runs of the timers the work is one period long, not one per chain", async () => {
    const loop = new Loop();
    let t = 0;
    const turns = new Turns(() => t, loop.yieldTurn, 10);
    const chains = 8;
    const items = 200;
    const perTick = new Map<number, number>();
    let finished = 0;
    const chain = async (): Promise<void> => {
      const breather = new Breather(turns);
      for (let i = 0; i < items; i++) {
        await breather.breathe();
        t++; // one unit of the clock per item
        perTick.set(loop.ticks, (perTick.get(loop.ticks) ?? 0) + 1);
      }
      finished++;
    };
    const all = Array.from({ length: chains }, chain);
    await loop.runUntil(() => finished === chains);
    await Promise.all(all);
    // One period, plus at most the item each other chain finishes after the period ran out.
    expect(Math.max(...perTick.values())).toBeLessThanOrEqual(10 + chains);
    expect([...perTick.values()].reduce((a, b) => a + b, 0)).toBe(chains * items);
  });

  it("a single chain yields once per period", async () => {
    const loop = new Loop();
    let t = 0;
    const breather = new Breather(new Turns(() => t, loop.yieldTurn, 10));
    let done = false;
    const run = (async () => {
      for (let i = 0; i < 100; i++) {
        await breather.breathe();
        t++;
      }
      done = true;
    })();
    await loop.runUntil(() => done);
    await run;
    expect(loop.ticks).toBe(9);
  });
});
