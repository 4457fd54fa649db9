/**
 * The SECOND's applier on its own thread. Applying is synchronous file-system
 * work, and one op can take long (an fsync of a file with much dirty data, a
 * slow disk) or never end (a disk that hangs): on the daemon's main thread
 * it would hold back heartbeats, pings of the replication link, the control
 * socket and everything else, and a hung disk would leave the node frozen,
 * unable to say what is wrong. So every op goes to the thread, quick
 * namespace and attribute changes too: the main thread never calls into the
 * copy's disk while it applies. Here the main thread posts ops and receives
 * results, in order; the ops may be posted before earlier ones are done (the
 * thread queues them).
 *
 * The resync's questions (manifests, entries, block sums: copy-answers.ts)
 * go to the same thread, in the same queue (`request`): a resync reads the
 * copy while the disk may hang just as it writes it. One thread per copy,
 * not a reader of their own: the watch below then covers questions and ops
 * alike with one count, a question sees every op handed over before it
 * (the order the link brought them in), and a hung disk holds one thread,
 * not two. A question waits behind the ops before it; a manifest's batch
 * waits for nothing but the disk.
 *
 * The disk's watch (disk_timeout, src/core/mirror/disk-bound.ts): the thread
 * counts the ops it finished in memory shared with the main thread, which
 * looks at the count while results are owed, and at the completed-I/O
 * counters of the block device beneath the copy (block-device-io.ts, one
 * read of /sys per look). No op finished for the bound and no I/O completed
 * on that device for the bound either (or no device known): the disk is
 * hung. Every op and question owed fails at once with the reason, and so does
 * every new one until the disk answers again; the ops the thread was given
 * are abandoned (skipped when it reaches them, so none lands late, out of
 * order, once the stuck call returns). The thread says when it has passed
 * them all: the disk answers again, and the copy, outdated meanwhile, waits
 * for a resync.
 *
 * A resync that keeps this copy's changed paths aside (keep-aside.ts) keeps
 * them on the thread too, each op's paths just before the op, so the keeper's
 * reads of the copy (and its copies into the state dir's conflicts folder)
 * are owed work for the watch like the op itself. The first path kept waits
 * for the record of where the copy goes, made here on the main thread
 * ("keep-record"): the thread holds that op and what follows until told.
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
import type { RequestAnswerer } from "../net/replication-link.ts";
import type { ResyncRequest, ResyncResponse } from "../proto/replication-resync.ts";
import { Applier, type CacheDrops } from "./apply.ts";
import type { ApplyResult } from "./apply-result.ts";
import { type ApplyWorkerInput, type ApplyWorkerMessage, type ApplyWorkerRequest, PROGRESS, PROGRESS_SLOTS } from "./apply-worker.ts";
import { diskCheckEveryMs, diskHung } from "../core/mirror/disk-bound.ts";
import { deviceIo, type IoCompleted } from "./block-device-io.ts";
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
  /** Answers the resync's questions on the applier's thread (see the top of this file); absent or null: not there, the caller answers. */
  readonly answerer?: RequestAnswerer | null;
  /**
   * Present: the applier's thread keeps aside what each op changes (keep-aside.ts), from the next op
   * on, until called with null; absent: the caller keeps before it hands an op over.
   */
  keepAside?(k: KeepSpec | null): void;
  /** The paths kept so far by the keeper given to keepAside (as its results told). */
  readonly keptCount?: number;
  close(): Promise<void> | void;
}

/** A keeper for the applier's thread: `root` the copy, `dest` where kept paths go, `onFirstKeep` the record made before the first (null: made already). */
export interface KeepSpec {
  readonly root: string;
  readonly dest: string;
  readonly onFirstKeep: (() => void) | null;
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

const NO_DROPS: CacheDrops = { fds: false, paths: false };

/** How long a close waits for the thread to end before it stops waiting (a thread in a hung disk's call never ends). */
const CLOSE_WAIT_MS = 10_000;

/** The disk's watch: its bound, and who is told when the disk hangs and when it answers again. */
export interface DiskWatch {
  /** disk_timeout in ms; 0: no watch. */
  readonly timeoutMs: number;
  /** The copy's folder as the operator knows it, for the reason. */
  readonly folder: string;
  /** The disk is hung (the reason): every op owed failed with it, and every new one fails until onAnswering. */
  onHung(reason: string): void;
  /** The thread is past every abandoned op: the disk answers again. */
  onAnswering(): void;
}

/** A question owed by the thread: where its answers go, and what resolves once they went. */
interface OwedAnswer {
  readonly reply: (r: ResyncResponse) => boolean;
  readonly done: () => void;
}

export class ThreadedApplier implements OpApplier {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: ApplyResult) => void>();
  private nextAsk = 1;
  private readonly asks = new Map<number, OwedAnswer>();
  private dead: string | null = null;
  /** Why the disk is taken for hung, until the thread is past the abandoned ops. */
  private hungWhy: string | null = null;
  private readonly progress: Int32Array | null;
  /** The thread's finished count when last seen to move, and since when results are owed without it moving. */
  private doneSeen = 0;
  private owedSince: number | null = null;
  /** The device's completed I/Os at the last look, and since when they have not moved; null: not looked at yet while owed. */
  private ioSeen: number | null = null;
  private ioSince = 0;
  private watchTimer: ReturnType<typeof setInterval> | null = null;
  /** The thread's caches to drop before its next ops (forgetCaches). */
  private threadDrops: CacheDrops = NO_DROPS;

  constructor(
    private readonly worker: Worker,
    readonly mtimeWindowNs: number,
    /** The shared slots of apply-worker.ts's PROGRESS, with `watch`; null: no watch. */
    progress: SharedArrayBuffer | null = null,
    private readonly watch: DiskWatch | null = null,
    private readonly clock: () => number = () => performance.now(),
    /** The completed-I/O counters of the copy's block device; null: none known. */
    private readonly deviceIo: IoCompleted | null = null,
    /** Whether the thread answers the resync's questions (it has the `*at` calls). */
    answers = false,
  ) {
    this.progress = progress === null ? null : new Int32Array(progress);
    this.answerer = answers ? { request: (id, q, reply) => this.request(id, q, reply), reset: () => this.forgetAsks() } : null;
    worker.on("message", (m: ApplyWorkerMessage) => {
      if (m.t === "resumed") {
        this.resumed();
        return;
      }
      if (m.t === "answers") {
        const owed = this.asks.get(m.n);
        this.asks.delete(m.n);
        // A reply of a session gone is dropped by the link; the thread drops its listings at "forget-asks".
        for (const r of m.responses) owed?.reply(r);
        owed?.done();
        this.owedSince = this.owed() ? this.clock() : null;
        return;
      }
      if (m.t === "keep-record") {
        this.recordKept();
        return;
      }
      if (m.t !== "results") return;
      if (m.kept !== undefined) this.kept = m.kept;
      for (let i = 0; i < m.results.length; i++) {
        const id = m.first + i;
        const done = this.waiting.get(id);
        this.waiting.delete(id);
        done?.(m.results[i]!);
      }
      this.owedSince = this.owed() ? this.clock() : null;
    });
    const fail = (why: string): void => {
      this.dead = why;
      this.failWaiting(`the applier's thread ${why}`, "EIO");
    };
    worker.on("error", (e: Error) => fail(`failed: ${e.message}`));
    worker.on("exit", (code) => fail(`exited (code ${code})`));
    if (this.progress !== null && watch !== null && watch.timeoutMs > 0) {
      this.watchTimer = setInterval(() => this.check(), diskCheckEveryMs(watch.timeoutMs));
      this.watchTimer.unref?.();
    }
  }

  readonly answerer: RequestAnswerer | null;

  /** The keeper given to the thread (keepAside), and what its results said it kept. */
  private keeper: { spec: KeepSpec; recorded: boolean } | null = null;
  private kept = 0;

  keepAside(k: KeepSpec | null): void {
    this.keeper = k === null ? null : { spec: k, recorded: k.onFirstKeep === null };
    this.kept = 0;
    if (this.dead !== null) return;
    // The ops of this turn go under the keeper they were handed over with.
    this.post();
    this.worker.postMessage({ t: "keeper", keeper: k === null ? null : { root: k.root, dest: k.dest, ask: k.onFirstKeep !== null } } satisfies ApplyWorkerRequest);
  }

  get keptCount(): number {
    return this.kept;
  }

  /**
   * The thread is about to keep its first path: the record first (the state dir, this thread).
   * None while the disk is taken for hung (the op that asked is abandoned, nothing is kept)
   * or once the keeper is gone: the thread then keeps nothing more.
   */
  private recordKept(): void {
    const k = this.keeper;
    const go = k !== null && this.hungWhy === null;
    if (go && !k.recorded) {
      k.recorded = true;
      k.spec.onFirstKeep?.();
    }
    if (this.dead === null) this.worker.postMessage({ t: "keep-go", recorded: go } satisfies ApplyWorkerRequest);
  }

  /** Whether the disk is taken for hung now (its reason), for status. */
  get hung(): string | null {
    return this.hungWhy;
  }

  /** Whether results or answers are owed by the thread. */
  private owed(): boolean {
    return this.waiting.size > 0 || this.asks.size > 0;
  }

  private failWaiting(message: string, errno: string): void {
    const owed = [...this.waiting.values()];
    const asked = [...this.asks.values()];
    this.waiting.clear();
    this.asks.clear();
    this.batch = [];
    this.transfer = [];
    this.batchBytes = 0;
    this.owedSince = null;
    for (const done of owed) done({ ok: false, kind: "failed", errno, message });
    for (const a of asked) {
      a.reply({ kind: "error", errno, message });
      a.done();
    }
  }

  /**
   * Question `id` of the link's session, answered on the thread after the
   * ops handed over before it; resolves once its answers went to `reply`.
   */
  request(id: number, q: ResyncRequest, reply: (r: ResyncResponse) => boolean): Promise<void> | void {
    if (this.dead !== null) return void reply({ kind: "error", errno: "EIO", message: `the applier's thread ${this.dead}` });
    // Nothing reaches a hung disk: the question fails now.
    if (this.hungWhy !== null) return void reply({ kind: "error", errno: "ETIMEDOUT", message: this.hungWhy });
    const n = this.nextAsk++;
    return new Promise<void>((done) => {
      this.asks.set(n, { reply, done });
      // The ops of this turn go first: the question sees them applied.
      this.post();
      this.owing();
      this.worker.postMessage({ t: "ask", n, id, q } satisfies ApplyWorkerRequest);
    });
  }

  /** The link's session ended: the thread drops the listings it holds open (after what it was given before). */
  forgetAsks(): void {
    if (this.dead === null) this.worker.postMessage({ t: "forget-asks" } satisfies ApplyWorkerRequest);
  }

  /** One look at the thread's progress while results are owed (see the top of this file); the watch's timer calls it. */
  check(): void {
    const w = this.watch;
    if (w === null || this.progress === null || this.hungWhy !== null || this.dead !== null || this.owedSince === null) return;
    const done = Atomics.load(this.progress, PROGRESS.done);
    const now = this.clock();
    if (done !== this.doneSeen) {
      this.doneSeen = done;
      this.owedSince = now;
      return;
    }
    const why = diskHung(w.folder, now - this.owedSince, w.timeoutMs, this.ioStalledMs(now));
    if (why === null) return;
    this.hungWhy = why;
    // Set before anything else: an op the thread has not begun is never applied once the disk answers.
    Atomics.store(this.progress, PROGRESS.abandon, 1);
    this.failWaiting(why, "ETIMEDOUT");
    // Reaches the thread after every abandoned op: its answer says the disk answers again.
    this.worker.postMessage({ t: "resume" } satisfies ApplyWorkerRequest);
    w.onHung(why);
  }

  /**
   * How long the device has completed no I/O, by this look and the earlier
   * ones; null: no device known. The first look while owed counts as a move:
   * what happened before it is not known, and a slow disk is not detached on
   * a guess (a hung one is, a look later).
   */
  private ioStalledMs(now: number): number | null {
    const io = this.deviceIo?.() ?? null;
    if (io === null) {
      this.ioSeen = null;
      return null;
    }
    if (io !== this.ioSeen) {
      this.ioSeen = io;
      this.ioSince = now;
    }
    return now - this.ioSince;
  }

  private resumed(): void {
    if (this.hungWhy === null) return;
    this.hungWhy = null;
    if (this.progress !== null) this.doneSeen = Atomics.load(this.progress, PROGRESS.done);
    this.watch?.onAnswering();
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
    // Nothing reaches a hung disk: the op fails now, and the copy waits for a resync.
    if (this.hungWhy !== null) return { ok: false, kind: "failed", errno: "ETIMEDOUT", message: this.hungWhy };
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

  private post(): void {
    if (this.batch.length === 0) return;
    const drop = this.threadDrops;
    this.threadDrops = NO_DROPS;
    const m: ApplyWorkerRequest = {
      t: "ops",
      first: this.batchFirst,
      ops: this.batch,
      ...(drop.fds || drop.paths ? { drop } : {}),
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
    this.owing();
    this.worker.postMessage(m, transfer);
  }

  /** Results or answers owed from now, if none were: the watch counts from here. */
  private owing(): void {
    if (this.owedSince !== null) return;
    this.owedSince = this.clock();
    this.ioSeen = null;
    if (this.progress !== null) this.doneSeen = Atomics.load(this.progress, PROGRESS.done);
  }

  forgetCaches(): void {
    this.threadDrops = { fds: true, paths: true };
  }

  async close(): Promise<void> {
    if (this.watchTimer !== null) clearInterval(this.watchTimer);
    if (this.dead !== null) return;
    this.post();
    const exited = new Promise<void>((r) => this.worker.once("exit", () => r()));
    this.worker.postMessage({ t: "close" } satisfies ApplyWorkerRequest);
    // A hung disk's thread answers nothing: it is told to end, and not waited for long.
    const timer = setTimeout(() => void this.worker.terminate(), this.hungWhy === null ? 5000 : 0);
    let gaveUp: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([exited, new Promise<void>((r) => (gaveUp = setTimeout(r, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    clearTimeout(gaveUp);
  }
}

/** The applier for `root`: on its own thread when this runtime can start it, else on this one. `watch`: the disk's (thread only). */
export async function startApplier(root: string, watch: DiskWatch | null = null): Promise<StartedApplier> {
  const inline = async (why: string): Promise<StartedApplier> => ({ applier: await Applier.open(root), threaded: false, why });
  if ((globalThis as { Bun?: unknown }).Bun === undefined) return inline(`Node ${process.versions.node} cannot start a Worker from TypeScript sources`);
  const at = workerLocation();
  if (at === null) return inline("this binary was built without src/replicator/apply-worker.ts among its entry points");
  const progress = new SharedArrayBuffer(4 * PROGRESS_SLOTS);
  let worker: Worker;
  try {
    worker = new Worker(at, { workerData: { applyRoot: root, progress } satisfies ApplyWorkerInput });
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
  // The copy's st_dev as the thread read it: this thread never stats the copy, a hung disk could hold it there.
  const io = watch !== null && watch.timeoutMs > 0 && ready.dev !== null ? deviceIo(BigInt(ready.dev)) : null;
  return { applier: new ThreadedApplier(worker, ready.mtimeWindowNs, progress, watch, undefined, io, ready.answers), threaded: true };
}
