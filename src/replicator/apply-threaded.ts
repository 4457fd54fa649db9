/**
 * The SECOND's applier on its own thread. Applying is synchronous file-system
 * work, and one op can take long (an fsync of a file with much dirty data, a
 * slow disk): on the daemon's main thread it would hold back heartbeats,
 * pings of the replication link and everything else. Here the main thread
 * posts ops and receives results, in order; the ops may be posted before
 * earlier ones are done (the thread queues them).
 *
 * Except the quick ones: a namespace or attribute change (Applier.quick)
 * that arrives while the thread has nothing to do is applied on the main
 * thread at once. Handing it over would cost two thread wake-ups, about as
 * long as the op itself; a storm of small files is made of such ops. Only
 * one side applies at a time, in order: an op goes to the thread whenever
 * anything is still queued there. What one side's ops make stale in the
 * other's caches (cached fds, checked directories) is dropped before the
 * other applies again, and what the main thread changed is handed to the
 * thread with its next ops, so the thread's syncs cover it. A quick op that
 * still took long (a slow disk) sends every op to the thread for a while.
 *
 * The Worker's module is apply-worker.ts: beside this file when run from
 * source under Bun, or an extra entry point of the compiled binary. Where no
 * Worker can be started (Node running TypeScript sources, a binary built
 * without that entry point), `startApplier` falls back to the applier on the
 * calling thread and says why.
 */
import * as fs from "node:fs";
import { Worker } from "node:worker_threads";
import { ownedByMessage } from "../net/replication-link-buffers.ts";
import { Applier, type CacheDrops, cacheDrops } from "./apply.ts";
import type { ApplyResult } from "./apply-result.ts";
import type { ApplyWorkerInput, ApplyWorkerMessage, ApplyWorkerRequest } from "./apply-worker.ts";
import type { MirrorOp } from "./ops.ts";

/** What the replication server needs of an applier, on a thread or not. */
export interface OpApplier {
  apply(op: MirrorOp): ApplyResult | Promise<ApplyResult>;
  readonly mtimeWindowNs: number;
  /**
   * Forget every cached fd and checked directory: the copy was changed by
   * something other than this applier (this node served the folder: its
   * service renamed, removed or replaced what the caches name).
   */
  forgetCaches(): void;
  close(): Promise<void> | void;
}

export type StartedApplier = { readonly applier: OpApplier; readonly threaded: true } | { readonly applier: OpApplier; readonly threaded: false; readonly why: string };

function workerLocation(): URL | string | null {
  const here = import.meta.url;
  if (!here.includes("$bunfs")) return new URL("./apply-worker.ts", here);
  for (const rel of ["replicator/apply-worker.js", "src/replicator/apply-worker.js"]) {
    const candidate = `/$bunfs/root/${rel}`;
    if (fs.existsSync(candidate)) return candidate;
  }
  return null;
}

/** Data bytes past which a batch of ops is posted without waiting for the end of the turn. */
const BATCH_BYTES = 256 * 1024;

/**
 * A quick op applied on the main thread that took longer than this (ms)...
 * Its wall time: on a loaded host a few ms of it are other threads' turns on
 * the CPU, which say nothing of the disk and would only send ops to the thread.
 */
export const INLINE_SLOW_MS = 20;
/** ...sends every op to the thread for this long (ms). */
export const INLINE_PAUSE_MS = 1000;

const NO_DROPS: CacheDrops = { fds: false, paths: false };

export class ThreadedApplier implements OpApplier {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: ApplyResult) => void>();
  private dead: string | null = null;

  private hereCount = 0;
  /** Ops applied on the main thread so far. */
  get appliedHere(): number {
    return this.hereCount;
  }
  private inlineOffUntil = 0;
  /** The thread's caches that ops applied here since the last message to it made stale. */
  private threadDrops: CacheDrops = NO_DROPS;
  /** The thread applied an op since the last one here that makes this side's caches stale. */
  private inlineStale = false;

  /** `inline`: the main thread's own applier for quick ops, or null (every op goes to the thread). */
  constructor(
    private readonly worker: Worker,
    readonly mtimeWindowNs: number,
    private readonly inline: Applier | null = null,
    private readonly clock: () => number = () => performance.now(),
  ) {
    worker.on("message", (m: ApplyWorkerMessage) => {
      if (m.t !== "results") return;
      for (let i = 0; i < m.results.length; i++) {
        const id = m.first + i;
        const done = this.waiting.get(id);
        this.waiting.delete(id);
        done?.(m.results[i]!);
      }
    });
    const fail = (why: string): void => {
      this.dead = why;
      for (const [, done] of this.waiting) done({ ok: false, kind: "failed", errno: "EIO", message: `the applier's thread ${why}` });
      this.waiting.clear();
    };
    worker.on("error", (e: Error) => fail(`failed: ${e.message}`));
    worker.on("exit", (code) => fail(`exited (code ${code})`));
  }

  /**
   * Ops posted in one turn of the event loop travel as one message (a
   * namespace request brings two or three small ops at once): each message
   * costs a wake-up of the other thread, and the thread's results come back
   * the same way.
   */
  private batch: MirrorOp[] = [];
  private batchFirst = 0;
  private transfer: ArrayBuffer[] = [];
  private batchBytes = 0;

  apply(op: MirrorOp): ApplyResult | Promise<ApplyResult> {
    if (this.dead !== null) return Promise.resolve({ ok: false, kind: "failed", errno: "EIO", message: `the applier's thread ${this.dead}` });
    const here = this.applyHere(op);
    if (here !== null) return here;
    if (cacheDrops(op).paths) this.inlineStale = true;
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      // A write's data is handed over, not copied, when it owns its whole buffer, or
      // lies in the buffer of the received message the op came from (the op's
      // other byte fields may lie there too: they go with it, and the caller
      // reads none of the op once it is handed to apply).
      const data = op.op === "write" ? op.data : op.op === "setxattr" ? op.value : null;
      const whole = data !== null && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
      if (data !== null && (whole || ownedByMessage(data.buffer)) && data.buffer instanceof ArrayBuffer && !this.transfer.includes(data.buffer)) this.transfer.push(data.buffer);
      if (this.batch.length === 0) {
        this.batchFirst = id;
        queueMicrotask(() => this.post());
      }
      this.batch.push(op);
      this.batchBytes += data?.length ?? 0;
      // A batch's results wait for its last op: large data goes on its way at once.
      if (this.batchBytes >= BATCH_BYTES) this.post();
    });
  }

  /** A quick op while nothing is queued on the thread: applied here (see the top of this file); null otherwise. */
  private applyHere(op: MirrorOp): ApplyResult | null {
    const a = this.inline;
    if (a === null || this.waiting.size > 0 || this.clock() < this.inlineOffUntil) return null;
    if (this.inlineStale) {
      a.dropCaches({ fds: true, paths: true });
      this.inlineStale = false;
    }
    if (!a.quick(op)) return null;
    const t0 = this.clock();
    const r = a.apply(op);
    const took = this.clock() - t0;
    if (took > INLINE_SLOW_MS) this.inlineOffUntil = t0 + took + INLINE_PAUSE_MS;
    const d = cacheDrops(op);
    if (d.fds || d.paths) this.threadDrops = { fds: this.threadDrops.fds || d.fds, paths: this.threadDrops.paths || d.paths };
    this.hereCount++;
    return r;
  }

  private post(): void {
    if (this.batch.length === 0) return;
    const drop = this.threadDrops;
    const dirty = this.inline?.takeDirty() ?? null;
    this.threadDrops = NO_DROPS;
    const m: ApplyWorkerRequest = {
      t: "ops",
      first: this.batchFirst,
      ops: this.batch,
      ...(drop.fds || drop.paths ? { drop } : {}),
      ...(dirty === null ? {} : { dirty }),
    };
    const transfer = this.transfer;
    this.batch = [];
    this.transfer = [];
    this.batchBytes = 0;
    if (this.dead !== null) {
      for (let i = 0; i < m.ops.length; i++) {
        const done = this.waiting.get(m.first + i);
        this.waiting.delete(m.first + i);
        done?.({ ok: false, kind: "failed", errno: "EIO", message: `the applier's thread ${this.dead}` });
      }
      return;
    }
    this.worker.postMessage(m, transfer);
  }

  forgetCaches(): void {
    // Both sides: the main thread's before its next quick op, the thread's with the next batch.
    this.inlineStale = true;
    this.threadDrops = { fds: true, paths: true };
  }

  async close(): Promise<void> {
    this.inline?.close();
    if (this.dead !== null) return;
    this.post();
    const exited = new Promise<void>((r) => this.worker.once("exit", () => r()));
    this.worker.postMessage({ t: "close" } satisfies ApplyWorkerRequest);
    const timer = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** The applier for `root`: on its own thread when this runtime can start it, else on this one. */
export async function startApplier(root: string): Promise<StartedApplier> {
  const inline = async (why: string): Promise<StartedApplier> => ({ applier: await Applier.open(root), threaded: false, why });
  if ((globalThis as { Bun?: unknown }).Bun === undefined) return inline(`Node ${process.versions.node} cannot start a Worker from TypeScript sources`);
  const at = workerLocation();
  if (at === null) return inline("this binary was built without src/replicator/apply-worker.ts among its entry points");
  let worker: Worker;
  try {
    worker = new Worker(at, { workerData: { applyRoot: root } satisfies ApplyWorkerInput });
  } catch (e) {
    return inline(`cannot start the applier's thread: ${e instanceof Error ? e.message : String(e)}`);
  }
  const ready = await new Promise<ApplyWorkerMessage | string>((resolve) => {
    worker.once("message", (m: ApplyWorkerMessage) => resolve(m));
    worker.once("error", (e: Error) => resolve(e.message));
    worker.once("exit", (code) => resolve(`exited with code ${code}`));
  });
  if (typeof ready === "string" || ready.t !== "ready") {
    await worker.terminate();
    return inline(`the applier's thread did not start: ${typeof ready === "string" ? ready : ready.t}`);
  }
  // The main thread's applier must set times as precisely as the thread's, or quick ops stay on the thread.
  const here = await Applier.open(root);
  return { applier: new ThreadedApplier(worker, ready.mtimeWindowNs, here.mtimeWindowNs === ready.mtimeWindowNs ? here : null), threaded: true };
}
