/**
 * The journal file's format: an 8-byte magic, then records, each framed as
 *   u32 payload length | u32 CRC-32 of the payload | payload
 * (little endian). A record is valid only when whole and its CRC matches; the
 * first invalid record ends the journal (a torn tail from a crash), and what
 * follows it is never trusted.
 *
 * A journal that could not grow (full state dir) is "lost": its magic is
 * overwritten in place by JOURNAL_LOST_MAGIC (no new block needed) and its
 * records no longer count: the resync compares every file. An older release
 * knows only JOURNAL_MAGIC, so it reads a lost journal as unreadable, which
 * also means a full compare.
 */

import { MAX_REL_PATH } from "./ops.ts";
import type { DirtyRecord } from "./journal-dirty.ts";

export const JOURNAL_MAGIC = new TextEncoder().encode("VIGILJ01");
export const JOURNAL_LOST_MAGIC = new TextEncoder().encode("VIGILJLS");
const FRAME = 8;
const MAX_PAYLOAD = 1 + 2 * (2 + MAX_REL_PATH) + 16;

const KIND = { path: 1, tree: 2, blocks: 3, whole: 4, trunc: 5, rename: 6, unlink: 7, full: 8, dir: 9 } as const;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

class Out {
  private buf = new Uint8Array(64);
  private view = new DataView(this.buf.buffer);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    bigger.set(this.buf.subarray(0, this.len));
    this.buf = bigger;
    this.view = new DataView(bigger.buffer);
  }
  u8(v: number): void {
    this.room(1);
    this.view.setUint8(this.len, v);
    this.len += 1;
  }
  u16(v: number): void {
    this.room(2);
    this.view.setUint16(this.len, v, true);
    this.len += 2;
  }
  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.len, v, true);
    this.len += 4;
  }
  u64(v: number): void {
    this.u32(v % 0x100000000);
    this.u32(Math.floor(v / 0x100000000));
  }
  bytes(b: Uint8Array): void {
    this.u16(b.length);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function payloadOf(r: DirtyRecord): Uint8Array {
  const o = new Out();
  o.u8(KIND[r.kind]);
  switch (r.kind) {
    case "path":
    case "tree":
    case "whole":
    case "unlink":
      o.bytes(r.path);
      break;
    case "blocks":
      o.bytes(r.path);
      o.u64(r.first);
      o.u32(r.count);
      break;
    case "trunc":
      o.bytes(r.path);
      o.u64(r.size);
      break;
    case "rename":
      o.bytes(r.from);
      o.bytes(r.to);
      o.u8(r.exchange ? 1 : 0);
      break;
    case "dir":
      o.bytes(r.path);
      o.u32(Number(BigInt.asUintN(64, r.sinceNs) & 0xffffffffn));
      o.u32(Number(BigInt.asUintN(64, r.sinceNs) >> 32n));
      break;
    case "full":
      o.bytes(new TextEncoder().encode(r.reason).subarray(0, MAX_REL_PATH));
      break;
  }
  return o.done();
}

/** One record, framed, ready to append. */
export function encodeRecord(r: DirtyRecord): Uint8Array {
  const payload = payloadOf(r);
  const out = new Uint8Array(FRAME + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, payload.length, true);
  v.setUint32(4, crc32(payload), true);
  out.set(payload, FRAME);
  return out;
}

class In {
  at = 0;
  private readonly view: DataView;
  constructor(private readonly b: Uint8Array) {
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  private need(n: number): void {
    if (this.at + n > this.b.length) throw new RangeError("short");
  }
  u8(): number {
    this.need(1);
    return this.view.getUint8(this.at++);
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.at, true);
    this.at += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  u64(): number {
    const lo = this.u32();
    return lo + this.u32() * 0x100000000;
  }
  bytes(): Uint8Array {
    const n = this.u16();
    this.need(n);
    const out = this.b.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }
}

function decodePayload(p: Uint8Array): DirtyRecord | null {
  const i = new In(p);
  try {
    const kind = i.u8();
    let r: DirtyRecord;
    switch (kind) {
      case KIND.path: r = { kind: "path", path: i.bytes() }; break;
      case KIND.tree: r = { kind: "tree", path: i.bytes() }; break;
      case KIND.whole: r = { kind: "whole", path: i.bytes() }; break;
      case KIND.unlink: r = { kind: "unlink", path: i.bytes() }; break;
      case KIND.blocks: r = { kind: "blocks", path: i.bytes(), first: i.u64(), count: i.u32() }; break;
      case KIND.trunc: r = { kind: "trunc", path: i.bytes(), size: i.u64() }; break;
      case KIND.rename: r = { kind: "rename", from: i.bytes(), to: i.bytes(), exchange: i.u8() === 1 }; break;
      case KIND.dir: {
        const path = i.bytes();
        const lo = BigInt(i.u32());
        r = { kind: "dir", path, sinceNs: BigInt.asIntN(64, lo | (BigInt(i.u32()) << 32n)) };
        break;
      }
      case KIND.full: r = { kind: "full", reason: new TextDecoder().decode(i.bytes()) }; break;
      default: return null;
    }
    return i.at === p.length ? r : null;
  } catch {
    return null;
  }
}

export interface DecodedJournal {
  readonly records: DirtyRecord[];
  /** Bytes of the file that hold valid data (magic and whole records); the rest is a torn tail. */
  readonly validLength: number;
  readonly magicOk: boolean;
  /** The journal was lost (JOURNAL_LOST_MAGIC): no record counts, everything is compared. */
  readonly lost: boolean;
}

/** All complete, intact records of a journal file's bytes. */
export function decodeJournal(bytes: Uint8Array): DecodedJournal {
  if (bytes.length >= JOURNAL_LOST_MAGIC.length && JOURNAL_LOST_MAGIC.every((b, i) => bytes[i] === b)) return { records: [], validLength: bytes.length, magicOk: true, lost: true };
  if (bytes.length < JOURNAL_MAGIC.length || JOURNAL_MAGIC.some((b, i) => bytes[i] !== b)) return { records: [], validLength: 0, magicOk: false, lost: false };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: DirtyRecord[] = [];
  let at = JOURNAL_MAGIC.length;
  while (at + FRAME <= bytes.length) {
    const len = view.getUint32(at, true);
    if (len === 0 || len > MAX_PAYLOAD || at + FRAME + len > bytes.length) break;
    const payload = bytes.subarray(at + FRAME, at + FRAME + len);
    if (crc32(payload) !== view.getUint32(at + 4, true)) break;
    const r = decodePayload(payload);
    if (r === null) break;
    records.push(r);
    at += FRAME + len;
  }
  return { records, validLength: at, magicOk: true, lost: false };
}
