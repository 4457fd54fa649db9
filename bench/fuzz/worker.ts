/**
 * The fuzz loop, in a worker thread so the main thread can see a hang and
 * stop it. Before each run the input is copied to shared memory with a
 * counter bumped; a counter that stops moving for a second is a hang, and
 * the main thread reads the input from there.
 *
 * Modes: "guided" mutates corpus entries and keeps each input that reaches
 * a new block or a new hit-count bucket; "random" is the unit suite's
 * seeded loop (1-4 simple mutations of a seed, no feedback), measured with
 * the same coverage. Either way the inputs that added coverage are reported.
 * "measure" replays the sets both modes kept, smallest first, on one
 * tracker: the figure they are compared by, and the minimized corpus.
 */
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parentPort, workerData } from "node:worker_threads";
import { BlockCoverage } from "./coverage.ts";
import { mutate, prng, randomLoopMutation } from "./mutate.ts";
import { SHARED_HEADER, type WorkerInput, type WorkerMessage } from "./protocol.ts";
import type { FuzzTarget } from "./targets.ts";

const w = workerData as WorkerInput;
if (parentPort === null) throw new Error("worker.ts runs as a worker thread");
const port = parentPort;

const mod = (await import(pathToFileURL(w.targetsFile).href)) as { targetNamed(name: string): FuzzTarget };
const target = mod.targetNamed(w.target);
const counter = new Int32Array(w.shared, 0, 2);
const inputArea = new Uint8Array(w.shared, SHARED_HEADER);
const rand = prng(w.seed);
const cov = new BlockCoverage(pathToFileURL(w.targetsFile).href);
const utf8 = new TextEncoder();
const dictionary = (target.dictionary ?? []).map((s) => utf8.encode(s));

function exec(input: Uint8Array): boolean {
  const n = Math.min(input.length, inputArea.length);
  inputArea.set(input.subarray(0, n));
  Atomics.store(counter, 1, n);
  Atomics.add(counter, 0, 1);
  try {
    target.run(input);
    return true;
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    port.postMessage({ type: "finding", input, error: `${err.name}: ${err.message}`, stack: err.stack ?? "" } satisfies WorkerMessage);
    return false;
  }
}

const seeds = target.seeds(w.root);
const corpus: Uint8Array[] = w.corpus.length > 0 ? [...w.corpus] : [];
const kept: Uint8Array[] = [];

function keep(input: Uint8Array): void {
  kept.push(input);
  if (w.mode === "guided") corpus.push(input);
  port.postMessage({ type: "keep", input } satisfies WorkerMessage);
}

if (w.mode === "measure") {
  const sets = (w.sets ?? []).map((set) => [...seeds, ...set].sort((a, b) => a.length - b.length));
  for (const set of sets) for (const input of set) {
    exec(input);
    cov.collect();
  }
  const blocks: number[] = [];
  const minimized: Uint8Array[][] = [];
  const uncovered: string[] = [];
  const source = readFileSync(w.targetsFile, "utf8");
  for (const [k, set] of sets.entries()) {
    cov.forgetCovered();
    const mine: Uint8Array[] = [];
    for (const input of set) {
      exec(input);
      if (cov.collect().newBlocks > 0) mine.push(input);
    }
    blocks.push(cov.blocks);
    minimized.push(mine);
    if (k === 0) for (const [a, b] of cov.uncovered()) uncovered.push(source.slice(a, Math.min(b, a + 90)).replace(/\s+/g, " "));
  }
  port.postMessage({ type: "measured", blocks, knownBlocks: cov.knownBlocks, minimized, uncovered } satisfies WorkerMessage);
} else {
  fuzz();
}

function fuzz(): void {
cov.reset();
for (const s of seeds) {
  exec(s);
  cov.collect();
}
// A corpus handed in (a restart, or --from-corpus) is kept whole: the main thread measures and writes what it holds.
for (const s of corpus) {
  exec(s);
  cov.collect();
  port.postMessage({ type: "keep", input: s } satisfies WorkerMessage);
}
if (w.mode === "guided") corpus.unshift(...seeds);
port.postMessage({ type: "ready" } satisfies WorkerMessage);

const withFixup = (b: Uint8Array): Uint8Array => (target.fixup !== undefined && rand() < 0.9 ? target.fixup(b) : b);
const ctx = {
  rand,
  other: () => corpus[Math.floor(rand() * corpus.length)] ?? seeds[0] ?? new Uint8Array(0),
  dictionary,
  maxLength: w.maxLength,
};

let execs = 0;
let lastStats = Date.now();
while (Date.now() < w.until) {
  for (let i = 0; i < 64; i++) {
    let input: Uint8Array;
    if (w.mode === "guided") {
      // Newer entries are likelier to sit at the frontier: half the picks come from the last 16.
      const pool = rand() < 0.5 ? corpus.slice(-16) : corpus;
      const base = pool[Math.floor(rand() * pool.length)] ?? new Uint8Array(0);
      input = withFixup(mutate(base, ctx));
    } else {
      const base = seeds[Math.floor(rand() * seeds.length)] ?? new Uint8Array(0);
      input = withFixup(randomLoopMutation(base, rand));
    }
    exec(input);
    execs++;
    const { newBlocks, newBuckets } = cov.collect();
    if (newBlocks > 0 || (w.mode === "guided" && newBuckets > 0)) keep(input);
  }
  if (Date.now() - lastStats > 1000) {
    lastStats = Date.now();
    port.postMessage({ type: "stats", execs, blocks: cov.blocks, corpus: corpus.length } satisfies WorkerMessage);
  }
}

port.postMessage({ type: "done", execs, blocks: cov.blocks, kept } satisfies WorkerMessage);
}
