import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Journal, JOURNAL_FILE, type JournalFile } from "../../src/replicator/journal.ts";
import type { DirtySet } from "../../src/replicator/journal-dirty.ts";
import { decodeJournal } from "../../src/replicator/journal-records.ts";
import { relPath, relPathText, type MirrorOp } from "../../src/replicator/ops.ts";
import { tmpDir } from "./resync-fixture.ts";

let dir: string;
beforeEach(() => {
  dir = tmpDir("journal");
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const write = (p: string, offset: number, length: number): MirrorOp => ({ op: "write", path: relPath(p), offset, data: new Uint8Array(length), mtimeNs: 1n });

/** A dirty set as sorted text, for comparisons. */
function text(d: DirtySet): string[] {
  const lines = d.paths.map((p) => `${relPathText(p.path) || "."}${p.tree ? " tree" : ""}${p.whole ? " whole" : ""}${p.ranges.map((r) => ` ${r.offset}+${r.length}`).join("")}${p.suspect.map((r) => ` suspect:${r.offset}+${r.length}`).join("")}`);
  if (d.full) lines.push(`FULL ${d.fullReason}`);
  if (d.hardLinkRecheck) lines.push("LINKS");
  return lines.sort();
}

const OPS: MirrorOp[] = [
  { op: "mkdir", path: relPath("rec"), mode: 0o755, uid: 0, gid: 0 },
  { op: "create", path: relPath("rec/seg1.tmp"), mode: 0o644, uid: 0, gid: 0 },
  write("rec/seg1.tmp", 0, 10000),
  write("rec/seg1.tmp", 10000, 5000),
  { op: "rename", from: relPath("rec/seg1.tmp"), to: relPath("rec/seg1"), flags: 0 },
  { op: "truncate", path: relPath("old.log"), size: 4096 * 3 + 1, mtimeNs: 1n },
  { op: "chmod", path: relPath("conf"), mode: 0o600 },
  write("db", 1 << 20, 4096),
];

describe("journal file", () => {
  it("after a crash, reopens with every complete record, whatever byte the last one was torn at", async () => {
    const file = path.join(dir, JOURNAL_FILE);
    const j = await Journal.open(dir);
    for (const op of OPS.slice(0, -1)) await j.mark(op);
    const sizeBefore = fs.statSync(file).size;
    const bytesBefore = fs.readFileSync(file);
    await j.mark(OPS[OPS.length - 1]!);
    await j.close();
    const full = fs.readFileSync(file);
    expect(full.length).toBeGreaterThan(sizeBefore);
    /** The dirty set a restart finds in these bytes. */
    const reopen = async (bytes: Buffer): Promise<{ set: string[]; size: number }> => {
      const d = tmpDir("journal-cut");
      try {
        fs.writeFileSync(path.join(d, JOURNAL_FILE), bytes);
        const r = await Journal.open(d);
        const set = text(r.dirty());
        await r.close();
        return { set, size: fs.statSync(path.join(d, JOURNAL_FILE)).size };
      } finally {
        fs.rmSync(d, { recursive: true, force: true });
      }
    };
    const before = (await reopen(bytesBefore)).set;
    const after = (await reopen(full)).set;
    expect(after).not.toEqual(before);
    expect(after).toContain("db suspect:1048576+1048576");
    for (let cut = sizeBefore; cut <= full.length; cut++) {
      const got = await reopen(full.subarray(0, cut));
      expect(got.set, `cut at ${cut}`).toEqual(cut === full.length ? after : before);
      // The torn tail is cut off, so later records land right after the good ones.
      expect(got.size).toBe(cut === full.length ? full.length : sizeBefore);
    }
  });

  it("ignores a record whose bytes were damaged, and everything after it", async () => {
    const j = await Journal.open(dir);
    await j.mark(write("a", 0, 1));
    await j.mark(write("b", 0, 1));
    await j.close();
    const file = path.join(dir, JOURNAL_FILE);
    const bytes = fs.readFileSync(file);
    const good = decodeJournal(bytes);
    expect(good.records.length).toBe(2);
    bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 0xff;
    fs.writeFileSync(file, bytes);
    const r = await Journal.open(dir);
    expect(text(r.dirty())).toEqual([".", "a suspect:0+1048576"]);
    await r.close();
  });

  it("treats an unreadable file as a full compare", async () => {
    fs.writeFileSync(path.join(dir, JOURNAL_FILE), "not a journal at all");
    const j = await Journal.open(dir);
    expect(j.dirty().full).toBe(true);
    await j.close();
    const again = await Journal.open(dir);
    expect(again.dirty().full).toBe(true);
    // Marked lost in place at the first open (no new block: a full state dir takes it too).
    expect(again.dirty().fullReason).toBe("the journal was marked lost (its file could not grow, or was unreadable)");
    await again.close();
  });

  it("a recorder appending 64 KiB at a time pays one sync per MiB, and the memory keeps the exact blocks", async () => {
    const j = await Journal.open(dir);
    for (let i = 0; i < 64; i++) await j.mark(write("rec/seg", i * 65536, 65536));
    expect(j.syncs).toBe(4);
    expect(text(j.dirty())).toEqual(["rec", "rec/seg 0+4194304"]);
    await j.mark(write("rec/seg", (8 << 20) + 100, 10));
    expect(j.syncs).toBe(5);
    expect(text(j.dirty())).toEqual(["rec", "rec/seg 0+4194304 8388608+4096"]);
    await j.close();
    // After a restart only the extents are known: compared, not sent.
    const r = await Journal.open(dir);
    expect(text(r.dirty())).toEqual(["rec", "rec/seg suspect:0+1048576 suspect:1048576+1048576 suspect:2097152+1048576 suspect:3145728+1048576 suspect:8388608+1048576"]);
    await r.close();
  });

  it("markRange marks bytes ahead of the write, and costs nothing more inside a recorded extent", async () => {
    const j = await Journal.open(dir);
    await j.markRange(relPath("db"), 8192, 100);
    const syncs = j.syncs;
    await j.markRange(relPath("db"), 500_000, 4096);
    expect(j.syncs).toBe(syncs);
    expect(text(j.dirty())).toEqual([".", "db 8192+4096 499712+8192"]);
    await j.close();
  });

  it("clear() empties it, durably", async () => {
    const j = await Journal.open(dir);
    for (const op of OPS) await j.mark(op);
    await j.clear();
    expect(j.dirty().paths).toEqual([]);
    await j.mark(write("after", 0, 1));
    await j.close();
    const r = await Journal.open(dir);
    expect(text(r.dirty())).toEqual([".", "after suspect:0+1048576"]);
    await r.close();
  });
});

/** A journal file in memory whose datasync waits until the test lets it go. */
class GatedFile implements JournalFile {
  bytes = new Uint8Array();
  durable = new Uint8Array();
  events: string[] = [];
  private gates: (() => void)[] = [];
  async read(): Promise<Uint8Array> {
    return this.bytes;
  }
  async write(data: Uint8Array, position: number): Promise<void> {
    const out = new Uint8Array(Math.max(this.bytes.length, position + data.length));
    out.set(this.bytes);
    out.set(data, position);
    this.bytes = out;
    this.events.push(`write ${data.length}`);
  }
  async truncate(length: number): Promise<void> {
    this.bytes = this.bytes.slice(0, length);
  }
  datasync(): Promise<void> {
    this.events.push("sync start");
    return new Promise((resolve) => {
      this.gates.push(() => {
        this.durable = this.bytes.slice();
        this.events.push("sync done");
        resolve();
      });
    });
  }
  async close(): Promise<void> {}
  /** Lets the pending syncs finish, and runs what they trigger. */
  async release(): Promise<void> {
    for (let i = 0; i < 20; i++) {
      const g = this.gates.splice(0);
      for (const f of g) f();
      await new Promise((r) => setImmediate(r));
    }
  }
}

describe("journal durability and group commit", () => {
  it("a mark resolves only after its record is written and synced", async () => {
    const f = new GatedFile();
    f.bytes = new TextEncoder().encode("VIGILJ01");
    const j = await Journal.open(dir, { file: f });
    let resolved = false;
    const p = j.mark(write("x", 0, 100)).then(() => {
      resolved = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(resolved).toBe(false);
    expect(f.events).toEqual(["write 22", "sync start"].map((e) => e.replace("22", String(f.bytes.length - 8))));
    await f.release();
    await p;
    expect(resolved).toBe(true);
    expect(decodeJournal(f.durable).records.map((r) => r.kind)).toEqual(["blocks"]);
  });

  it("many writers share one sync; a mark already covered waits for that sync but writes nothing", async () => {
    const f = new GatedFile();
    f.bytes = new TextEncoder().encode("VIGILJ01");
    const j = await Journal.open(dir, { file: f });
    const first = j.mark(write("a", 0, 1));
    await new Promise((r) => setImmediate(r));
    // While the first sync runs, 100 more marks arrive.
    const more = Array.from({ length: 100 }, (_, i) => j.mark(write(`f${i}`, 0, 1)));
    const covered = j.mark(write("a", 0, 10));
    let coveredDone = false;
    void covered.then(() => { coveredDone = true; });
    await f.release();
    await Promise.all([first, ...more, covered]);
    expect(coveredDone).toBe(true);
    expect(j.syncs).toBe(2);
    expect(decodeJournal(f.durable).records.length).toBe(101);
    const syncsBefore = j.syncs;
    await j.mark(write("a", 100, 100));
    expect(j.syncs).toBe(syncsBefore);
  });

  it("a failed write rejects the waiting marks and the next ones, until clear()", async () => {
    const f = new GatedFile();
    f.bytes = new TextEncoder().encode("VIGILJ01");
    const j = await Journal.open(dir, { file: f });
    const realWrite = f.write.bind(f);
    f.write = async () => {
      throw new Error("No space left on device");
    };
    await expect(j.mark(write("a", 0, 1))).rejects.toThrow(/journal could not be written: No space left/);
    await expect(j.mark(write("b", 0, 1))).rejects.toThrow(/No space left/);
    f.write = realWrite;
    const cleared = j.clear();
    await f.release();
    await cleared;
    const again = j.mark(write("c", 0, 1));
    await f.release();
    await again;
    expect(text(j.dirty())).toEqual([".", "c 0+4096"]);
  });
});
