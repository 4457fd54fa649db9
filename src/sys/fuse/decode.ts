/**
 * Decoding of the requests the kernel writes to /dev/fuse: fuse_in_header
 * and each operation's argument struct. Pure; throws only FuseDecodeError.
 *
 * Names, link targets, xattr values and write data are views into the read
 * buffer (no copy): a caller that keeps them past the next read must copy.
 */

import { Opcode, SIZE } from "./abi.ts";

export class FuseDecodeError extends Error {
  /** The request's unique id when the header could be read (so it can still be answered), else null. */
  readonly unique: bigint | null;
  readonly opcode: number | null;
  constructor(message: string, unique: bigint | null, opcode: number | null) {
    super(message);
    this.name = "FuseDecodeError";
    this.unique = unique;
    this.opcode = opcode;
  }
}

export interface FuseHeader {
  readonly len: number;
  readonly opcode: number;
  readonly unique: bigint;
  readonly nodeid: bigint;
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
}

/** Set-attribute request; times in nanoseconds, present only when `valid` says so. */
export interface SetattrArgs {
  readonly valid: number;
  readonly fh: bigint;
  readonly size: number;
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

export type FuseArgs =
  /** flags2: the upper 32 flag bits, sent when the kernel sets FUSE_INIT_EXT (0 from older kernels). */
  | { readonly op: "init"; readonly major: number; readonly minor: number; readonly maxReadahead: number; readonly flags: number; readonly flags2: number }
  | { readonly op: "destroy" }
  | { readonly op: "lookup"; readonly name: Uint8Array }
  | { readonly op: "forget"; readonly nlookup: bigint }
  | { readonly op: "batchForget"; readonly items: readonly { readonly nodeid: bigint; readonly nlookup: bigint }[] }
  | { readonly op: "getattr"; readonly fh: bigint | null }
  | ({ readonly op: "setattr" } & SetattrArgs)
  | { readonly op: "readlink" }
  | { readonly op: "symlink"; readonly name: Uint8Array; readonly target: Uint8Array }
  | { readonly op: "mknod"; readonly name: Uint8Array; readonly mode: number; readonly rdev: number; readonly umask: number }
  | { readonly op: "mkdir"; readonly name: Uint8Array; readonly mode: number; readonly umask: number }
  | { readonly op: "unlink"; readonly name: Uint8Array }
  | { readonly op: "rmdir"; readonly name: Uint8Array }
  /** RENAME (flags 0) and RENAME2. */
  | { readonly op: "rename"; readonly newDir: bigint; readonly flags: number; readonly oldName: Uint8Array; readonly newName: Uint8Array }
  | { readonly op: "link"; readonly oldNodeid: bigint; readonly name: Uint8Array }
  /** openFlags: FUSE_OPEN_KILL_SUIDGID (with HANDLE_KILLPRIV_V2). */
  | { readonly op: "open"; readonly flags: number; readonly openFlags: number }
  | { readonly op: "opendir"; readonly flags: number; readonly openFlags: number }
  | { readonly op: "create"; readonly name: Uint8Array; readonly flags: number; readonly mode: number; readonly umask: number; readonly openFlags: number }
  | { readonly op: "read"; readonly fh: bigint; readonly offset: number; readonly size: number }
  | { readonly op: "readdir"; readonly fh: bigint; readonly offset: number; readonly size: number }
  | { readonly op: "write"; readonly fh: bigint; readonly offset: number; readonly writeFlags: number; readonly data: Uint8Array }
  | { readonly op: "statfs" }
  | { readonly op: "release"; readonly fh: bigint; readonly flags: number }
  | { readonly op: "releasedir"; readonly fh: bigint }
  | { readonly op: "flush"; readonly fh: bigint }
  | { readonly op: "fsync"; readonly fh: bigint; readonly dataOnly: boolean }
  | { readonly op: "fsyncdir"; readonly fh: bigint; readonly dataOnly: boolean }
  | { readonly op: "setxattr"; readonly name: Uint8Array; readonly value: Uint8Array; readonly flags: number }
  | { readonly op: "getxattr"; readonly name: Uint8Array; readonly size: number }
  | { readonly op: "listxattr"; readonly size: number }
  | { readonly op: "removexattr"; readonly name: Uint8Array }
  | { readonly op: "access"; readonly mask: number }
  | { readonly op: "interrupt"; readonly target: bigint }
  | { readonly op: "fallocate"; readonly fh: bigint; readonly offset: number; readonly length: number; readonly mode: number }
  | { readonly op: "lseek"; readonly fh: bigint; readonly offset: number; readonly whence: number }
  /** An operation vigil does not implement: answered ENOSYS (or not at all when it takes no reply). */
  | { readonly op: "unsupported"; readonly opcode: number };

export interface FuseRequest {
  readonly header: FuseHeader;
  readonly args: FuseArgs;
}

/** Operations the kernel expects no reply to. */
export function expectsReply(opcode: number): boolean {
  return opcode !== Opcode.FORGET && opcode !== Opcode.BATCH_FORGET && opcode !== Opcode.INTERRUPT;
}

/** Reads fields of one request body, failing with FuseDecodeError when it is too short. */
class Reader {
  private readonly view: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    private pos: number,
    private readonly end: number,
    private readonly header: FuseHeader,
    private readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  fail(message: string): FuseDecodeError {
    return new FuseDecodeError(`${this.what}: ${message}`, this.header.unique, this.header.opcode);
  }
  need(n: number, field: string): number {
    if (this.pos + n > this.end) throw this.fail(`request of ${this.header.len} bytes too short for ${field}`);
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u32(field: string): number {
    return this.view.getUint32(this.need(4, field), true);
  }
  u64(field: string): bigint {
    return this.view.getBigUint64(this.need(8, field), true);
  }
  /** A u64 that must fit a JS number (offsets, sizes). */
  u64n(field: string): number {
    const v = this.u64(field);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fail(`${field} ${v} out of range`);
    return Number(v);
  }
  skip(n: number, field: string): void {
    this.need(n, field);
  }
  /** A NUL-terminated string (the NUL is consumed, not returned). */
  cstring(field: string): Uint8Array {
    const nul = this.bytes.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) throw this.fail(`${field} not NUL-terminated`);
    const s = this.bytes.subarray(this.pos, nul);
    this.pos = nul + 1;
    return s;
  }
  /** A name: NUL-terminated, not empty. */
  name(field: string): Uint8Array {
    const s = this.cstring(field);
    if (s.length === 0) throw this.fail(`empty ${field}`);
    return s;
  }
  bytesOf(n: number, field: string): Uint8Array {
    const at = this.need(n, field);
    return this.bytes.subarray(at, at + n);
  }
}

/** Decodes the header of the request in bytes[0, length). */
export function decodeHeader(bytes: Uint8Array, length: number): FuseHeader {
  if (length < SIZE.inHeader || bytes.length < length) {
    throw new FuseDecodeError(`request of ${length} bytes shorter than fuse_in_header (${SIZE.inHeader})`, null, null);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header: FuseHeader = {
    len: v.getUint32(0, true),
    opcode: v.getUint32(4, true),
    unique: v.getBigUint64(8, true),
    nodeid: v.getBigUint64(16, true),
    uid: v.getUint32(24, true),
    gid: v.getUint32(28, true),
    pid: v.getUint32(32, true),
  };
  if (header.len !== length) {
    throw new FuseDecodeError(`header says ${header.len} bytes, read returned ${length}`, header.unique, header.opcode);
  }
  return header;
}

/** Decodes one request as read from /dev/fuse: bytes[0, length). */
export function decodeRequest(bytes: Uint8Array, length: number): FuseRequest {
  const header = decodeHeader(bytes, length);
  const r = new Reader(bytes, SIZE.inHeader, length, header, `opcode ${header.opcode}`);
  return { header, args: decodeArgs(header, r) };
}

function decodeArgs(h: FuseHeader, r: Reader): FuseArgs {
  switch (h.opcode) {
    case Opcode.INIT: {
      const major = r.u32("major");
      const minor = r.u32("minor");
      const maxReadahead = r.u32("max_readahead");
      const flags = r.u32("flags");
      const flags2 = h.len >= SIZE.inHeader + 20 ? r.u32("flags2") : 0;
      return { op: "init", major, minor, maxReadahead, flags, flags2 };
    }
    case Opcode.DESTROY:
      return { op: "destroy" };
    case Opcode.LOOKUP:
      return { op: "lookup", name: r.name("name") };
    case Opcode.FORGET:
      return { op: "forget", nlookup: r.u64("nlookup") };
    case Opcode.BATCH_FORGET: {
      const count = r.u32("count");
      r.skip(4, "dummy");
      const items: { nodeid: bigint; nlookup: bigint }[] = [];
      for (let i = 0; i < count; i++) items.push({ nodeid: r.u64(`forget ${i} nodeid`), nlookup: r.u64(`forget ${i} nlookup`) });
      return { op: "batchForget", items };
    }
    case Opcode.GETATTR: {
      const flags = r.u32("getattr_flags");
      r.skip(4, "dummy");
      const fh = r.u64("fh");
      return { op: "getattr", fh: (flags & 1) !== 0 ? fh : null };
    }
    case Opcode.SETATTR: {
      const valid = r.u32("valid");
      r.skip(4, "padding");
      const fh = r.u64("fh");
      const size = r.u64n("size");
      r.skip(8, "lock_owner");
      const atime = r.u64("atime");
      const mtime = r.u64("mtime");
      r.skip(8, "ctime");
      const atimensec = r.u32("atimensec");
      const mtimensec = r.u32("mtimensec");
      r.skip(4, "ctimensec");
      const mode = r.u32("mode");
      r.skip(4, "unused4");
      const uid = r.u32("uid");
      const gid = r.u32("gid");
      r.skip(4, "unused5");
      // The kernel passes time64_t through a u64: negative times arrive as two's complement.
      const ns = (sec: bigint, nsec: number): bigint => BigInt.asIntN(64, sec) * 1_000_000_000n + BigInt(nsec);
      return { op: "setattr", valid, fh, size, atimeNs: ns(atime, atimensec), mtimeNs: ns(mtime, mtimensec), mode, uid, gid };
    }
    case Opcode.READLINK:
      return { op: "readlink" };
    case Opcode.SYMLINK: {
      const name = r.name("name");
      const target = r.name("link target");
      return { op: "symlink", name, target };
    }
    case Opcode.MKNOD: {
      const mode = r.u32("mode");
      const rdev = r.u32("rdev");
      const umask = r.u32("umask");
      r.skip(4, "padding");
      return { op: "mknod", name: r.name("name"), mode, rdev, umask };
    }
    case Opcode.MKDIR: {
      const mode = r.u32("mode");
      const umask = r.u32("umask");
      return { op: "mkdir", name: r.name("name"), mode, umask };
    }
    case Opcode.UNLINK:
      return { op: "unlink", name: r.name("name") };
    case Opcode.RMDIR:
      return { op: "rmdir", name: r.name("name") };
    case Opcode.RENAME: {
      const newDir = r.u64("newdir");
      return { op: "rename", newDir, flags: 0, oldName: r.name("old name"), newName: r.name("new name") };
    }
    case Opcode.RENAME2: {
      const newDir = r.u64("newdir");
      const flags = r.u32("flags");
      r.skip(4, "padding");
      return { op: "rename", newDir, flags, oldName: r.name("old name"), newName: r.name("new name") };
    }
    case Opcode.LINK: {
      const oldNodeid = r.u64("oldnodeid");
      return { op: "link", oldNodeid, name: r.name("name") };
    }
    case Opcode.OPEN:
    case Opcode.OPENDIR: {
      const flags = r.u32("flags");
      const openFlags = r.u32("open_flags");
      return { op: h.opcode === Opcode.OPEN ? "open" : "opendir", flags, openFlags };
    }
    case Opcode.CREATE: {
      const flags = r.u32("flags");
      const mode = r.u32("mode");
      const umask = r.u32("umask");
      const openFlags = r.u32("open_flags");
      return { op: "create", name: r.name("name"), flags, mode, umask, openFlags };
    }
    case Opcode.READ:
    case Opcode.READDIR: {
      const fh = r.u64("fh");
      const offset = r.u64n("offset");
      const size = r.u32("size");
      r.skip(4 + 8 + 4 + 4, "read_flags, lock_owner, flags, padding");
      return { op: h.opcode === Opcode.READ ? "read" : "readdir", fh, offset, size };
    }
    case Opcode.WRITE: {
      const fh = r.u64("fh");
      const offset = r.u64n("offset");
      const size = r.u32("size");
      const writeFlags = r.u32("write_flags");
      r.skip(8 + 4 + 4, "lock_owner, flags, padding");
      return { op: "write", fh, offset, writeFlags, data: r.bytesOf(size, "write data") };
    }
    case Opcode.STATFS:
      return { op: "statfs" };
    case Opcode.RELEASE:
    case Opcode.RELEASEDIR: {
      const fh = r.u64("fh");
      const flags = r.u32("flags");
      r.skip(4 + 8, "release_flags, lock_owner");
      return h.opcode === Opcode.RELEASE ? { op: "release", fh, flags } : { op: "releasedir", fh };
    }
    case Opcode.FLUSH: {
      const fh = r.u64("fh");
      r.skip(16, "unused, padding, lock_owner");
      return { op: "flush", fh };
    }
    case Opcode.FSYNC:
    case Opcode.FSYNCDIR: {
      const fh = r.u64("fh");
      const dataOnly = (r.u32("fsync_flags") & 1) !== 0;
      r.skip(4, "padding");
      return { op: h.opcode === Opcode.FSYNC ? "fsync" : "fsyncdir", fh, dataOnly };
    }
    case Opcode.SETXATTR: {
      const size = r.u32("size");
      const flags = r.u32("flags");
      const name = r.name("xattr name");
      return { op: "setxattr", name, value: r.bytesOf(size, "xattr value"), flags };
    }
    case Opcode.GETXATTR: {
      const size = r.u32("size");
      r.skip(4, "padding");
      return { op: "getxattr", name: r.name("xattr name"), size };
    }
    case Opcode.LISTXATTR: {
      const size = r.u32("size");
      r.skip(4, "padding");
      return { op: "listxattr", size };
    }
    case Opcode.REMOVEXATTR:
      return { op: "removexattr", name: r.name("xattr name") };
    case Opcode.ACCESS: {
      const mask = r.u32("mask");
      r.skip(4, "padding");
      return { op: "access", mask };
    }
    case Opcode.INTERRUPT:
      return { op: "interrupt", target: r.u64("unique") };
    case Opcode.FALLOCATE: {
      const fh = r.u64("fh");
      const offset = r.u64n("offset");
      const length = r.u64n("length");
      const mode = r.u32("mode");
      r.skip(4, "padding");
      return { op: "fallocate", fh, offset, length, mode };
    }
    case Opcode.LSEEK: {
      const fh = r.u64("fh");
      const offset = r.u64n("offset");
      const whence = r.u32("whence");
      r.skip(4, "padding");
      return { op: "lseek", fh, offset, whence };
    }
    default:
      return { op: "unsupported", opcode: h.opcode };
  }
}
