/**
 * Carries out MirrorOps on the SECOND's copy of a replicated folder, one at a
 * time, in the order given, and says how each went (ApplyResult). Every
 * attribute is set to what the op says the PRIM ended with (mode after umask,
 * owner, nanosecond times), so the copy matches whatever this node's umask,
 * user or clock. Never leaves the copy: see apply-paths.ts; the last
 * component of a path is never followed.
 *
 * xattrs, mknod, renameat2 flags, fallocate and nanosecond times need the
 * libc calls of src/sys/ffi/fs-calls.ts (the vigil binary). Without them
 * (Node, tests) those ops give an "unsupported" result, and times are set
 * with node:fs to within 2 µs (mtimeWindowNs says so).
 *
 * Synchronous on purpose: ops must not overlap, and a sync call per op keeps
 * their order trivially. Open files are kept in a small cache, so a stream of
 * writes to one file costs a pwrite and a utimensat each.
 */
import * as fs from "node:fs";
import { type FsCalls, loadFsCalls, RENAME_EXCHANGE, RENAME_NOREPLACE, UTIME_OMIT } from "../sys/ffi/fs-calls.ts";
import { failure, UnsupportedHere } from "./apply-errors.ts";
import { CopyPaths } from "./apply-paths.ts";
import { APPLIED, type ApplyResult } from "./apply-result.ts";
import { type DirtyMarks, DirtySet, loadSyncFs, type SyncFs } from "./apply-sync.ts";
import { EarlyWriteback, loadStartWriteback, type StartWriteback } from "./apply-writeback.ts";
import { type MirrorOp, type RelPath, relPathText, timesOf } from "./ops.ts";

const { O_WRONLY, O_RDONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const OPEN_FDS = 64;
/** Blocks (bytes) past which dropping a file's last name may take long: the file system frees its extents in that call. */
const FREEING_BYTES = 16 * 1024 * 1024;

/**
 * The caches of an applier that another applier's op makes stale: cached fds
 * (a path now names another file, or none) and checked directories (a path
 * may no longer be a directory). The same ops drop them in the applier that
 * runs them (see run).
 */
export interface CacheDrops {
  readonly fds: boolean;
  readonly paths: boolean;
}

export function cacheDrops(op: MirrorOp): CacheDrops {
  return { fds: op.op === "unlink" || op.op === "rename", paths: op.op === "rename" || op.op === "rmdir" || op.op === "symlink" };
}

export interface ApplierOptions {
  /** libc calls node:fs lacks; null when this runtime has none. */
  readonly fsCalls: FsCalls | null;
  /** syncfs(2) of the copy's file system (one call instead of an fsync per changed file); absent: none. */
  readonly syncfs?: SyncFs | null;
  /** Starts the writeback of written data early (apply-writeback.ts); absent: the kernel's own pace. */
  readonly startWriteback?: StartWriteback | null;
}

function nsToSeconds(ns: bigint): number {
  // node:fs takes seconds as a double: a few hundred ns of resolution today.
  return Number(ns) / 1e9;
}

export class Applier {
  private readonly paths: CopyPaths;
  private readonly fsCalls: FsCalls | null;
  private readonly dirty: DirtySet;
  /** Open files by path, with the inode each was opened on. */
  private readonly fds = new Map<string, { readonly fd: number; readonly ino: number; readonly dev: number }>();
  private readonly writeback: EarlyWriteback | null;

  /** How far a time set here may be from the one asked (1 ns with libc's utimensat). */
  readonly mtimeWindowNs: number;

  constructor(root: string, options: ApplierOptions) {
    this.paths = new CopyPaths(root);
    this.fsCalls = options.fsCalls;
    this.dirty = new DirtySet(undefined, options.syncfs ?? null);
    this.writeback = options.startWriteback == null ? null : new EarlyWriteback(options.startWriteback);
    this.mtimeWindowNs = options.fsCalls === null ? 2000 : 1;
  }

  /** An applier with the libc calls when this runtime has them (the vigil binary), without otherwise. */
  static async open(root: string): Promise<Applier> {
    let calls: FsCalls | null = null;
    try {
      calls = await loadFsCalls("mirror apply");
    } catch {
      calls = null;
    }
    return new Applier(root, { fsCalls: calls, syncfs: await loadSyncFs(), startWriteback: await loadStartWriteback() });
  }

  /** The folder this applier writes to. */
  get root(): string {
    return this.paths.rootPath.toString();
  }

  apply(op: MirrorOp): ApplyResult {
    try {
      this.run(op);
    } catch (e) {
      return failure(describe(op), e);
    }
    const times = timesOf(op);
    if (times !== undefined) {
      // As the utimes ops they stand for, one after the other.
      for (const t of times) {
        try {
          this.setTimes(t.path, t.atimeNs, t.mtimeNs);
        } catch (e) {
          return failure(`utimes ${relPathText(t.path) || "."} (after ${describe(op)})`, e);
        }
      }
    }
    return APPLIED;
  }

  private setTimes(path: RelPath, atimeNs: bigint, mtimeNs: bigint): void {
    const abs = this.paths.resolve(path, true);
    if (this.fsCalls !== null) this.fsCalls.utimens(abs, atimeNs, mtimeNs, true);
    else fs.lutimesSync(abs, nsToSeconds(atimeNs), nsToSeconds(mtimeNs));
    this.markChanged(path, abs);
  }

  /** Closes the cached files. */
  close(): void {
    this.dropFds();
  }

  /**
   * Whether `op` is expected to take microseconds: a namespace or attribute
   * change that frees no large file. Writes, truncates, fallocate and syncs
   * may wait for the disk; dropping the last name of a large file makes the
   * file system free its blocks (ext4 does it in that very call).
   */
  quick(op: MirrorOp): boolean {
    switch (op.op) {
      case "create":
      case "mknod":
      case "mkdir":
      case "symlink":
      case "link":
      case "rmdir":
      case "chmod":
      case "chown":
      case "utimes":
      case "setxattr":
      case "removexattr":
        return true;
      case "unlink":
        return !this.freesLargeFile(op.path);
      case "rename":
        // An exchange or a rename that may not replace frees nothing.
        return op.flags !== 0 || !this.freesLargeFile(op.to);
      default:
        return false;
    }
  }

  private freesLargeFile(rel: RelPath): boolean {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(this.paths.resolve(rel, false));
    } catch {
      return false; // the op itself fails, at once
    }
    return st.isFile() && st.nlink === 1 && st.blocks * 512 > FREEING_BYTES;
  }

  /** Forgets what another applier's ops made stale (cacheDrops). */
  dropCaches(d: CacheDrops): void {
    if (d.fds) this.dropFds();
    if (d.paths) this.paths.forget();
  }

  /** Forgets every cached fd and checked directory (see OpApplier.forgetCaches). */
  forgetCaches(): void {
    this.dropCaches({ fds: true, paths: true });
  }

  /** What this applier changed and has not synced, handed to another applier that will (see DirtySet.take). */
  takeDirty(): DirtyMarks | null {
    return this.dirty.take();
  }

  mergeDirty(m: DirtyMarks): void {
    this.dirty.merge(m);
  }

  private need(what: string): FsCalls {
    if (this.fsCalls === null) throw new UnsupportedHere(what);
    return this.fsCalls;
  }

  private dropFds(): void {
    for (const { fd } of this.fds.values()) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already closed */
      }
    }
    this.fds.clear();
  }

  /** An fd open for writing on the regular file at `rel` (never through a symlink). */
  private writable(rel: RelPath, abs: Buffer): number {
    const key = abs.toString("latin1");
    const cached = this.fds.get(key);
    if (cached !== undefined) {
      this.fds.delete(key);
      // The name may lead elsewhere now: this node served the folder meanwhile (its service
      // renamed or replaced the file), and this applier saw none of it.
      let same = false;
      try {
        const st = fs.lstatSync(abs);
        same = st.ino === cached.ino && st.dev === cached.dev;
      } catch {
        same = false;
      }
      if (same) {
        // Most recently used last: Map keeps insertion order.
        this.fds.set(key, cached);
        return cached.fd;
      }
      fs.closeSync(cached.fd);
    }
    const fd = fs.openSync(abs, O_WRONLY | O_NOFOLLOW | O_NONBLOCK);
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      fs.closeSync(fd);
      throw Object.assign(new Error(`${relPathText(rel)} is not a regular file`), { code: "EINVAL" });
    }
    this.fds.set(key, { fd, ino: st.ino, dev: st.dev });
    if (this.fds.size > OPEN_FDS) {
      const [oldKey, old] = this.fds.entries().next().value as [string, { fd: number }];
      this.fds.delete(oldKey);
      fs.closeSync(old.fd);
    }
    return fd;
  }

  /** Sets the mtime of the file open as `fd` at `abs`, leaving its atime alone. */
  private setMtime(fd: number, abs: Buffer, mtimeNs: bigint): void {
    if (this.fsCalls !== null) {
      this.fsCalls.utimens(abs, UTIME_OMIT, mtimeNs, true);
      return;
    }
    const st = fs.fstatSync(fd, { bigint: true });
    fs.futimesSync(fd, nsToSeconds(st.atimeNs), nsToSeconds(mtimeNs));
  }

  /** Owner, then mode: chown clears set-user-ID and set-group-ID bits. */
  private ownAndMode(abs: Buffer, uid: number, gid: number, mode: number | null): void {
    fs.lchownSync(abs, uid, gid);
    if (mode !== null) fs.chmodSync(abs, mode);
  }

  private newEntry(rel: RelPath): void {
    this.dirty.dir(this.paths.abs(this.paths.parentOf(rel)));
  }

  private run(op: MirrorOp): void {
    switch (op.op) {
      case "write": {
        const abs = this.paths.resolve(op.path, false);
        const fd = this.writable(op.path, abs);
        let done = 0;
        while (done < op.data.length) {
          const n = fs.writeSync(fd, op.data, done, op.data.length - done, op.offset + done);
          if (n <= 0) throw Object.assign(new Error(`short write at offset ${op.offset + done}`), { code: "EIO" });
          done += n;
        }
        this.setMtime(fd, abs, op.mtimeNs);
        this.dirty.file(abs, op.data.length);
        this.writeback?.wrote(fd, op.offset, op.data.length);
        return;
      }
      case "truncate": {
        const abs = this.paths.resolve(op.path, false);
        const fd = this.writable(op.path, abs);
        fs.ftruncateSync(fd, op.size);
        this.setMtime(fd, abs, op.mtimeNs);
        this.dirty.file(abs);
        return;
      }
      case "create": {
        const abs = this.paths.resolve(op.path, false);
        const fd = fs.openSync(abs, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, op.mode & 0o777);
        try {
          fs.fchownSync(fd, op.uid, op.gid);
          fs.fchmodSync(fd, op.mode);
        } finally {
          fs.closeSync(fd);
        }
        this.newEntry(op.path);
        this.dirty.file(abs);
        return;
      }
      case "mknod": {
        const abs = this.paths.resolve(op.path, false);
        if ((op.mode & S_IFMT) === S_IFREG && this.fsCalls === null) {
          fs.closeSync(fs.openSync(abs, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, op.mode & 0o777));
        } else {
          this.need("mknod").mknod(abs, op.mode, op.rdev);
        }
        this.ownAndMode(abs, op.uid, op.gid, op.mode & 0o7777);
        this.newEntry(op.path);
        return;
      }
      case "mkdir": {
        const abs = this.paths.resolve(op.path, false);
        fs.mkdirSync(abs, { mode: op.mode & 0o777 });
        this.ownAndMode(abs, op.uid, op.gid, op.mode);
        this.newEntry(op.path);
        this.dirty.dir(abs);
        return;
      }
      case "symlink": {
        const abs = this.paths.resolve(op.path, false);
        fs.symlinkSync(Buffer.from(op.target), abs);
        fs.lchownSync(abs, op.uid, op.gid);
        this.paths.forget();
        this.newEntry(op.path);
        return;
      }
      case "link": {
        const from = this.paths.resolve(op.existing, false);
        const to = this.paths.resolve(op.path, false);
        // link(2) does not follow a symlink at `existing` on Linux: the new name links the symlink itself.
        fs.linkSync(from, to);
        this.newEntry(op.path);
        return;
      }
      case "unlink": {
        const abs = this.paths.resolve(op.path, false);
        this.dropFds();
        fs.unlinkSync(abs);
        this.newEntry(op.path);
        return;
      }
      case "rmdir": {
        const abs = this.paths.resolve(op.path, false);
        fs.rmdirSync(abs);
        this.paths.forget();
        this.newEntry(op.path);
        return;
      }
      case "rename": {
        const from = this.paths.resolve(op.from, false);
        const to = this.paths.resolve(op.to, false);
        this.dropFds();
        if (op.flags === 0) fs.renameSync(from, to);
        else if (op.flags === RENAME_NOREPLACE || op.flags === RENAME_EXCHANGE) this.need(`rename with flags ${op.flags}`).renameat2(from, to, op.flags);
        else throw Object.assign(new Error(`rename flags ${op.flags}`), { code: "EINVAL" });
        this.paths.forget();
        this.newEntry(op.from);
        this.newEntry(op.to);
        return;
      }
      case "chmod": {
        const abs = this.paths.resolve(op.path, true);
        // chmod follows symlinks and Linux has no lchmod: a symlink's own mode is always 0777 anyway.
        if ((fs.lstatSync(abs).mode & S_IFMT) === S_IFLNK) throw Object.assign(new Error("cannot chmod a symlink itself"), { code: "EOPNOTSUPP" });
        fs.chmodSync(abs, op.mode);
        this.markChanged(op.path, abs);
        return;
      }
      case "chown": {
        const abs = this.paths.resolve(op.path, true);
        fs.lchownSync(abs, op.uid, op.gid);
        this.markChanged(op.path, abs);
        return;
      }
      case "utimes":
        this.setTimes(op.path, op.atimeNs, op.mtimeNs);
        return;
      case "fallocate": {
        const abs = this.paths.resolve(op.path, false);
        const calls = this.need("fallocate");
        const fd = this.writable(op.path, abs);
        calls.fallocate(fd, op.mode, op.offset, op.length);
        this.setMtime(fd, abs, op.mtimeNs);
        this.dirty.file(abs);
        return;
      }
      case "setxattr": {
        const abs = this.paths.resolve(op.path, true);
        this.need("setxattr").lsetxattr(abs, op.name, op.value, op.flags);
        this.markChanged(op.path, abs);
        return;
      }
      case "removexattr": {
        const abs = this.paths.resolve(op.path, true);
        this.need("removexattr").lremovexattr(abs, op.name);
        this.markChanged(op.path, abs);
        return;
      }
      case "fsync": {
        if (op.path === null) {
          this.dirty.syncAll(this.paths.rootPath);
          return;
        }
        const abs = this.paths.resolve(op.path, true);
        const st = fs.lstatSync(abs);
        if (st.isFile() || st.isDirectory()) {
          const fd = fs.openSync(abs, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
          try {
            if (op.dataOnly) fs.fdatasyncSync(fd);
            else fs.fsyncSync(fd);
          } finally {
            fs.closeSync(fd);
          }
        }
        // The names leading to what was synced must survive a crash too.
        this.dirty.syncDirs();
        return;
      }
    }
  }

  /** Attributes of `rel` changed: a directory or file to sync later. */
  private markChanged(rel: RelPath, abs: Buffer): void {
    const st = fs.lstatSync(abs);
    if (st.isDirectory()) this.dirty.dir(abs);
    else if (st.isFile()) this.dirty.file(abs);
    else this.newEntry(rel);
  }
}

/** "write a/b", "rename a -> b": for messages. */
export function describe(op: MirrorOp): string {
  switch (op.op) {
    case "rename":
      return `rename ${relPathText(op.from)} -> ${relPathText(op.to)}`;
    case "link":
      return `link ${relPathText(op.existing)} -> ${relPathText(op.path)}`;
    case "fsync":
      return op.path === null ? "fsync (whole copy)" : `fsync ${relPathText(op.path) || "."}`;
    default:
      return `${op.op} ${relPathText(op.path) || "."}`;
  }
}
