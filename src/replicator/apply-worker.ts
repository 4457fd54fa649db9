/**
 * The applier's thread: carries out the ops the main thread posts, one at a
 * time in the order posted, and posts each result back. Started by
 * apply-threaded.ts with workerData (ApplyWorkerInput); see there why.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Applier, type CacheDrops } from "./apply.ts";
import type { ApplyResult } from "./apply-result.ts";
import type { MirrorOp } from "./ops.ts";

export interface ApplyWorkerInput {
  readonly applyRoot: string;
  /** Int32 slots shared with the main thread, see PROGRESS; absent: not watched. */
  readonly progress?: SharedArrayBuffer;
}

/**
 * The shared slots: ops finished so far (this thread counts, the main thread
 * reads it to tell a hung disk from a slow one), and 1 while the ops already
 * posted are abandoned (set by the main thread when it gave up on the disk:
 * each op not begun yet is skipped, so none lands late and out of order once
 * the disk answers again; cleared here at the "resume" that follows them).
 */
export const PROGRESS = { done: 0, abandon: 1 } as const;
export const PROGRESS_SLOTS = 2;

/**
 * Ops numbered from `first`, applied in order; their results come back as one
 * message. Before them: the caches to drop (`drop`: the copy was changed by
 * something else, see OpApplier.forgetCaches).
 */
export type ApplyWorkerRequest =
  | { readonly t: "ops"; readonly first: number; readonly ops: readonly MirrorOp[]; readonly drop?: CacheDrops }
  /** After the ops abandoned: caches dropped, ops applied again from the next one on; answered "resumed". */
  | { readonly t: "resume" }
  | { readonly t: "close" };

export type ApplyWorkerMessage =
  | { readonly t: "ready"; readonly mtimeWindowNs: number }
  | { readonly t: "results"; readonly first: number; readonly results: readonly ApplyResult[] }
  | { readonly t: "resumed" };

const SKIPPED: ApplyResult = { ok: false, kind: "failed", errno: "ETIMEDOUT", message: "not applied: the disk did not answer, the copy was detached" };

/**
 * Carries out one request of the main thread (all but "close") on `applier`,
 * posting what it answers; `progress`: the shared slots (PROGRESS), or null.
 */
export function serveRequest(applier: Applier, progress: Int32Array | null, m: Exclude<ApplyWorkerRequest, { t: "close" }>, post: (m: ApplyWorkerMessage) => void): void {
  if (m.t === "resume") {
    // What the skipped ops would have changed is not there: the caches may name what is not.
    applier.dropCaches({ fds: true, paths: true });
    if (progress !== null) Atomics.store(progress, PROGRESS.abandon, 0);
    post({ t: "resumed" });
    return;
  }
  if (m.drop !== undefined) applier.dropCaches(m.drop);
  const applyOne = (op: MirrorOp): ApplyResult => {
    if (progress === null) return applier.apply(op);
    if (Atomics.load(progress, PROGRESS.abandon) === 1) return SKIPPED;
    const r = applier.apply(op);
    Atomics.add(progress, PROGRESS.done, 1);
    return r;
  };
  post({ t: "results", first: m.first, results: m.ops.map(applyOne) });
}

async function main(input: ApplyWorkerInput): Promise<void> {
  const port = parentPort!;
  const applier = await Applier.open(input.applyRoot);
  const post = (m: ApplyWorkerMessage): void => port.postMessage(m);
  const progress = input.progress === undefined ? null : new Int32Array(input.progress);
  port.on("message", (m: ApplyWorkerRequest) => {
    if (m.t === "close") {
      applier.close();
      port.close();
      return;
    }
    serveRequest(applier, progress, m, post);
  });
  post({ t: "ready", mtimeWindowNs: applier.mtimeWindowNs });
}

if (parentPort !== null && workerData !== null && typeof workerData === "object" && "applyRoot" in workerData) void main(workerData as ApplyWorkerInput);
