/**
 * The applier's thread: carries out the ops the main thread posts, one at a
 * time in the order posted, and posts each result back; between them, in
 * the same order, it answers the resync's questions from the copy
 * (copy-answers.ts). Started by apply-threaded.ts with workerData
 * (ApplyWorkerInput); see there why.
 */
import * as fs from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import type { ResyncRequest, ResyncResponse } from "../proto/replication-resync.ts";
import { loadDirCalls } from "../sys/ffi/dir-calls.ts";
import { loadFsCalls } from "../sys/ffi/fs-calls.ts";
import { Applier, type CacheDrops } from "./apply.ts";
import type { ApplyResult } from "./apply-result.ts";
import { CopyAnswers } from "./copy-answers.ts";
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
  /** Question `n` (the main side's count) of the resync, request `id` of the link's session; answered "answers". */
  | { readonly t: "ask"; readonly n: number; readonly id: number; readonly q: ResyncRequest }
  /** The link's session ended: the listings still open are dropped. */
  | { readonly t: "forget-asks" }
  | { readonly t: "close" };

export type ApplyWorkerMessage =
  /** `dev`: the copy's st_dev (decimal), read here so the main thread never stats the copy; null: unknown. `answers`: whether this thread answers questions. */
  | { readonly t: "ready"; readonly mtimeWindowNs: number; readonly dev: string | null; readonly answers: boolean }
  | { readonly t: "results"; readonly first: number; readonly results: readonly ApplyResult[] }
  /** Every answer to question `n`, in order (none for a cancel). */
  | { readonly t: "answers"; readonly n: number; readonly responses: readonly ResyncResponse[] }
  | { readonly t: "resumed" };

const SKIPPED: ApplyResult = { ok: false, kind: "failed", errno: "ETIMEDOUT", message: "not applied: the disk did not answer, the copy was detached" };
const NOT_ANSWERED: ResyncResponse = { kind: "error", errno: "ETIMEDOUT", message: "not answered: the disk did not answer, the copy was detached" };

/**
 * Carries out one request of the main thread (all but "close") on `applier`,
 * and the questions on `answers` (null: this thread answers none), posting
 * what it answers; `progress`: the shared slots (PROGRESS), or null.
 */
export function serveRequest(applier: Applier, progress: Int32Array | null, m: Exclude<ApplyWorkerRequest, { t: "close" }>, post: (m: ApplyWorkerMessage) => void, answers: CopyAnswers | null = null): void {
  if (m.t === "resume") {
    // What the skipped ops would have changed is not there: the caches may name what is not.
    applier.dropCaches({ fds: true, paths: true });
    // The resync that asked is over (its questions failed): its listings go too.
    answers?.reset();
    if (progress !== null) Atomics.store(progress, PROGRESS.abandon, 0);
    post({ t: "resumed" });
    return;
  }
  if (m.t === "forget-asks") {
    answers?.reset();
    return;
  }
  if (m.t === "ask") {
    if (progress !== null && Atomics.load(progress, PROGRESS.abandon) === 1) {
      post({ t: "answers", n: m.n, responses: [NOT_ANSWERED] });
      return;
    }
    const responses = answers === null ? [{ kind: "error", errno: "ENOTSUP", message: "the applier's thread does not answer questions" } as const] : answers.answer(m.id, m.q);
    if (progress !== null) Atomics.add(progress, PROGRESS.done, 1);
    post({ t: "answers", n: m.n, responses });
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
  // The answers read through directory fds (the `*at` calls); without them the main thread answers (remote-peer-answers.ts).
  const dirCalls = await loadDirCalls("mirror resync answers").catch(() => null);
  const fsCalls = await loadFsCalls("xattrs in resync manifests").catch(() => null);
  const answers = dirCalls === null ? null : new CopyAnswers(input.applyRoot, dirCalls, fsCalls, progress === null ? undefined : () => void Atomics.add(progress, PROGRESS.done, 1));
  // The copy's device, for the disk's watch (block-device-io.ts): a stat that may wait on the disk, so here.
  let dev: string | null = null;
  try {
    dev = String(fs.statSync(input.applyRoot, { bigint: true }).dev);
  } catch {
    dev = null;
  }
  port.on("message", (m: ApplyWorkerRequest) => {
    if (m.t === "close") {
      applier.close();
      answers?.close();
      port.close();
      return;
    }
    serveRequest(applier, progress, m, post, answers);
  });
  post({ t: "ready", mtimeWindowNs: applier.mtimeWindowNs, dev, answers: answers !== null });
}

if (parentPort !== null && workerData !== null && typeof workerData === "object" && "applyRoot" in workerData) void main(workerData as ApplyWorkerInput);
