/**
 * Block coverage of one script through V8's precise coverage (node:inspector,
 * in-process, synchronous): after each input, takePreciseCoverage returns the
 * functions that ran with their block ranges and counts, and resets them.
 *
 * V8 reports a block only where its count differs from the enclosing
 * range's, so a block that ran as often as its parent is not listed. The
 * tracker keeps every range it has ever seen (the universe); a known block
 * counts as covered in a run when the innermost range of that run's report
 * that contains it has a count above 0. Beside that, the log2 bucket of each
 * reported count is a feature (a loop taken once or many times), as AFL does
 * with edge hit counts.
 */
import { Session } from "node:inspector";

interface Range {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface FunctionCoverage {
  functionName: string;
  ranges: Range[];
}
interface ScriptCoverage {
  url: string;
  functions: FunctionCoverage[];
}

export class BlockCoverage {
  private readonly session = new Session();
  /** function start -> its known ranges as [start, end]. */
  private readonly universe = new Map<number, [number, number][]>();
  private readonly known = new Set<string>();
  private readonly covered = new Set<string>();
  private readonly buckets = new Set<string>();

  constructor(private readonly url: string) {
    this.session.connect();
    this.post("Profiler.enable");
    this.post("Profiler.startPreciseCoverage", { callCount: true, detailed: true });
    this.take();
  }

  private post(method: string, params: object = {}): unknown {
    let out: unknown;
    let failure: Error | null = null;
    // An in-process session answers synchronously.
    this.session.post(method, params, (err, result) => {
      if (err) failure = err;
      out = result;
    });
    if (failure !== null) throw failure;
    return out;
  }

  private take(): ScriptCoverage[] {
    return (this.post("Profiler.takePreciseCoverage") as { result: ScriptCoverage[] }).result;
  }

  /** Blocks covered so far. */
  get blocks(): number {
    return this.covered.size;
  }

  /** Blocks seen so far (covered or not). */
  get knownBlocks(): number {
    return this.known.size;
  }

  /** Blocks seen but not covered, as [start, end) offsets in the script. */
  uncovered(): [number, number][] {
    const out: [number, number][] = [];
    for (const list of this.universe.values()) for (const [a, b] of list) if (!this.covered.has(`${a}:${b}`)) out.push([a, b]);
    return out.sort((x, y) => x[0] - y[0]);
  }

  /** Forgets which blocks were covered, keeping the blocks it knows: to measure another set of inputs on the same ground. */
  forgetCovered(): void {
    this.covered.clear();
    this.buckets.clear();
    this.take();
  }

  /** Forgets what the last inputs did (call before measuring a fresh input). */
  reset(): void {
    this.take();
  }

  /** Reads the coverage of what ran since the last call: how many new blocks, and whether any new count bucket. */
  collect(): { newBlocks: number; newBuckets: number } {
    let newBlocks = 0;
    let newBuckets = 0;
    for (const script of this.take()) {
      if (script.url !== this.url) continue;
      for (const f of script.functions) {
        const fnRange = f.ranges[0];
        if (fnRange === undefined || fnRange.count === 0) continue;
        const fn = fnRange.startOffset;
        let list = this.universe.get(fn);
        if (list === undefined) {
          list = [];
          this.universe.set(fn, list);
        }
        for (const r of f.ranges) {
          const key = `${r.startOffset}:${r.endOffset}`;
          if (!this.known.has(key)) {
            this.known.add(key);
            list.push([r.startOffset, r.endOffset]);
          }
          if (r.count > 0) {
            const bucket = `${key}:${Math.min(8, Math.floor(Math.log2(r.count)))}`;
            if (!this.buckets.has(bucket)) {
              this.buckets.add(bucket);
              newBuckets++;
            }
          }
        }
        for (const [start, end] of list) {
          const key = `${start}:${end}`;
          if (this.covered.has(key)) continue;
          // Ranges come outermost first, nested ones after: the last that contains it is the innermost.
          let count = 0;
          for (const r of f.ranges) if (r.startOffset <= start && r.endOffset >= end) count = r.count;
          if (count > 0) {
            this.covered.add(key);
            newBlocks++;
          }
        }
      }
    }
    return { newBlocks, newBuckets };
  }
}
