/**
 * Carries out MirrorOps on the SECOND's copy of a replicated folder, one at a
 * time, in the order given, and says how each went (ApplyResult). Every
 * attribute is set to what the op says the PRIM ended with (mode after umask,
 * owner, nanosecond times), so the copy matches whatever this node's umask,
 * user or clock. Never leaves the copy: no parent of a path is ever a
 * symlink and the last component is never followed (apply-folder.ts).
 *
 * In the vigil binary the copy is reached with `*at` calls relative to its
 * directories (apply-folder-at.ts). xattrs, mknod, renameat2 flags,
 * fallocate and nanosecond times need libc too (src/sys/ffi): without it
 * (Node, tests) the copy is reached through node:fs paths, those ops give an
 * "unsupported" result, and times are set to within 2 µs (mtimeWindowNs
 * says so).
 *
 * Synchronous on purpose: ops must not overlap, and a sync call per op keeps
 * their order trivially. Open files are kept in a small cache, so a stream of
 * writes to one file costs a pwrite and a utimensat each.
 */
import * as fs from "node:fs";
import { type DirCalls, loadDirCalls } from "../sys/ffi/dir-calls.ts";
import { type FsCalls, loadFsCalls } from "../sys/ffi/fs-calls.ts";
import { failure, UnsupportedHere } from "./apply-errors.ts";
import { type CopyFolder, type FolderStat, isDir, isFile, PathFolder } from "./apply-folder.ts";
import { AtFolder } from "./apply-folder-at.ts";
import { APPLIED, type ApplyResult } from "./apply-result.ts";
import { DirtySet, loadSyncFs, type SyncFs } from "./apply-sync.ts";
import { EarlyWriteback, loadStartWriteback, type StartWriteback } from "./apply-writeback.ts";
import { type MirrorOp, type RelPath, relPathText, timesOf } from "./ops.ts";

const { O_WRONLY, O_RDONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
const SLASH = 0x2f;
const OPEN_FDS = 64;

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
  /** The `*at` calls: the copy is reached through its directories' fds (apply-folder-at.ts); absent or null: by path. */
  readonly dirCalls?: DirCalls | null;
  /** syncfs(2) of the copy's file system (one call instead of an fsync per changed file); absent: none. */
  readonly syncfs?: SyncFs | null;
  /** Starts the writeback of written data early (apply-writeback.ts); absent: the kernel's own pace. */
  readonly startWriteback?: StartWriteback | null;
}

/** The parent directory of `rel` (the root for a top-level name). */
function parentOf(rel: RelPath): RelPath {
  const i = rel.lastIndexOf(SLASH);
  return i < 0 ? new Uint8Array(0) : rel.subarray(0, i);
}

type Kind = "dir" | "file" | "other";

function samePath(a: RelPath, b: RelPath): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * What `path`, named by times folded into `op`, is once `op` succeeded, when
 * the op says so: the directory holding a name the op changed, or what a
 * create or mkdir made. Null: look it up.
 */
function kindAfter(op: MirrorOp, path: RelPath): Kind | null {
  switch (op.op) {
    case "create":
    case "mkdir":
      if (samePath(path, op.path)) return op.op === "create" ? "file" : "dir";
      return samePath(path, parentOf(op.path)) ? "dir" : null;
    case "mknod":
    case "symlink":
    case "link":
    case "unlink":
    case "rmdir":
      return samePath(path, parentOf(op.path)) ? "dir" : null;
    case "rename":
      return samePath(path, parentOf(op.from)) || samePath(path, parentOf(op.to)) ? "dir" : null;
    default:
      return null;
  }
}

/** The copy by directory fd when the `*at` calls are there and the folder opens; by path otherwise (ops then fail one by one, as they would). */
function openFolder(root: string, o: ApplierOptions): CopyFolder {
  if (o.dirCalls != null) {
    try {
      return new AtFolder(root, o.dirCalls, o.fsCalls);
    } catch {
      // A folder that cannot be opened now: each op says why.
    }
  }
  return new PathFolder(root, o.fsCalls);
}

/** A RelPath as a Map key. */
function keyOf(rel: RelPath): string {
  return Buffer.from(rel.buffer, rel.byteOffset, rel.length).toString("latin1");
}

export class Applier {
  private readonly folder: CopyFolder;
  private readonly fsCalls: FsCalls | null;
  private readonly dirty: DirtySet;
  /** Open files by RelPath, with the inode each was opened on. */
  private readonly fds = new Map<string, { readonly fd: number; readonly ino: number; readonly dev: number }>();
  private readonly writeback: EarlyWriteback | null;

  /** How far a time set here may be from the one asked (1 ns with libc's utimensat). */
  readonly mtimeWindowNs: number;

  constructor(root: string, options: ApplierOptions) {
    this.folder = openFolder(root, options);
    this.fsCalls = options.fsCalls;
    this.dirty = new DirtySet(undefined, options.syncfs ?? null);
    this.writeback = options.startWriteback == null ? null : new EarlyWriteback(options.startWriteback);
    this.mtimeWindowNs = this.folder.timesWindowNs;
  }

  /** An applier with the libc calls when this runtime has them (the vigil binary), without otherwise. */
  static async open(root: string): Promise<Applier> {
    const calls = await loadFsCalls("mirror apply").catch(() => null);
    const dirCalls = await loadDirCalls("mirror apply").catch(() => null);
    return new Applier(root, { fsCalls: calls, dirCalls, syncfs: await loadSyncFs(), startWriteback: await loadStartWriteback() });
  }

  /** The folder this applier writes to. */
  get root(): string {
    return this.folder.rootPath.toString();
  }

  /** Whether the copy is reached with `*at` calls (else by path). */
  get byDirectoryFd(): boolean {
    return this.folder instanceof AtFolder;
  }

  apply(op: MirrorOp): ApplyResult {
    try {
      this.run(op);
      const times = timesOf(op);
      if (times !== undefined) {
        // As the utimes ops they stand for, one after the other.
        for (const t of times) {
          try {
            this.setTimes(t.path, t.atimeNs, t.mtimeNs, kindAfter(op, t.path));
          } catch (e) {
            return failure(`utimes ${relPathText(t.path) || "."} (after ${describe(op)})`, e);
          }
        }
      }
    } catch (e) {
      return failure(describe(op), e);
    } finally {
      this.folder.settle();
    }
    return APPLIED;
  }

  private setTimes(path: RelPath, atimeNs: bigint, mtimeNs: bigint, kind: Kind | null = null): void {
    this.folder.utimens(path, atimeNs, mtimeNs, true);
    this.markChanged(path, kind);
  }

  /** Closes the cached files and directories. */
  close(): void {
    this.dropFds();
    this.folder.close();
  }

  /** Forgets what another applier's ops made stale (cacheDrops). */
  dropCaches(d: CacheDrops): void {
    if (d.fds) this.dropFds();
    if (d.paths) this.folder.forget();
  }

  /** Forgets every cached fd and checked directory (see OpApplier.forgetCaches). */
  forgetCaches(): void {
    this.dropCaches({ fds: true, paths: true });
  }

  private need(what: string): FsCalls {
    if (this.fsCalls === null) throw new UnsupportedHere(what);
    return this.fsCalls;
  }

  private dropFds(): void {
    for (const { fd } of this.fds.values()) {
      try {
        this.closeWritable(fd);
      } catch {
        /* already closed */
      }
    }
    this.fds.clear();
  }

  /** Closes a cached writable fd; the writeback of what was written through it starts first (the fd number may be reused). */
  private closeWritable(fd: number): void {
    this.writeback?.closing(fd);
    fs.closeSync(fd);
  }

  /** An fd open for writing on the regular file at `rel` (never through a symlink). */
  private writable(rel: RelPath): number {
    const key = keyOf(rel);
    const cached = this.fds.get(key);
    if (cached !== undefined) {
      this.fds.delete(key);
      // The name may lead elsewhere now: this node served the folder meanwhile (its service
      // renamed or replaced the file), and this applier saw none of it.
      let same = false;
      try {
        const st = this.folder.lstat(rel, false);
        same = st.ino === cached.ino && st.dev === cached.dev;
      } catch {
        same = false;
      }
      if (same) {
        // Most recently used last: Map keeps insertion order.
        this.fds.set(key, cached);
        return cached.fd;
      }
      this.closeWritable(cached.fd);
    }
    const fd = this.folder.open(rel, O_WRONLY | O_NOFOLLOW | O_NONBLOCK, 0, false);
    let st: FolderStat;
    try {
      st = this.folder.fstat(fd);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    if (!isFile(st)) {
      fs.closeSync(fd);
      throw Object.assign(new Error(`${relPathText(rel)} is not a regular file`), { code: "EINVAL" });
    }
    this.fds.set(key, { fd, ino: st.ino, dev: st.dev });
    if (this.fds.size > OPEN_FDS) {
      const [oldKey, old] = this.fds.entries().next().value as [string, { fd: number }];
      this.fds.delete(oldKey);
      this.closeWritable(old.fd);
    }
    return fd;
  }

  /** Owner, then mode: chown clears set-user-ID and set-group-ID bits. */
  private ownAndMode(rel: RelPath, uid: number, gid: number, mode: number): void {
    this.folder.lchown(rel, uid, gid, false);
    this.folder.chmod(rel, mode, false);
  }

  private newEntry(rel: RelPath): void {
    this.dirty.dir(this.folder.abs(parentOf(rel)));
  }

  private run(op: MirrorOp): void {
    const f = this.folder;
    switch (op.op) {
      case "write": {
        const fd = this.writable(op.path);
        let done = 0;
        while (done < op.data.length) {
          const n = fs.writeSync(fd, op.data, done, op.data.length - done, op.offset + done);
          if (n <= 0) throw Object.assign(new Error(`short write at offset ${op.offset + done}`), { code: "EIO" });
          done += n;
        }
        f.setMtime(fd, op.path, op.mtimeNs);
        this.dirty.file(f.abs(op.path), op.data.length);
        this.writeback?.wrote(fd, op.offset, op.data.length);
        return;
      }
      case "truncate": {
        const fd = this.writable(op.path);
        fs.ftruncateSync(fd, op.size);
        f.setMtime(fd, op.path, op.mtimeNs);
        this.dirty.file(f.abs(op.path));
        return;
      }
      case "create": {
        const fd = f.open(op.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, op.mode & 0o777, false);
        try {
          fs.fchownSync(fd, op.uid, op.gid);
          fs.fchmodSync(fd, op.mode);
        } finally {
          fs.closeSync(fd);
        }
        this.newEntry(op.path);
        this.dirty.file(f.abs(op.path));
        return;
      }
      case "mknod": {
        f.mknod(op.path, op.mode, op.rdev);
        this.ownAndMode(op.path, op.uid, op.gid, op.mode & 0o7777);
        this.newEntry(op.path);
        return;
      }
      case "mkdir": {
        f.mkdir(op.path, op.mode & 0o777);
        this.ownAndMode(op.path, op.uid, op.gid, op.mode);
        this.newEntry(op.path);
        this.dirty.dir(f.abs(op.path));
        return;
      }
      case "symlink": {
        f.symlink(op.target, op.path);
        f.lchown(op.path, op.uid, op.gid, false);
        f.forget([op.path]);
        this.newEntry(op.path);
        return;
      }
      case "link": {
        f.link(op.existing, op.path);
        this.newEntry(op.path);
        return;
      }
      case "unlink": {
        this.dropFds();
        f.unlink(op.path);
        this.newEntry(op.path);
        return;
      }
      case "rmdir": {
        f.rmdir(op.path);
        f.forget([op.path]);
        this.newEntry(op.path);
        return;
      }
      case "rename": {
        this.dropFds();
        f.rename(op.from, op.to, op.flags);
        // Only paths at or beneath these two name something else now.
        f.forget([op.from, op.to]);
        this.newEntry(op.from);
        this.newEntry(op.to);
        return;
      }
      case "chmod": {
        f.chmod(op.path, op.mode, true);
        this.markChanged(op.path);
        return;
      }
      case "chown": {
        f.lchown(op.path, op.uid, op.gid, true);
        this.markChanged(op.path);
        return;
      }
      case "utimes":
        this.setTimes(op.path, op.atimeNs, op.mtimeNs);
        return;
      case "fallocate": {
        const fd = this.writable(op.path);
        const calls = this.need("fallocate");
        calls.fallocate(fd, op.mode, op.offset, op.length);
        f.setMtime(fd, op.path, op.mtimeNs);
        this.dirty.file(f.abs(op.path));
        return;
      }
      case "setxattr": {
        f.setxattr(op.path, op.name, op.value, op.flags);
        this.markChanged(op.path);
        return;
      }
      case "removexattr": {
        f.removexattr(op.path, op.name);
        this.markChanged(op.path);
        return;
      }
      case "fsync": {
        if (op.path === null) {
          this.dirty.syncAll(f.rootPath);
          return;
        }
        const st = f.lstat(op.path, true);
        if (isFile(st) || isDir(st)) {
          const fd = f.open(op.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, true);
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

  /** Attributes of `rel` changed: a directory or file to sync later; `kind` when known already, else looked up. */
  private markChanged(rel: RelPath, kind: Kind | null = null): void {
    if (kind === null) {
      const st = this.folder.lstat(rel, true);
      kind = isDir(st) ? "dir" : isFile(st) ? "file" : "other";
    }
    if (kind === "dir") this.dirty.dir(this.folder.abs(rel));
    else if (kind === "file") this.dirty.file(this.folder.abs(rel));
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
