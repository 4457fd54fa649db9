/**
 * The coverage-guided fuzzer's driver (see run.mjs for how to start it).
 * For each target: the guided loop for --seconds, the seeded random loop for
 * the same time, then one replay of what each kept on the same coverage
 * tracker, which gives the blocks each reached. A worker that stops moving
 * for a second is a hang: its input is saved and the worker restarts with
 * the corpus so far. Every exception but the decoder's typed error is a
 * finding, saved with its input under bench/fuzz/findings/<target>/.
 *
 * Writes bench/fuzz/results.json and .md (after every target; --report
 * names them otherwise), and with
 * --write-corpus the guided run's minimized corpus to
 * test/fixtures/fuzz/<target>/ (what test/unit/fuzz-corpus.test.ts replays).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import type { FuzzTarget } from "./targets.ts";
import { SHARED_HEADER, type WorkerInput, type WorkerMessage } from "./protocol.ts";

const HANG_MS = 1_000;
const MAX_LENGTH: Record<string, number> = { config: 4096, "console-command": 512 };
const DEFAULT_MAX_LENGTH = 2048;
/** The committed corpus stays small: at most this many files per target, each at most this long. */
const CORPUS_FILES = 200;
const CORPUS_FILE_BYTES = 4096;

const { values: args } = parseArgs({
  options: {
    dist: { type: "string" },
    root: { type: "string" },
    targets: { type: "string" },
    seconds: { type: "string", default: "60" },
    seed: { type: "string", default: "20261206" },
    "write-corpus": { type: "boolean", default: false },
    "no-random": { type: "boolean", default: false },
    "from-corpus": { type: "boolean", default: false },
    report: { type: "string", default: "results" },
  },
});
const dist = args.dist ?? "";
const root = args.root ?? process.cwd();
const seconds = Number(args.seconds);
if (dist === "" || !Number.isFinite(seconds) || seconds <= 0) {
  console.error("usage: node bench/fuzz/run.mjs [--targets heartbeat,vrrp] [--seconds 60] [--seed N] [--write-corpus] [--no-random] [--from-corpus] [--report NAME]");
  process.exit(2);
}
const targetsFile = join(dist, "targets.mjs");
const workerFile = join(dist, "worker.mjs");
const allTargets = ((await import(targetsFile)) as { TARGETS: readonly FuzzTarget[] }).TARGETS.map((t) => t.name);
const chosen = args.targets === undefined ? allTargets : args.targets.split(",");
for (const t of chosen) if (!allTargets.includes(t)) throw new Error(`no fuzz target ${t}; targets: ${allTargets.join(", ")}`);

interface Finding {
  signature: string;
  error: string;
  file: string;
}

interface ModeResult {
  execs: number;
  restarts: number;
  kept: Uint8Array[];
  findings: Finding[];
}

const findingsDir = (target: string) => join(root, "bench", "fuzz", "findings", target);
const hash = (b: Uint8Array) => createHash("sha256").update(b).digest("hex").slice(0, 16);

/** Same bug, same signature: the error's class and message with numbers blanked, and the frame that threw. */
function signature(error: string, stack: string): string {
  const frame = stack.split("\n").find((l) => l.trim().startsWith("at ")) ?? "";
  return `${error.replace(/\d+/g, "N").slice(0, 120)} @ ${frame.trim().replace(/:\d+:\d+\)?$/, "")}`;
}

function saveFinding(target: string, kind: string, input: Uint8Array, error: string, stack: string, seen: Map<string, number>): Finding | null {
  const sig = signature(error, stack);
  const n = seen.get(sig) ?? 0;
  seen.set(sig, n + 1);
  if (n >= 3) return null;
  const dir = findingsDir(target);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${kind}-${hash(input)}.bin`);
  writeFileSync(file, input);
  writeFileSync(`${file}.txt`, `${error}\n\n${stack}\n`);
  console.log(`  FINDING ${target}: ${error.split("\n")[0]} -> ${file}`);
  return { signature: sig, error, file };
}

function runMode(target: string, mode: "guided" | "random", seed: number): Promise<ModeResult> {
  const until = Date.now() + seconds * 1000;
  const maxLength = MAX_LENGTH[target] ?? DEFAULT_MAX_LENGTH;
  const kept: Uint8Array[] = [];
  const keptHashes = new Set<string>();
  const findings: Finding[] = [];
  const seen = new Map<string, number>();
  let execs = 0;
  let restarts = 0;
  return new Promise((resolve) => {
    const start = (corpus: Uint8Array[], attempt: number): void => {
      const shared = new SharedArrayBuffer(SHARED_HEADER + maxLength + 64);
      const counter = new Int32Array(shared, 0, 2);
      const data: WorkerInput = { targetsFile, target, mode, seed: seed + attempt, until, root, corpus, shared, maxLength };
      const worker = new Worker(workerFile, { workerData: data });
      let last = -1;
      let still = 0;
      let finished = false;
      let baseExecs = 0;
      let ready = false;
      const lastInput = (): Uint8Array => new Uint8Array(shared, SHARED_HEADER, Atomics.load(counter, 1)).slice();
      const watchdog = setInterval(() => {
        const now = Atomics.load(counter, 0);
        if (now !== last || !ready) {
          last = now;
          still = 0;
          return;
        }
        still += 250;
        if (still < HANG_MS || finished) return;
        finished = true;
        clearInterval(watchdog);
        const input = lastInput();
        const f = saveFinding(target, "hang", input, `hang: no return within ${HANG_MS} ms`, "", seen);
        if (f !== null) findings.push(f);
        void worker.terminate();
        restarts++;
        execs += baseExecs;
        if (Date.now() < until) start(mode === "guided" ? [...kept] : [], attempt + 1);
        else resolve({ execs, restarts, kept, findings });
      }, 250);
      worker.on("message", (m: WorkerMessage) => {
        if (m.type === "finding") {
          const f = saveFinding(target, "throw", m.input, m.error, m.stack, seen);
          if (f !== null) findings.push(f);
        } else if (m.type === "ready") {
          ready = true;
        } else if (m.type === "keep") {
          const h = hash(m.input);
          if (!keptHashes.has(h)) {
            keptHashes.add(h);
            kept.push(m.input);
          }
        } else if (m.type === "stats") {
          baseExecs = m.execs;
        } else if (m.type === "done") {
          finished = true;
          clearInterval(watchdog);
          execs += m.execs;
          void worker.terminate();
          resolve({ execs, restarts, kept, findings });
        }
      });
      worker.on("error", (e: Error) => {
        if (finished) return;
        finished = true;
        clearInterval(watchdog);
        const f = saveFinding(target, "crash", lastInput(), `worker died: ${e.message}`, e.stack ?? "", seen);
        if (f !== null) findings.push(f);
        restarts++;
        execs += baseExecs;
        if (Date.now() < until) start(mode === "guided" ? [...kept] : [], attempt + 1);
        else resolve({ execs, restarts, kept, findings });
      });
    };
    start(mode === "guided" ? committedCorpus(target) : [], 0);
  });
}

/** With --from-corpus, the guided loop starts from test/fixtures/fuzz/<target>/ (a previous run's corpus). */
function committedCorpus(target: string): Uint8Array[] {
  const dir = join(root, "test", "fixtures", "fuzz", target);
  if (!args["from-corpus"] || !existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith(".bin")).map((f) => new Uint8Array(readFileSync(join(dir, f))));
}

function measure(target: string, sets: Uint8Array[][]): Promise<{ blocks: number[]; knownBlocks: number; minimized: Uint8Array[][]; uncovered: string[] }> {
  const maxLength = MAX_LENGTH[target] ?? DEFAULT_MAX_LENGTH;
  const shared = new SharedArrayBuffer(SHARED_HEADER + maxLength + 64);
  const data: WorkerInput = { targetsFile, target, mode: "measure", seed: 1, until: 0, root, corpus: [], shared, maxLength, sets };
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerFile, { workerData: data });
    worker.on("message", (m: WorkerMessage) => {
      if (m.type === "measured") {
        void worker.terminate();
        resolve(m);
      }
    });
    worker.on("error", reject);
  });
}

function writeCorpus(target: string, inputs: Uint8Array[]): number {
  const dir = join(root, "test", "fixtures", "fuzz", target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const small = inputs.filter((b) => b.length <= CORPUS_FILE_BYTES).slice(0, CORPUS_FILES);
  for (const b of small) writeFileSync(join(dir, `${hash(b)}.bin`), b);
  return small.length;
}

interface TargetResult {
  target: string;
  seconds: number;
  guided: { execs: number; execsPerSecond: number; blocks: number; kept: number; restarts: number; findings: string[] };
  random: { execs: number; execsPerSecond: number; blocks: number; kept: number; restarts: number; findings: string[] } | null;
  knownBlocks: number;
  /** Blocks the guided loop never reached: the first words of each, from the bundle. */
  uncovered: string[];
  corpusFiles: number | null;
}

const results: TargetResult[] = [];

function writeReport(): void {
  const dir = join(root, "bench", "fuzz");
  writeFileSync(join(dir, `${args.report}.json`), `${JSON.stringify({ date: new Date().toISOString(), command: "node bench/fuzz/run.mjs " + process.argv.slice(2).filter((a) => !a.startsWith("--dist") && !a.startsWith("--root")).join(" "), seed: Number(args.seed), results }, null, 2)}\n`);
  const rows = results.map((r) => `| ${r.target} | ${r.seconds} | ${r.guided.execs} (${r.guided.execsPerSecond.toFixed(0)}/s) | ${r.guided.blocks} | ${r.random === null ? "-" : `${r.random.execs} (${r.random.execsPerSecond.toFixed(0)}/s)`} | ${r.random?.blocks ?? "-"} | ${r.knownBlocks} | ${r.guided.findings.length + (r.random?.findings.length ?? 0)} | ${r.corpusFiles ?? "-"} |`);
  const md = [
    "# Coverage-guided fuzzing of the decoders",
    "",
    "Blocks: V8 block coverage of the decoder bundle, measured by replaying what each loop kept on one tracker.",
    "The random loop is the unit suite's (1-4 byte set/truncate/append/bit-flip mutations of a valid input, no feedback), for the same time.",
    "",
    "| target | s per loop | guided execs | guided blocks | random execs | random blocks | blocks seen | findings | corpus files |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
  writeFileSync(join(dir, `${args.report}.md`), md);
}

const seed = Number(args.seed);
for (const target of chosen) {
  console.log(`${target}: guided ${seconds} s`);
  const guided = await runMode(target, "guided", seed);
  let random: ModeResult | null = null;
  if (!args["no-random"]) {
    console.log(`${target}: random ${seconds} s`);
    random = await runMode(target, "random", seed);
  }
  const m = await measure(target, random === null ? [guided.kept] : [guided.kept, random.kept]);
  const corpusFiles = args["write-corpus"] ? writeCorpus(target, m.minimized[0] ?? []) : null;
  const r: TargetResult = {
    target,
    seconds,
    guided: { execs: guided.execs, execsPerSecond: guided.execs / seconds, blocks: m.blocks[0] ?? 0, kept: guided.kept.length, restarts: guided.restarts, findings: guided.findings.map((f) => f.signature) },
    random: random === null ? null : { execs: random.execs, execsPerSecond: random.execs / seconds, blocks: m.blocks[1] ?? 0, kept: random.kept.length, restarts: random.restarts, findings: random.findings.map((f) => f.signature) },
    knownBlocks: m.knownBlocks,
    uncovered: m.uncovered,
    corpusFiles,
  };
  results.push(r);
  console.log(`${target}: guided ${r.guided.execs} execs, ${r.guided.blocks} blocks; random ${r.random?.execs ?? "-"} execs, ${r.random?.blocks ?? "-"} blocks; ${r.knownBlocks} seen; findings ${r.guided.findings.length}/${r.random?.findings.length ?? 0}`);
  writeReport();
}
