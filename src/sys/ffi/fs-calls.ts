/**
 * File-system system calls that node:fs does not offer, through `bun:ffi`:
 * extended attributes (of the link itself, never followed), renameat2 with
 * its flags, fallocate, mknod, utimensat with nanosecond times, lseek
 * (for SEEK_DATA / SEEK_HOLE), and ioctl with a pointer argument.
 *
 * Synchronous on purpose: the callers (the FUSE server's Worker, the mirror
 * applier) carry out one operation at a time on their own thread. Each thread
 * that calls these must load its own table (loadFsCalls), because errno is
 * per thread and bun:ffi handles are not shared between Workers.
 *
 * Paths are raw bytes or text; they are passed NUL-terminated. A failed call
 * throws SyscallError, whose `errno` the caller can hand on (a FUSE reply,
 * a replication error) unchanged.
 */

import { FfiUnavailableError, SyscallError, loadFfi } from "./libc.ts";
import { timespec } from "./timespec.ts";

/** A path or name argument: text (UTF-8) or raw bytes. */
export type PathArg = string | Uint8Array;

export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
/** renameat2 flags. */
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;
/** setxattr flags. */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;
/** fallocate modes (linux/falloc.h). */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_COLLAPSE_RANGE = 0x08;
export const FALLOC_FL_ZERO_RANGE = 0x10;
export const FALLOC_FL_INSERT_RANGE = 0x20;
export const FALLOC_FL_UNSHARE_RANGE = 0x40;
/** lseek whence values that find data and holes in sparse files. */
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;
/** utimensat: leave this time alone / set it to the current time. */
export { UTIME_NOW, UTIME_OMIT } from "./timespec.ts";

const ERANGE = 34;

const FS_SYMBOLS = {
  lsetxattr: { args: ["ptr", "ptr", "ptr", "u64", "i32"], returns: "i32" },
  lgetxattr: { args: ["ptr", "ptr", "ptr", "u64"], returns: "i64" },
  llistxattr: { args: ["ptr", "ptr", "u64"], returns: "i64" },
  lremovexattr: { args: ["ptr", "ptr"], returns: "i32" },
  renameat2: { args: ["i32", "ptr", "i32", "ptr", "u32"], returns: "i32" },
  fallocate: { args: ["i32", "i32", "i64", "i64"], returns: "i32" },
  mknod: { args: ["ptr", "u32", "u64"], returns: "i32" },
  utimensat: { args: ["i32", "ptr", "ptr", "i32"], returns: "i32" },
  lseek: { args: ["i32", "i64", "i32"], returns: "i64" },
  ioctl: { args: ["i32", "u64", "ptr"], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
  strerror: { args: ["i32"], returns: "cstring" },
} as const;

type Ptr = Uint8Array | BigInt64Array | null;

interface FsSymbols {
  lsetxattr(path: Ptr, name: Ptr, value: Ptr, size: number, flags: number): number;
  lgetxattr(path: Ptr, name: Ptr, value: Ptr, size: number): number | bigint;
  llistxattr(path: Ptr, list: Ptr, size: number): number | bigint;
  lremovexattr(path: Ptr, name: Ptr): number;
  renameat2(oldDir: number, oldPath: Ptr, newDir: number, newPath: Ptr, flags: number): number;
  fallocate(fd: number, mode: number, offset: number | bigint, length: number | bigint): number;
  mknod(path: Ptr, mode: number, dev: number | bigint): number;
  utimensat(dir: number, path: Ptr, times: Ptr, flags: number): number;
  lseek(fd: number, offset: number | bigint, whence: number): number | bigint;
  ioctl(fd: number, request: number | bigint, arg: Ptr): number;
  __errno_location(): number | bigint | null;
  strerror(errno: number): unknown;
}

interface FfiForFs {
  dlopen(path: string, symbols: typeof FS_SYMBOLS): { symbols: unknown; close(): void };
  read: { i32(ptr: number | bigint, byteOffset?: number): number };
}

/** The calls, each throwing SyscallError on failure. */
export interface FsCalls {
  /** Sets an extended attribute of `path` itself (a symlink is not followed). */
  lsetxattr(path: PathArg, name: PathArg, value: Uint8Array, flags: number): void;
  /** The attribute's value; SyscallError ENODATA when it has none. */
  lgetxattr(path: PathArg, name: PathArg): Uint8Array;
  /** The attribute names, each without its NUL. */
  llistxattr(path: PathArg): Uint8Array[];
  lremovexattr(path: PathArg, name: PathArg): void;
  /** renameat2 relative to the current directory (absolute paths) or to the given directory fds. */
  renameat2(from: PathArg, to: PathArg, flags: number, fromDir?: number, toDir?: number): void;
  fallocate(fd: number, mode: number, offset: number, length: number): void;
  /** mknod(2): `mode` carries the file type (S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK, S_IFREG). */
  mknod(path: PathArg, mode: number, rdev: number): void;
  /**
   * Sets the times of `path` in nanoseconds since the epoch (UTIME_NOW,
   * UTIME_OMIT allowed); `noFollow` sets a symlink's own times.
   */
  utimens(path: PathArg, atimeNs: bigint, mtimeNs: bigint, noFollow: boolean): void;
  /** lseek(2); returns the new offset (SEEK_DATA / SEEK_HOLE: where the next data / hole starts). */
  lseek(fd: number, offset: number, whence: number): number;
  /** ioctl(2) with a pointer argument (the struct's bytes, read and written in place); returns its result. */
  ioctl(fd: number, request: number, arg: Uint8Array): number;
}

/** NUL-terminated bytes of a path or name. */
export function cPath(p: PathArg): Uint8Array {
  const bytes = typeof p === "string" ? new TextEncoder().encode(p) : p;
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** Splits a NUL-separated list (llistxattr's answer) into its names. */
export function splitNulList(list: Uint8Array): Uint8Array[] {
  const names: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    if (list[i] !== 0) continue;
    if (i > start) names.push(list.slice(start, i));
    start = i + 1;
  }
  if (start < list.length) names.push(list.slice(start));
  return names;
}

const cache = new Map<string, FsCalls>();

/**
 * Opens the table for this thread, or rejects with FfiUnavailableError
 * (not Bun, or libc missing) naming `feature`.
 */
export async function loadFsCalls(feature: string): Promise<FsCalls> {
  const cached = cache.get("libc");
  if (cached !== undefined) return cached;
  const ffi = (await loadFfi(feature)) as unknown as FfiForFs;
  let s: FsSymbols;
  try {
    s = ffi.dlopen("libc.so.6", FS_SYMBOLS).symbols as FsSymbols;
  } catch (e) {
    throw new FfiUnavailableError(feature, `cannot open libc.so.6: ${e instanceof Error ? e.message : String(e)}`);
  }
  const calls = wrap(ffi, s);
  cache.set("libc", calls);
  return calls;
}

function wrap(ffi: FfiForFs, s: FsSymbols): FsCalls {
  const errno = (): number => {
    const at = s.__errno_location();
    return at === null ? 0 : ffi.read.i32(at, 0);
  };
  const fail = (call: string, n = errno()): SyscallError => new SyscallError(call, n, String(s.strerror(n) ?? "unknown error"));
  const check = (call: string, rc: number | bigint): number => {
    const n = Number(rc);
    if (n < 0) throw fail(call);
    return n;
  };
  /** Calls `get(buffer)` until the buffer is big enough (sizes may grow between the two calls). */
  const sized = (call: string, get: (buf: Uint8Array | null, size: number) => number | bigint): Uint8Array => {
    for (let attempt = 0; attempt < 8; attempt++) {
      const size = check(call, get(null, 0));
      const buf = new Uint8Array(Math.max(size, 1));
      const rc = Number(get(buf, size));
      if (rc >= 0) return buf.slice(0, rc);
      const n = errno();
      if (n !== ERANGE) throw fail(call, n);
    }
    throw fail(call, ERANGE);
  };
  return {
    lsetxattr(path, name, value, flags) {
      // A zero-length TypedArray may be passed as NULL; give the call real memory.
      const v = value.length === 0 ? new Uint8Array(1) : value;
      check("lsetxattr", s.lsetxattr(cPath(path), cPath(name), v, value.length, flags));
    },
    lgetxattr(path, name) {
      const p = cPath(path);
      const n = cPath(name);
      return sized("lgetxattr", (buf, size) => s.lgetxattr(p, n, buf, size));
    },
    llistxattr(path) {
      const p = cPath(path);
      return splitNulList(sized("llistxattr", (buf, size) => s.llistxattr(p, buf, size)));
    },
    lremovexattr(path, name) {
      check("lremovexattr", s.lremovexattr(cPath(path), cPath(name)));
    },
    renameat2(from, to, flags, fromDir = AT_FDCWD, toDir = AT_FDCWD) {
      check("renameat2", s.renameat2(fromDir, cPath(from), toDir, cPath(to), flags));
    },
    fallocate(fd, mode, offset, length) {
      check("fallocate", s.fallocate(fd, mode, BigInt(offset), BigInt(length)));
    },
    mknod(path, mode, rdev) {
      check("mknod", s.mknod(cPath(path), mode, BigInt(rdev)));
    },
    utimens(path, atimeNs, mtimeNs, noFollow) {
      const times = new BigInt64Array(4);
      timespec(atimeNs, times, 0);
      timespec(mtimeNs, times, 1);
      check("utimensat", s.utimensat(AT_FDCWD, cPath(path), times, noFollow ? AT_SYMLINK_NOFOLLOW : 0));
    },
    lseek(fd, offset, whence) {
      return check("lseek", s.lseek(fd, BigInt(offset), whence));
    },
    ioctl(fd, request, arg) {
      return check("ioctl", s.ioctl(fd, BigInt(request), arg));
    },
  };
}
