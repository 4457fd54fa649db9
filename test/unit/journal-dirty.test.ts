import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DirtyTracker, type DirtySet } from "../../src/replicator/journal-dirty.ts";
import { Journal, recordsFor } from "../../src/replicator/journal.ts";
import { relPath, relPathText, type MirrorOp } from "../../src/replicator/ops.ts";
import { Resync } from "../../src/replicator/resync.ts";
import { LocalResyncPeer } from "../../src/replicator/resync-local-peer.ts";
import { expectSameTrees, noise, tmpDir, writeFile } from "./resync-fixture.ts";

function text(d: DirtySet): string[] {
  const lines = d.paths.map((p) => `${relPathText(p.path) || "."}${p.tree ? " tree" : ""}${p.whole ? " whole" : ""}${p.ranges.map((r) => ` ${r.offset}+${r.length > 1e12 ? "end" : r.length}`).join("")}${p.suspect.map((r) => ` suspect:${r.offset}+${r.length}`).join("")}`);
  if (d.full) lines.push(`FULL ${d.fullReason}`);
  if (d.hardLinkRecheck) lines.push("LINKS");
  return lines.sort();
}

const w = (p: string, offset: number, length: number): MirrorOp => ({ op: "write", path: relPath(p), offset, data: new Uint8Array(length), mtimeNs: 1n });

function track(ops: MirrorOp[], limits?: ConstructorParameters<typeof DirtyTracker>[0]): DirtyTracker {
  const t = new DirtyTracker(limits);
  for (const op of ops) for (const r of recordsFor(op)) t.apply(r);
  return t;
}

describe("dirty set", () => {
  const cases: { name: string; ops: MirrorOp[]; want: string[] }[] = [
    { name: "writes become 4 KiB blocks, merged into ranges", ops: [w("f", 100, 10), w("f", 4096, 8192), w("f", 40000, 1)], want: [".", "f 0+12288 36864+4096"] },
    { name: "a write across a block boundary marks both blocks", ops: [w("f", 4000, 200)], want: [".", "f 0+8192"] },
    { name: "a truncate marks from the new size to the end", ops: [{ op: "truncate", path: relPath("f"), size: 5000, mtimeNs: 1n }], want: [".", "f 4096+end"] },
    { name: "namespace ops mark the path and its parent", ops: [{ op: "mkdir", path: relPath("a/b"), mode: 0o755, uid: 0, gid: 0 }, { op: "chmod", path: relPath("c"), mode: 0o600 }], want: [".", "a", "a/b", "c"] },
    {
      name: "a file written then renamed is sent under its new name, compared in depth",
      ops: [w("rec/seg.tmp", 0, 8192), { op: "rename", from: relPath("rec/seg.tmp"), to: relPath("rec/seg"), flags: 0 }],
      want: ["rec", "rec/seg tree", "rec/seg.tmp whole"],
    },
    {
      name: "a renamed directory carries the marks beneath it",
      ops: [w("d/x/f", 0, 1), { op: "rename", from: relPath("d"), to: relPath("e"), flags: 0 }],
      want: [".", "d whole", "e tree", "e/x", "e/x/f 0+4096"],
    },
    {
      name: "an exchange swaps the marks",
      ops: [w("a", 0, 1), w("b", 8192, 1), { op: "rename", from: relPath("a"), to: relPath("b"), flags: 2 }],
      want: [".", "a tree", "b tree"],
    },
    { name: "unlinking a path with dirty data asks for a check of hard links", ops: [w("h", 0, 1), { op: "unlink", path: relPath("h") }], want: [".", "LINKS", "h whole"] },
    { name: "fsync marks nothing", ops: [{ op: "fsync", path: null, dataOnly: false }], want: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(text(track(c.ops).snapshot())).toEqual(c.want);
    });
  }

  it("a file with too many dirty blocks becomes a whole-file mark", () => {
    const t = track([w("f", 0, 4096 * 10)], { maxPaths: 100, maxBlocksPerFile: 8, maxBlocks: 1000 });
    expect(text(t.snapshot())).toEqual([".", "f whole"]);
  });

  it("too many paths: the set gives up and says a full compare is needed", () => {
    const t = track(Array.from({ length: 20 }, (_, i) => w(`f${i}`, 0, 1)), { maxPaths: 10, maxBlocksPerFile: 8, maxBlocks: 1000 });
    const s = t.snapshot();
    expect(s.full).toBe(true);
    expect(s.fullReason).toBe("more than 10 changed paths");
    expect(s.paths).toEqual([]);
  });
});

describe("journal-driven resync", () => {
  let src: string;
  let dst: string;
  let state: string;
  beforeEach(() => {
    src = tmpDir("jr-src");
    dst = tmpDir("jr-dst");
    state = tmpDir("jr-state");
  });
  afterEach(() => {
    for (const d of [src, dst, state]) fs.rmSync(d, { recursive: true, force: true });
  });

  it("what the PRIM did while ALONE, journaled and replayed after a restart, makes the copies identical", async () => {
    for (let i = 0; i < 5; i++) writeFile(src, `cam${i}/old.bin`, noise(i, 200_000));
    writeFile(src, "keep/big.bin", noise(99, 1 << 20));
    fs.cpSync(src, dst, { recursive: true, preserveTimestamps: true });
    await new Resync({ root: src, peer: new LocalResyncPeer(dst) }).run(); // exact times

    // ALONE: each op is done locally, then marked, as the interceptor does.
    const j = await Journal.open(state);
    const act = async (op: MirrorOp, local: () => void): Promise<void> => {
      local();
      await j.mark(op);
    };
    const seg = noise(7, 50_000);
    await act({ op: "create", path: relPath("cam1/seg.tmp"), mode: 0o644, uid: 0, gid: 0 }, () => fs.writeFileSync(path.join(src, "cam1/seg.tmp"), ""));
    await act({ op: "write", path: relPath("cam1/seg.tmp"), offset: 0, data: seg, mtimeNs: 0n }, () => fs.writeFileSync(path.join(src, "cam1/seg.tmp"), seg));
    await act({ op: "rename", from: relPath("cam1/seg.tmp"), to: relPath("cam1/seg-0001"), flags: 0 }, () => fs.renameSync(path.join(src, "cam1/seg.tmp"), path.join(src, "cam1/seg-0001")));
    await act({ op: "unlink", path: relPath("cam2/old.bin") }, () => fs.unlinkSync(path.join(src, "cam2/old.bin")));
    const patch = noise(8, 4096);
    await act({ op: "write", path: relPath("keep/big.bin"), offset: 65536, data: patch, mtimeNs: 0n }, () => {
      const fd = fs.openSync(path.join(src, "keep/big.bin"), "r+");
      fs.writeSync(fd, patch, 0, 4096, 65536);
      fs.closeSync(fd);
    });
    await act({ op: "rename", from: relPath("cam3"), to: relPath("archive-cam3"), flags: 0 }, () => fs.renameSync(path.join(src, "cam3"), path.join(src, "archive-cam3")));
    await j.close();

    // The PRIM crashed; after the restart the journal says what to send.
    const reopened = await Journal.open(state);
    const dirty = reopened.dirty();
    expect(dirty.full).toBe(false);
    const peer = new LocalResyncPeer(dst);
    const r = await new Resync({ root: src, peer, dirty }).run();
    expect(r.completed).toBe(true);
    expect(r.progress.mode).toBe("journal");
    await expectSameTrees(src, dst);
    // The new segment, and the one patched block; the renamed directory is moved, not sent.
    expect(peer.counters.writeBytes).toBe(50_000 + 4096);
    await reopened.clear();
    expect(reopened.dirty().paths).toEqual([]);
    await reopened.close();
  });

  it("data written through a hard link whose name was then removed still reaches the other names", async () => {
    writeFile(src, "a", noise(1, 100_000), 1_700_000_000);
    fs.linkSync(path.join(src, "a"), path.join(src, "b"));
    await new Resync({ root: src, peer: new LocalResyncPeer(dst) }).run();
    const j = await Journal.open(state);
    const patch = noise(2, 4096);
    const fd = fs.openSync(path.join(src, "a"), "r+");
    fs.writeSync(fd, patch, 0, 4096, 0);
    fs.closeSync(fd);
    await j.mark({ op: "write", path: relPath("a"), offset: 0, data: patch, mtimeNs: 0n });
    fs.unlinkSync(path.join(src, "a"));
    await j.mark({ op: "unlink", path: relPath("a") });
    const dirty = j.dirty();
    expect(dirty.hardLinkRecheck).toBe(true);
    const r = await new Resync({ root: src, peer: new LocalResyncPeer(dst), dirty }).run();
    expect(r.completed).toBe(true);
    await expectSameTrees(src, dst);
    await j.close();
  });

  it("asks the copy for one listing per changed directory, not one per changed file", async () => {
    for (let i = 0; i < 200; i++) writeFile(src, `rec/f${i}`, "old", 1_700_000_000);
    await new Resync({ root: src, peer: new LocalResyncPeer(dst) }).run();
    const j = await Journal.open(state);
    for (let i = 0; i < 200; i += 2) {
      const data = Buffer.from(`new ${i}`);
      fs.writeFileSync(path.join(src, `rec/f${i}`), data);
      await j.mark({ op: "write", path: relPath(`rec/f${i}`), offset: 0, data, mtimeNs: 0n });
    }
    const peer = new LocalResyncPeer(dst);
    const listings: string[] = [];
    const real = peer.manifest.bind(peer);
    peer.manifest = (under, recursive) => {
      listings.push(`${relPathText(under) || "."}${recursive ? " deep" : ""}`);
      return real(under, recursive);
    };
    const r = await new Resync({ root: src, peer, dirty: j.dirty() }).run();
    expect(r.completed).toBe(true);
    expect(listings.sort()).toEqual(["rec"]);
    await expectSameTrees(src, dst);
    await j.close();
  });
});
