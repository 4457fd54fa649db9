/**
 * Mutations of byte strings for the fuzzer, driven by a seeded PRNG so a run
 * replays: bit flips, random bytes, inserts and deletes, block duplication,
 * splices with another corpus entry, interesting integers (u8/u16/u32, both
 * byte orders) where length and count fields sit, truncation, dictionary words.
 */

export type Rand = () => number;

/** mulberry32: small, fast, seeded. */
export function prng(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x7fff, 0x8000, 0xfffe, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 16, 32, 33, 64, 65, 255, 256, 1024, 4096, 65536];

const below = (rand: Rand, n: number): number => Math.floor(rand() * n);

function interestingInt(rand: Rand, b: Uint8Array): Uint8Array {
  if (b.length === 0) return b;
  const size = [1, 2, 4][below(rand, 3)] ?? 1;
  if (b.length < size) return b;
  const at = below(rand, b.length - size + 1);
  let v = INTERESTING[below(rand, INTERESTING.length)] ?? 0;
  if (rand() < 0.2) v = (v + (rand() < 0.5 ? -1 : 1)) >>> 0;
  const out = b.slice();
  const view = new DataView(out.buffer);
  const little = rand() < 0.5;
  if (size === 1) view.setUint8(at, v & 0xff);
  else if (size === 2) view.setUint16(at, v & 0xffff, little);
  else view.setUint32(at, v >>> 0, little);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface MutateContext {
  rand: Rand;
  /** Another input to splice with. */
  other(): Uint8Array;
  dictionary: readonly Uint8Array[];
  maxLength: number;
}

/** One mutation; never changes `b` in place. */
export function mutateOnce(b: Uint8Array, c: MutateContext): Uint8Array {
  const { rand } = c;
  const n = b.length;
  switch (below(rand, c.dictionary.length > 0 ? 12 : 11)) {
    case 0: {
      if (n === 0) return new Uint8Array([below(rand, 256)]);
      const out = b.slice();
      const i = below(rand, n);
      out[i] = (out[i] ?? 0) ^ (1 << below(rand, 8));
      return out;
    }
    case 1: {
      if (n === 0) return b;
      const out = b.slice();
      out[below(rand, n)] = below(rand, 256);
      return out;
    }
    case 2: {
      const at = below(rand, n + 1);
      const k = 1 + below(rand, rand() < 0.8 ? 4 : 64);
      const ins = new Uint8Array(k).map(() => (rand() < 0.5 ? below(rand, 256) : (b[below(rand, Math.max(1, n))] ?? 0)));
      return concat(b.subarray(0, at), ins, b.subarray(at));
    }
    case 3: {
      if (n === 0) return b;
      const at = below(rand, n);
      const k = 1 + below(rand, Math.min(n - at, rand() < 0.8 ? 4 : 64));
      return concat(b.subarray(0, at), b.subarray(at + k));
    }
    case 4: {
      if (n === 0) return b;
      const from = below(rand, n);
      const k = 1 + below(rand, Math.min(n - from, 32));
      const at = below(rand, n + 1);
      return concat(b.subarray(0, at), b.subarray(from, from + k), b.subarray(at));
    }
    case 5: {
      const o = c.other();
      const cut = below(rand, n + 1);
      const from = below(rand, o.length + 1);
      return concat(b.subarray(0, cut), o.subarray(from));
    }
    case 6:
    case 7:
      return interestingInt(rand, b);
    case 8:
      return b.subarray(0, below(rand, n + 1)).slice();
    case 9: {
      const k = 1 + below(rand, 16);
      return concat(b, new Uint8Array(k).map(() => below(rand, 256)));
    }
    case 10: {
      // Swap two bytes: reorders fields without changing the multiset.
      if (n < 2) return b;
      const out = b.slice();
      const i = below(rand, n);
      const j = below(rand, n);
      const t = out[i] ?? 0;
      out[i] = out[j] ?? 0;
      out[j] = t;
      return out;
    }
    default: {
      const word = c.dictionary[below(rand, c.dictionary.length)] ?? new Uint8Array(0);
      const at = below(rand, n + 1);
      if (rand() < 0.5 || n === 0) return concat(b.subarray(0, at), word, b.subarray(at));
      const end = Math.min(n, at + word.length);
      return concat(b.subarray(0, at), word, b.subarray(end));
    }
  }
}

/** A stack of 1 to 2^k mutations, cut to maxLength. */
export function mutate(b: Uint8Array, c: MutateContext): Uint8Array {
  let out = b;
  const depth = 1 << below(c.rand, 4);
  for (let i = 0; i < depth; i++) out = mutateOnce(out, c);
  return out.length > c.maxLength ? out.slice(0, c.maxLength) : out === b ? b.slice() : out;
}

/**
 * The seeded random loop the unit suite runs: 1 to 4 of byte set, truncate,
 * append a byte, flip a bit, on a seed; no feedback. The baseline.
 */
export function randomLoopMutation(b: Uint8Array, rand: Rand): Uint8Array {
  let out: Uint8Array = b.slice();
  const k = 1 + below(rand, 4);
  for (let i = 0; i < k; i++) {
    const what = rand();
    if (what < 0.5 && out.length > 0) out[below(rand, out.length)] = below(rand, 256);
    else if (what < 0.7) out = out.slice(0, below(rand, out.length + 1));
    else if (what < 0.85) out = concat(out, new Uint8Array([below(rand, 256)]));
    else if (out.length > 0) {
      const j = below(rand, out.length);
      out[j] = (out[j] ?? 0) ^ (1 << below(rand, 8));
    }
  }
  return out;
}
