/** What the tests of the PRIM's acknowledgement queue share: a write op of a size, and which calls have returned. */
import type { MirrorOp } from "../../src/replicator/ops.ts";

/** A write of `n` bytes to one file. */
export const write = (n: number): MirrorOp => ({ op: "write", path: new TextEncoder().encode("f"), offset: 0, data: new Uint8Array(n), mtimeNs: 0n });

/** Which of the calls have returned, by index. */
export function tracker(dones: Promise<void>[]): () => Promise<number[]> {
  const got: number[] = [];
  dones.forEach((d, i) => void d.then(() => got.push(i), () => undefined));
  return async () => {
    await new Promise((r) => setTimeout(r, 0));
    return [...got].sort((a, b) => a - b);
  };
}
