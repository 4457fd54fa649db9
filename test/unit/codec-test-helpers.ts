/**
 * What the codec tests share: a seeded random source for their property
 * runs (the simulator's PRNG, so a failing seed replays) and the check that
 * a decoder refused its input with the expected typed error; and a mirror
 * hello's copy written and read back whole, as the link does.
 */
import { expect } from "vitest";
import { ByteReader, ByteWriter } from "../../src/proto/bytes.ts";
import { type CopyWire, readCopy, writeCopy } from "../../src/proto/mirror-control.ts";
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

/** A hello's copy as the link writes it. */
export function encodeCopy(c: CopyWire): Uint8Array {
  const w = new ByteWriter();
  writeCopy(w, c);
  return w.finish();
}

/** A hello's copy read back, refusing any byte left after it. */
export function decodeCopy(bytes: Uint8Array): CopyWire {
  const r = new ByteReader(bytes);
  const c = readCopy(r);
  r.expectEnd("copy");
  return c;
}
