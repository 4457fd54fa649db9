/**
 * Numbers of the Linux FUSE kernel protocol (linux/fuse.h), as far as vigil
 * speaks it: protocol 7.31, no extensions, no writeback cache.
 * Struct sizes are checked against /usr/include/linux/fuse.h by the unit tests.
 */

export const FUSE_KERNEL_VERSION = 7;
/** The minor version we answer with: new enough for MAX_PAGES and RENAME2, old enough for fixed-size requests. */
export const FUSE_KERNEL_MINOR_VERSION = 31;
export const FUSE_ROOT_ID = 1n;
/**
 * The largest READ the kernel sends us (mount option max_read): 255 pages,
 * so that the reply's header and its data fill a pipe of the default
 * largest size (1 MiB, 256 buffers) and can be spliced (splice-reply.ts).
 * Writes keep max_pages' 1 MiB.
 */
export const MAX_READ = 255 * 4096;
/**
 * The read-ahead window we give our mounts (KiB, see setReadahead in
 * mount.ts): four READ requests of MAX_READ, so the server finds the next
 * request waiting while the reader copies the last one out. Its default,
 * 128 KiB, made 8 requests of every MiB read.
 */
export const READAHEAD_KIB = (4 * MAX_READ) / 1024;

export const Opcode = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  BMAP: 37,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  NOTIFY_REPLY: 41,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
  SYNCFS: 50,
  TMPFILE: 51,
} as const;

/** Struct sizes in bytes. */
export const SIZE = {
  inHeader: 40,
  outHeader: 16,
  attr: 88,
  entryOut: 128,
  attrOut: 104,
  openOut: 16,
  writeOut: 8,
  statfsOut: 80,
  initIn: 64,
  initInCompat: 16,
  initOut: 64,
  getxattrOut: 8,
  lseekOut: 8,
  direntHeader: 24,
  forgetIn: 8,
  forgetOne: 16,
  batchForgetIn: 8,
  getattrIn: 16,
  setattrIn: 88,
  mknodIn: 16,
  mkdirIn: 8,
  renameIn: 8,
  rename2In: 16,
  linkIn: 8,
  openIn: 8,
  createIn: 16,
  releaseIn: 24,
  flushIn: 24,
  readIn: 40,
  writeIn: 40,
  fsyncIn: 16,
  /** fuse_setxattr_in without FUSE_SETXATTR_EXT (which we do not negotiate). */
  setxattrIn: 8,
  getxattrIn: 8,
  accessIn: 8,
  interruptIn: 8,
  fallocateIn: 32,
  lseekIn: 24,
} as const;

/** fuse_init flags. */
export const InitFlag = {
  ASYNC_READ: 1 << 0,
  POSIX_LOCKS: 1 << 1,
  ATOMIC_O_TRUNC: 1 << 3,
  EXPORT_SUPPORT: 1 << 4,
  BIG_WRITES: 1 << 5,
  /** The kernel passes the caller's umask instead of applying it (a default ACL must be able to override it). */
  DONT_MASK: 1 << 6,
  /** The kernel drops a file's cached pages when a GETATTR shows its mtime or size changed. */
  AUTO_INVAL_DATA: 1 << 12,
  WRITEBACK_CACHE: 1 << 16,
  PARALLEL_DIROPS: 1 << 18,
  HANDLE_KILLPRIV: 1 << 19,
  /** The kernel enforces POSIX ACLs, read through GETXATTR system.posix_acl_access (implies default_permissions). */
  POSIX_ACL: 1 << 20,
  MAX_PAGES: 1 << 22,
  /** The server clears setuid/setgid (and security.capability) on unprivileged writes and truncates; the kernel then stops asking GETXATTR security.capability before every write. */
  HANDLE_KILLPRIV_V2: 1 << 28,
  /** fuse_init_in/out carry flags2 (the upper 32 bits). */
  INIT_EXT: 1 << 30,
} as const;

/** The upper flag bits, in flags2 (bit n here is bit 32 + n of the 64-bit flags). */
export const InitFlag2 = {
  /**
   * A file opened with FOPEN_DIRECT_IO (a caller's O_DIRECT) may be mapped shared, through the page
   * cache, as on a local file system; without it such an mmap fails with ENODEV (protocol 7.39).
   */
  DIRECT_IO_ALLOW_MMAP: 1 << 4,
  /** Reads (and writes) of a file opened with FOPEN_PASSTHROUGH go straight to a backing file (protocol 7.40). */
  PASSTHROUGH: 1 << 5,
} as const;

/** ioctls on /dev/fuse (linux/fuse.h, 7.40): register / drop a backing file for passthrough. */
export const FUSE_DEV_IOC_BACKING_OPEN = 0x4010e501;
export const FUSE_DEV_IOC_BACKING_CLOSE = 0x4004e502;

/** fuse_setattr_in.valid bits. */
export const Fattr = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  LOCKOWNER: 1 << 9,
  CTIME: 1 << 10,
  KILL_SUIDGID: 1 << 11,
} as const;

/** fuse_open_out.open_flags. */
export const FopenFlag = {
  DIRECT_IO: 1 << 0,
  KEEP_CACHE: 1 << 1,
  NONSEEKABLE: 1 << 2,
  /**
   * close() sends no FLUSH (protocol 7.35; without the writeback cache). Pages
   * dirtied through a shared mapping still reach us: at msync, fsync, munmap
   * (the kernel writes them when the mapping closes) or by writeback.
   */
  NOFLUSH: 1 << 5,
  /** Serve this open file from the backing file given by fuse_open_out.backing_id. */
  PASSTHROUGH: 1 << 7,
} as const;

export const FUSE_GETATTR_FH = 1 << 0;
export const FUSE_FSYNC_FDATASYNC = 1 << 0;
export const FUSE_WRITE_CACHE = 1 << 0;
export const FUSE_WRITE_KILL_SUIDGID = 1 << 2;
export const FUSE_OPEN_KILL_SUIDGID = 1 << 0;

/** Linux errno values vigil replies with. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ENODATA: 61,
  EPROTO: 71,
  EOPNOTSUPP: 95,
} as const;

/** Directory entry types (DT_*) from a mode's type bits. */
export function direntType(mode: number): number {
  return (mode >>> 12) & 0o17;
}
