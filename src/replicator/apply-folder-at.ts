/**
 * The copy reached through `*at` calls (see apply-folder.ts): every op names
 * its object as (directory fd, last component), the directory opened from
 * the folder's own fd one component at a time with O_PATH | O_DIRECTORY |
 * O_NOFOLLOW, so the kernel refuses a symlink (or anything but a directory)
 * at every step, and an opened directory stays the one that was checked,
 * whatever is renamed later. The last component is never followed
 * (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, l*xattr, fchmodat2; mkdirat, mknodat,
 * symlinkat, linkat, unlinkat and renameat2 never follow it).
 *
 * The directories opened stay open (at most DIR_FDS, least recently used
 * closed first, between ops only) until an op moves or removes their path or
 * one above it (rename, rmdir, symlink: forget(under)), or forget(): a cached
 * fd follows its directory when it is renamed, so the path it was opened for
 * would name another place. That holds as long as nothing but the applier
 * changes the copy; what this node's service changed while it served the
 * folder is covered by forgetCaches, as for the checked paths of
 * apply-paths.ts.
 *
 * Against `/proc/self/fd/N/<path>` through node:fs: no walk of /proc and its
 * magic link per call, one name per walk instead of the whole path, no
 * lstat per parent, no Stats objects (statx into one buffer).
 *
 * xattrs have no `*at` call before Linux 6.13: they go through
 * `/proc/self/fd/<directory fd>/<name>` (the directory already checked,
 * the last component not followed by l*xattr).
 */
import { AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, type DirCalls, O_CLOEXEC, O_DIRECTORY, O_NOFOLLOW, O_PATH } from "../sys/ffi/dir-calls.ts";
import type { FsCalls } from "../sys/ffi/fs-calls.ts";
import { RENAME_EXCHANGE, RENAME_NOREPLACE, UTIME_OMIT } from "../sys/ffi/fs-calls.ts";
import { SyscallError } from "../sys/ffi/libc.ts";
import { UnsupportedHere } from "./apply-errors.ts";
import { type CopyFolder, type FolderStat, isSymlink } from "./apply-folder.ts";
import { forgetUnder, UnsafePathError } from "./apply-paths.ts";
import { checkRelPath, type RelPath } from "./ops.ts";

const SLASH = 0x2f;
const ENOTDIR = 20;
const DOT = new Uint8Array([0x2e]);
const EMPTY = new Uint8Array(0);
/** Directories kept open between ops. */
export const DIR_FDS = 64;

/** Where an op's object is: its directory's fd and its own name ("." for the folder itself). */
interface At {
  readonly dir: number;
  readonly name: Uint8Array;
}

export class AtFolder implements CopyFolder {
  readonly timesWindowNs = 1;
  readonly rootPath: Buffer;
  private readonly rootFd: number;
  /** Open directories by RelPath (latin1), least recently used first. */
  private readonly dirs = new Map<string, number>();
  private closed = false;

  /** Opens `root` (a trusted path: it may itself be a link, such as /proc/self/fd/N/.). */
  constructor(
    root: string,
    private readonly calls: DirCalls,
    private readonly fsCalls: FsCalls | null,
  ) {
    this.rootPath = Buffer.from(root.endsWith("/") && root.length > 1 ? root.slice(0, -1) : root);
    this.rootFd = calls.openat(AT_FDCWD, this.rootPath, O_PATH | O_DIRECTORY | O_CLOEXEC);
  }

  abs(rel: RelPath): Buffer {
    if (rel.length === 0) return this.rootPath;
    const out = Buffer.allocUnsafe(this.rootPath.length + 1 + rel.length);
    this.rootPath.copy(out, 0);
    out[this.rootPath.length] = SLASH;
    out.set(rel, this.rootPath.length + 1);
    return out;
  }

  /**
   * The directory `prefix` of the copy (the folder for an empty one), opened
   * without following any symlink: from the deepest directory above it that
   * is open already, one name at a time. The directories walked through are
   * kept while there is room; past DIR_FDS they are closed as soon as the
   * next one is open, so a path thousands of directories deep needs a few
   * fds, not one per level.
   */
  private dirFd(prefix: Uint8Array): number {
    if (prefix.length === 0) return this.rootFd;
    const keyOf = (end: number): string => Buffer.from(prefix.buffer, prefix.byteOffset, end).toString("latin1");
    const hit = this.dirs.get(keyOf(prefix.length));
    if (hit !== undefined) return this.touch(keyOf(prefix.length), hit);
    // The deepest open ancestor, and where the names below it start.
    let fd = this.rootFd;
    let from = 0;
    for (let cut = prefix.lastIndexOf(SLASH); cut > 0; cut = prefix.lastIndexOf(SLASH, cut - 1)) {
      const k = keyOf(cut);
      const open = this.dirs.get(k);
      if (open !== undefined) {
        fd = this.touch(k, open);
        from = cut + 1;
        break;
      }
    }
    /** `fd` was opened by this walk and is not kept: close it once the next one is open. */
    let transient = false;
    while (from <= prefix.length) {
      let end = prefix.indexOf(SLASH, from);
      if (end < 0) end = prefix.length;
      let child: number;
      try {
        child = this.openDir(fd, prefix, from, end);
      } finally {
        if (transient) this.closeQuietly(fd);
      }
      fd = child;
      transient = end < prefix.length && this.dirs.size >= DIR_FDS;
      if (!transient) this.dirs.set(keyOf(end), fd);
      from = end + 1;
    }
    return fd;
  }

  /** Most recently used last: Map keeps insertion order. */
  private touch(key: string, fd: number): number {
    this.dirs.delete(key);
    this.dirs.set(key, fd);
    return fd;
  }

  /** Opens the directory named by prefix[from, end) in `parent`; a symlink there is refused as leaving the copy. */
  private openDir(parent: number, prefix: Uint8Array, from: number, end: number): number {
    const name = prefix.subarray(from, end);
    try {
      return this.calls.openat(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    } catch (e) {
      // ENOENT is the op's own failure; ENOTDIR is a symlink (refused) or another non-directory (the op fails so).
      if (e instanceof SyscallError && e.errno === ENOTDIR && this.symlinkAt(parent, name)) {
        throw new UnsafePathError(prefix.subarray(0, end), "is a symlink; the copy is never left through a symlink");
      }
      throw e;
    }
  }

  private symlinkAt(dir: number, name: Uint8Array): boolean {
    try {
      return isSymlink(this.calls.statx(dir, name, AT_SYMLINK_NOFOLLOW));
    } catch {
      return false;
    }
  }

  /** The op's object as (its directory, its name); throws UnsafePathError for an invalid path. */
  private at(rel: RelPath, allowRoot: boolean): At {
    if (this.closed) throw Object.assign(new Error("the applier was closed"), { code: "EBADF" });
    const why = checkRelPath(rel, allowRoot);
    if (why !== null) throw new UnsafePathError(rel, why);
    if (rel.length === 0) return { dir: this.rootFd, name: DOT };
    const cut = rel.lastIndexOf(SLASH);
    if (cut < 0) return { dir: this.rootFd, name: rel };
    return { dir: this.dirFd(rel.subarray(0, cut)), name: rel.subarray(cut + 1) };
  }

  lstat(rel: RelPath, allowRoot: boolean): FolderStat {
    const a = this.at(rel, allowRoot);
    return this.calls.statx(a.dir, a.name, AT_SYMLINK_NOFOLLOW);
  }

  fstat(fd: number): FolderStat {
    return this.calls.statx(fd, EMPTY, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
  }

  open(rel: RelPath, flags: number, mode: number, allowRoot: boolean): number {
    const a = this.at(rel, allowRoot);
    return this.calls.openat(a.dir, a.name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
  }

  mkdir(rel: RelPath, mode: number): void {
    const a = this.at(rel, false);
    this.calls.mkdirat(a.dir, a.name, mode);
  }

  mknod(rel: RelPath, mode: number, rdev: number): void {
    const a = this.at(rel, false);
    this.calls.mknodat(a.dir, a.name, mode, rdev);
  }

  symlink(target: Uint8Array, rel: RelPath): void {
    const a = this.at(rel, false);
    this.calls.symlinkat(target, a.dir, a.name);
  }

  link(existing: RelPath, rel: RelPath): void {
    const from = this.at(existing, false);
    const to = this.at(rel, false);
    this.calls.linkat(from.dir, from.name, to.dir, to.name);
  }

  unlink(rel: RelPath): void {
    const a = this.at(rel, false);
    this.calls.unlinkat(a.dir, a.name, 0);
  }

  rmdir(rel: RelPath): void {
    const a = this.at(rel, false);
    this.calls.unlinkat(a.dir, a.name, AT_REMOVEDIR);
  }

  rename(from: RelPath, to: RelPath, flags: number): void {
    if (flags !== 0 && flags !== RENAME_NOREPLACE && flags !== RENAME_EXCHANGE) throw Object.assign(new Error(`rename flags ${flags}`), { code: "EINVAL" });
    const a = this.at(from, false);
    const b = this.at(to, false);
    this.calls.renameat2(a.dir, a.name, b.dir, b.name, flags);
  }

  lchown(rel: RelPath, uid: number, gid: number, allowRoot: boolean): void {
    const a = this.at(rel, allowRoot);
    this.calls.fchownat(a.dir, a.name, uid, gid, AT_SYMLINK_NOFOLLOW);
  }

  chmod(rel: RelPath, mode: number, allowRoot: boolean): void {
    const a = this.at(rel, allowRoot);
    this.calls.fchmodatNoFollow(a.dir, a.name, mode);
  }

  utimens(rel: RelPath, atimeNs: bigint, mtimeNs: bigint, allowRoot: boolean): void {
    const a = this.at(rel, allowRoot);
    this.calls.utimensat(a.dir, a.name, atimeNs, mtimeNs, AT_SYMLINK_NOFOLLOW);
  }

  setMtime(fd: number, _rel: RelPath, mtimeNs: bigint): void {
    this.calls.futimens(fd, UTIME_OMIT, mtimeNs);
  }

  /** `/proc/self/fd/<directory>/<name>`: the object for a path-only call, its directory already checked. */
  private procPath(rel: RelPath): Uint8Array {
    const a = this.at(rel, true);
    const head = Buffer.from(`/proc/self/fd/${a.dir}/`);
    const out = new Uint8Array(head.length + a.name.length);
    out.set(head);
    out.set(a.name, head.length);
    return out;
  }

  setxattr(rel: RelPath, name: Uint8Array, value: Uint8Array, flags: number): void {
    if (this.fsCalls === null) throw new UnsupportedHere("setxattr");
    this.fsCalls.lsetxattr(this.procPath(rel), name, value, flags);
  }

  removexattr(rel: RelPath, name: Uint8Array): void {
    if (this.fsCalls === null) throw new UnsupportedHere("removexattr");
    this.fsCalls.lremovexattr(this.procPath(rel), name);
  }

  forget(under?: readonly RelPath[]): void {
    if (under !== undefined) {
      forgetUnder(this.dirs, under, (_key, fd) => this.closeQuietly(fd!));
      return;
    }
    for (const fd of this.dirs.values()) this.closeQuietly(fd);
    this.dirs.clear();
  }

  settle(): void {
    while (this.dirs.size > DIR_FDS) {
      const [key, fd] = this.dirs.entries().next().value as [string, number];
      this.dirs.delete(key);
      this.closeQuietly(fd);
    }
  }

  close(): void {
    if (this.closed) return;
    this.forget();
    this.closeQuietly(this.rootFd);
    this.closed = true;
  }

  private closeQuietly(fd: number): void {
    try {
      this.calls.close(fd);
    } catch {
      /* closed already */
    }
  }
}
