/**
 * What an fsync op must make durable on the SECOND. The applier remembers the
 * files and directories it changed since the last full sync; a full sync
 * fsyncs exactly those when they are few, else calls syncfs(2) once for the
 * copy's file system (through FFI where the runtime has it: one writeback
 * and one journal commit instead of one per file; a resync that changed 256
 * files syncs 2-3x faster). syncfs also writes out what others left dirty
 * on that file system, so it is used only while the host's dirty memory is
 * mostly ours (`/proc/meminfo`). Past `limit` entries it stops counting;
 * without FFI a full sync then runs `sync -f`.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { openLibcTable } from "../sys/ffi/libc.ts";

/** syncfs(2) of the file system holding `fd`: 0, or the errno. */
export type SyncFs = (fd: number) => number;

/** syncfs through FFI, or null where this runtime has none (Node). */
export async function loadSyncFs(): Promise<SyncFs | null> {
  try {
    const libc = await openLibcTable("syncing the copy", {
      syncfs: { args: ["i32"], returns: "i32" },
      __errno_location: { args: [], returns: "ptr" },
    });
    const s = libc.symbols as { syncfs(fd: number): number };
    return (fd) => (s.syncfs(fd) === 0 ? 0 : libc.errno());
  } catch {
    return null;
  }
}

/** Changed objects beyond which one syncfs is cheaper than an fsync each. */
const SYNCFS_ABOVE = 16;
/**
 * Dirty bytes of others a syncfs may write out, per changed object it saves
 * an fsync (and its journal commit, about a millisecond) for.
 */
const FOREIGN_DIRTY_PER_OBJECT = 256 * 1024;

/** The host's dirty page-cache bytes (Dirty + Writeback of /proc/meminfo); null when unknown. */
export function hostDirtyBytes(): number | null {
  let text: string;
  try {
    text = fs.readFileSync("/proc/meminfo", "latin1");
  } catch {
    return null;
  }
  let kib = 0;
  let seen = 0;
  for (const m of text.matchAll(/^(Dirty|Writeback):\s+(\d+) kB$/gm)) {
    kib += Number(m[2]);
    seen++;
  }
  return seen === 0 ? null : kib * 1024;
}

const O_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

export class DirtySet {
  private readonly files = new Map<string, Buffer>();
  private readonly dirs = new Map<string, Buffer>();
  private overflow = false;
  /** Data bytes written since the last full sync. */
  private written = 0;

  constructor(
    private readonly limit = 8192,
    private readonly syncfs: SyncFs | null = null,
    private readonly dirtyBytes: () => number | null = hostDirtyBytes,
  ) {}

  /** A regular file whose data (`bytes` written) or attributes changed. */
  file(abs: Buffer, bytes = 0): void {
    this.written += bytes;
    this.add(this.files, abs);
  }

  /** A directory whose entries or attributes changed. */
  dir(abs: Buffer): void {
    this.add(this.dirs, abs);
  }

  private add(into: Map<string, Buffer>, abs: Buffer): void {
    if (this.overflow) return;
    into.set(abs.toString("latin1"), abs);
    if (this.files.size + this.dirs.size > this.limit) {
      this.overflow = true;
      this.files.clear();
      this.dirs.clear();
    }
  }

  /** fsync (or fdatasync) of one object; a vanished object has nothing left to sync. */
  static syncOne(abs: Buffer, dataOnly: boolean): void {
    let fd: number;
    try {
      fd = fs.openSync(abs, O_FLAGS);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "ENOENT" || code === "ELOOP" || code === "ENXIO") return;
      throw e;
    }
    try {
      if (dataOnly) fs.fdatasyncSync(fd);
      else fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  private syncfsPays(): boolean {
    const objects = this.files.size + this.dirs.size;
    if (!this.overflow && objects <= SYNCFS_ABOVE) return false;
    const dirty = this.dirtyBytes();
    if (dirty === null) return this.overflow;
    return dirty - this.written <= Math.max(objects, this.overflow ? this.limit : 0) * FOREIGN_DIRTY_PER_OBJECT;
  }

  /** Makes the changed directories durable (after a file's own fsync: its name must survive too). */
  syncDirs(): void {
    if (this.overflow) return;
    for (const [k, d] of this.dirs) {
      DirtySet.syncOne(d, false);
      this.dirs.delete(k);
    }
  }

  /** Makes everything changed so far durable. */
  syncAll(root: Buffer): void {
    if (this.syncfs !== null && this.syncfsPays()) {
      // Not O_NOFOLLOW: the root may be /proc/self/fd/N (the folder beneath a mount), a link by nature.
      const fd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      try {
        const errno = this.syncfs(fd);
        if (errno !== 0) throw Object.assign(new Error(`syncfs failed: errno ${errno}`), { code: "EIO" });
      } finally {
        fs.closeSync(fd);
      }
      this.overflow = false;
      this.written = 0;
      this.files.clear();
      this.dirs.clear();
      return;
    }
    this.written = 0;
    if (this.overflow) {
      // The root may be /proc/self/fd/N (the folder beneath a mount): in the child, "self" would be the child.
      const target = root.toString().replace(/^\/proc\/self\//, `/proc/${process.pid}/`);
      const r = spawnSync("sync", ["-f", target], { stdio: ["ignore", "ignore", "pipe"], timeout: 600_000 });
      if (r.status !== 0) {
        const err = r.error?.message ?? r.stderr?.toString().trim() ?? `exit ${r.status}`;
        throw Object.assign(new Error(`sync -f failed: ${err}`), { code: "EIO" });
      }
      this.overflow = false;
      return;
    }
    for (const [k, f] of this.files) {
      DirtySet.syncOne(f, false);
      this.files.delete(k);
    }
    this.syncDirs();
    DirtySet.syncOne(root, false);
  }
}
