/**
 * Binary form of one MirrorOp (src/replicator/ops.ts) inside a replication
 * message. Big-endian; every op starts with its kind (u8, 1 + its index in
 * MIRROR_OP_NAMES), then its fields in the order of the type:
 *
 *   path, from, to, existing   u16 length + raw bytes, checked by checkRelPath
 *                              (the root, length 0, only where ops.ts allows it)
 *   offset, size, length, rdev u64, at most 2^53-1
 *   atimeNs, mtimeNs           i64 nanoseconds since the epoch (before 1970 is negative)
 *   mode, uid, gid, flags      u32
 *   data                       u32 length (at most REPLICATION_MAX_DATA) + bytes
 *   target                     u16 length (1..4095, no NUL) + bytes
 *   xattr name                 u8 length (1..255, no NUL) + bytes
 *   xattr value                u32 length (at most 65536) + bytes
 *   dataOnly                   u8 0 or 1
 *   fsync path                 u8 0 (whole copy) or 1, then a path
 *
 * A namespace op that carries `times` (ops.ts) has TIMES_FLAG set in its
 * kind byte, and its fields are followed by u8 n (1..MAX_OP_TIMES), then n
 * times: a path (the root allowed), atimeNs, mtimeNs. A reader that does not
 * know the flag rejects the kind as unknown, so it never applies half an op.
 *
 * The reader checks every value the applier relies on (path rules, flag
 * sets, mode bits), so a decoded op is always one the applier may try.
 */
import { ByteDecodeError, type ByteReader, type ByteWriter } from "./bytes.ts";
import { checkRelPath, MAX_OP_TIMES, MAX_REL_PATH, MIRROR_OP_NAMES, type MirrorOp, type MirrorOpName, type OpTimes, type RelPath, TIMED_OP_NAMES, timesOf } from "../replicator/ops.ts";

/** The most bytes one write op carries: FUSE's negotiated max_write. */
export const REPLICATION_MAX_DATA = 1024 * 1024;
/** Linux XATTR_NAME_MAX and XATTR_SIZE_MAX. */
export const REPLICATION_MAX_XATTR_NAME = 255;
export const REPLICATION_MAX_XATTR_VALUE = 65536;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

const S_IFMT = 0o170000;
/** Types mknod may create: FIFO, char device, block device, regular file, socket. */
const MKNOD_TYPES = new Set([0o010000, 0o020000, 0o060000, 0o100000, 0o140000]);
/** FALLOC_FL_KEEP_SIZE | PUNCH_HOLE | NO_HIDE_STALE | COLLAPSE_RANGE | ZERO_RANGE | INSERT_RANGE | UNSHARE_RANGE. */
const FALLOC_KNOWN = 0x7f;

const codeOf = (name: MirrorOpName): number => MIRROR_OP_NAMES.indexOf(name) + 1;
/** In the kind byte: the op's fields are followed by folded times. */
export const TIMES_FLAG = 0x80;

// ---- writing -------------------------------------------------------------

function bad(what: string, why: string): RangeError {
  return new RangeError(`replication op: ${what} ${why}`);
}

function wPath(w: ByteWriter, p: RelPath, allowRoot: boolean, what: string): void {
  const why = checkRelPath(p, allowRoot);
  if (why !== null) throw bad(what, `is not a valid relative path: ${why}`);
  w.u16(p.length, `replication op: length of ${what}`);
  w.bytes(p);
}

function wSafe(w: ByteWriter, n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw bad(what, `must be an integer in 0..2^53-1, got ${n}`);
  w.u64(BigInt(n), `replication op: ${what}`);
}

function wTime(w: ByteWriter, ns: bigint, what: string): void {
  if (ns < I64_MIN || ns > I64_MAX) throw bad(what, `must fit in a signed 64-bit integer, got ${ns}`);
  w.u64(BigInt.asUintN(64, ns), `replication op: ${what}`);
}

function wU32(w: ByteWriter, n: number, what: string): void {
  w.u32(n, `replication op: ${what}`);
}

function wMode(w: ByteWriter, mode: number, what: string): void {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw bad(what, `must be permission bits in 0..0o7777, got ${mode}`);
  w.u32(mode, `replication op: ${what}`);
}

function wOneOf(w: ByteWriter, n: number, allowed: readonly number[], what: string): void {
  if (!allowed.includes(n)) throw bad(what, `must be one of ${allowed.join(", ")}, got ${n}`);
  w.u32(n, `replication op: ${what}`);
}

function wXattrName(w: ByteWriter, name: Uint8Array): void {
  if (name.length === 0 || name.length > REPLICATION_MAX_XATTR_NAME || name.includes(0)) {
    throw bad("xattr name", `must be 1..${REPLICATION_MAX_XATTR_NAME} bytes without NUL, got ${name.length} bytes`);
  }
  w.u8(name.length, "replication op: length of xattr name");
  w.bytes(name);
}

/**
 * Appends `op`; throws RangeError when the op breaks the rules of ops.ts (a
 * bug of the producer). `withData` false leaves out a write's data bytes,
 * which end the op (the caller sends them after it: encodeReplicationParts).
 */
export function writeMirrorOp(w: ByteWriter, op: MirrorOp, withData = true): void {
  const times = timesOf(op);
  if (times !== undefined && (times.length === 0 || times.length > MAX_OP_TIMES)) throw bad("times", `must be 1..${MAX_OP_TIMES} entries, got ${times.length}`);
  w.u8(codeOf(op.op) | (times === undefined ? 0 : TIMES_FLAG), "replication op: kind");
  writeFields(w, op, withData);
  if (times === undefined) return;
  w.u8(times.length, "replication op: count of times");
  for (const t of times) {
    wPath(w, t.path, true, "times path");
    wTime(w, t.atimeNs, "times atime");
    wTime(w, t.mtimeNs, "times mtime");
  }
}

function writeFields(w: ByteWriter, op: MirrorOp, withData: boolean): void {
  switch (op.op) {
    case "write":
      if (op.data.length > REPLICATION_MAX_DATA) throw bad("write data", `is ${op.data.length} bytes; the limit is ${REPLICATION_MAX_DATA}`);
      wPath(w, op.path, false, "path");
      wSafe(w, op.offset, "offset");
      if (op.offset + op.data.length > Number.MAX_SAFE_INTEGER) throw bad("write", "ends past 2^53-1");
      wTime(w, op.mtimeNs, "mtime");
      w.u32(op.data.length, "replication op: length of write data");
      if (withData) w.bytes(op.data);
      return;
    case "truncate":
      wPath(w, op.path, false, "path");
      wSafe(w, op.size, "size");
      wTime(w, op.mtimeNs, "mtime");
      return;
    case "create":
    case "mkdir":
      wPath(w, op.path, false, "path");
      wMode(w, op.mode, "mode");
      wU32(w, op.uid, "uid");
      wU32(w, op.gid, "gid");
      return;
    case "mknod":
      wPath(w, op.path, false, "path");
      if (!Number.isInteger(op.mode) || op.mode < 0 || op.mode > 0o177777 || !MKNOD_TYPES.has(op.mode & S_IFMT)) {
        throw bad("mknod mode", `must be a file type (FIFO, socket, char or block device, regular) plus permission bits, got 0o${op.mode.toString(8)}`);
      }
      wU32(w, op.mode, "mode");
      wSafe(w, op.rdev, "rdev");
      wU32(w, op.uid, "uid");
      wU32(w, op.gid, "gid");
      return;
    case "symlink":
      wPath(w, op.path, false, "path");
      if (op.target.length === 0 || op.target.length > MAX_REL_PATH || op.target.includes(0)) {
        throw bad("symlink target", `must be 1..${MAX_REL_PATH} bytes without NUL, got ${op.target.length} bytes`);
      }
      w.u16(op.target.length, "replication op: length of symlink target");
      w.bytes(op.target);
      wU32(w, op.uid, "uid");
      wU32(w, op.gid, "gid");
      return;
    case "link":
      wPath(w, op.existing, false, "existing path");
      wPath(w, op.path, false, "path");
      return;
    case "unlink":
    case "rmdir":
      wPath(w, op.path, false, "path");
      return;
    case "rename":
      wPath(w, op.from, false, "from path");
      wPath(w, op.to, false, "to path");
      wOneOf(w, op.flags, [0, 1, 2], "rename flags");
      return;
    case "chmod":
      wPath(w, op.path, true, "path");
      wMode(w, op.mode, "mode");
      return;
    case "chown":
      wPath(w, op.path, true, "path");
      wU32(w, op.uid, "uid");
      wU32(w, op.gid, "gid");
      return;
    case "utimes":
      wPath(w, op.path, true, "path");
      wTime(w, op.atimeNs, "atime");
      wTime(w, op.mtimeNs, "mtime");
      return;
    case "fallocate":
      wPath(w, op.path, false, "path");
      if (!Number.isInteger(op.mode) || op.mode < 0 || (op.mode & ~FALLOC_KNOWN) !== 0) throw bad("fallocate mode", `has unknown bits: 0x${op.mode.toString(16)}`);
      wU32(w, op.mode, "fallocate mode");
      wSafe(w, op.offset, "offset");
      wSafe(w, op.length, "length");
      wTime(w, op.mtimeNs, "mtime");
      return;
    case "setxattr":
      wPath(w, op.path, true, "path");
      wXattrName(w, op.name);
      if (op.value.length > REPLICATION_MAX_XATTR_VALUE) throw bad("xattr value", `is ${op.value.length} bytes; the limit is ${REPLICATION_MAX_XATTR_VALUE}`);
      w.u32(op.value.length, "replication op: length of xattr value");
      w.bytes(op.value);
      wOneOf(w, op.flags, [0, 1, 2], "setxattr flags");
      return;
    case "removexattr":
      wPath(w, op.path, true, "path");
      wXattrName(w, op.name);
      return;
    case "fsync":
      if (op.path === null) {
        w.u8(0, "replication op: fsync scope");
      } else {
        w.u8(1, "replication op: fsync scope");
        wPath(w, op.path, true, "path");
      }
      w.u8(op.dataOnly ? 1 : 0, "replication op: dataOnly");
      return;
  }
}

// ---- reading -------------------------------------------------------------

function fail(at: number, message: string): ByteDecodeError {
  return new ByteDecodeError(`${message} (at offset ${at})`, at);
}

// Copies rather than views: an op outlives the receive buffer it came in.
function rPath(r: ByteReader, allowRoot: boolean, what: string): RelPath {
  const at = r.offset;
  const n = r.u16(`length of ${what}`);
  const p = r.bytesView(n, what).slice();
  const why = checkRelPath(p, allowRoot);
  if (why !== null) throw fail(at, `${what} is not a valid relative path: ${why}`);
  return p;
}

function rSafe(r: ByteReader, what: string): number {
  const at = r.offset;
  const v = r.u64(what);
  if (v > MAX_SAFE) throw fail(at, `${what} is ${v}; the limit is 2^53-1`);
  return Number(v);
}

function rTime(r: ByteReader, what: string): bigint {
  return BigInt.asIntN(64, r.u64(what));
}

function rMode(r: ByteReader, what: string): number {
  const at = r.offset;
  const m = r.u32(what);
  if (m > 0o7777) throw fail(at, `${what} 0o${m.toString(8)} has bits beyond 0o7777`);
  return m;
}

function rOneOf(r: ByteReader, allowed: readonly number[], what: string): number {
  const at = r.offset;
  const n = r.u32(what);
  if (!allowed.includes(n)) throw fail(at, `${what} is ${n}; expected one of ${allowed.join(", ")}`);
  return n;
}

function rXattrName(r: ByteReader): Uint8Array {
  const at = r.offset;
  const n = r.u8("length of xattr name");
  const name = r.bytesView(n, "xattr name").slice();
  if (n === 0 || name.includes(0)) throw fail(at, "xattr name is empty or contains NUL");
  return name;
}

/** Reads one op; throws only ByteDecodeError. */
export function readMirrorOp(r: ByteReader): MirrorOp {
  const at = r.offset;
  const byte = r.u8("op kind");
  const code = byte & ~TIMES_FLAG;
  const name = MIRROR_OP_NAMES[code - 1];
  if (name === undefined) throw fail(at, `op kind ${code} is unknown; expected 1..${MIRROR_OP_NAMES.length}`);
  if ((byte & TIMES_FLAG) !== 0 && !TIMED_OP_NAMES.has(name)) throw fail(at, `op kind ${name} carries no times`);
  const op = readFields(r, name);
  if ((byte & TIMES_FLAG) === 0) return op;
  const nAt = r.offset;
  const n = r.u8("count of times");
  if (n === 0 || n > MAX_OP_TIMES) throw fail(nAt, `count of times is ${n}; expected 1..${MAX_OP_TIMES}`);
  const times: OpTimes[] = [];
  for (let i = 0; i < n; i++) times.push({ path: rPath(r, true, "times path"), atimeNs: rTime(r, "times atime"), mtimeNs: rTime(r, "times mtime") });
  return { ...op, times } as MirrorOp;
}

function readFields(r: ByteReader, name: MirrorOpName): MirrorOp {
  switch (name) {
    case "write": {
      const path = rPath(r, false, "path");
      const offset = rSafe(r, "offset");
      const mtimeNs = rTime(r, "mtime");
      const lenAt = r.offset;
      const n = r.u32("length of write data");
      if (n > REPLICATION_MAX_DATA) throw fail(lenAt, `write data is ${n} bytes; the limit is ${REPLICATION_MAX_DATA}`);
      if (offset + n > Number.MAX_SAFE_INTEGER) throw fail(lenAt, "write ends past 2^53-1");
      return { op: name, path, offset, data: r.bytesView(n, "write data").slice(), mtimeNs };
    }
    case "truncate":
      return { op: name, path: rPath(r, false, "path"), size: rSafe(r, "size"), mtimeNs: rTime(r, "mtime") };
    case "create":
    case "mkdir":
      return { op: name, path: rPath(r, false, "path"), mode: rMode(r, "mode"), uid: r.u32("uid"), gid: r.u32("gid") };
    case "mknod": {
      const path = rPath(r, false, "path");
      const modeAt = r.offset;
      const mode = r.u32("mode");
      if (mode > 0o177777 || !MKNOD_TYPES.has(mode & S_IFMT)) throw fail(modeAt, `mknod mode 0o${mode.toString(8)} is not a file type mknod creates`);
      return { op: name, path, mode, rdev: rSafe(r, "rdev"), uid: r.u32("uid"), gid: r.u32("gid") };
    }
    case "symlink": {
      const path = rPath(r, false, "path");
      const tAt = r.offset;
      const n = r.u16("length of symlink target");
      const target = r.bytesView(n, "symlink target").slice();
      if (n === 0 || n > MAX_REL_PATH || target.includes(0)) throw fail(tAt, `symlink target must be 1..${MAX_REL_PATH} bytes without NUL`);
      return { op: name, path, target, uid: r.u32("uid"), gid: r.u32("gid") };
    }
    case "link":
      return { op: name, existing: rPath(r, false, "existing path"), path: rPath(r, false, "path") };
    case "unlink":
    case "rmdir":
      return { op: name, path: rPath(r, false, "path") };
    case "rename":
      return { op: name, from: rPath(r, false, "from path"), to: rPath(r, false, "to path"), flags: rOneOf(r, [0, 1, 2], "rename flags") };
    case "chmod":
      return { op: name, path: rPath(r, true, "path"), mode: rMode(r, "mode") };
    case "chown":
      return { op: name, path: rPath(r, true, "path"), uid: r.u32("uid"), gid: r.u32("gid") };
    case "utimes":
      return { op: name, path: rPath(r, true, "path"), atimeNs: rTime(r, "atime"), mtimeNs: rTime(r, "mtime") };
    case "fallocate": {
      const path = rPath(r, false, "path");
      const modeAt = r.offset;
      const mode = r.u32("fallocate mode");
      if ((mode & ~FALLOC_KNOWN) !== 0) throw fail(modeAt, `fallocate mode 0x${mode.toString(16)} has unknown bits`);
      return { op: name, path, mode, offset: rSafe(r, "offset"), length: rSafe(r, "length"), mtimeNs: rTime(r, "mtime") };
    }
    case "setxattr": {
      const path = rPath(r, true, "path");
      const xname = rXattrName(r);
      const vAt = r.offset;
      const n = r.u32("length of xattr value");
      if (n > REPLICATION_MAX_XATTR_VALUE) throw fail(vAt, `xattr value is ${n} bytes; the limit is ${REPLICATION_MAX_XATTR_VALUE}`);
      const value = r.bytesView(n, "xattr value").slice();
      return { op: name, path, name: xname, value, flags: rOneOf(r, [0, 1, 2], "setxattr flags") };
    }
    case "removexattr":
      return { op: name, path: rPath(r, true, "path"), name: rXattrName(r) };
    case "fsync": {
      const sAt = r.offset;
      const scope = r.u8("fsync scope");
      if (scope > 1) throw fail(sAt, `fsync scope is ${scope}; expected 0 (whole copy) or 1 (a path)`);
      const path = scope === 1 ? rPath(r, true, "path") : null;
      const dAt = r.offset;
      const d = r.u8("dataOnly");
      if (d > 1) throw fail(dAt, `dataOnly is ${d}; expected 0 or 1`);
      return { op: name, path, dataOnly: d === 1 };
    }
  }
}
