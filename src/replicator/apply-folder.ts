/**
 * How the applier reaches the objects of its copy: one call per system call
 * it makes, each naming the object by its RelPath. Two ways:
 *
 * - apply-folder-at.ts (the vigil binary): `*at` calls relative to the
 *   directories of the copy, opened one component at a time without
 *   following symlinks and kept open; the kernel walks one name per call.
 * - PathFolder below (Node, tests): node:fs on absolute paths, each parent
 *   checked with lstat first (apply-paths.ts). Its root may be
 *   `/proc/self/fd/N/.`, walked again by every call.
 *
 * Both keep the same promises: an op never reaches outside the copy (no
 * parent is ever a symlink, the last component is never followed), a missing
 * parent fails the op with ENOENT and a parent that is not a directory with
 * ENOTDIR, and a call this runtime cannot make throws UnsupportedHere.
 */
import * as fs from "node:fs";
import type { FsCalls } from "../sys/ffi/fs-calls.ts";
import { RENAME_EXCHANGE, RENAME_NOREPLACE, UTIME_OMIT } from "../sys/ffi/fs-calls.ts";
import { UnsupportedHere } from "./apply-errors.ts";
import { CopyPaths } from "./apply-paths.ts";
import type { RelPath } from "./ops.ts";

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

/** What the applier asks of an object's lstat. */
export interface FolderStat {
  /** Type and permission bits. */
  readonly mode: number;
  readonly ino: number;
  readonly dev: number;
  readonly nlink: number;
  /** 512-byte blocks allocated. */
  readonly blocks: number;
}

export const isDir = (st: FolderStat): boolean => (st.mode & S_IFMT) === 0o040000;
export const isFile = (st: FolderStat): boolean => (st.mode & S_IFMT) === S_IFREG;
export const isSymlink = (st: FolderStat): boolean => (st.mode & S_IFMT) === S_IFLNK;

/**
 * The copy's objects by RelPath. `allowRoot`: the empty path names the
 * folder itself (chmod, chown, utimes, xattrs, fsync); elsewhere it is
 * refused. Every method throws on failure (an errno-carrying error, or
 * UnsafePathError, or UnsupportedHere).
 */
export interface CopyFolder {
  /** The folder's path as given (the DirtySet's syncs open objects by path). */
  readonly rootPath: Buffer;
  /** How far a time set here may be from the one asked (ns). */
  readonly timesWindowNs: number;
  /** The absolute path of `rel`, without any check (for dirty marks). */
  abs(rel: RelPath): Buffer;
  /** lstat: the object itself, never a symlink's target. */
  lstat(rel: RelPath, allowRoot: boolean): FolderStat;
  fstat(fd: number): FolderStat;
  /** open(2) of `rel`; `flags` must hold O_NOFOLLOW (the last component is never followed). */
  open(rel: RelPath, flags: number, mode: number, allowRoot: boolean): number;
  mkdir(rel: RelPath, mode: number): void;
  /** mode carries the file type. */
  mknod(rel: RelPath, mode: number, rdev: number): void;
  symlink(target: Uint8Array, rel: RelPath): void;
  /** A new name `rel` for the object at `existing` (a symlink there is linked itself). */
  link(existing: RelPath, rel: RelPath): void;
  unlink(rel: RelPath): void;
  rmdir(rel: RelPath): void;
  /** renameat2 with flags 0, RENAME_NOREPLACE or RENAME_EXCHANGE. */
  rename(from: RelPath, to: RelPath, flags: number): void;
  lchown(rel: RelPath, uid: number, gid: number, allowRoot: boolean): void;
  /** Permission bits of the object; a symlink's are refused with EOPNOTSUPP (Linux has no lchmod). */
  chmod(rel: RelPath, mode: number, allowRoot: boolean): void;
  /** The object's own times (a symlink's, not its target's). */
  utimens(rel: RelPath, atimeNs: bigint, mtimeNs: bigint, allowRoot: boolean): void;
  /** The mtime of the file open as `fd` (at `rel`), its atime left alone. */
  setMtime(fd: number, rel: RelPath, mtimeNs: bigint): void;
  /** Of the object itself, never followed. */
  setxattr(rel: RelPath, name: Uint8Array, value: Uint8Array, flags: number): void;
  removexattr(rel: RelPath, name: Uint8Array): void;
  /**
   * Directories may have been renamed, removed or replaced (by an op, by
   * the other side of a threaded applier, or by this node's service):
   * nothing checked or opened before is trusted again; with `under`, only
   * what was checked or opened at or beneath those paths (the paths an op
   * of this folder moved, removed or created).
   */
  forget(under?: readonly RelPath[]): void;
  /** Called between ops: caches back within their bounds. */
  settle(): void;
  close(): void;
}

function nsToSeconds(ns: bigint): number {
  // node:fs takes seconds as a double: a few hundred ns of resolution today.
  return Number(ns) / 1e9;
}

function errno(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** node:fs on checked absolute paths, with libc's extra calls when given (see the top of this file). */
export class PathFolder implements CopyFolder {
  private readonly paths: CopyPaths;
  readonly timesWindowNs: number;

  constructor(
    root: string,
    private readonly fsCalls: FsCalls | null,
  ) {
    this.paths = new CopyPaths(root);
    this.timesWindowNs = fsCalls === null ? 2000 : 1;
  }

  get rootPath(): Buffer {
    return this.paths.rootPath;
  }

  abs(rel: RelPath): Buffer {
    return this.paths.abs(rel);
  }

  private need(what: string): FsCalls {
    if (this.fsCalls === null) throw new UnsupportedHere(what);
    return this.fsCalls;
  }

  lstat(rel: RelPath, allowRoot: boolean): FolderStat {
    return fs.lstatSync(this.paths.resolve(rel, allowRoot));
  }

  fstat(fd: number): FolderStat {
    return fs.fstatSync(fd);
  }

  open(rel: RelPath, flags: number, mode: number, allowRoot: boolean): number {
    return fs.openSync(this.paths.resolve(rel, allowRoot), flags, mode);
  }

  mkdir(rel: RelPath, mode: number): void {
    fs.mkdirSync(this.paths.resolve(rel, false), { mode });
  }

  mknod(rel: RelPath, mode: number, rdev: number): void {
    const abs = this.paths.resolve(rel, false);
    if ((mode & S_IFMT) === S_IFREG && this.fsCalls === null) fs.closeSync(fs.openSync(abs, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode & 0o777));
    else this.need("mknod").mknod(abs, mode, rdev);
  }

  symlink(target: Uint8Array, rel: RelPath): void {
    fs.symlinkSync(Buffer.from(target), this.paths.resolve(rel, false));
  }

  link(existing: RelPath, rel: RelPath): void {
    // link(2) does not follow a symlink at `existing` on Linux: the new name links the symlink itself.
    fs.linkSync(this.paths.resolve(existing, false), this.paths.resolve(rel, false));
  }

  unlink(rel: RelPath): void {
    fs.unlinkSync(this.paths.resolve(rel, false));
  }

  rmdir(rel: RelPath): void {
    fs.rmdirSync(this.paths.resolve(rel, false));
  }

  rename(from: RelPath, to: RelPath, flags: number): void {
    const a = this.paths.resolve(from, false);
    const b = this.paths.resolve(to, false);
    if (flags === 0) fs.renameSync(a, b);
    else if (flags === RENAME_NOREPLACE || flags === RENAME_EXCHANGE) this.need(`rename with flags ${flags}`).renameat2(a, b, flags);
    else throw errno("EINVAL", `rename flags ${flags}`);
  }

  lchown(rel: RelPath, uid: number, gid: number, allowRoot: boolean): void {
    fs.lchownSync(this.paths.resolve(rel, allowRoot), uid, gid);
  }

  chmod(rel: RelPath, mode: number, allowRoot: boolean): void {
    const abs = this.paths.resolve(rel, allowRoot);
    // chmod follows symlinks and Linux has no lchmod: a symlink's own mode is always 0777 anyway.
    if ((fs.lstatSync(abs).mode & S_IFMT) === S_IFLNK) throw errno("EOPNOTSUPP", "cannot chmod a symlink itself");
    fs.chmodSync(abs, mode);
  }

  utimens(rel: RelPath, atimeNs: bigint, mtimeNs: bigint, allowRoot: boolean): void {
    const abs = this.paths.resolve(rel, allowRoot);
    if (this.fsCalls !== null) this.fsCalls.utimens(abs, atimeNs, mtimeNs, true);
    else fs.lutimesSync(abs, nsToSeconds(atimeNs), nsToSeconds(mtimeNs));
  }

  setMtime(fd: number, rel: RelPath, mtimeNs: bigint): void {
    if (this.fsCalls !== null) {
      this.fsCalls.utimens(this.paths.abs(rel), UTIME_OMIT, mtimeNs, true);
      return;
    }
    const st = fs.fstatSync(fd, { bigint: true });
    fs.futimesSync(fd, nsToSeconds(st.atimeNs), nsToSeconds(mtimeNs));
  }

  setxattr(rel: RelPath, name: Uint8Array, value: Uint8Array, flags: number): void {
    const abs = this.paths.resolve(rel, true);
    this.need("setxattr").lsetxattr(abs, name, value, flags);
  }

  removexattr(rel: RelPath, name: Uint8Array): void {
    const abs = this.paths.resolve(rel, true);
    this.need("removexattr").lremovexattr(abs, name);
  }

  forget(under?: readonly RelPath[]): void {
    this.paths.forget(under);
  }

  settle(): void {}

  close(): void {}
}
