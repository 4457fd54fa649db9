/**
 * The applier's thread: carries out the ops the main thread posts, one at a
 * time in the order posted, and posts each result back; between them, in
 * the same order, it answers the resync's questions from the copy
 * (copy-answers.ts). While a resync keeps this copy's changed paths aside
 * (keep-aside.ts), each op first keeps what it is about to change, here
 * too: the keeper reads the copy, and its work is the op's for the disk's
 * watch. Started by apply-threaded.ts with workerData (ApplyWorkerInput);
 * see there why.
 */
import * as fs from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import type { ResyncRequest, ResyncResponse } from "../proto/replication-resync.ts";
import { KEEP_ASK, KeepAside } from "../daemon/mirror/keep-aside.ts";
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
  /**
   * From the next op on, keep aside into `dest` what each op changes (null: keep nothing);
   * `ask`: the first path kept waits for the record ("keep-record", answered "keep-go").
   */
  | { readonly t: "keeper"; readonly keeper: { readonly root: string; readonly dest: string; readonly ask: boolean } | null }
  /** The answer to "keep-record": `recorded`, or not (the op that asked then fails, not kept). */
  | { readonly t: "keep-go"; readonly recorded: boolean }
  | { readonly t: "close" };

export type ApplyWorkerMessage =
  /** `dev`: the copy's st_dev (decimal), read here so the main thread never stats the copy; null: unknown. `answers`: whether this thread answers questions. */
  | { readonly t: "ready"; readonly mtimeWindowNs: number; readonly dev: string | null; readonly answers: boolean }
  /** `kept`: the paths the keeper has kept so far, while there is one. */
  | { readonly t: "results"; readonly first: number; readonly results: readonly ApplyResult[]; readonly kept?: number }
  /** The keeper is about to keep its first path: the main thread records where the copy goes, then says "keep-go". */
  | { readonly t: "keep-record" }
  /** Every answer to question `n`, in order (none for a cancel). */
  | { readonly t: "answers"; readonly n: number; readonly responses: readonly ResyncResponse[] }
  | { readonly t: "resumed" };

const SKIPPED: ApplyResult = { ok: false, kind: "failed", errno: "ETIMEDOUT", message: "not applied: the disk did not answer, the copy was detached" };
/**
 * The thread's keeper, and the requests held while it waits for the main
 * thread's record ("keep-record"): the op that asked and every request
 * after it, served in order at "keep-go".
 */
export class ThreadKeeping {
  keeper: KeepAside | null = null;
  held: Exclude<ApplyWorkerRequest, { t: "close" }>[] | null = null;
  /** The main thread made no record (its keeper is gone, or the disk was taken for hung): nothing more is kept. */
  noRecord = false;
}

const NOT_ANSWERED: ResyncResponse = { kind: "error", errno: "ETIMEDOUT", message: "not answered: the disk did not answer, the copy was detached" };

/**
 * Carries out one request of the main thread (all but "close") on `applier`,
 * and the questions on `answers` (null: this thread answers none), posting
 * what it answers; `progress`: the shared slots (PROGRESS), or null.
 */
export function serveRequest(
  applier: Applier,
  progress: Int32Array | null,
  m: Exclude<ApplyWorkerRequest, { t: "close" }>,
  post: (m: ApplyWorkerMessage) => void,
  answers: CopyAnswers | null = null,
  keeping: ThreadKeeping | null = null,
): void {
  if (keeping !== null) {
    if (m.t === "keep-go") {
      const held = keeping.held ?? [];
      keeping.held = null;
      if (m.recorded) keeping.keeper?.recorded();
      else keeping.noRecord = true;
      for (const h of held) serveRequest(applier, progress, h, post, answers, keeping);
      return;
    }
    // Waiting for the record: the order is kept.
    if (keeping.held !== null) {
      keeping.held.push(m);
      return;
    }
    if (m.t === "keeper") {
      const k = m.keeper;
      // A long copy into the conflicts folder moves the progress count a MiB at a time, as a listing does per entry.
      const moved = progress === null ? null : () => void Atomics.add(progress, PROGRESS.done, 1);
      keeping.keeper = k === null ? null : new KeepAside(k.root, k.dest, k.ask ? "ask" : null, moved);
      keeping.noRecord = false;
      return;
    }
  }
  if (m.t === "keeper" || m.t === "keep-go") return;
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
  const keeper = keeping?.keeper ?? null;
  const results: ApplyResult[] = [];
  for (let i = 0; i < m.ops.length; i++) {
    const op = m.ops[i]!;
    if (progress !== null && Atomics.load(progress, PROGRESS.abandon) === 1) {
      results.push(SKIPPED);
      continue;
    }
    let why = keeper === null ? null : keeper.beforeSync(op);
    if (why === KEEP_ASK && keeping !== null && !keeping.noRecord) {
      // The record first (on the main thread, in the state dir): this op and the rest wait for "keep-go".
      keeping.held = [{ t: "ops", first: m.first + i, ops: m.ops.slice(i) }];
      if (results.length > 0) post({ t: "results", first: m.first, results, kept: keeper!.count });
      post({ t: "keep-record" });
      return;
    }
    if (why === KEEP_ASK) why = `cannot keep aside in ${keeper!.dest}: the record of where this copy goes was not made`;
    // A keep that waited on the disk past the main thread's verdict: the op it guarded is abandoned too.
    if (keeper !== null && progress !== null && Atomics.load(progress, PROGRESS.abandon) === 1) {
      results.push(SKIPPED);
      continue;
    }
    // Not kept: not applied (the resync fails, and keeps again at its next try).
    const r: ApplyResult = why === null ? applier.apply(op) : { ok: false, kind: "failed", errno: "EIO", message: why };
    if (progress !== null) Atomics.add(progress, PROGRESS.done, 1);
    results.push(r);
  }
  post({ t: "results", first: m.first, results, ...(keeper === null ? {} : { kept: keeper.count }) });
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
  const keeping = new ThreadKeeping();
  port.on("message", (m: ApplyWorkerRequest) => {
    if (m.t === "close") {
      applier.close();
      answers?.close();
      port.close();
      return;
    }
    serveRequest(applier, progress, m, post, answers, keeping);
  });
  post({ t: "ready", mtimeWindowNs: applier.mtimeWindowNs, dev, answers: answers !== null });
}

if (parentPort !== null && workerData !== null && typeof workerData === "object" && "applyRoot" in workerData) void main(workerData as ApplyWorkerInput);
