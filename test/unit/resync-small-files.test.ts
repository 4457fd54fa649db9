import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type { DirtyPath, DirtySet } from "../../src/replicator/journal-dirty.ts";
import { relPath, relPathText, type MirrorOp, type RelPath } from "../../src/replicator/ops.ts";
import { Resync } from "../../src/replicator/resync.ts";
import { LocalResyncPeer } from "../../src/replicator/resync-local-peer.ts";
import type { ApplyResult, ManifestEntry } from "../../src/replicator/resync-types.ts";
import { expectSameTrees, noise, tmpDirsEachTest, writeFile } from "./resync-fixture.ts";

/** The local peer, counting the questions and ops the resync sends it. */
class CountingPeer extends LocalResyncPeer {
  readonly manifests: string[] = [];
  readonly ops: MirrorOp[] = [];
  /** Called with each op before it is carried out. */
  beforeOp: ((op: MirrorOp) => void) | null = null;

  override manifest(under: RelPath, recursive: boolean): AsyncIterable<ManifestEntry> {
    this.manifests.push(`${relPathText(under) || "."}${recursive ? " (tree)" : ""}`);
    return super.manifest(under, recursive);
  }

  override apply(op: MirrorOp): Promise<ApplyResult> {
    this.ops.push(op);
    this.beforeOp?.(op);
    return super.apply(op);
  }

  count(kind: MirrorOp["op"]): number {
    return this.ops.filter((o) => o.op === kind).length;
  }
}

let src: string;
let dst: string;

tmpDirsEachTest(["small-src", "small-dst"], (dirs) => ([src, dst] = dirs));

/** `n` files of 4 KiB in `dir`, copied to the other side, then all rewritten here: a journal set marking each. */
function rewritten(dir: string, n: number, marked = n): DirtySet {
  for (let i = 0; i < n; i++) writeFile(src, `${dir}/f${i}`, noise(i + 1, 4096), 1_700_000_000);
  fs.cpSync(src, dst, { recursive: true, preserveTimestamps: true });
  // cpSync sets a directory's times before it fills it.
  const st = fs.statSync(path.join(src, dir), { bigint: true });
  fs.utimesSync(path.join(dst, dir), Number(st.atimeNs) / 1e9, Number(st.mtimeNs) / 1e9);
  const paths: DirtyPath[] = [];
  for (let i = 0; i < n; i++) {
    writeFile(src, `${dir}/f${i}`, noise(i + 1000, 4096), 1_700_000_100 + i);
    if (i < marked) paths.push({ path: relPath(`${dir}/f${i}`), tree: false, whole: false, ranges: [{ offset: 0, length: 4096 }], suspect: [] });
  }
  return { full: false, fullReason: null, hardLinkRecheck: false, paths };
}

describe("journal resync of many small changed files", () => {
  it("lists their directory once instead of asking for each file, and sets each mtime with the file's data", async () => {
    const dirty = rewritten("d", 64);
    const peer = new CountingPeer(dst);
    const r = await new Resync({ root: src, peer, dirty }).run();
    expect(r.completed).toBe(true);
    expect(peer.manifests).toEqual(["d"]);
    expect(peer.count("write")).toBe(64);
    // The data op of each file carried its real mtime: no metadata op follows it.
    expect(peer.count("utimes")).toBe(0);
    await expectSameTrees(src, dst);
  });

  it("lists each marked directory's own entries when many marked directories share a parent", async () => {
    // The journal marks the directories too (their entries changed): each must still be listed, not only named in its parent's listing.
    const dirs = Array.from({ length: 20 }, (_, i) => `top/d${i}`);
    for (const d of dirs) for (let i = 0; i < 3; i++) writeFile(src, `${d}/f${i}`, noise(i + 1, 4096), 1_700_000_000);
    fs.cpSync(src, dst, { recursive: true, preserveTimestamps: true });
    const paths: DirtyPath[] = [];
    for (const d of dirs) {
      for (let i = 0; i < 3; i++) {
        writeFile(src, `${d}/f${i}`, noise(i + 500, 4096), 1_700_000_100);
        paths.push({ path: relPath(`${d}/f${i}`), tree: false, whole: false, ranges: [{ offset: 0, length: 4096 }], suspect: [] });
      }
      writeFile(src, `${d}/new`, "made while alone");
      paths.push({ path: relPath(d), tree: false, whole: false, ranges: [], suspect: [] });
      paths.push({ path: relPath(`${d}/new`), tree: false, whole: false, ranges: [], suspect: [] });
    }
    for (const d of ["top", ...dirs]) {
      const st = fs.statSync(path.join(src, d), { bigint: true });
      fs.utimesSync(path.join(dst, d), Number(st.atimeNs) / 1e9, Number(st.mtimeNs) / 1e9);
    }
    const peer = new CountingPeer(dst);
    const r = await new Resync({ root: src, peer, dirty: { full: false, fullReason: null, hardLinkRecheck: false, paths } }).run();
    expect(r.completed).toBe(true);
    expect(peer.count("write")).toBe(20 * 4);
    await expectSameTrees(src, dst);
  });

  it("asks for each marked file of a large directory where only a few changed", async () => {
    const dirty = rewritten("d", 200, 20);
    const peer = new CountingPeer(dst);
    const r = await new Resync({ root: src, peer, dirty }).run();
    expect(r.completed).toBe(true);
    expect(peer.manifests).toHaveLength(20);
    expect(peer.manifests).not.toContain("d");
    // The unmarked files differ too, but the journal does not name them: only the 20 are sent.
    expect(peer.count("write")).toBe(20);
  });

  it("still sets the mtime in the metadata step when the file changed after its data was sent", async () => {
    const dirty = rewritten("d", 32);
    const peer = new CountingPeer(dst);
    const later = 1_700_005_000;
    // A change after the read: on the PRIM a live op would follow with its time; here the time alone changes.
    peer.beforeOp = (op) => {
      if (op.op === "write" && relPathText(op.path) === "d/f7") fs.utimesSync(path.join(src, "d/f7"), later, later);
    };
    const r = await new Resync({ root: src, peer, dirty }).run();
    expect(r.completed).toBe(true);
    expect(peer.ops.filter((o) => o.op === "utimes").map((o) => relPathText(o.path))).toEqual(["d/f7"]);
    expect(fs.statSync(path.join(dst, "d/f7")).mtimeMs).toBe(later * 1000);
    await expectSameTrees(src, dst);
  });

  it("sends the metadata step's time again in the revisit of a file whose data op failed", async () => {
    const dirty = rewritten("d", 16);
    const peer = new CountingPeer(dst);
    let failed = false;
    const apply = peer.apply.bind(peer);
    peer.apply = async (op: MirrorOp): Promise<ApplyResult> => {
      if (!failed && op.op === "write" && relPathText(op.path) === "d/f3") {
        failed = true;
        return { ok: false, errno: "EIO", message: "a disk error, once" };
      }
      return apply(op);
    };
    const r = await new Resync({ root: src, peer, dirty }).run();
    expect(r.completed).toBe(true);
    expect(failed).toBe(true);
    await expectSameTrees(src, dst);
  });
});

describe("first sync of small files", () => {
  it("sends a new file as its create and its writes, the last with the real mtime: no truncate, no metadata op", async () => {
    for (let i = 0; i < 32; i++) writeFile(src, `d/f${i}`, noise(i + 1, 4096 + i), 1_700_000_000 + i);
    writeFile(src, "d/empty", "", 1_700_000_200);
    const peer = new CountingPeer(dst);
    const r = await new Resync({ root: src, peer }).run();
    expect(r.completed).toBe(true);
    expect(peer.count("create")).toBe(33);
    expect(peer.count("write")).toBe(32);
    expect(peer.count("truncate")).toBe(0);
    // Each file's create comes right before its write (one turn), whatever the other files in flight do.
    for (let i = 0; i < 32; i++) {
      const at = peer.ops.findIndex((o) => o.op === "create" && relPathText(o.path) === `d/f${i}`);
      expect(peer.ops[at + 1]).toMatchObject({ op: "write", offset: 0 });
      expect(relPathText((peer.ops[at + 1] as { path: RelPath }).path)).toBe(`d/f${i}`);
    }
    // The empty file has no write to carry its time (the directories' times come last, as always).
    expect(peer.ops.filter((o) => o.op === "utimes").map((o) => relPathText(o.path)).filter((p) => p.startsWith("d/"))).toEqual(["d/empty"]);
    await expectSameTrees(src, dst);
  });

  it("still sizes a new sparse file with a truncate: its holes are never written", async () => {
    fs.mkdirSync(path.join(src, "s"));
    const fd = fs.openSync(path.join(src, "s/sparse"), "w");
    fs.writeSync(fd, noise(7, 4096), 0, 4096, 1 << 20);
    fs.closeSync(fd);
    fs.utimesSync(path.join(src, "s/sparse"), 1_700_000_300, 1_700_000_300);
    const peer = new CountingPeer(dst);
    const r = await new Resync({ root: src, peer }).run();
    expect(r.completed).toBe(true);
    expect(peer.count("truncate")).toBe(1);
    await expectSameTrees(src, dst);
  });
});
