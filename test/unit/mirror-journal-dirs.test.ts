import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Journal } from "../../src/replicator/journal.ts";
import { DIR_SLACK_NS, type DirtySet } from "../../src/replicator/journal-dirty.ts";
import { relPath, relPathText, type MirrorOp } from "../../src/replicator/ops.ts";
import { Resync } from "../../src/replicator/resync.ts";
import { LocalResyncPeer } from "../../src/replicator/resync-local-peer.ts";
import { expectSameTrees, noise, tmpDir, writeFile } from "./resync-fixture.ts";

let dir: string;
beforeEach(() => {
  dir = tmpDir("journal-dirs");
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const owner = { uid: 0, gid: 0 };
const mkdir = (p: string): MirrorOp => ({ op: "mkdir", path: relPath(p), mode: 0o755, ...owner });
const create = (p: string): MirrorOp => ({ op: "create", path: relPath(p), mode: 0o644, ...owner });
const rename = (from: string, to: string): MirrorOp => ({ op: "rename", from: relPath(from), to: relPath(to), flags: 0 });
const unlink = (p: string): MirrorOp => ({ op: "unlink", path: relPath(p) });
const write = (p: string, offset: number, length: number): MirrorOp => ({ op: "write", path: relPath(p), offset, data: new Uint8Array(length), mtimeNs: 1n });

function dirsOf(d: DirtySet): string[] {
  return (d.dirs ?? []).map((x) => relPathText(x.path) || ".").sort();
}

describe("journal: one record per busy directory", () => {
  it("a storm of creates, renames and unlinks in one directory costs a sync per directory, not per file", async () => {
    const j = await Journal.open(dir);
    await j.mark(mkdir("storm"));
    for (let i = 0; i < 200; i++) {
      await j.mark(create(`storm/f${i}`));
      await j.mark(rename(`storm/f${i}`, `storm/g${i}`));
      await j.mark(unlink(`storm/g${i}`));
    }
    // One "dir" record for the root (the mkdir), one for storm/.
    expect(j.syncs).toBe(2);
    // Memory is exact: the resync without a restart looks at these names only, and no
    // unlink of a file without written data widens it to the whole tree.
    const live = j.dirty();
    expect(live.hardLinkRecheck).toBe(false);
    expect(live.paths.map((p) => relPathText(p.path))).toContain("storm/g7");
    expect(dirsOf(live)).toEqual([]);
    await j.close();
    const again = await Journal.open(dir);
    expect(dirsOf(again.dirty())).toEqual([".", "storm"]);
    await again.close();
  });

  it("keeps exact records where marks must move or may be orphaned", async () => {
    const j = await Journal.open(dir);
    await j.mark(mkdir("d"));
    await j.mark(create("d/f"));
    await j.mark(write("d/f", 0, 100));
    const before = j.syncs;
    // A directory with marks beneath: its rename moves them, so it is recorded.
    await j.mark(rename("d", "e"));
    expect(j.syncs).toBe(before + 1);
    // An unlink of a file with written data: the data may live on under another hard link.
    await j.mark(create("e/h"));
    await j.mark(write("e/h", 0, 10));
    const beforeUnlink = j.syncs;
    await j.mark(unlink("e/h"));
    expect(j.syncs).toBe(beforeUnlink + 1);
    expect(j.dirty().hardLinkRecheck).toBe(true);
    await j.close();
    const again = await Journal.open(dir);
    const d = again.dirty();
    expect(d.hardLinkRecheck).toBe(true);
    const ef = d.paths.find((p) => relPathText(p.path) === "e/f");
    expect(ef?.suspect.length).toBe(1);
    await again.close();
  });

  it("a directory whose changes a record stands for is renamed by an exact record, which moves that record", async () => {
    const j = await Journal.open(dir);
    await j.mark(mkdir("d"));
    await j.mark(create("d/f"));
    await j.close();
    // After a restart only the records are known: nothing is marked beneath d.
    const again = await Journal.open(dir);
    const before = again.syncs;
    await again.mark(rename("d", "e"));
    expect(again.syncs).toBe(before + 1);
    await again.close();
    const third = await Journal.open(dir);
    expect(dirsOf(third.dirty())).toEqual([".", "e"]);
    await third.close();
  });

  it("a renamed file without written data, then removed, does not widen the resync", async () => {
    const j = await Journal.open(dir);
    await j.mark(rename("a", "b"));
    await j.mark(unlink("b"));
    expect(j.dirty().hardLinkRecheck).toBe(false);
    await j.close();
  });

  it("a clock that went back gets an earlier record before the change is acknowledged", async () => {
    let now = 1_000_000_000_000n;
    const j = await Journal.open(dir, { nowNs: () => now });
    await j.mark(mkdir("a"));
    expect(j.syncs).toBe(1);
    await j.mark(mkdir("b"));
    expect(j.syncs).toBe(1);
    now -= 100_000_000_000n;
    await j.mark(mkdir("c"));
    expect(j.syncs).toBe(2);
    await j.close();
    const again = await Journal.open(dir);
    const d = again.dirty().dirs ?? [];
    expect(d.length).toBe(1);
    expect(d[0]!.sinceNs).toBeLessThanOrEqual(now);
    await again.close();
  });
});

describe("resync from directory records after a restart", () => {
  let a: string;
  let b: string;
  beforeEach(() => {
    a = tmpDir("jdirs-src");
    b = tmpDir("jdirs-dst");
  });
  afterEach(() => {
    for (const d of [a, b]) fs.rmSync(d, { recursive: true, force: true });
  });

  it("a file removed and made again under the same name is compared whole (its holes may hide the old file's bytes on the copy)", async () => {
    writeFile(a, "x", noise(7, 1 << 20), 1_700_000_000);
    fs.cpSync(a, b, { recursive: true, preserveTimestamps: true });
    const j = await Journal.open(dir);
    const at = path.join(a, "x");
    fs.unlinkSync(at);
    await j.mark(unlink("x"));
    const fd = fs.openSync(at, "w");
    await j.mark(create("x"));
    fs.writeSync(fd, noise(8, 4096), 0, 4096, 0);
    await j.mark(write("x", 0, 4096));
    fs.ftruncateSync(fd, 1 << 20);
    fs.closeSync(fd);
    await j.mark({ op: "truncate", path: relPath("x"), size: 1 << 20, mtimeNs: 1n });
    const r = await new Resync({ root: a, peer: new LocalResyncPeer(b), dirty: j.dirty() }).run();
    await j.close();
    expect(r.error).toBe(null);
    await expectSameTrees(a, b);
  });

  it("makes the copy identical, a rename over a file of the same size and mtime included, and leaves old children alone", async () => {
    const old = 1_700_000_000;
    writeFile(a, "d/keep.bin", noise(1, 1 << 20), old);
    writeFile(a, "d/x", noise(2, 8192), old);
    writeFile(a, "d/y", noise(3, 8192), old);
    writeFile(a, "d/mode", "m", old);
    writeFile(a, "d/sub/deep", "deep", old);
    writeFile(a, "top", "t", old);
    fs.cpSync(a, b, { recursive: true, preserveTimestamps: true });
    // The records' times land 300 ms before each mark (not DIR_SLACK_NS): the setup's ctimes lie before them.
    await new Promise((r) => setTimeout(r, 600));
    const j = await Journal.open(dir, { nowNs: () => BigInt(Date.now()) * 1_000_000n + DIR_SLACK_NS - 300_000_000n });
    const local = (op: MirrorOp, act: () => void): Promise<void> => {
      act();
      return j.mark(op);
    };
    const at = (rel: string) => path.join(a, rel);
    await local(rename("d/x", "d/y"), () => fs.renameSync(at("d/x"), at("d/y")));
    await local({ op: "chmod", path: relPath("d/mode"), mode: 0o600 }, () => fs.chmodSync(at("d/mode"), 0o600));
    await local(mkdir("d/new"), () => fs.mkdirSync(at("d/new")));
    await local(create("d/new/f"), () => fs.writeFileSync(at("d/new/f"), ""));
    await local(write("d/new/f", 0, 5), () => fs.writeFileSync(at("d/new/f"), "hello"));
    await local(unlink("d/sub/deep"), () => fs.unlinkSync(at("d/sub/deep")));
    await local({ op: "symlink", path: relPath("d/ln"), target: relPath("keep.bin"), ...owner }, () => fs.symlinkSync("keep.bin", at("d/ln")));
    // One "dir" record per directory changed in (d, d/new, d/sub), not one per change.
    expect(j.syncs).toBeLessThanOrEqual(4);
    await j.close();
    const restarted = await Journal.open(dir);
    const dirty = restarted.dirty();
    expect(dirsOf(dirty)).toEqual(["d", "d/new", "d/sub"]);
    const peer = new LocalResyncPeer(b);
    const r = await new Resync({ root: a, peer, dirty }).run();
    await restarted.close();
    expect(r.error).toBe(null);
    await expectSameTrees(a, b);
    // The untouched 1 MiB child is neither read nor compared.
    expect(r.progress.bytesTotal).toBeLessThan(1 << 20);
  });
});
