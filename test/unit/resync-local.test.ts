import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { relPath } from "../../src/replicator/ops.ts";
import { Resync, type ResyncOptions } from "../../src/replicator/resync.ts";
import { LocalResyncPeer } from "../../src/replicator/resync-local-peer.ts";
import { verifyTrees } from "../../src/replicator/verify.ts";
import { allocated, expectSameTrees, noise, tmpDirsEachTest, writeFile } from "./resync-fixture.ts";

let src: string;
let dst: string;
let state: string;

tmpDirsEachTest(["resync-src", "resync-dst", "resync-state"], (dirs) => ([src, dst, state] = dirs));

async function resync(extra: Partial<ResyncOptions> = {}): Promise<{ peer: LocalResyncPeer; result: Awaited<ReturnType<Resync["run"]>> }> {
  const peer = new LocalResyncPeer(dst);
  const result = await new Resync({ root: src, peer, ...extra }).run();
  return { peer, result };
}

/** A tree with a bit of everything Node can make. */
function populate(root: string): void {
  writeFile(root, "a.txt", "hello\n");
  writeFile(root, "dir/b.bin", noise(1, 300_000));
  writeFile(root, "dir/sub/c.bin", noise(2, 70_000));
  writeFile(root, "empty", "");
  fs.mkdirSync(path.join(root, "emptydir"));
  fs.symlinkSync("dir/b.bin", path.join(root, "link-to-b"));
  fs.symlinkSync("/nowhere/at/all", path.join(root, "dangling"));
  fs.linkSync(path.join(root, "dir/b.bin"), path.join(root, "hard-b"));
  fs.writeFileSync(Buffer.concat([Buffer.from(root + "/name-"), Buffer.from([0xff, 0xfe, 0x01])]), "odd bytes");
  fs.chmodSync(path.join(root, "a.txt"), 0o640);
  fs.chownSync(path.join(root, "dir/sub/c.bin"), 1234, 5678);
  fs.chmodSync(path.join(root, "dir/sub"), 0o750);
  expect(spawnSync("mkfifo", ["-m", "0620", path.join(root, "dir/fifo")]).status).toBe(0);
}

describe("resync between two local folders", () => {
  it("copies a tree from nothing: content, modes, owners, times, symlinks, hard links, a FIFO, odd names", async () => {
    populate(src);
    const { result } = await resync();
    expect(result.error).toBe(null);
    expect(result.completed).toBe(true);
    await expectSameTrees(src, dst);
    expect((await verifyTrees(src, new LocalResyncPeer(dst))).differences).toEqual([]);
  });

  it("sends nothing when the copies already agree", async () => {
    populate(src);
    await resync();
    const { peer, result } = await resync();
    expect(result.completed).toBe(true);
    expect(peer.counters.writeBytes).toBe(0);
    expect(result.progress.bytesSent).toBe(0);
  });

  it("sends about the changed bytes when 1 % of a tree changed", async () => {
    const files = 40;
    const size = 1 << 20;
    for (let i = 0; i < files; i++) writeFile(src, `f${i}.bin`, noise(i + 10, size), 1_700_000_000 + i);
    fs.cpSync(src, dst, { recursive: true, preserveTimestamps: true });
    // 1 % of 4 KiB blocks, scattered.
    const blocks = (files * size) / 4096;
    let changed = 0;
    for (let n = 0; n < Math.round(blocks / 100); n++) {
      const f = (n * 7) % files;
      const block = (n * 37 + 11) % (size / 4096);
      const fd = fs.openSync(path.join(src, `f${f}.bin`), "r+");
      fs.writeSync(fd, noise(1000 + n, 4096), 0, 4096, block * 4096);
      fs.closeSync(fd);
      changed += 4096;
    }
    const { peer, result } = await resync();
    expect(result.completed).toBe(true);
    await expectSameTrees(src, dst);
    expect(peer.counters.writeBytes).toBeGreaterThanOrEqual(changed);
    expect(peer.counters.writeBytes).toBeLessThanOrEqual(changed * 1.1);
    expect(result.progress.bytesSent).toBe(peer.counters.writeBytes);
    // Sums asked of the copy: 16 bytes per 64 KiB, then per 4 KiB of differing blocks.
    expect(result.progress.sumBytesReceived).toBeLessThan(changed * 0.15);
  });

  it("leaves excluded paths alone on both sides", async () => {
    writeFile(src, "keep.txt", "sent");
    writeFile(src, "cache/tmp.bin", "not sent");
    writeFile(dst, "cache/theirs.bin", "not deleted");
    const exclude = (p: Uint8Array): boolean => /^cache(\/|$)/.test(Buffer.from(p).toString("latin1"));
    const { result } = await resync({ exclude });
    expect(result.completed).toBe(true);
    expect(fs.readFileSync(path.join(dst, "keep.txt"), "utf8")).toBe("sent");
    expect(fs.existsSync(path.join(dst, "cache/tmp.bin"))).toBe(false);
    expect(fs.readFileSync(path.join(dst, "cache/theirs.bin"), "utf8")).toBe("not deleted");
    expect((await verifyTrees(src, new LocalResyncPeer(dst), { exclude })).differences.map((d) => d.path)).toEqual([]);
  });

  it("changes an entry's type: file to directory, directory to file, symlink to file", async () => {
    writeFile(dst, "x", "was a file");
    writeFile(dst, "y/inner/deep.txt", "was in a directory");
    fs.symlinkSync("somewhere", path.join(dst, "z"));
    writeFile(src, "x/now-inside.txt", "x is a directory now");
    writeFile(src, "y", "y is a file now");
    writeFile(src, "z", "z is a file now");
    const { result } = await resync();
    expect(result.completed).toBe(true);
    await expectSameTrees(src, dst);
  });

  it("makes hard-link groups agree, also when the copy linked names the source keeps apart", async () => {
    writeFile(src, "one", "shared data");
    fs.mkdirSync(path.join(src, "d"));
    fs.linkSync(path.join(src, "one"), path.join(src, "two"));
    fs.linkSync(path.join(src, "one"), path.join(src, "d/three"));
    writeFile(src, "p", "p alone");
    writeFile(src, "q", "q alone");
    writeFile(dst, "p", "p alone");
    fs.linkSync(path.join(dst, "p"), path.join(dst, "q"));
    writeFile(dst, "two", "shared data");
    const { result } = await resync();
    expect(result.completed).toBe(true);
    await expectSameTrees(src, dst);
    expect(fs.statSync(path.join(dst, "d/three")).ino).toBe(fs.statSync(path.join(dst, "one")).ino);
    expect(fs.statSync(path.join(dst, "p")).ino).not.toBe(fs.statSync(path.join(dst, "q")).ino);
  });

  it("keeps a sparse file sparse: holes are not sent as zeros", async () => {
    const file = path.join(src, "sparse.img");
    const fd = fs.openSync(file, "w");
    fs.writeSync(fd, noise(5, 8192), 0, 8192, 0);
    fs.writeSync(fd, noise(6, 4096), 0, 4096, 64 << 20);
    fs.ftruncateSync(fd, 128 << 20);
    fs.closeSync(fd);
    const { peer, result } = await resync();
    expect(result.completed).toBe(true);
    await expectSameTrees(src, dst);
    expect(peer.counters.writeBytes).toBe(8192 + 4096);
    expect(allocated(path.join(dst, "sparse.img"))).toBeLessThan(1 << 20);
  });

  it("removes extras deepest first and detects a moved file instead of sending it again", async () => {
    populate(src);
    for (const [i, d] of ["dir", "dir/sub", "emptydir"].entries()) fs.utimesSync(path.join(src, d), 1_600_000_000 + i, 1_600_000_000 + i);
    await resync();
    fs.renameSync(path.join(src, "dir/sub/c.bin"), path.join(src, "moved-c.bin"));
    fs.rmSync(path.join(src, "emptydir"), { recursive: true });
    fs.renameSync(path.join(src, "dir"), path.join(src, "dir2"));
    const { peer, result } = await resync();
    expect(result.completed).toBe(true);
    await expectSameTrees(src, dst);
    expect(peer.counters.writeBytes).toBe(0);
  });

  it("is resumable: interrupted after a few files, started again, the copies agree and nothing is sent twice", async () => {
    for (let i = 0; i < 12; i++) writeFile(src, `d${i % 3}/f${i}.bin`, noise(i + 50, 200_000));
    const controller = new AbortController();
    const checkpointFile = path.join(state, "resync.checkpoint");
    const first = await resync({
      checkpointFile, concurrency: 1, checkpointEveryMs: 0, signal: controller.signal,
      onProgress: (p) => { if (p.filesDone >= 5) controller.abort(); },
    });
    expect(first.result.completed).toBe(false);
    expect(first.result.error).toBe("interrupted");
    expect(fs.existsSync(checkpointFile)).toBe(true);
    const sentFirst = first.peer.counters.writeBytes;
    expect(sentFirst).toBeGreaterThan(0);
    const second = await resync({ checkpointFile, concurrency: 1 });
    expect(second.result.completed).toBe(true);
    await expectSameTrees(src, dst);
    expect(second.result.progress.filesDone).toBe(second.result.progress.filesTotal);
    expect(sentFirst + second.peer.counters.writeBytes).toBe(12 * 200_000);
    expect(fs.existsSync(checkpointFile)).toBe(false);
  });

  it("a checksum resync resumed with its checkpoint and the journal since does not compare the files done again", async () => {
    for (let i = 0; i < 10; i++) writeFile(src, `f${i}.bin`, noise(i + 70, 100_000));
    fs.cpSync(src, dst, { recursive: true });
    const controller = new AbortController();
    const checkpointFile = path.join(state, "resync.checkpoint");
    const nothingChanged = { full: false, fullReason: null, hardLinkRecheck: false, paths: [] };
    const first = await resync({
      full: true, dirty: nothingChanged, checksumAll: true, checkpointFile, concurrency: 1, checkpointEveryMs: 0, signal: controller.signal,
      onProgress: (p) => { if (p.filesDone >= 6) controller.abort(); },
    });
    expect(first.result.completed).toBe(false);
    // f2 changes while the resync is interrupted; the journal says so.
    writeFile(src, "f2.bin", noise(999, 100_000));
    const since = { ...nothingChanged, paths: [{ path: relPath("f2.bin"), tree: false, whole: true, ranges: [], suspect: [] }] };
    const second = await resync({ full: true, dirty: since, checksumAll: true, checkpointFile, concurrency: 1 });
    expect(second.result.completed).toBe(true);
    await expectSameTrees(src, dst);
    // Sums only of f2 and the four files not done (f6..f9): 2 blocks of 64 KiB each, 16 bytes a sum;
    // then f2's 4 KiB sums in both differing blocks (16 + 9). All ten files would be 320 + 400.
    expect(second.result.progress.sumBytesReceived).toBe(5 * 2 * 16 + (16 + 9) * 16);
    expect(second.peer.counters.writeBytes).toBe(100_000);
  });

  it("reports progress: files and bytes done of total, and the rate limit holds the sender back", async () => {
    for (let i = 0; i < 4; i++) writeFile(src, `f${i}`, noise(i, 100_000));
    let now = 0;
    const slept: number[] = [];
    const clock = { now: () => now, sleep: async (ms: number) => { slept.push(ms); now += ms; } };
    const seen: number[] = [];
    const { result } = await resync({ clock, rateLimitBytesPerSec: 100_000, onProgress: (p) => seen.push(p.bytesDone) });
    expect(result.completed).toBe(true);
    const p = result.progress;
    expect(p.filesDone).toBe(4);
    expect(p.filesTotal).toBe(4);
    expect(p.bytesDone).toBe(400_000);
    expect(p.bytesTotal).toBe(400_000);
    expect(p.etaSec).toBe(0);
    // 400 kB at 100 kB/s with a one-second bucket: three seconds of waiting.
    expect(slept.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2900);
    expect(p.bytesPerSec).toBeGreaterThan(0);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });

  it("reports progress within a large file as its data goes, first sync and journaled range alike", async () => {
    const size = 6 << 20;
    writeFile(src, "big.img", noise(21, size), 1_700_000_000);
    // A clock that moves 100 ms at each look, so the progress given within the file is not held back by its spacing.
    let now = 0;
    const clock = { now: () => (now += 100), sleep: async (ms: number) => { now += ms; } };
    const within = (seen: number[]): number[] => seen.filter((b) => b > 0 && b < size);
    const first: number[] = [];
    const one = await resync({ clock, onProgress: (p) => first.push(p.bytesDone) });
    expect(one.result.completed).toBe(true);
    expect(within(first).length).toBeGreaterThanOrEqual(3);
    // The whole file changed while the standby was away, journaled as one range.
    writeFile(src, "big.img", noise(22, size), 1_700_000_100);
    const dirty = {
      full: false, fullReason: null, hardLinkRecheck: false,
      paths: [
        { path: relPath(""), tree: false, whole: false, ranges: [], suspect: [] },
        { path: relPath("big.img"), tree: false, whole: false, ranges: [{ offset: 0, length: size }], suspect: [] },
      ],
    };
    const journal: number[] = [];
    const two = await resync({ clock, dirty, onProgress: (p) => journal.push(p.bytesDone) });
    expect(two.result.completed).toBe(true);
    expect(two.result.progress.bytesDone).toBe(size);
    expect(within(journal).length).toBeGreaterThanOrEqual(3);
    expect(journal).toEqual([...journal].sort((a, b) => a - b));
    await expectSameTrees(src, dst);
  });

  it("journal-driven: only the marked paths and ranges are sent", async () => {
    writeFile(src, "big.bin", noise(9, 1 << 20), 1_700_000_000);
    writeFile(src, "other.bin", noise(10, 1 << 20), 1_700_000_000);
    fs.cpSync(src, dst, { recursive: true, preserveTimestamps: true });
    const fd = fs.openSync(path.join(src, "big.bin"), "r+");
    fs.writeSync(fd, noise(11, 4096), 0, 4096, 8192);
    fs.closeSync(fd);
    // other.bin differs too, but the journal does not say so: journal mode must not look at it.
    const fd2 = fs.openSync(path.join(src, "other.bin"), "r+");
    fs.writeSync(fd2, noise(12, 4096), 0, 4096, 0);
    fs.closeSync(fd2);
    writeFile(src, "new/file.txt", "created while alone");
    const dirty = {
      full: false, fullReason: null, hardLinkRecheck: false,
      paths: [
        { path: relPath(""), tree: false, whole: false, ranges: [], suspect: [] },
        { path: relPath("big.bin"), tree: false, whole: false, ranges: [{ offset: 8192, length: 4096 }], suspect: [] },
        { path: relPath("new"), tree: false, whole: false, ranges: [], suspect: [] },
        { path: relPath("new/file.txt"), tree: false, whole: false, ranges: [], suspect: [] },
      ],
    };
    const { peer, result } = await resync({ dirty });
    expect(result.completed).toBe(true);
    expect(peer.counters.writeBytes).toBe(4096 + "created while alone".length);
    expect(fs.readFileSync(path.join(dst, "big.bin")).equals(fs.readFileSync(path.join(src, "big.bin")))).toBe(true);
    expect(fs.readFileSync(path.join(dst, "new/file.txt"), "utf8")).toBe("created while alone");
    const v = await verifyTrees(src, new LocalResyncPeer(dst));
    expect(v.differences.map((d) => `${d.path} ${d.kind}`).sort()).toEqual(["other.bin content", "other.bin mtime"]);
  });
});

describe("the sender's read buffers", () => {
  it("are used again only once the op that carried them is acknowledged", async () => {
    for (let i = 0; i < 6; i++) writeFile(src, `f${i}`, noise(100 + i, 5 * 1024 * 1024 + 123));
    const peer = new LocalResyncPeer(dst);
    const real = peer.apply.bind(peer);
    const buffers = new Set<ArrayBufferLike>();
    let writes = 0;
    let overwritten = 0;
    peer.apply = (op) => {
      if (op.op !== "write") return real(op);
      writes++;
      buffers.add(op.data.buffer);
      const sent = Buffer.from(op.data);
      // Acknowledged a few turns later, as over the link: the bytes must not change meanwhile.
      return new Promise((resolve) => setTimeout(() => {
        if (!sent.equals(op.data)) overwritten++;
        resolve(real({ ...op, data: Uint8Array.from(sent) }));
      }, 1));
    };
    const r = await new Resync({ root: src, peer }).run();
    expect(r.completed).toBe(true);
    expect(overwritten).toBe(0);
    expect(writes).toBeGreaterThanOrEqual(30);
    expect(buffers.size).toBeLessThan(writes / 2);
    await expectSameTrees(src, dst);
  });
});

describe("journal-driven removal of a directory", () => {
  let a: string;
  let b: string;
  tmpDirsEachTest(["jdel-src", "jdel-dst"], (dirs) => ([a, b] = dirs));

  it("removes what the copy holds beneath a directory the journal only names", async () => {
    writeFile(a, "keep", "k");
    writeFile(b, "keep", "k");
    writeFile(b, "gone/sub/deep.bin", noise(3, 10_000));
    writeFile(b, "gone/file", "f");
    const dirty = {
      full: false, fullReason: null, hardLinkRecheck: false,
      paths: [
        { path: relPath(""), tree: false, whole: false, ranges: [], suspect: [] },
        { path: relPath("gone"), tree: false, whole: false, ranges: [], suspect: [] },
      ],
    };
    const r = await new Resync({ root: a, peer: new LocalResyncPeer(b), dirty }).run();
    expect(r.error).toBe(null);
    expect(fs.existsSync(path.join(b, "gone"))).toBe(false);
    expect(fs.readFileSync(path.join(b, "keep"), "utf8")).toBe("k");
  });
});

describe("resync when the other copy goes away", () => {
  let a: string;
  let b: string;
  tmpDirsEachTest(["gone-src", "gone-dst"], (dirs) => ([a, b] = dirs));

  it("stops soon after ops come back ENOTCONN, and says why", async () => {
    for (let i = 0; i < 50; i++) writeFile(a, `f${i}`, noise(i, 100_000));
    const peer = new LocalResyncPeer(b);
    let applied = 0;
    const real = peer.apply.bind(peer);
    peer.apply = (op) => (++applied > 20 ? Promise.resolve({ ok: false, errno: "ENOTCONN", message: "link down" }) : real(op));
    const r = await new Resync({ root: a, peer, concurrency: 1 }).run();
    expect(r.completed).toBe(false);
    expect(r.error).toBe("the other copy cannot be reached: link down");
    expect(applied).toBeLessThan(60);
  });
});
