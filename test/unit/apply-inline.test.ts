/**
 * The SECOND's quick ops applied on the main thread while the applier's
 * thread is idle (apply-threaded.ts). The thread is played here by a second
 * Applier on the same copy, driven by the messages the main side posts, so
 * what one side's ops make stale in the other's caches is tested for real.
 */
import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Worker } from "node:worker_threads";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Applier, cacheDrops } from "../../src/replicator/apply.ts";
import { DirtySet } from "../../src/replicator/apply-sync.ts";
import { INLINE_PAUSE_MS, INLINE_SLOW_MS, ThreadedApplier } from "../../src/replicator/apply-threaded.ts";
import type { ApplyResult } from "../../src/replicator/apply-result.ts";
import type { ApplyWorkerRequest } from "../../src/replicator/apply-worker.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";

class FakeThread extends EventEmitter {
  readonly posted: Extract<ApplyWorkerRequest, { t: "ops" }>[] = [];
  postMessage(m: ApplyWorkerRequest): void {
    if (m.t === "ops") this.posted.push(m);
  }
  terminate(): Promise<number> {
    return Promise.resolve(0);
  }
}

let base: string;
let root: string;
let outside: string;
let thread: FakeThread;
/** The applier the thread would run. */
let there: Applier;
let here: Applier;
let now: number;
let a: ThreadedApplier;

beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-apply-inline-"));
  root = path.join(base, "copy");
  outside = path.join(base, "outside");
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  thread = new FakeThread();
  there = new Applier(root, { fsCalls: null });
  here = new Applier(root, { fsCalls: null });
  now = 0;
  a = new ThreadedApplier(thread as unknown as Worker, here.mtimeWindowNs, here, () => now);
});

afterEach(() => {
  here.close();
  there.close();
  fs.rmSync(base, { recursive: true, force: true });
});

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The thread carries out what was posted to it, as apply-worker.ts does, and answers. */
async function runThread(): Promise<void> {
  await turn();
  for (const m of thread.posted.splice(0)) {
    if (m.drop !== undefined) there.dropCaches(m.drop);
    if (m.dirty !== undefined) there.mergeDirty(m.dirty);
    thread.emit("message", { t: "results", first: m.first, results: m.ops.map((op) => there.apply(op)) });
  }
}

const data = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const write = (p: string, s: string, offset = 0): MirrorOp => ({ op: "write", path: relPath(p), offset, data: data(s), mtimeNs: 1_700_000_000_000_000_000n });
const create = (p: string): MirrorOp => ({ op: "create", path: relPath(p), mode: 0o644, uid: 0, gid: 0 });
const isPromise = (r: ApplyResult | Promise<ApplyResult>): r is Promise<ApplyResult> => r instanceof Promise;

describe("quick ops on the main thread while the applier's thread is idle", () => {
  it("a quick op is applied at once, without a message to the thread", () => {
    const r = a.apply({ op: "mkdir", path: relPath("d"), mode: 0o755, uid: 0, gid: 0 });
    expect(isPromise(r)).toBe(false);
    expect(r).toEqual({ ok: true });
    expect(fs.statSync(path.join(root, "d")).isDirectory()).toBe(true);
    expect(a.appliedHere).toBe(1);
  });

  it("data and syncs go to the thread, and so does every op while anything is queued there, in order", async () => {
    const w = a.apply(create("f"));
    expect(isPromise(w)).toBe(false);
    const results = [a.apply(write("f", "abc")), a.apply(create("g")), a.apply({ op: "fsync", path: relPath("f"), dataOnly: false })];
    expect(results.every(isPromise)).toBe(true);
    await turn();
    expect(thread.posted.map((m) => m.ops.map((op) => op.op))).toEqual([["write", "create", "fsync"]]);
    expect(fs.existsSync(path.join(root, "g"))).toBe(false);
    await runThread();
    expect(await Promise.all(results)).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    // Idle again: the next quick op is applied here.
    expect(isPromise(a.apply(create("h")))).toBe(false);
    expect(a.appliedHere).toBe(2);
  });

  it("after a rename here, the thread drops its cached fds: a write to the name reaches the new file", async () => {
    a.apply(create("f"));
    const first = a.apply(write("f", "old"));
    await runThread();
    await first;
    // The thread now holds f's fd. f moves to g here, and a new f is made here.
    expect(a.apply({ op: "rename", from: relPath("f"), to: relPath("g"), flags: 0 })).toEqual({ ok: true });
    expect(a.apply(create("f"))).toEqual({ ok: true });
    const second = a.apply(write("f", "new"));
    await turn();
    expect(thread.posted[0]?.drop).toEqual({ fds: true, paths: true });
    await runThread();
    expect(await second).toEqual({ ok: true });
    expect(fs.readFileSync(path.join(root, "f"), "utf8")).toBe("new");
    expect(fs.readFileSync(path.join(root, "g"), "utf8")).toBe("old");
  });

  it("after the thread swapped a directory for a symlink, this side checks the path again and never leaves the copy", async () => {
    a.apply({ op: "mkdir", path: relPath("d"), mode: 0o755, uid: 0, gid: 0 });
    expect(a.apply(create("d/x"))).toEqual({ ok: true }); // d is a checked directory here now
    // Busy thread: these go there, the symlink too.
    const queued = [a.apply(write("d/x", "1")), a.apply({ op: "rename", from: relPath("d"), to: relPath("e"), flags: 0 }), a.apply({ op: "symlink", path: relPath("d"), target: data(outside), uid: 0, gid: 0 })];
    await runThread();
    expect(await Promise.all(queued)).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    const r = a.apply(create("d/y"));
    expect(r).toMatchObject({ ok: false, kind: "refused" });
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it("what was changed here is handed to the thread with its next ops, for its syncs", async () => {
    a.apply({ op: "mkdir", path: relPath("d"), mode: 0o755, uid: 0, gid: 0 });
    a.apply(create("d/f"));
    const synced: string[] = [];
    const syncOne = DirtySet.syncOne;
    DirtySet.syncOne = (abs: Buffer, dataOnly: boolean): void => {
      synced.push(abs.toString());
      syncOne(abs, dataOnly);
    };
    try {
      const s = a.apply({ op: "fsync", path: null, dataOnly: false });
      await turn();
      expect(thread.posted[0]?.dirty?.files).toEqual([path.join(root, "d/f")]);
      expect([...(thread.posted[0]?.dirty?.dirs ?? [])].sort()).toEqual([root, path.join(root, "d")]);
      await runThread();
      expect(await s).toEqual({ ok: true });
    } finally {
      DirtySet.syncOne = syncOne;
    }
    expect(synced).toEqual(expect.arrayContaining([path.join(root, "d/f"), path.join(root, "d"), root]));
    // Handed over once: the next message carries nothing.
    const s2 = a.apply({ op: "fsync", path: null, dataOnly: false });
    await turn();
    expect(thread.posted[0]?.dirty).toBeUndefined();
    await runThread();
    await s2;
  });

  it("dropping the last name of a large file goes to the thread (freeing its blocks may take long)", async () => {
    fs.writeFileSync(path.join(root, "big"), Buffer.alloc(17 * 1024 * 1024, 1));
    fs.writeFileSync(path.join(root, "big2"), Buffer.alloc(17 * 1024 * 1024, 1));
    fs.writeFileSync(path.join(root, "small"), "x");
    fs.linkSync(path.join(root, "big2"), path.join(root, "big2-link"));
    expect(isPromise(a.apply({ op: "unlink", path: relPath("small") }))).toBe(false);
    // Another name keeps big2's blocks: quick.
    expect(isPromise(a.apply({ op: "unlink", path: relPath("big2") }))).toBe(false);
    expect(isPromise(a.apply({ op: "rename", from: relPath("big2-link"), to: relPath("big"), flags: 0 }))).toBe(true);
    await runThread();
    const u = a.apply({ op: "unlink", path: relPath("big") });
    expect(isPromise(u)).toBe(true);
    await runThread();
    expect(await u).toEqual({ ok: true });
    expect(fs.readdirSync(root)).toEqual([]);
  });

  it("a quick op that took long sends every op to the thread for a while", async () => {
    /** Clock readings to give before falling back to `now`: applyHere reads the pause, then the op's start and end. */
    const ticks: number[] = [];
    a = new ThreadedApplier(thread as unknown as Worker, here.mtimeWindowNs, here, () => ticks.shift() ?? now);
    ticks.push(0, 0, INLINE_SLOW_MS - 1);
    expect(isPromise(a.apply(create("e")))).toBe(false);
    ticks.push(100, 100, 100 + INLINE_SLOW_MS + 1);
    expect(isPromise(a.apply(create("f")))).toBe(false);
    expect(ticks).toEqual([]);
    now = 500;
    const r = a.apply(create("g"));
    expect(isPromise(r)).toBe(true);
    await runThread();
    await r;
    now = 100 + INLINE_SLOW_MS + 1 + INLINE_PAUSE_MS + 1;
    expect(isPromise(a.apply(create("h")))).toBe(false);
  });

  it("the caches an op makes stale elsewhere are those it drops itself", () => {
    const ops: MirrorOp[] = [create("a"), write("a", "x"), { op: "unlink", path: relPath("a") }, { op: "rmdir", path: relPath("d") }, { op: "rename", from: relPath("a"), to: relPath("b"), flags: 0 }, { op: "symlink", path: relPath("s"), target: data("t"), uid: 0, gid: 0 }, { op: "link", existing: relPath("a"), path: relPath("c") }];
    expect(ops.map((op) => [op.op, cacheDrops(op)])).toEqual([
      ["create", { fds: false, paths: false }],
      ["write", { fds: false, paths: false }],
      ["unlink", { fds: true, paths: false }],
      ["rmdir", { fds: false, paths: true }],
      ["rename", { fds: true, paths: true }],
      ["symlink", { fds: false, paths: true }],
      ["link", { fds: false, paths: false }],
    ]);
  });
});

describe("DirtySet hand-over", () => {
  it("take empties the set; merge adds to another, overflow included", () => {
    const d = new DirtySet(4);
    expect(d.take()).toBeNull();
    d.file(Buffer.from("/c/f\xe9", "latin1"), 10);
    d.dir(Buffer.from("/c"));
    const m = d.take();
    expect(m).toEqual({ files: ["/c/f\xe9"], dirs: ["/c"], overflow: false, written: 10 });
    expect(d.take()).toBeNull();
    const e = new DirtySet(4);
    e.merge(m!);
    expect(e.take()).toEqual(m);
    for (let i = 0; i < 5; i++) d.dir(Buffer.from(`/c/${i}`));
    const full = d.take();
    expect(full).toEqual({ files: [], dirs: [], overflow: true, written: 0 });
    e.merge({ files: ["/x"], dirs: [], overflow: false, written: 0 });
    e.merge(full!);
    expect(e.take()).toEqual({ files: [], dirs: [], overflow: true, written: 0 });
  });
});
