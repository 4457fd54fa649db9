/**
 * The SECOND's watch over the disk beneath its copy (apply-threaded.ts,
 * disk_timeout): no op of the applier's thread finished within the bound
 * while results are owed, the disk is taken for hung. The thread is played
 * by a fake that serves the main side's messages with apply-worker.ts's own
 * serveRequest on a real Applier, and can be made to hang: it then keeps
 * every message, the first op of the first one "in its call" (it lands
 * when the disk answers again, as a stuck write does). The completed-I/O
 * counters of the copy's block device are a number the test moves.
 */
import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Worker } from "node:worker_threads";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Applier } from "../../src/replicator/apply.ts";
import type { ApplyResult } from "../../src/replicator/apply-result.ts";
import { type DiskWatch, ThreadedApplier } from "../../src/replicator/apply-threaded.ts";
import { type ApplyWorkerMessage, type ApplyWorkerRequest, PROGRESS, PROGRESS_SLOTS, serveRequest } from "../../src/replicator/apply-worker.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";

class HangingThread extends EventEmitter {
  hung = false;
  readonly kept: Exclude<ApplyWorkerRequest, { t: "close" }>[] = [];
  opsMessages = 0;
  constructor(
    private readonly applier: Applier,
    private readonly progress: Int32Array,
  ) {
    super();
  }
  postMessage(m: ApplyWorkerRequest): void {
    if (m.t === "close") {
      setImmediate(() => this.emit("exit", 0));
      return;
    }
    if (m.t === "ops") this.opsMessages++;
    this.kept.push(m);
    if (!this.hung) this.serveKept(this.kept.length);
  }
  /** Serves the first `n` messages kept (the disk answers for them). */
  serveKept(n: number, firstOpBegun = false): void {
    const post = (r: ApplyWorkerMessage): void => void setImmediate(() => this.emit("message", r));
    for (const m of this.kept.splice(0, n)) {
      if (firstOpBegun && m.t === "ops" && m.ops.length > 0) {
        // Begun before the main side gave up: it ends as the stuck call returns, whatever the flag says.
        firstOpBegun = false;
        const r = this.applier.apply(m.ops[0]!);
        Atomics.add(this.progress, PROGRESS.done, 1);
        post({ t: "results", first: m.first, results: [r] });
        serveRequest(this.applier, this.progress, { ...m, first: m.first + 1, ops: m.ops.slice(1) }, post);
        continue;
      }
      serveRequest(this.applier, this.progress, m, post);
    }
  }
  terminate(): Promise<number> {
    return Promise.resolve(0);
  }
}

let base: string;
let root: string;
let there: Applier;
let progress: SharedArrayBuffer;
let thread: HangingThread;
let now: number;
let told: string[];
let a: ThreadedApplier;

const FOLDER = "/srv/copy";
const WHY = "the disk beneath /srv/copy has not finished an op for 5.0 s (disk_timeout 5.0 s): this copy is detached, outdated until the disk answers and a resync has run";

beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-disk-watch-"));
  root = path.join(base, "copy");
  fs.mkdirSync(root);
  there = new Applier(root, { fsCalls: null });
  progress = new SharedArrayBuffer(4 * PROGRESS_SLOTS);
  thread = new HangingThread(there, new Int32Array(progress));
  now = 0;
  told = [];
  const watch: DiskWatch = { timeoutMs: 5_000, folder: FOLDER, onHung: (why) => told.push(`hung: ${why}`), onAnswering: () => told.push("answering") };
  a = new ThreadedApplier(thread as unknown as Worker, there.mtimeWindowNs, progress, watch, () => now);
});

afterEach(async () => {
  await a.close();
  there.close();
  fs.rmSync(base, { recursive: true, force: true });
});

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const create = (p: string): MirrorOp => ({ op: "create", path: relPath(p), mode: 0o644, uid: 0, gid: 0 });
const mkdir = (p: string): MirrorOp => ({ op: "mkdir", path: relPath(p), mode: 0o755, uid: 0, gid: 0 });
const exists = (p: string): boolean => fs.existsSync(path.join(root, p));
const settled = async (p: ApplyResult | Promise<ApplyResult>): Promise<ApplyResult | "pending"> => Promise.race([Promise.resolve(p), turn().then(() => "pending" as const)]);

describe("the disk beneath the SECOND's copy, watched by its applier (disk_timeout)", () => {
  it("no op finished within the bound: what is owed fails with the reason, new ops fail at once, nothing abandoned lands when the disk answers, then ops apply again", async () => {
    thread.hung = true;
    const p1 = a.apply(create("a"));
    const p2 = a.apply(mkdir("d"));
    await turn();
    now = 1_000;
    const p3 = a.apply(create("b"));
    await turn();
    expect(thread.opsMessages).toBe(2);
    now = 4_999;
    a.check();
    expect(await settled(p1)).toBe("pending");
    expect(told).toEqual([]);
    now = 5_000;
    a.check();
    const failed = { ok: false, kind: "failed", errno: "ETIMEDOUT", message: WHY };
    expect(await p1).toEqual(failed);
    expect(await p2).toEqual(failed);
    expect(await p3).toEqual(failed);
    expect(told).toEqual([`hung: ${WHY}`]);
    expect(a.hung).toBe(WHY);
    // Nothing more reaches the disk meanwhile: the op fails now, without a message to the thread.
    expect(a.apply(create("c"))).toEqual(failed);
    expect(thread.opsMessages).toBe(2);
    // The disk answers: the call that was under way returns, what queued behind it is skipped.
    thread.hung = false;
    thread.serveKept(thread.kept.length, true);
    await turn();
    await turn();
    expect(told).toEqual([`hung: ${WHY}`, "answering"]);
    expect(a.hung).toBeNull();
    expect(exists("a")).toBe(true);
    expect(exists("d")).toBe(false);
    expect(exists("b")).toBe(false);
    expect(exists("c")).toBe(false);
    expect(await a.apply(create("e"))).toEqual({ ok: true });
    expect(exists("e")).toBe(true);
  });

  it("a slow disk that finishes its ops one after the other is never detached, however long the queue takes", async () => {
    thread.hung = true;
    const results: (ApplyResult | Promise<ApplyResult>)[] = [];
    for (let i = 0; i < 4; i++) {
      results.push(a.apply(create(`f${i}`)));
      await turn();
    }
    for (let i = 0; i < 4; i++) {
      now += 4_000;
      a.check();
      thread.serveKept(1);
      await turn();
      now += 500;
      a.check();
    }
    expect(told).toEqual([]);
    for (const r of results) expect(await r).toEqual({ ok: true });
    // Idle, nothing is owed: time passing says nothing about the disk.
    now += 60_000;
    a.check();
    expect(told).toEqual([]);
  });

  it("an op that stays in its call while the block device beneath the copy completes I/O (a long fsync of a slow disk) is not detached; once the device stops too, it is", async () => {
    let io = 100;
    const slow = new ThreadedApplier(thread as unknown as Worker, there.mtimeWindowNs, progress, { timeoutMs: 5_000, folder: FOLDER, onHung: (why) => told.push(`hung: ${why}`), onAnswering: () => {} }, () => now, () => io);
    thread.hung = true;
    const p = slow.apply(create("big"));
    await turn();
    // 30 s in one call, the device completing writes all along.
    for (now = 1_000; now <= 30_000; now += 1_000) {
      io += 7;
      slow.check();
    }
    expect(told).toEqual([]);
    expect(await settled(p)).toBe("pending");
    // The device stops completing too: hung a bound after its last move.
    const last = now - 1_000;
    for (; now < last + 5_000; now += 1_000) slow.check();
    expect(told).toEqual([]);
    slow.check();
    const why = "the disk beneath /srv/copy has not finished an op for 35 s and its device has completed no I/O for 5.0 s (disk_timeout 5.0 s): this copy is detached, outdated until the disk answers and a resync has run";
    expect(told).toEqual([`hung: ${why}`]);
    expect(await p).toEqual({ ok: false, kind: "failed", errno: "ETIMEDOUT", message: why });
    await slow.close();
  });

  it("the slow disk's call returns: the op lands, and a device that never moved detaches a hung disk a look after the bound at the latest", async () => {
    let io = 0;
    const watched = new ThreadedApplier(thread as unknown as Worker, there.mtimeWindowNs, progress, { timeoutMs: 5_000, folder: FOLDER, onHung: (why) => told.push(`hung: ${why}`), onAnswering: () => {} }, () => now, () => io);
    thread.hung = true;
    const p = watched.apply(create("big"));
    await turn();
    for (now = 1_000; now <= 12_000; now += 1_000) {
      io += 3;
      watched.check();
    }
    thread.hung = false;
    thread.serveKept(thread.kept.length);
    expect(await p).toEqual({ ok: true });
    expect(exists("big")).toBe(true);
    // A disk that hangs, its device completing nothing: the first look while owed is the device's baseline.
    thread.hung = true;
    const q = watched.apply(create("small"));
    await turn();
    const from = now;
    for (now = from + 1_000; now < from + 6_000; now += 1_000) watched.check();
    expect(told).toEqual([]);
    watched.check();
    expect(told).toHaveLength(1);
    expect(await q).toMatchObject({ ok: false, errno: "ETIMEDOUT" });
    await watched.close();
  });

  it("a device whose counters cannot be read (gone) leaves the ops alone to decide", async () => {
    const watched = new ThreadedApplier(thread as unknown as Worker, there.mtimeWindowNs, progress, { timeoutMs: 5_000, folder: FOLDER, onHung: (why) => told.push(`hung: ${why}`), onAnswering: () => {} }, () => now, () => null);
    thread.hung = true;
    const p = watched.apply(create("x"));
    await turn();
    now = 4_999;
    watched.check();
    expect(told).toEqual([]);
    now = 5_000;
    watched.check();
    expect(told).toEqual([`hung: ${WHY}`]);
    expect(await p).toMatchObject({ ok: false, errno: "ETIMEDOUT", message: WHY });
    await watched.close();
  });

  it("a bound of 0 never detaches", async () => {
    const off = new ThreadedApplier(thread as unknown as Worker, there.mtimeWindowNs, progress, { timeoutMs: 0, folder: FOLDER, onHung: () => told.push("hung"), onAnswering: () => {} }, () => now);
    thread.hung = true;
    const p = off.apply(create("x"));
    await turn();
    now = 3_600_000;
    off.check();
    expect(told).toEqual([]);
    expect(await settled(p)).toBe("pending");
    thread.hung = false;
    thread.serveKept(thread.kept.length);
    expect(await p).toEqual({ ok: true });
    await off.close();
  });
});
