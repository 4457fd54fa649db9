/**
 * A recorder's file renamed away while the copy is not in sync: the ALONE
 * journal's marks, the resync passes (one cut midway) and the live stream
 * between two local folders, with the real journal, resync and applier.
 *
 * The live stream is modelled as the mirror driver runs it: each op is
 * done locally first, then, while the copy is not in sync, shown to the
 * journal and the pass under way (live-follow.ts: a rename moves the marks
 * of the data the copy still lacks to the name it has now, and has the pass
 * compare the new name again), then applied on the copy.
 */

import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Journal } from "../../src/replicator/journal.ts";
import { followLive } from "../../src/replicator/live-follow.ts";
import { relPath, type MirrorOp } from "../../src/replicator/ops.ts";
import { LocalResyncPeer } from "../../src/replicator/resync-local-peer.ts";
import { Resync, type ResyncResult } from "../../src/replicator/resync.ts";
import type { ApplyResult, ResyncPeer } from "../../src/replicator/resync-types.ts";
import { expectSameTrees, tmpDirsEachTest } from "./resync-fixture.ts";

let src: string;
let dst: string;
let state: string;
let journal: Journal;
let peer: LocalResyncPeer;
/** The pass under way, if any. */
let pass: Resync | null = null;

tmpDirsEachTest(["away-src", "away-dst", "away-state"], (dirs) => ([src, dst, state] = dirs));
beforeEach(async () => {
  journal = await Journal.open(state);
  peer = new LocalResyncPeer(dst);
  // Made alike on both sides, times included: two mkdirs a clock tick apart (4 ms here) would differ in
  // mtime, and a test that never touches seg/ sends nothing that would even them out.
  for (const root of [src, dst]) {
    fs.mkdirSync(path.join(root, "seg"));
    fs.utimesSync(path.join(root, "seg"), 1_700_000_000, 1_700_000_000);
  }
});
afterEach(async () => {
  await journal.close();
});

const REC = 114;
const record = (n: number): Buffer => Buffer.from(`${String(n).padStart(9, "0")} ${"r".repeat(REC - 11)}\n`);
const seg = (a: number, b: number): string => `seg/${String(a).padStart(9, "0")}-${String(b).padStart(9, "0")}`;

/** Appends records first..last to src's `name`; the op is returned for the caller to journal or send. */
function append(name: string, first: number, last: number): MirrorOp {
  const file = path.join(src, name);
  const at = fs.existsSync(file) ? fs.statSync(file).size : 0;
  const data = Buffer.concat(Array.from({ length: last - first + 1 }, (_, i) => record(first + i)));
  fs.appendFileSync(file, data);
  return { op: "write", path: relPath(name), offset: at, data, mtimeNs: fs.statSync(file, { bigint: true }).mtimeNs };
}

function rename(from: string, to: string): MirrorOp {
  fs.renameSync(path.join(src, from), path.join(src, to));
  return { op: "rename", from: relPath(from), to: relPath(to), flags: 0 };
}

function create(name: string): MirrorOp {
  fs.writeFileSync(path.join(src, name), "");
  return { op: "create", path: relPath(name), mode: 0o644, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

/** ALONE: the op is journaled before it is acknowledged; the copy never sees it. */
async function alone(op: MirrorOp): Promise<void> {
  await journal.mark(op);
}

/** The times of the directory holding `p`, as the live stream carries them with a namespace op. */
function parentTimes(p: Uint8Array): MirrorOp {
  const dir = path.dirname(Buffer.from(p).toString());
  const st = fs.lstatSync(path.join(src, dir), { bigint: true });
  return { op: "utimes", path: relPath(dir === "." ? "" : dir), atimeNs: st.atimeNs, mtimeNs: st.mtimeNs };
}

/** Replicated: the journal follows it (the copy is not in sync), then the copy applies it. */
async function live(op: MirrorOp): Promise<void> {
  const followed = followLive(op, journal, pass);
  const times = op.op === "rename" ? [parentTimes(op.from), parentTimes(op.to)] : op.op === "create" ? [parentTimes(op.path)] : [];
  const results = await Promise.all([peer.apply(op), ...times.map((t) => peer.apply(t))]);
  await followed;
  for (const r of results) expect(r).toEqual({ ok: true });
}

/** The copy as seen over a link that goes down after `okOps` more applies. */
function cutAfter(inner: ResyncPeer, okOps: number): ResyncPeer {
  let left = okOps;
  return {
    mtimeWindowNs: inner.mtimeWindowNs,
    manifest: (under, recursive) => inner.manifest(under, recursive),
    entry: (p) => inner.entry(p),
    blockSums: (p, b, o, c) => inner.blockSums(p, b, o, c),
    apply: (op): Promise<ApplyResult> => {
      if (left-- > 0) return inner.apply(op);
      return Promise.resolve({ ok: false, kind: "refused", errno: "ENOTCONN", message: "the link is down" });
    },
  };
}

/** One journal pass; `onDataPhase` runs when it starts sending data. */
async function runPass(over: ResyncPeer, onDataPhase?: () => Promise<void>): Promise<ResyncResult> {
  let hook = onDataPhase;
  let during: Promise<void> = Promise.resolve();
  pass = new Resync({
    root: src, peer: over, dirty: journal.dirty(),
    onProgress: (p) => {
      if (p.phase !== "data" || hook === undefined) return;
      const h = hook;
      hook = undefined;
      during = h();
    },
  });
  try {
    const r = await pass.run();
    await during;
    return r;
  } finally {
    pass = null;
  }
}

describe("a recorder's file renamed away while the copy is not in sync", () => {
  it("data journaled under a name that a live rename then moves is sent under its new name", async () => {
    // In sync: records 1-10 in rec.log on both sides.
    await live(create("rec.log"));
    await live(append("rec.log", 1, 10));
    await live({ op: "fsync", path: null, dataOnly: false });

    // ALONE: the rest of the segment, rename, a new rec.log, its first records.
    await alone(append("rec.log", 11, 100));
    await alone(rename("rec.log", seg(1, 100)));
    await alone(create("rec.log"));
    await alone(append("rec.log", 101, 115));

    // The link is back; a first journal pass is cut after a few ops.
    const cut = await runPass(cutAfter(peer, 2));
    expect(cut.completed).toBe(false);

    // ALONE again: rec.log goes on.
    await alone(append("rec.log", 116, 190));

    // The link is back; live ops flow before the next pass: the segment is finished and renamed.
    await live(append("rec.log", 191, 200));
    await live(rename("rec.log", seg(101, 200)));
    await live(create("rec.log"));
    await live(append("rec.log", 201, 203));

    const done = await runPass(peer);
    expect(done.completed).toBe(true);
    await peer.apply({ op: "fsync", path: null, dataOnly: false });
    await expectSameTrees(src, dst);
  });

  it("a live rename during a pass, after the pass planned the marked name, gets the data sent under the new name", async () => {
    await live(create("rec.log"));
    await live(append("rec.log", 1, 10));
    await alone(append("rec.log", 11, 60));

    const done = await runPass(peer, () => {
      // The pass planned rec.log from the journal; the writer finishes the segment now (each op done
      // here before the pass reads the file, then replicated in order).
      const ops = [append("rec.log", 61, 100), rename("rec.log", seg(1, 100)), create("rec.log"), append("rec.log", 101, 102)];
      return Promise.all(ops.map(live)).then(() => undefined);
    });
    expect(done.completed).toBe(true);
    await peer.apply({ op: "fsync", path: null, dataOnly: false });
    await expectSameTrees(src, dst);
  });

  it("data journaled under a name that a live unlink then removes reaches the file's other hard link", async () => {
    await live(create("cam.dat"));
    await live(append("cam.dat", 1, 10));
    fs.linkSync(path.join(src, "cam.dat"), path.join(src, "keep.dat"));
    await live({ op: "link", existing: relPath("cam.dat"), path: relPath("keep.dat") });
    await alone(append("cam.dat", 11, 40));
    fs.unlinkSync(path.join(src, "cam.dat"));
    await live({ op: "unlink", path: relPath("cam.dat") });

    const done = await runPass(peer);
    expect(done.completed).toBe(true);
    await peer.apply({ op: "fsync", path: null, dataOnly: false });
    await expectSameTrees(src, dst);
  });

  it("a file made under the name a rename took away, written only in places, leaves none of the old file's bytes on the copy", async () => {
    await live(create("db"));
    await live(append("db", 1, 100));
    await alone(rename("db", "db.old"));
    await alone(create("db"));
    // A new file written only past its start: its first bytes are a hole, the copy's old file has data there.
    const fd = fs.openSync(path.join(src, "db"), "r+");
    const data = record(500);
    fs.writeSync(fd, data, 0, data.length, 8192);
    fs.closeSync(fd);
    await alone({ op: "write", path: relPath("db"), offset: 8192, data, mtimeNs: fs.statSync(path.join(src, "db"), { bigint: true }).mtimeNs });

    const done = await runPass(peer);
    expect(done.completed).toBe(true);
    await peer.apply({ op: "fsync", path: null, dataOnly: false });
    await expectSameTrees(src, dst);
  });

  it("a live append between the pass's look at the file and its truncate is not cut off the copy", async () => {
    // The copy holds an older, longer file under the name (the previous segment's inode, say).
    await live(create("rec.log"));
    await live(append("rec.log", 1, 100));
    await alone(rename("rec.log", seg(1, 100)));
    await alone(create("rec.log"));
    await alone(append("rec.log", 101, 115));
    // A file before rec.log whose write fills the window: rec.log's first op waits for its acknowledgement.
    await alone(create("a.dat"));
    await alone(append("a.dat", 1, 20));

    let appended = false;
    const slow: ResyncPeer = {
      mtimeWindowNs: peer.mtimeWindowNs,
      manifest: (u, r) => peer.manifest(u, r),
      entry: (p) => peer.entry(p),
      blockSums: (p, b, o, c) => peer.blockSums(p, b, o, c),
      apply: async (op): Promise<ApplyResult> => {
        const r = await peer.apply(op);
        if (!appended && op.op === "write" && Buffer.from(op.path).toString() === "a.dat") {
          // While rec.log's turn waits: the writer appends, replicated live (before the pass's truncate in the stream).
          appended = true;
          await live(append("rec.log", 116, 121));
        }
        return r;
      },
    };
    pass = new Resync({ root: src, peer: slow, dirty: journal.dirty(), windowBytes: 256, concurrency: 1 });
    const r = await pass.run();
    pass = null;
    expect(r.completed).toBe(true);
    expect(appended).toBe(true);
    await peer.apply({ op: "fsync", path: null, dataOnly: false });
    await expectSameTrees(src, dst);
  });
});
