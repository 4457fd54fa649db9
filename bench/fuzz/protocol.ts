/** What the fuzzer's main thread and its worker say to each other. */

export interface WorkerInput {
  targetsFile: string;
  target: string;
  /** "measure": replay each of `sets` on one tracker (learning the blocks from all of them first). */
  mode: "guided" | "random" | "measure";
  seed: number;
  until: number;
  root: string;
  corpus: Uint8Array[];
  shared: SharedArrayBuffer;
  maxLength: number;
  sets?: Uint8Array[][];
}

export type WorkerMessage =
  | { type: "finding"; input: Uint8Array; error: string; stack: string }
  | { type: "keep"; input: Uint8Array }
  /** The seeds ran (the first runs compile schemas and warm up): the hang watchdog starts now. */
  | { type: "ready" }
  | { type: "stats"; execs: number; blocks: number; corpus: number }
  | { type: "done"; execs: number; blocks: number; kept: Uint8Array[] }
  /** `uncovered`: the first words of each block the first set did not reach (in the bundle's source). */
  | { type: "measured"; blocks: number[]; knownBlocks: number; minimized: Uint8Array[][]; uncovered: string[] };

/** Shared layout: [0] run counter, [1] input length, then the input bytes (from byte 8). */
export const SHARED_HEADER = 8;
