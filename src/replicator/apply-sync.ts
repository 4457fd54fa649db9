/**
 * What an fsync op must make durable on the SECOND. node:fs has no syncfs, so
 * the applier remembers the files and directories it changed since the last
 * full sync and fsyncs exactly those; past `limit` entries it stops counting
 * and a full sync runs `sync -f` (syncfs(2) of the copy's file system).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";

const O_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

export class DirtySet {
  private readonly files = new Map<string, Buffer>();
  private readonly dirs = new Map<string, Buffer>();
  private overflow = false;

  constructor(private readonly limit = 8192) {}

  /** A regular file whose data or attributes changed. */
  file(abs: Buffer): void {
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
