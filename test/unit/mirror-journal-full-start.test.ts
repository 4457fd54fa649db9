/**
 * The ALONE journal as the operator sees it (mirror rule 9), on real mirror
 * drivers (loopback, no FUSE) and, where root may mount one, a real full
 * tmpfs as the state dir:
 * - a journal that cannot be opened at start (an empty one on a full state
 *   dir: its magic must be written) keeps the copy from being served with
 *   the reason in status, and opens by itself once there is room, without
 *   a restart (before: "mirror cannot start" until the daemon restarted);
 * - an unreadable one on a full state dir opens as lost, in place;
 * - a journal lost while alone shows in status and in `vigil status`'s
 *   lines (the next resync compares every file) until a resync emptied it.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ModuleStatus } from "../../src/api/modules.ts";
import { formatModules } from "../../src/cli/module-table.ts";
import { mirrorStateDir } from "../../src/daemon/mirror/copy-file.ts";
import type { MirrorDriver } from "../../src/daemon/mirror/driver.ts";
import { Journal, JOURNAL_FILE, type JournalFile } from "../../src/replicator/journal.ts";
import { JOURNAL_LOST_MAGIC } from "../../src/replicator/journal-records.ts";
import { relPath, type MirrorOp } from "../../src/replicator/ops.ts";
import { loopbackMirrorDriver, pairInSync, until } from "./mirror-driver-pair.ts";
import { tmpDir } from "./resync-fixture.ts";

const isRoot = process.getuid?.() === 0;
const KEY = new Uint8Array(32).fill(9);
const PORT = 30_000 + Math.floor(Math.random() * 20_000);
const host = { gate: () => {}, republish: () => {}, announce: (sent: () => void) => queueMicrotask(sent) };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function driver(self: "h1" | "h2", root: string, lines: string[]): MirrorDriver {
  const d = loopbackMirrorDriver(self, root, { key: KEY, port: PORT, lines });
  cleanups.push(() => d.close());
  return d;
}

const said = (lines: readonly string[], text: string): number => lines.filter((l) => l.includes(text)).length;

/** h1's state dir on a 256 KiB tmpfs; `fill()` takes its last byte, `free()` gives it back. */
function tmpfsStateDir(root: string): { dir: string; fill(): void; free(): void } {
  const dir = join(root, "h1-state");
  mkdirSync(dir, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", dir]);
  cleanups.push(() => {
    // A driver's fd closes a moment after its close() returned: detached now, freed once it has.
    execFileSync("umount", ["-l", dir]);
  });
  const filler = join(dir, "filler");
  return {
    dir,
    fill() {
      try {
        writeFileSync(filler, Buffer.alloc(1 << 20));
      } catch {
        // Full now.
      }
    },
    free() {
      rmSync(filler, { force: true });
    },
  };
}

/** h1 once with room: its copy record and journal are written; then stopped. */
async function firstLife(root: string): Promise<string> {
  const lines: string[] = [];
  const d = loopbackMirrorDriver("h1", root, { key: KEY, port: PORT, lines });
  d.attach(host);
  await until(() => said(lines, "mirror link listening") === 1, "h1's first start");
  await d.close();
  return join(mirrorStateDir(join(root, "h1-state"), "vms"), JOURNAL_FILE);
}

describe("an ALONE journal that cannot be written at start", () => {
  it.skipIf(!isRoot)("empty on a full state dir: the copy waits with the reason, its link runs, and it opens by itself once there is room", async () => {
    const root = tmpDir("journal-full-start");
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const state = tmpfsStateDir(root);
    const journal = await firstLife(root);
    // As a daemon leaves it that created the file on a full state dir and could not write its first bytes.
    truncateSync(journal, 0);
    state.fill();
    const lines: string[] = [];
    const h1 = driver("h1", root, lines);
    const h2 = driver("h2", root, []);
    h1.attach(host);
    h2.attach(host);
    h1.peer("up");
    h2.peer("up");
    await until(() => said(lines, "mirror journal unopened") === 1, "h1's journal refused");
    expect(h1.status().serving).toBe(`cannot take over: the ALONE journal cannot be opened (state dir ${state.dir} full (ENOSPC)); retrying every 1 s`);
    const start = await h1.start({} as never);
    expect(start.ok).toBe(false);
    expect(start.detail).toContain("the ALONE journal cannot be opened");
    // Its link and its applier do not wait for it: as a SECOND it needs no journal.
    await until(() => h1.status().link === "up", "h1's link up while its journal waits");
    expect(readFileSync(journal).length).toBe(0);
    state.free();
    await until(() => said(lines, "mirror journal opened") === 1, "h1's journal opened");
    // Its copy record (written when the link came up: rule 8) is saved again too, within the second.
    await until(() => !/journal|not saved/.test(h1.status().serving ?? ""), "h1's copy servable as far as the state dir goes");
    expect(readFileSync(journal).subarray(0, 8).toString()).toBe("VIGILJ01");
    expect(h1.status().journalLost).toBeNull();
  }, 60_000);

  it.skipIf(!isRoot)("unreadable on a full state dir: it opens as lost, in place, and status says the next resync compares every file", async () => {
    const root = tmpDir("journal-full-unreadable");
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const state = tmpfsStateDir(root);
    const journal = await firstLife(root);
    writeFileSync(journal, Buffer.from("VIGILJ99 a journal this release cannot read ".repeat(4)));
    state.fill();
    const lines: string[] = [];
    const h1 = driver("h1", root, lines);
    h1.attach(host);
    await until(() => said(lines, "mirror link listening") === 1, "h1 started");
    expect(said(lines, "mirror journal unopened")).toBe(0);
    expect(h1.status().serving ?? "").not.toContain("journal");
    expect(h1.status().journalLost).toBe("the journal file was unreadable: the next resync to h2 compares every file (size and mtime, then block checksums)");
    expect(JOURNAL_LOST_MAGIC.every((b, i) => readFileSync(journal)[i] === b)).toBe(true);
  }, 60_000);
});

describe("Journal.open on a full state dir", () => {
  it("an empty journal whose magic cannot be written is not opened, and its file is closed (the caller tries again with a new one)", async () => {
    const calls: string[] = [];
    const enospc = (): Promise<never> => Promise.reject(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }));
    const file: JournalFile = {
      read: () => Promise.resolve(new Uint8Array(0)),
      write: () => (calls.push("write"), enospc()),
      truncate: () => (calls.push("truncate"), Promise.resolve()),
      datasync: () => (calls.push("datasync"), Promise.resolve()),
      close: () => (calls.push("close"), Promise.resolve()),
    };
    await expect(Journal.open("/nonexistent", { file })).rejects.toMatchObject({ code: "ENOSPC" });
    expect(calls).toEqual(["truncate", "write", "close"]);
  });

  it("an unreadable one is marked lost in place: no truncation, no byte past those it holds", async () => {
    const calls: string[] = [];
    const held = new TextEncoder().encode("VIGILJ99 written by another release");
    const file: JournalFile = {
      read: () => Promise.resolve(held),
      write: (data, at) => (calls.push(`write@${at}+${data.length}`), at + data.length > held.length ? Promise.reject(new Error("ENOSPC")) : Promise.resolve()),
      truncate: (n) => (calls.push(`truncate ${n}`), Promise.resolve()),
      datasync: () => (calls.push("datasync"), Promise.resolve()),
      close: () => Promise.resolve(),
    };
    const j = await Journal.open("/nonexistent", { file });
    expect(calls).toEqual(["write@0+8", "datasync"]);
    expect(j.givenUp).toBe("the journal file was unreadable");
    calls.length = 0;
    await j.mark({ op: "create", path: relPath("x"), mode: 0o644, uid: 0, gid: 0 });
    expect(calls).toEqual([]);
  });
});

interface Insides {
  intercepted(op: MirrorOp): Promise<void>;
  journal: { file: { write(data: Uint8Array, at: number): Promise<void> } } | null;
}

/** Status as `vigil status` prints it for module vms. */
function statusLines(d: MirrorDriver): string {
  const m = { name: "vms", type: "mirror", state: "ALONE", prefer: "h1", failback: "manual", nodes: [], lastTransition: null, checkers: [], blocked: null, restarts: 0, pending: null, witness: null, lease: null, mirror: d.status() };
  return formatModules([m as ModuleStatus]).join("\n");
}

describe("an ALONE journal lost while alone", () => {
  it("shows in status and in `vigil status` until the returning SECOND's resync emptied it", async () => {
    const root = tmpDir("journal-lost-status");
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const lines: string[] = [];
    const { h1, h2 } = await pairInSync(root, { key: KEY, port: PORT, cleanups, h1Lines: lines, files: 3 });
    await until(() => said(lines, "mirror resync done") === 1, "the first sync's end logged");
    expect(h1.status().journalLost).toBeNull();
    expect(statusLines(h1)).not.toContain("journal lost");
    await h2.close();
    h1.peer("dead");
    h1.role("ALONE", "peer dead");
    await until(() => h1.status().writes === "alone", "h1 alone");
    // Its file cannot grow, bytes it holds can be overwritten: a full ext4, xfs or tmpfs.
    const inside = h1 as unknown as Insides;
    const file = inside.journal!.file;
    const write = file.write.bind(file);
    file.write = (data, at) => (at === 0 ? write(data, at) : Promise.reject(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" })));
    const data = new TextEncoder().encode("written alone, state dir full\n");
    writeFileSync(join(h1.folder, "f1"), data);
    await inside.intercepted({ op: "write", path: relPath("f1"), offset: 0, data, mtimeNs: 1n });
    await until(() => (h1.status().journalLost ?? null) !== null, "the loss in status");
    expect(h1.status().journalLost).toMatch(/^the journal could not be written: ENOSPC.*: the next resync to h2 compares every file \(size and mtime, then block checksums\)$/);
    expect(statusLines(h1)).toMatch(/\n\s*ALONE journal lost: the journal could not be written: ENOSPC.*: the next resync to h2 compares every file/);
    // Room again, the SECOND back: the resync compares every file and empties the journal.
    file.write = write;
    const again = driver("h2", root, []);
    again.attach(host);
    h1.peer("up");
    again.peer("up");
    again.role("SECOND", "elected");
    await until(() => said(lines, "mirror resync done") === 2 && again.status().data === "uptodate", "h2 resynced");
    expect(lines.some((l) => l.includes("mirror resync start") && l.includes("full compare: the journal could not be written"))).toBe(true);
    await until(() => h1.status().journalLost === null, "the loss gone from status");
    expect(statusLines(h1)).not.toContain("journal lost");
    expect(readFileSync(join(again.folder, "f1"), "utf8")).toBe("written alone, state dir full\n");
  }, 60_000);
});
