import { describe, expect, it } from "vitest";
import { Prng } from "./harness/prng.ts";

const draw = (rng: Prng, n: number) => Array.from({ length: n }, () => rng.nextU32());

describe("seeded PRNG", () => {
  it("gives the same stream for the same seed, on every runtime", () => {
    expect(draw(Prng.fromSeed(42), 5)).toEqual(draw(Prng.fromSeed(42), 5));
    // Pinned values: a change here breaks every recorded SIM_SEED.
    expect(draw(Prng.fromSeed(1), 3)).toEqual([2148230362, 1844205520, 1976901148]);
  });

  it("gives different streams for nearby seeds and for seeds that differ only above 2^32", () => {
    const a = draw(Prng.fromSeed(1), 8);
    expect(draw(Prng.fromSeed(2), 8)).not.toEqual(a);
    expect(draw(Prng.fromSeed(2 ** 32 + 1), 8)).not.toEqual(a);
    expect(draw(Prng.fromSeed(-1), 8)).not.toEqual(a);
  });

  it("snapshot and restore continue the same stream", () => {
    const rng = Prng.fromSeed(7);
    rng.nextU32();
    const saved = rng.snapshot();
    const expected = draw(rng, 4);
    expect(draw(Prng.restore(saved), 4)).toEqual(expected);
  });

  it("int stays in range, hits both ends, and is roughly uniform", () => {
    const rng = Prng.fromSeed(3);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 60_000; i++) {
      const x = rng.int(10, 15);
      expect(x >= 10 && x <= 15 && Number.isInteger(x)).toBe(true);
      counts[x - 10] = (counts[x - 10] ?? 0) + 1;
    }
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    expect(rng.int(5, 5)).toBe(5);
    expect(() => rng.int(3, 2)).toThrow(RangeError);
  });

  it("next is in [0, 1), chance honours 0 and 1, pick and shuffle use every element", () => {
    const rng = Prng.fromSeed(4);
    for (let i = 0; i < 1000; i++) {
      const x = rng.next();
      expect(x >= 0 && x < 1).toBe(true);
    }
    expect(Array.from({ length: 100 }, () => rng.chance(0)).some(Boolean)).toBe(false);
    expect(Array.from({ length: 100 }, () => rng.chance(1)).every(Boolean)).toBe(true);
    const items = ["a", "b", "c", "d"];
    expect(new Set(Array.from({ length: 200 }, () => rng.pick(items))).size).toBe(4);
    const shuffled = rng.shuffle(items);
    expect([...shuffled].sort()).toEqual(items);
    expect(items).toEqual(["a", "b", "c", "d"]);
    expect(() => rng.pick([])).toThrow(RangeError);
  });

  it("forks are independent of later draws of the parent", () => {
    const a = Prng.fromSeed(9);
    const b = Prng.fromSeed(9);
    const childA = a.fork();
    const childB = b.fork();
    a.nextU32();
    expect(draw(childA, 4)).toEqual(draw(childB, 4));
    expect(draw(childA, 4)).not.toEqual(draw(a, 4));
  });

  it("rejects a non-finite seed", () => {
    expect(() => Prng.fromSeed(Number.NaN)).toThrow(/finite/);
  });
});
