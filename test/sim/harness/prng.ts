/**
 * A small seeded pseudo-random generator (sfc32, seeded through splitmix32).
 *
 * Deterministic on every runtime, so a simulator run or a core that needs
 * jitter can be replayed from its seed. It is NOT cryptographic: never use it
 * for keys, nonces or anything an attacker must not guess.
 *
 * Cores stay pure by keeping a `PrngState` in their own state and calling
 * `Prng.restore(state)` / `prng.snapshot()` around each use.
 */

/** The whole generator state: four 32-bit words. */
export interface PrngState {
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
}

const TWO_POW_32 = 0x1_0000_0000;

function splitmix32(seed: number): () => number {
  let z = seed | 0;
  return () => {
    z = (z + 0x9e3779b9) | 0;
    let t = z ^ (z >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    t ^= t >>> 15;
    return t >>> 0;
  };
}

export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  private constructor(s: PrngState) {
    this.a = s.a >>> 0;
    this.b = s.b >>> 0;
    this.c = s.c >>> 0;
    this.d = s.d >>> 0;
  }

  /**
   * Any finite number is a valid seed; integers up to 2^53 keep their high
   * bits (seeds 1 and 2^32 + 1 give different streams).
   */
  static fromSeed(seed: number): Prng {
    if (!Number.isFinite(seed)) throw new RangeError(`PRNG seed must be a finite number, got ${seed}`);
    const whole = Math.trunc(Math.abs(seed));
    const low = whole % TWO_POW_32;
    const high = Math.floor(whole / TWO_POW_32) ^ (seed < 0 ? 0x5eed : 0);
    const mixLow = splitmix32(low);
    const mixHigh = splitmix32(high ^ 0x6a09e667);
    const rng = new Prng({
      a: mixLow() ^ mixHigh(),
      b: mixLow() ^ mixHigh(),
      c: mixLow() ^ mixHigh(),
      d: mixLow() ^ mixHigh(),
    });
    // sfc32 needs a few rounds before nearby seeds decorrelate.
    for (let i = 0; i < 12; i++) rng.nextU32();
    return rng;
  }

  static restore(state: PrngState): Prng {
    return new Prng(state);
  }

  snapshot(): PrngState {
    return { a: this.a, b: this.b, c: this.c, d: this.d };
  }

  /** Uniform integer in [0, 2^32). */
  nextU32(): number {
    const t0 = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    const t = (t0 + this.d) | 0;
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /** Uniform integer in [min, max], both inclusive, without modulo bias. */
  int(min: number, max: number): number {
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max < min) {
      throw new RangeError(`Prng.int needs integers min <= max, got ${min}..${max}`);
    }
    const span = max - min + 1;
    if (span > TWO_POW_32) {
      // Two draws give 53 bits; the bias over a span this large is negligible.
      return min + (((this.nextU32() & 0x1fffff) * TWO_POW_32 + this.nextU32()) % span);
    }
    const limit = TWO_POW_32 - (TWO_POW_32 % span);
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return min + (x % span);
  }

  /** Uniform float in [min, max). */
  range(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  /** True with probability p (p <= 0 never, p >= 1 always). */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Prng.pick from an empty list");
    return items[this.int(0, items.length - 1)] as T;
  }

  /** A shuffled copy (Fisher-Yates); the input is left alone. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const tmp = out[i] as T;
      out[i] = out[j] as T;
      out[j] = tmp;
    }
    return out;
  }

  /**
   * An independent child stream. Giving each consumer its own fork keeps a
   * change in how often one consumer draws from shifting every other one.
   */
  fork(): Prng {
    return Prng.fromSeed((this.nextU32() & 0x1fffff) * TWO_POW_32 + this.nextU32());
  }
}
