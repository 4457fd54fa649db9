/**
 * Encoding of replies to /dev/fuse. Every reply is one buffer, written with
 * one write(): fuse_out_header (len, -errno, unique) followed by the payload.
 * Pure.
 */

import { FUSE_KERNEL_MINOR_VERSION, FUSE_KERNEL_VERSION, SIZE } from "./abi.ts";

/** The attributes of one inode as the kernel wants them (fuse_attr). Times in nanoseconds. */
export interface FuseAttr {
  readonly ino: bigint;
  readonly size: bigint;
  readonly blocks: bigint;
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly rdev: number;
  readonly blksize: number;
}

export interface EntryOut {
  readonly nodeid: bigint;
  readonly generation: bigint;
  readonly entryValidNs: bigint;
  readonly attrValidNs: bigint;
  readonly attr: FuseAttr;
}

export interface StatfsOut {
  readonly blocks: bigint;
  readonly bfree: bigint;
  readonly bavail: bigint;
  readonly files: bigint;
  readonly ffree: bigint;
  readonly bsize: number;
  readonly namelen: number;
  readonly frsize: number;
}

export interface InitOut {
  readonly maxReadahead: number;
  readonly flags: number;
  readonly maxBackground: number;
  readonly congestionThreshold: number;
  readonly maxWrite: number;
  /** Time granularity in ns (1 = the kernel keeps nanoseconds). */
  readonly timeGran: number;
  readonly maxPages: number;
  /** Upper 32 flag bits (with INIT_EXT in flags). */
  readonly flags2?: number;
  /** How deep the backing files' stack is, for passthrough (0: no passthrough). */
  readonly maxStackDepth?: number;
}

/** A reply frame: header filled, payload to be written at offset 16. */
export function replyFrame(unique: bigint, payloadLength: number): { frame: Uint8Array; view: DataView } {
  const frame = new Uint8Array(SIZE.outHeader + payloadLength);
  const view = new DataView(frame.buffer);
  view.setUint32(0, frame.length, true);
  view.setInt32(4, 0, true);
  view.setBigUint64(8, unique, true);
  return { frame, view };
}

/** Shortens a frame whose payload turned out smaller (a short read): returns the view to write. */
export function trimFrame(frame: Uint8Array, payloadLength: number): Uint8Array {
  const out = frame.subarray(0, SIZE.outHeader + payloadLength);
  new DataView(frame.buffer, frame.byteOffset, frame.byteLength).setUint32(0, out.length, true);
  return out;
}

/** An error reply: `errno` positive (ENOENT = 2), sent as -errno. */
export function encodeError(unique: bigint, errno: number): Uint8Array {
  const { frame, view } = replyFrame(unique, 0);
  view.setInt32(4, -Math.abs(errno), true);
  return frame;
}

/** A success reply carrying `payload` as is (READ data, READLINK target, xattr value). */
export function encodeData(unique: bigint, payload: Uint8Array): Uint8Array {
  const { frame } = replyFrame(unique, payload.length);
  frame.set(payload, SIZE.outHeader);
  return frame;
}

export function encodeEmpty(unique: bigint): Uint8Array {
  return replyFrame(unique, 0).frame;
}

const NS = 1_000_000_000n;

function splitNs(ns: bigint): [bigint, number] {
  let sec = ns / NS;
  let nsec = ns % NS;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += NS;
  }
  return [sec, Number(nsec)];
}

function writeAttr(view: DataView, at: number, a: FuseAttr): void {
  const [as, ans] = splitNs(a.atimeNs);
  const [ms, mns] = splitNs(a.mtimeNs);
  const [cs, cns] = splitNs(a.ctimeNs);
  view.setBigUint64(at, a.ino, true);
  view.setBigUint64(at + 8, a.size, true);
  view.setBigUint64(at + 16, a.blocks, true);
  view.setBigUint64(at + 24, BigInt.asUintN(64, as), true);
  view.setBigUint64(at + 32, BigInt.asUintN(64, ms), true);
  view.setBigUint64(at + 40, BigInt.asUintN(64, cs), true);
  view.setUint32(at + 48, ans, true);
  view.setUint32(at + 52, mns, true);
  view.setUint32(at + 56, cns, true);
  view.setUint32(at + 60, a.mode >>> 0, true);
  view.setUint32(at + 64, a.nlink >>> 0, true);
  view.setUint32(at + 68, a.uid >>> 0, true);
  view.setUint32(at + 72, a.gid >>> 0, true);
  view.setUint32(at + 76, a.rdev >>> 0, true);
  view.setUint32(at + 80, a.blksize >>> 0, true);
  view.setUint32(at + 84, 0, true);
}

function writeValid(view: DataView, secAt: number, nsecAt: number, ns: bigint): void {
  const [sec, nsec] = splitNs(ns < 0n ? 0n : ns);
  view.setBigUint64(secAt, sec, true);
  view.setUint32(nsecAt, nsec, true);
}

/** fuse_entry_out: LOOKUP, MKNOD, MKDIR, SYMLINK, LINK. */
export function encodeEntry(unique: bigint, e: EntryOut): Uint8Array {
  const { frame, view } = replyFrame(unique, SIZE.entryOut);
  writeEntry(view, SIZE.outHeader, e);
  return frame;
}

function writeEntry(view: DataView, at: number, e: EntryOut): void {
  view.setBigUint64(at, e.nodeid, true);
  view.setBigUint64(at + 8, e.generation, true);
  writeValid(view, at + 16, at + 32, e.entryValidNs);
  writeValid(view, at + 24, at + 36, e.attrValidNs);
  writeAttr(view, at + 40, e.attr);
}

/** fuse_attr_out: GETATTR, SETATTR. */
export function encodeAttr(unique: bigint, attrValidNs: bigint, attr: FuseAttr): Uint8Array {
  const { frame, view } = replyFrame(unique, SIZE.attrOut);
  const at = SIZE.outHeader;
  writeValid(view, at, at + 8, attrValidNs);
  writeAttr(view, at + 16, attr);
  return frame;
}

/** fuse_open_out: OPEN, OPENDIR. `backingId`: with FOPEN_PASSTHROUGH, the id from FUSE_DEV_IOC_BACKING_OPEN. */
export function encodeOpen(unique: bigint, fh: bigint, openFlags: number, backingId = 0): Uint8Array {
  const { frame, view } = replyFrame(unique, SIZE.openOut);
  view.setBigUint64(SIZE.outHeader, fh, true);
  view.setUint32(SIZE.outHeader + 8, openFlags >>> 0, true);
  view.setInt32(SIZE.outHeader + 12, backingId, true);
  return frame;
}

/** CREATE: fuse_entry_out then fuse_open_out. */
export function encodeCreate(unique: bigint, e: EntryOut, fh: bigint, openFlags: number): Uint8Array {
  const { frame, view } = replyFrame(unique, SIZE.entryOut + SIZE.openOut);
  writeEntry(view, SIZE.outHeader, e);
  view.setBigUint64(SIZE.outHeader + SIZE.entryOut, fh, true);
  view.setUint32(SIZE.outHeader + SIZE.entryOut + 8, openFlags >>> 0, true);
  return frame;
}

export function encodeWrite(unique: bigint, size: number): Uint8Array {
  const { frame, view } = replyFrame(unique, SIZE.writeOut);
  view.setUint32(SIZE.outHeader, size >>> 0, true);
  return frame;
}

export function encodeStatfs(unique: bigint, s: StatfsOut): Uint8Array {
  const { frame, view } = replyFrame(unique, SIZE.statfsOut);
  const at = SIZE.outHeader;
  view.setBigUint64(at, s.blocks, true);
  view.setBigUint64(at + 8, s.bfree, true);
  view.setBigUint64(at + 16, s.bavail, true);
  view.setBigUint64(at + 24, s.files, true);
  view.setBigUint64(at + 32, s.ffree, true);
  view.setUint32(at + 40, s.bsize >>> 0, true);
  view.setUint32(at + 44, s.namelen >>> 0, true);
  view.setUint32(at + 48, s.frsize >>> 0, true);
  return frame;
}

export function encodeInit(unique: bigint, i: InitOut): Uint8Array {
  const { frame, view } = replyFrame(unique, SIZE.initOut);
  const at = SIZE.outHeader;
  view.setUint32(at, FUSE_KERNEL_VERSION, true);
  view.setUint32(at + 4, FUSE_KERNEL_MINOR_VERSION, true);
  view.setUint32(at + 8, i.maxReadahead >>> 0, true);
  view.setUint32(at + 12, i.flags >>> 0, true);
  view.setUint16(at + 16, i.maxBackground, true);
  view.setUint16(at + 18, i.congestionThreshold, true);
  view.setUint32(at + 20, i.maxWrite >>> 0, true);
  view.setUint32(at + 24, i.timeGran >>> 0, true);
  view.setUint16(at + 28, i.maxPages, true);
  view.setUint32(at + 32, (i.flags2 ?? 0) >>> 0, true);
  view.setUint32(at + 36, (i.maxStackDepth ?? 0) >>> 0, true);
  return frame;
}

/** GETXATTR/LISTXATTR with size 0: how many bytes the value would take. */
export function encodeXattrSize(unique: bigint, size: number): Uint8Array {
  const { frame, view } = replyFrame(unique, SIZE.getxattrOut);
  view.setUint32(SIZE.outHeader, size >>> 0, true);
  return frame;
}

export function encodeLseek(unique: bigint, offset: number): Uint8Array {
  const { frame, view } = replyFrame(unique, SIZE.lseekOut);
  view.setBigUint64(SIZE.outHeader, BigInt(offset), true);
  return frame;
}

/** Bytes one fuse_dirent takes: 24-byte header, the name, padded to 8. */
export function direntSize(nameLength: number): number {
  return (SIZE.direntHeader + nameLength + 7) & ~7;
}

/**
 * Builds a READDIR reply of at most `maxSize` payload bytes (the kernel's
 * size). `add` returns false, adding nothing, once the next entry would not fit.
 */
export class DirentWriter {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private used = 0;
  constructor(
    private readonly unique: bigint,
    private readonly maxSize: number,
  ) {
    this.buf = new Uint8Array(SIZE.outHeader + maxSize);
    this.view = new DataView(this.buf.buffer);
  }
  /** `nextOffset`: the offset the kernel passes back to continue after this entry. */
  add(ino: bigint, nextOffset: number, type: number, name: Uint8Array): boolean {
    const size = direntSize(name.length);
    if (this.used + size > this.maxSize) return false;
    const at = SIZE.outHeader + this.used;
    this.view.setBigUint64(at, ino, true);
    this.view.setBigUint64(at + 8, BigInt(nextOffset), true);
    this.view.setUint32(at + 16, name.length, true);
    this.view.setUint32(at + 20, type, true);
    this.buf.set(name, at + 24);
    this.used += size;
    return true;
  }
  get count(): number {
    return this.used;
  }
  finish(): Uint8Array {
    const { frame } = replyFrame(this.unique, this.used);
    frame.set(this.buf.subarray(SIZE.outHeader, SIZE.outHeader + this.used), SIZE.outHeader);
    return frame;
  }
}
