/**
 * The ALONE journal on a full state dir: once its file cannot grow, the
 * journal is "lost" (its magic overwritten in place, synced), and from then
 * on marks resolve without records and the dirty set asks for a full
 * compare; no write made alone fails for it. The file is a real one, whose
 * appends fail with ENOSPC while an overwrite of bytes it holds succeeds,
 * as on a full ext4, xfs or tmpfs.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Journal, JournalError, JOURNAL_FILE, openJournalFile, type JournalFile } from "../../src/replicator/journal.ts";
import { JOURNAL_LOST_MAGIC, JOURNAL_MAGIC, decodeJournal } from "../../src/replicator/journal-records.ts";
import { relPath, relPathText, type MirrorOp } from "../../src/replicator/ops.ts";
import { tmpDir } from "./resync-fixture.ts";

let dir: string;
beforeEach(() => {
  dir = tmpDir("journal-lost");
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const write = (p: string, offset: number, length: number): MirrorOp => ({ op: "write", path: relPath(p), offset, data: new Uint8Array(length), mtimeNs: 1n });
const enospc = (): Error => Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });

/** The real journal file; `full.append`: writes past its first bytes fail; `full.overwrite`: at offset 0 too. */
async function fillable(): Promise<{ file: JournalFile; full: { append: boolean; overwrite: boolean }; calls: string[] }> {
  const real = await openJournalFile(path.join(dir, JOURNAL_FILE));
  const full = { append: false, overwrite: false };
  const calls: string[] = [];
  const file: JournalFile = {
    read: () => real.read(),
    write: async (data, at) => {
      calls.push(`write@${at}`);
      if (at === 0 ? full.overwrite : full.append) throw enospc();
      await real.write(data, at);
    },
    truncate: (n) => real.truncate(n),
    datasync: async () => {
      calls.push("datasync");
      await real.datasync();
    },
    close: () => real.close(),
  };
  return { file, full, calls };
}

const onDisk = (): Uint8Array => new Uint8Array(fs.readFileSync(path.join(dir, JOURNAL_FILE)));
const startsWith = (b: Uint8Array, magic: Uint8Array): boolean => magic.every((x, i) => b[i] === x);

describe("a journal whose file cannot grow", () => {
  it("is lost durably before the marks resolve; they and later ones resolve, and the resync compares everything", async () => {
    const { file, full, calls } = await fillable();
    const lost: string[] = [];
    const j = await Journal.open(dir, { file, onLost: (why) => lost.push(why) });
    await j.mark(write("a", 0, 4096));
    expect(j.dirty().full).toBe(false);
    full.append = true;
    calls.length = 0;
    let resolved = false;
    const p = j.mark(write("b", 0, 4096)).then(() => (resolved = true));
    await p;
    expect(resolved).toBe(true);
    // The append failed, then the magic was overwritten and synced, before the mark resolved.
    expect(calls[0]).toMatch(/^write@[1-9]/);
    expect(calls.slice(1)).toEqual(["write@0", "datasync"]);
    expect(startsWith(onDisk(), JOURNAL_LOST_MAGIC)).toBe(true);
    expect(lost).toHaveLength(1);
    expect(lost[0]).toContain("ENOSPC");
    const d = j.dirty();
    expect(d.full).toBe(true);
    expect(d.fullReason).toContain("ENOSPC");
    // Writes made alone from now on: no record, no failure.
    calls.length = 0;
    for (let i = 0; i < 50; i++) await j.mark(write(`c${i}`, i * 4096, 4096));
    await j.mark({ op: "rename", from: relPath("c1"), to: relPath("d1"), flags: 0 });
    expect(calls).toEqual([]);
    await j.close();
  });

  it("after a crash it is still lost; an older reader finds no journal it knows; clear() makes it a journal again", async () => {
    const { file, full } = await fillable();
    const j = await Journal.open(dir, { file });
    await j.mark(write("a", 0, 4096));
    full.append = true;
    await j.mark(write("b", 0, 4096));
    await j.close();
    // What a crash leaves: the file as it is on disk.
    const bytes = onDisk();
    // A release that knows only JOURNAL_MAGIC reads it as unreadable, which is a full compare there too.
    expect(startsWith(bytes, JOURNAL_MAGIC)).toBe(false);
    expect(decodeJournal(bytes).lost).toBe(true);
    const again = await fillable();
    again.full.append = true;
    const r = await Journal.open(dir, { file: again.file });
    expect(r.dirty().full).toBe(true);
    expect(r.dirty().paths).toEqual([]);
    await r.mark(write("e", 0, 4096));
    // Space again (the resync completed): a clear journal that records again.
    again.full.append = false;
    await r.clear();
    expect(Array.from(onDisk())).toEqual(Array.from(JOURNAL_MAGIC));
    expect(r.dirty().full).toBe(false);
    await r.mark(write("f", 0, 4096));
    await r.close();
    const back = await Journal.open(dir);
    expect(back.dirty().full).toBe(false);
    expect(back.dirty().paths.map((p) => relPathText(p.path))).toContain("f");
    await back.close();
  });

  it("rejects as before when the overwrite fails too (a failing disk)", async () => {
    const { file, full } = await fillable();
    const j = await Journal.open(dir, { file });
    full.append = true;
    full.overwrite = true;
    await expect(j.mark(write("a", 0, 4096))).rejects.toBeInstanceOf(JournalError);
    await expect(j.mark(write("b", 0, 4096))).rejects.toBeInstanceOf(JournalError);
    expect(startsWith(onDisk(), JOURNAL_MAGIC)).toBe(true);
    await j.close();
  });
});
