/**
 * What the codec tests share: a seeded random source for their property
 * runs (the simulator's PRNG, so a failing seed replays) and the check that
 * a decoder refused its input with the expected typed error.
 */
import { expect } from "vitest";
import { Prng } from "../sim/harness/prng.ts";

/** Numbers in [0, 1), the same sequence for the same seed on every runtime. */
export function randomSource(seed: number): () => number {
  const p = Prng.fromSeed(seed);
  return () => p.next();
}

type Decoded = { readonly ok: true } | { readonly ok: false; readonly error: { readonly kind: string; readonly detail?: string } };

export function expectDecodeError(r: Decoded, kind: string, detail?: RegExp): void {
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.error.kind).toBe(kind);
  if (detail !== undefined) expect(r.error.detail).toMatch(detail);
}
