/**
 * The resync's questions to the SECOND and its answers, carried in
 * replication "request" and "response" messages (src/proto/replication.ts)
 * under a request id the asker picks. They serve the ResyncPeer interface
 * (src/replicator/resync-types.ts); ops themselves travel as "op" messages.
 *
 * Requests (kind u8):
 *   1 manifest  under: path (root allowed), flags u8: bit 0 recursive, bit 1
 *               without xattrs (entries say "not read"; only once the link's
 *               feature exchange agreed on listingWithoutXattrs: the previous
 *               release takes 0 or 1 only, src/core/link-features.ts)
 *               -> one "entries" batch per "next" (the first without one), then
 *               "end" (or "error"): the asker pulls, so a slow asker never
 *               makes the SECOND queue a whole tree
 *   2 entry     path (root allowed)           -> "entry"
 *   3 sums      path, blockSize u32 (1..16 MiB), offset u64, count u32
 *               (count x BLOCK_SUM_BYTES <= REPLICATION_MAX_SUMS_BYTES) -> "sums"
 *   4 cancel    (nothing): stop answering this request id (a manifest)
 *   5 control   the mirror's control questions (src/proto/mirror-control.ts)
 *               -> "control" (or "error")
 *   6 next      (nothing): the next batch of this request id's manifest
 *
 * Responses (kind u8):
 *   1 entries   count u16, then that many entries
 *   2 end       (nothing)
 *   3 entry     present u8, then an entry
 *   4 sums      present u8, then size u64, blockSize u32, offset u64,
 *               sums u32 length (a multiple of BLOCK_SUM_BYTES) + bytes
 *   5 error     errno u8 length + ASCII, message u16 length + UTF-8 (0..1024)
 *   6 control   the answerer's copy (src/proto/mirror-control.ts)
 *
 * An entry: path u16 + bytes, type u8 (1 + index in ENTRY_TYPES), mode u32
 * (<= 0o7777), uid u32, gid u32, size u64, mtimeNs i64, rdev u64, ino u64,
 * nlink u32, target u16 + bytes (symlinks only), xattrs: u8 0 (not read) or 1,
 * then count u16 and per xattr name u8 + bytes, value u32 + bytes (<= 65536).
 */
import { ByteDecodeError, type ByteReader, type ByteWriter } from "./bytes.ts";
import { type CopyWire, type MirrorControlAction, readCopy, readMirrorControl, writeCopy, writeMirrorControl } from "./mirror-control.ts";
import { REPLICATION_MAX_XATTR_NAME, REPLICATION_MAX_XATTR_VALUE } from "./replication-op.ts";
import { checkRelPath, MAX_REL_PATH, type RelPath } from "../replicator/ops.ts";
import { BLOCK_SUM_BYTES, type BlockSums, ENTRY_TYPES, type ManifestEntry, type Xattr } from "../replicator/resync-types.ts";

export const REPLICATION_MAX_BLOCK_SIZE = 16 * 1024 * 1024;
/** The most checksum bytes one answer carries (65536 blocks). */
export const REPLICATION_MAX_SUMS_BYTES = 1024 * 1024;
/** Entries per "entries" response; the server also keeps each response under ~256 KiB. */
export const REPLICATION_MAX_ENTRIES = 4096;
export const REPLICATION_MAX_XATTRS = 1024;

export type ResyncRequest =
  | { readonly kind: "manifest"; readonly under: RelPath; readonly recursive: boolean; readonly withoutXattrs?: boolean }
  | { readonly kind: "entry"; readonly path: RelPath }
  | { readonly kind: "sums"; readonly path: RelPath; readonly blockSize: number; readonly offset: number; readonly count: number }
  | { readonly kind: "cancel" }
  | { readonly kind: "next" }
  | { readonly kind: "control"; readonly action: MirrorControlAction; readonly copy: CopyWire };

export type ResyncResponse =
  | { readonly kind: "entries"; readonly entries: readonly ManifestEntry[] }
  | { readonly kind: "end" }
  | { readonly kind: "entry"; readonly entry: ManifestEntry | null }
  | { readonly kind: "sums"; readonly sums: BlockSums | null }
  | { readonly kind: "error"; readonly errno: string; readonly message: string }
  | { readonly kind: "control"; readonly copy: CopyWire };

const MANIFEST_RECURSIVE = 1;
const MANIFEST_WITHOUT_XATTRS = 2;
const REQUEST_KINDS = ["manifest", "entry", "sums", "cancel", "control", "next"] as const;
const RESPONSE_KINDS = ["entries", "end", "entry", "sums", "error", "control"] as const;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MAX_TEXT = 1024;
const ERRNO_NAME = /^[A-Z][A-Z0-9_]{0,31}$/;
const utf8 = new TextEncoder();

function wPath(w: ByteWriter, p: RelPath, what: string): void {
  const why = checkRelPath(p, true);
  if (why !== null) throw new RangeError(`resync message: ${what} is not a valid relative path: ${why}`);
  w.u16(p.length, `resync message: length of ${what}`);
  w.bytes(p);
}

function rPath(r: ByteReader, what: string): RelPath {
  const at = r.offset;
  const p = r.bytesView(r.u16(`length of ${what}`), what).slice();
  const why = checkRelPath(p, true);
  if (why !== null) throw new ByteDecodeError(`${what} at offset ${at} is not a valid relative path: ${why}`, at);
  return p;
}

function wSafe(w: ByteWriter, n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`resync message: ${what} must be an integer in 0..2^53-1, got ${n}`);
  w.u64(BigInt(n), `resync message: ${what}`);
}

function rSafe(r: ByteReader, what: string): number {
  const at = r.offset;
  const v = r.u64(what);
  if (v > MAX_SAFE) throw new ByteDecodeError(`${what} at offset ${at} is ${v}; the limit is 2^53-1`, at);
  return Number(v);
}

function rBounded(r: ByteReader, n: number, min: number, max: number, at: number, what: string): number {
  if (n < min || n > max) throw new ByteDecodeError(`${what} at offset ${at} is ${n}; expected ${min}..${max}`, at);
  return n;
}

function writeEntry(w: ByteWriter, e: ManifestEntry): void {
  wPath(w, e.path, "entry path");
  w.u8(ENTRY_TYPES.indexOf(e.type) + 1, "resync message: entry type");
  if (!Number.isInteger(e.mode) || e.mode < 0 || e.mode > 0o7777) throw new RangeError(`resync message: entry mode must be in 0..0o7777, got ${e.mode}`);
  w.u32(e.mode, "resync message: entry mode");
  w.u32(e.uid, "resync message: uid");
  w.u32(e.gid, "resync message: gid");
  wSafe(w, e.size, "size");
  w.u64(BigInt.asUintN(64, e.mtimeNs), "resync message: mtime");
  wSafe(w, e.rdev, "rdev");
  w.u64(BigInt.asUintN(64, e.ino), "resync message: ino");
  w.u32(e.nlink, "resync message: nlink");
  const target = e.target ?? new Uint8Array(0);
  if (target.length > MAX_REL_PATH) throw new RangeError(`resync message: symlink target of ${target.length} bytes`);
  w.u16(target.length, "resync message: length of target");
  w.bytes(target);
  if (e.xattrs === undefined) {
    w.u8(0, "resync message: xattrs read");
    return;
  }
  w.u8(1, "resync message: xattrs read");
  if (e.xattrs.length > REPLICATION_MAX_XATTRS) throw new RangeError(`resync message: ${e.xattrs.length} xattrs; the limit is ${REPLICATION_MAX_XATTRS}`);
  w.u16(e.xattrs.length, "resync message: xattr count");
  for (const x of e.xattrs) {
    if (x.name.length === 0 || x.name.length > REPLICATION_MAX_XATTR_NAME) throw new RangeError(`resync message: xattr name of ${x.name.length} bytes`);
    if (x.value.length > REPLICATION_MAX_XATTR_VALUE) throw new RangeError(`resync message: xattr value of ${x.value.length} bytes`);
    w.u8(x.name.length, "resync message: length of xattr name");
    w.bytes(x.name);
    w.u32(x.value.length, "resync message: length of xattr value");
    w.bytes(x.value);
  }
}

function readEntry(r: ByteReader): ManifestEntry {
  const path = rPath(r, "entry path");
  const tAt = r.offset;
  const type = ENTRY_TYPES[r.u8("entry type") - 1];
  if (type === undefined) throw new ByteDecodeError(`entry type at offset ${tAt} is unknown`, tAt);
  const mAt = r.offset;
  const mode = rBounded(r, r.u32("entry mode"), 0, 0o7777, mAt, "entry mode");
  const uid = r.u32("uid");
  const gid = r.u32("gid");
  const size = rSafe(r, "size");
  const mtimeNs = BigInt.asIntN(64, r.u64("mtime"));
  const rdev = rSafe(r, "rdev");
  const ino = r.u64("ino");
  const nlink = r.u32("nlink");
  const lAt = r.offset;
  const tlen = rBounded(r, r.u16("length of target"), 0, MAX_REL_PATH, lAt, "length of target");
  const target = r.bytesView(tlen, "target").slice();
  if ((type === "symlink") !== tlen > 0) throw new ByteDecodeError(`target at offset ${lAt}: only a symlink has one, and it is never empty`, lAt);
  const base = { path, type, mode, uid, gid, size, mtimeNs, rdev, ino, nlink };
  const withTarget = type === "symlink" ? { ...base, target } : base;
  const xAt = r.offset;
  const hasX = rBounded(r, r.u8("xattrs read"), 0, 1, xAt, "xattrs read");
  if (hasX === 0) return withTarget;
  const cAt = r.offset;
  const count = rBounded(r, r.u16("xattr count"), 0, REPLICATION_MAX_XATTRS, cAt, "xattr count");
  const xattrs: Xattr[] = [];
  for (let i = 0; i < count; i++) {
    const nAt = r.offset;
    const name = r.bytesView(rBounded(r, r.u8("length of xattr name"), 1, REPLICATION_MAX_XATTR_NAME, nAt, "length of xattr name"), "xattr name").slice();
    const vAt = r.offset;
    const value = r.bytesView(rBounded(r, r.u32("length of xattr value"), 0, REPLICATION_MAX_XATTR_VALUE, vAt, "length of xattr value"), "xattr value").slice();
    xattrs.push({ name, value });
  }
  return { ...withTarget, xattrs };
}

export function writeResyncRequest(w: ByteWriter, q: ResyncRequest): void {
  w.u8(REQUEST_KINDS.indexOf(q.kind) + 1, "resync message: request kind");
  switch (q.kind) {
    case "manifest":
      wPath(w, q.under, "manifest root");
      w.u8((q.recursive ? MANIFEST_RECURSIVE : 0) | (q.withoutXattrs === true ? MANIFEST_WITHOUT_XATTRS : 0), "resync message: manifest flags");
      return;
    case "entry":
      wPath(w, q.path, "entry path");
      return;
    case "sums":
      wPath(w, q.path, "sums path");
      if (!Number.isInteger(q.blockSize) || q.blockSize < 1 || q.blockSize > REPLICATION_MAX_BLOCK_SIZE) throw new RangeError(`resync message: block size ${q.blockSize} is not in 1..${REPLICATION_MAX_BLOCK_SIZE}`);
      w.u32(q.blockSize, "resync message: block size");
      wSafe(w, q.offset, "sums offset");
      if (!Number.isInteger(q.count) || q.count < 0 || q.count * BLOCK_SUM_BYTES > REPLICATION_MAX_SUMS_BYTES) throw new RangeError(`resync message: block count ${q.count} is out of range`);
      w.u32(q.count, "resync message: block count");
      return;
    case "cancel":
    case "next":
      return;
    case "control":
      writeMirrorControl(w, q.action, q.copy);
      return;
  }
}

export function readResyncRequest(r: ByteReader): ResyncRequest {
  const at = r.offset;
  const kind = REQUEST_KINDS[r.u8("request kind") - 1];
  if (kind === undefined) throw new ByteDecodeError(`request kind at offset ${at} is unknown; expected 1..${REQUEST_KINDS.length}`, at);
  switch (kind) {
    case "manifest": {
      const under = rPath(r, "manifest root");
      const fAt = r.offset;
      const flags = rBounded(r, r.u8("manifest flags"), 0, MANIFEST_RECURSIVE | MANIFEST_WITHOUT_XATTRS, fAt, "manifest flags");
      const recursive = (flags & MANIFEST_RECURSIVE) !== 0;
      return (flags & MANIFEST_WITHOUT_XATTRS) === 0 ? { kind, under, recursive } : { kind, under, recursive, withoutXattrs: true };
    }
    case "entry":
      return { kind, path: rPath(r, "entry path") };
    case "sums": {
      const path = rPath(r, "sums path");
      const bAt = r.offset;
      const blockSize = rBounded(r, r.u32("block size"), 1, REPLICATION_MAX_BLOCK_SIZE, bAt, "block size");
      const offset = rSafe(r, "sums offset");
      const cAt = r.offset;
      const count = rBounded(r, r.u32("block count"), 0, REPLICATION_MAX_SUMS_BYTES / BLOCK_SUM_BYTES, cAt, "block count");
      return { kind, path, blockSize, offset, count };
    }
    case "cancel":
    case "next":
      return { kind };
    case "control":
      return { kind, ...readMirrorControl(r) };
  }
}

export function writeResyncResponse(w: ByteWriter, s: ResyncResponse): void {
  w.u8(RESPONSE_KINDS.indexOf(s.kind) + 1, "resync message: response kind");
  switch (s.kind) {
    case "entries":
      if (s.entries.length > REPLICATION_MAX_ENTRIES) throw new RangeError(`resync message: ${s.entries.length} entries; the limit is ${REPLICATION_MAX_ENTRIES}`);
      w.u16(s.entries.length, "resync message: entry count");
      for (const e of s.entries) writeEntry(w, e);
      return;
    case "end":
      return;
    case "entry":
      w.u8(s.entry === null ? 0 : 1, "resync message: entry present");
      if (s.entry !== null) writeEntry(w, s.entry);
      return;
    case "sums":
      w.u8(s.sums === null ? 0 : 1, "resync message: sums present");
      if (s.sums === null) return;
      wSafe(w, s.sums.size, "file size");
      w.u32(s.sums.blockSize, "resync message: block size");
      wSafe(w, s.sums.offset, "sums offset");
      if (s.sums.sums.length % BLOCK_SUM_BYTES !== 0 || s.sums.sums.length > REPLICATION_MAX_SUMS_BYTES) throw new RangeError(`resync message: ${s.sums.sums.length} sum bytes`);
      w.u32(s.sums.sums.length, "resync message: length of sums");
      w.bytes(s.sums.sums);
      return;
    case "error": {
      w.utf8WithU8Length(ERRNO_NAME.test(s.errno) ? s.errno : "EUNKNOWN", 32, "resync message: errno");
      let text = s.message;
      while (utf8.encode(text).length > MAX_TEXT) text = text.slice(0, -1);
      const raw = utf8.encode(text);
      w.u16(raw.length, "resync message: length of message");
      w.bytes(raw);
      return;
    }
    case "control":
      writeCopy(w, s.copy);
      return;
  }
}

export function readResyncResponse(r: ByteReader): ResyncResponse {
  const at = r.offset;
  const kind = RESPONSE_KINDS[r.u8("response kind") - 1];
  if (kind === undefined) throw new ByteDecodeError(`response kind at offset ${at} is unknown; expected 1..${RESPONSE_KINDS.length}`, at);
  switch (kind) {
    case "entries": {
      const cAt = r.offset;
      const count = rBounded(r, r.u16("entry count"), 0, REPLICATION_MAX_ENTRIES, cAt, "entry count");
      const entries: ManifestEntry[] = [];
      for (let i = 0; i < count; i++) entries.push(readEntry(r));
      return { kind, entries };
    }
    case "end":
      return { kind };
    case "entry": {
      const pAt = r.offset;
      return { kind, entry: rBounded(r, r.u8("entry present"), 0, 1, pAt, "entry present") === 1 ? readEntry(r) : null };
    }
    case "sums": {
      const pAt = r.offset;
      if (rBounded(r, r.u8("sums present"), 0, 1, pAt, "sums present") === 0) return { kind, sums: null };
      const size = rSafe(r, "file size");
      const bAt = r.offset;
      const blockSize = rBounded(r, r.u32("block size"), 1, REPLICATION_MAX_BLOCK_SIZE, bAt, "block size");
      const offset = rSafe(r, "sums offset");
      const lAt = r.offset;
      const n = rBounded(r, r.u32("length of sums"), 0, REPLICATION_MAX_SUMS_BYTES, lAt, "length of sums");
      if (n % BLOCK_SUM_BYTES !== 0) throw new ByteDecodeError(`length of sums at offset ${lAt} is ${n}, not a multiple of ${BLOCK_SUM_BYTES}`, lAt);
      return { kind, sums: { size, blockSize, offset, sums: r.bytesView(n, "sums").slice() } };
    }
    case "error": {
      const eAt = r.offset;
      const errno = r.utf8WithU8Length("errno");
      if (!ERRNO_NAME.test(errno)) throw new ByteDecodeError(`errno at offset ${eAt} is not an errno name`, eAt);
      const mAt = r.offset;
      const n = rBounded(r, r.u16("length of message"), 0, MAX_TEXT, mAt, "length of message");
      return { kind, errno, message: r.utf8(n, "message") };
    }
    case "control":
      return { kind, copy: readCopy(r) };
  }
}
