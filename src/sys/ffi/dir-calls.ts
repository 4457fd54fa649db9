/**
 * System calls relative to an open directory (the `*at` family), through
 * `bun:ffi`. A path handed to the kernel this way is walked from that
 * directory: no walk from `/`, and no `/proc/self/fd/N/` magic link to go
 * through (4-8 µs more per call on a loaded 2-core machine, see
 * src/sys/fuse/thread-cwd.ts), and a directory opened once can be used for
 * every name in it.
 *
 * Synchronous, like fs-calls.ts; each thread loads its own table (errno is
 * per thread, bun:ffi handles are per Worker). A failed call throws
 * SyscallError with the call's errno.
 *
 * Names and paths are raw bytes; they are passed NUL-terminated (copied).
 */

import { FfiUnavailableError, SyscallError, loadFfi } from "./libc.ts";
import { timespec } from "./timespec.ts";

export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_REMOVEDIR = 0x200;
export const AT_EMPTY_PATH = 0x1000;
export const O_PATH = 0o10000000;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;
export const O_CLOEXEC = 0o2000000;

/** fchmodat2(2), Linux 6.6: the one chmod that can refuse to follow a symlink. Same number on every architecture. */
const SYS_FCHMODAT2 = 452;
const ENOSYS = 38;
const ENAMETOOLONG = 36;
const EOPNOTSUPP = 95;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

/** statx mask: type and mode, nlink, ino, blocks (the fields read below). */
const STATX_WANTED = 0x1 | 0x2 | 0x4 | 0x100 | 0x400;
/** STATX_BASIC_STATS: everything lstat(2) gives (statxEntry). */
const STATX_BASIC = 0x7ff;

const TABLE = {
  openat: { args: ["i32", "ptr", "i32", "u32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  mkdirat: { args: ["i32", "ptr", "u32"], returns: "i32" },
  mknodat: { args: ["i32", "ptr", "u32", "u64"], returns: "i32" },
  symlinkat: { args: ["ptr", "i32", "ptr"], returns: "i32" },
  linkat: { args: ["i32", "ptr", "i32", "ptr", "i32"], returns: "i32" },
  unlinkat: { args: ["i32", "ptr", "i32"], returns: "i32" },
  renameat2: { args: ["i32", "ptr", "i32", "ptr", "u32"], returns: "i32" },
  fchownat: { args: ["i32", "ptr", "u32", "u32", "i32"], returns: "i32" },
  fchmodat: { args: ["i32", "ptr", "u32", "i32"], returns: "i32" },
  utimensat: { args: ["i32", "ptr", "ptr", "i32"], returns: "i32" },
  futimens: { args: ["i32", "ptr"], returns: "i32" },
  statx: { args: ["i32", "ptr", "i32", "u32", "ptr"], returns: "i32" },
  readlinkat: { args: ["i32", "ptr", "ptr", "u64"], returns: "i64" },
  syscall: { args: ["i64", "i64", "ptr", "u64", "u64"], returns: "i64" },
  __errno_location: { args: [], returns: "ptr" },
  strerror: { args: ["i32"], returns: "cstring" },
} as const;

type Ptr = Uint8Array | BigInt64Array | null;

interface Symbols {
  openat(dir: number, path: Ptr, flags: number, mode: number): number;
  close(fd: number): number;
  mkdirat(dir: number, path: Ptr, mode: number): number;
  mknodat(dir: number, path: Ptr, mode: number, dev: bigint): number;
  symlinkat(target: Ptr, dir: number, path: Ptr): number;
  linkat(fromDir: number, from: Ptr, toDir: number, to: Ptr, flags: number): number;
  unlinkat(dir: number, path: Ptr, flags: number): number;
  renameat2(fromDir: number, from: Ptr, toDir: number, to: Ptr, flags: number): number;
  fchownat(dir: number, path: Ptr, uid: number, gid: number, flags: number): number;
  fchmodat(dir: number, path: Ptr, mode: number, flags: number): number;
  utimensat(dir: number, path: Ptr, times: Ptr, flags: number): number;
  futimens(fd: number, times: Ptr): number;
  statx(dir: number, path: Ptr, flags: number, mask: number, buf: Ptr): number;
  readlinkat(dir: number, path: Ptr, buf: Ptr, size: bigint): bigint | number;
  syscall(nr: bigint, a: bigint, b: Ptr, c: bigint, d: bigint): bigint | number;
  __errno_location(): number | bigint | null;
  strerror(errno: number): unknown;
}

interface FfiForDirs {
  dlopen(path: string, symbols: typeof TABLE): { symbols: unknown };
  read: { i32(ptr: number | bigint, byteOffset?: number): number };
}

/** What statx says of an object (the fields the applier needs). */
export interface ObjectStat {
  /** Type and permission bits (st_mode). */
  readonly mode: number;
  readonly ino: number;
  /** The device as one number (major * 2^32 + minor): equal for the same file system. */
  readonly dev: number;
  readonly nlink: number;
  /** 512-byte blocks allocated. */
  readonly blocks: number;
}

/** What statx says of an object, as lstat(2) would (a resync manifest's entry). */
export interface EntryStat extends ObjectStat {
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtimeNs: bigint;
  /** st_rdev as glibc encodes it (makedev), as node:fs reports it. */
  readonly rdev: number;
}

/** glibc's makedev(3), in doubles: the major above 12 bits lands past 2^32. */
function makedev(major: number, minor: number): number {
  return (minor & 0xff) + (major & 0xfff) * 0x100 + Math.floor(minor / 0x100) * 0x100000 + Math.floor(major / 0x1000) * 0x1000 * 0x100000000;
}

export interface DirCalls {
  /** openat(2): the new fd. */
  openat(dir: number, path: Uint8Array, flags: number, mode?: number): number;
  close(fd: number): void;
  mkdirat(dir: number, path: Uint8Array, mode: number): void;
  /** mode carries the file type (S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK, S_IFREG). */
  mknodat(dir: number, path: Uint8Array, mode: number, rdev: number): void;
  symlinkat(target: Uint8Array, dir: number, path: Uint8Array): void;
  /** linkat without AT_SYMLINK_FOLLOW: a symlink at `from` is linked itself, never its target. */
  linkat(fromDir: number, from: Uint8Array, toDir: number, to: Uint8Array): void;
  unlinkat(dir: number, path: Uint8Array, flags: number): void;
  renameat2(fromDir: number, from: Uint8Array, toDir: number, to: Uint8Array, flags: number): void;
  fchownat(dir: number, path: Uint8Array, uid: number, gid: number, flags: number): void;
  /**
   * Sets the permission bits of the object itself, never of a symlink's
   * target: a symlink gets SyscallError EOPNOTSUPP (fchmodat2 with
   * AT_SYMLINK_NOFOLLOW; before Linux 6.6, statx then fchmodat, which is the
   * same as long as nothing else renames entries in the directory meanwhile).
   */
  fchmodatNoFollow(dir: number, path: Uint8Array, mode: number): void;
  /** Times in ns since the epoch (UTIME_NOW and UTIME_OMIT allowed). */
  utimensat(dir: number, path: Uint8Array, atimeNs: bigint, mtimeNs: bigint, flags: number): void;
  futimens(fd: number, atimeNs: bigint, mtimeNs: bigint): void;
  /** statx of `path` in `dir` (flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH with an empty path for `dir` itself). */
  statx(dir: number, path: Uint8Array, flags: number): ObjectStat;
  /** statx with every field lstat gives (owner, size, mtime, rdev too). */
  statxEntry(dir: number, path: Uint8Array, flags: number): EntryStat;
  /** readlinkat(2): a symlink's target bytes. */
  readlinkat(dir: number, path: Uint8Array): Uint8Array;
}

/** NUL-terminated copy of raw bytes. */
function z(p: Uint8Array): Uint8Array {
  const out = new Uint8Array(p.length + 1);
  out.set(p);
  return out;
}

let cached: DirCalls | undefined;

/** The table for this thread, or rejects with FfiUnavailableError naming `feature`. */
export async function loadDirCalls(feature: string): Promise<DirCalls> {
  if (cached !== undefined) return cached;
  const ffi = (await loadFfi(feature)) as unknown as FfiForDirs;
  let s: Symbols;
  try {
    s = ffi.dlopen("libc.so.6", TABLE).symbols as Symbols;
  } catch (e) {
    throw new FfiUnavailableError(feature, `cannot open libc.so.6: ${e instanceof Error ? e.message : String(e)}`);
  }
  cached = wrap(ffi, s);
  return cached;
}

function wrap(ffi: FfiForDirs, s: Symbols): DirCalls {
  const errno = (): number => {
    const at = s.__errno_location();
    return at === null ? 0 : ffi.read.i32(at, 0);
  };
  const fail = (call: string, n = errno()): SyscallError => new SyscallError(call, n, String(s.strerror(n) ?? "unknown error"));
  const check = (call: string, rc: number): number => {
    if (rc < 0) throw fail(call);
    return rc;
  };
  const stx = new Uint8Array(256);
  const view = new DataView(stx.buffer);
  const times = new BigInt64Array(4);
  const setTimes = (atimeNs: bigint, mtimeNs: bigint): BigInt64Array => {
    timespec(atimeNs, times, 0);
    timespec(mtimeNs, times, 1);
    return times;
  };
  let haveFchmodat2 = true;
  const statx = (dir: number, path: Uint8Array, flags: number): ObjectStat => {
    check("statx", s.statx(dir, z(path), flags, STATX_WANTED, stx));
    return {
      mode: view.getUint16(28, true),
      nlink: view.getUint32(16, true),
      ino: Number(view.getBigUint64(32, true)),
      blocks: Number(view.getBigUint64(48, true)),
      dev: view.getUint32(136, true) * 2 ** 32 + view.getUint32(140, true),
    };
  };
  const statxEntry = (dir: number, path: Uint8Array, flags: number): EntryStat => {
    check("statx", s.statx(dir, z(path), flags, STATX_BASIC, stx));
    return {
      mode: view.getUint16(28, true),
      uid: view.getUint32(20, true),
      gid: view.getUint32(24, true),
      nlink: view.getUint32(16, true),
      ino: Number(view.getBigUint64(32, true)),
      size: Number(view.getBigUint64(40, true)),
      blocks: Number(view.getBigUint64(48, true)),
      mtimeNs: view.getBigInt64(112, true) * 1_000_000_000n + BigInt(view.getUint32(120, true)),
      rdev: makedev(view.getUint32(128, true), view.getUint32(132, true)),
      dev: view.getUint32(136, true) * 2 ** 32 + view.getUint32(140, true),
    };
  };
  const link = new Uint8Array(4097);
  const readlinkat = (dir: number, path: Uint8Array): Uint8Array => {
    const n = Number(s.readlinkat(dir, z(path), link, BigInt(link.length)));
    if (n < 0) throw fail("readlinkat");
    // PATH_MAX: a target the buffer filled may have been cut.
    if (n >= link.length) throw fail("readlinkat", ENAMETOOLONG);
    return link.slice(0, n);
  };
  return {
    openat: (dir, path, flags, mode = 0) => check("openat", s.openat(dir, z(path), flags, mode)),
    close: (fd) => void check("close", s.close(fd)),
    mkdirat: (dir, path, mode) => void check("mkdirat", s.mkdirat(dir, z(path), mode)),
    mknodat: (dir, path, mode, rdev) => void check("mknodat", s.mknodat(dir, z(path), mode, BigInt(rdev))),
    symlinkat: (target, dir, path) => void check("symlinkat", s.symlinkat(z(target), dir, z(path))),
    linkat: (fromDir, from, toDir, to) => void check("linkat", s.linkat(fromDir, z(from), toDir, z(to), 0)),
    unlinkat: (dir, path, flags) => void check("unlinkat", s.unlinkat(dir, z(path), flags)),
    renameat2: (fromDir, from, toDir, to, flags) => void check("renameat2", s.renameat2(fromDir, z(from), toDir, z(to), flags)),
    fchownat: (dir, path, uid, gid, flags) => void check("fchownat", s.fchownat(dir, z(path), uid, gid, flags)),
    fchmodatNoFollow(dir, path, mode) {
      const p = z(path);
      if (haveFchmodat2) {
        if (Number(s.syscall(BigInt(SYS_FCHMODAT2), BigInt(dir), p, BigInt(mode), BigInt(AT_SYMLINK_NOFOLLOW))) === 0) return;
        const n = errno();
        if (n !== ENOSYS) throw fail("fchmodat2", n);
        haveFchmodat2 = false;
      }
      if ((statx(dir, path, AT_SYMLINK_NOFOLLOW).mode & S_IFMT) === S_IFLNK) throw fail("fchmodat", EOPNOTSUPP);
      check("fchmodat", s.fchmodat(dir, p, mode, 0));
    },
    utimensat: (dir, path, atimeNs, mtimeNs, flags) => void check("utimensat", s.utimensat(dir, z(path), setTimes(atimeNs, mtimeNs), flags)),
    futimens: (fd, atimeNs, mtimeNs) => void check("futimens", s.futimens(fd, setTimes(atimeNs, mtimeNs))),
    statx,
    statxEntry,
    readlinkat,
  };
}
