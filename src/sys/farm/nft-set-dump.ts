/**
 * A set's elements read from the kernel over nf_tables netlink: the
 * GETSETELEM dump request, and the decoder of the kernel's replies.
 *
 * The request is one message, NLM_F_DUMP, naming the table and the set. The
 * kernel answers with NEWSETELEM messages (NLM_F_MULTI), each holding
 * NFTA_SET_ELEM_LIST_ELEMENTS, a nest of NFTA_LIST_ELEM nests, each with
 * the element's KEY and DATA (nests holding NFTA_DATA_VALUE), its TIMEOUT and
 * EXPIRATION (be64 ms) and more we skip; the dump ends with NLMSG_DONE, or
 * an NLMSG_ERROR holding -errno (no such table, say). One recv() gives one
 * datagram of whole messages; the dump may span many.
 *
 * The replies are bytes from outside this process: the decoder returns a
 * typed error naming what and where, and never throws.
 */
import { NLM_F_REQUEST, NLMSG_ERROR } from "../netlink-message.ts";
import {
  NFGENMSG_LEN,
  NFNL_SUBSYS_NFTABLES,
  NFT_MSG_NEWSETELEM,
  NFT_MSG_GETSETELEM,
  NFPROTO_INET,
  NLA_TYPE_MASK,
  NFTA_SET_ELEM_LIST_TABLE,
  NFTA_SET_ELEM_LIST_SET,
  NFTA_SET_ELEM_LIST_ELEMENTS,
  NFTA_LIST_ELEM,
  NFTA_SET_ELEM_KEY,
  NFTA_SET_ELEM_DATA,
  NFTA_SET_ELEM_TIMEOUT,
  NFTA_SET_ELEM_EXPIRATION,
  NFTA_DATA_VALUE,
} from "./nf-tables-abi.ts";

const NLM_F_DUMP = 0x300;
const NLM_F_DUMP_INTR = 0x10;
const NLMSG_DONE = 3;
const NLMSG_HDRLEN = 16;

/** One element as the kernel lists it; `data` for maps only. */
export interface SetElement {
  readonly key: Uint8Array;
  readonly data?: Uint8Array;
  readonly timeoutMs?: number;
  readonly expiresInMs?: number;
}

export type SetDumpErrorKind = "truncated" | "malformed" | "kernel";

/** Why a dump reply could not be used; `errno` for a kernel's refusal. */
export class SetDumpError extends Error {
  constructor(
    readonly kind: SetDumpErrorKind,
    message: string,
    readonly offset: number,
    readonly errno?: number,
  ) {
    super(message);
    this.name = "SetDumpError";
  }
}

/**
 * What one datagram of the reply held: its elements, whether the dump ended
 * in it, and whether the kernel flagged the dump interrupted (the set changed
 * by a transaction meanwhile: read again).
 */
export interface SetDumpChunk {
  readonly elements: SetElement[];
  readonly done: boolean;
  readonly interrupted: boolean;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** The dump request for set `set` of table `inet <table>`. */
export function setDumpRequest(table: string, set: string, seq: number): Uint8Array {
  const enc = new TextEncoder();
  const attrs = [
    [NFTA_SET_ELEM_LIST_TABLE, enc.encode(table)],
    [NFTA_SET_ELEM_LIST_SET, enc.encode(set)],
  ] as const;
  const len = NLMSG_HDRLEN + NFGENMSG_LEN + attrs.reduce((n, [, s]) => n + pad4(4 + s.length + 1), 0);
  const out = new Uint8Array(len);
  const v = new DataView(out.buffer);
  v.setUint32(0, len, true);
  v.setUint16(4, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM, true);
  v.setUint16(6, NLM_F_REQUEST | NLM_F_DUMP, true);
  v.setUint32(8, seq >>> 0, true);
  out[16] = NFPROTO_INET;
  let at = NLMSG_HDRLEN + NFGENMSG_LEN;
  for (const [type, s] of attrs) {
    v.setUint16(at, 4 + s.length + 1, true);
    v.setUint16(at + 2, type, true);
    out.set(s, at + 4);
    at += pad4(4 + s.length + 1);
  }
  return out;
}

interface Attr {
  readonly type: number;
  readonly at: number;
  readonly payload: Uint8Array;
}

/** The attributes in `bytes` (which starts at `base` of the datagram). */
function attrs(bytes: Uint8Array, base: number, what: string): Attr[] | SetDumpError {
  const out: Attr[] = [];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) return new SetDumpError("truncated", `${what}: ${bytes.length - at} bytes at offset ${base + at} are too few for an attribute header`, base + at);
    const len = v.getUint16(at, true);
    if (len < 4 || at + len > bytes.length) return new SetDumpError("malformed", `${what}: attribute at offset ${base + at} gives length ${len}, ${bytes.length - at} bytes left`, base + at);
    out.push({ type: v.getUint16(at + 2, true) & NLA_TYPE_MASK, at: base + at, payload: bytes.subarray(at + 4, at + len) });
    at += pad4(len);
  }
  return out;
}

/** The NFTA_DATA_VALUE inside a KEY or DATA nest. */
function dataValue(a: Attr, what: string): Uint8Array | SetDumpError {
  const inner = attrs(a.payload, a.at + 4, what);
  if (inner instanceof SetDumpError) return inner;
  const value = inner.find((x) => x.type === NFTA_DATA_VALUE);
  if (value === undefined) return new SetDumpError("malformed", `${what} at offset ${a.at} holds no value`, a.at);
  return value.payload;
}

function be64Ms(a: Attr, what: string): number | SetDumpError {
  if (a.payload.length !== 8) return new SetDumpError("malformed", `${what} at offset ${a.at} has ${a.payload.length} bytes, not 8`, a.at);
  return Number(new DataView(a.payload.buffer, a.payload.byteOffset, 8).getBigUint64(0));
}

function element(a: Attr, n: number): SetElement | SetDumpError {
  const what = `element ${n}`;
  const parts = attrs(a.payload, a.at + 4, what);
  if (parts instanceof SetDumpError) return parts;
  let key: Uint8Array | undefined;
  let data: Uint8Array | undefined;
  let timeoutMs: number | undefined;
  let expiresInMs: number | undefined;
  for (const p of parts) {
    if (p.type === NFTA_SET_ELEM_KEY) {
      const k = dataValue(p, `${what}: key`);
      if (k instanceof SetDumpError) return k;
      key = k;
    } else if (p.type === NFTA_SET_ELEM_DATA) {
      const d = dataValue(p, `${what}: data`);
      if (d instanceof SetDumpError) return d;
      data = d;
    } else if (p.type === NFTA_SET_ELEM_TIMEOUT || p.type === NFTA_SET_ELEM_EXPIRATION) {
      const ms = be64Ms(p, `${what}: ${p.type === NFTA_SET_ELEM_TIMEOUT ? "timeout" : "expiration"}`);
      if (ms instanceof SetDumpError) return ms;
      if (p.type === NFTA_SET_ELEM_TIMEOUT) timeoutMs = ms;
      else expiresInMs = ms;
    }
  }
  if (key === undefined) return new SetDumpError("malformed", `${what} at offset ${a.at} has no key`, a.at);
  return { key, ...(data === undefined ? {} : { data }), ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(expiresInMs === undefined ? {} : { expiresInMs }) };
}

/**
 * Decodes one datagram of the kernel's reply to the dump request with
 * sequence number `seq`; messages of other sequence numbers (late answers to
 * something else on the socket) are skipped. The elements do not share
 * memory with `received` (the receive buffer is used again).
 */
export function decodeSetDumpChunk(received: Uint8Array, seq: number): { ok: true; chunk: SetDumpChunk } | { ok: false; error: SetDumpError } {
  // One copy of the datagram, which the elements' keys and values view: a copy per key and value
  // made 131072 buffers for a full map, and their collection held the daemon for tens of ms.
  const bytes = received.slice();
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const elements: SetElement[] = [];
  let done = false;
  let interrupted = false;
  let at = 0;
  while (at < bytes.length) {
    if (at + NLMSG_HDRLEN > bytes.length) return { ok: false, error: new SetDumpError("truncated", `${bytes.length - at} bytes at offset ${at} are too few for a netlink header`, at) };
    const len = v.getUint32(at, true);
    if (len < NLMSG_HDRLEN || at + len > bytes.length) {
      return { ok: false, error: new SetDumpError("malformed", `netlink message at offset ${at} gives length ${len}, ${bytes.length - at} bytes left`, at) };
    }
    const type = v.getUint16(at + 4, true);
    const flags = v.getUint16(at + 6, true);
    const mseq = v.getUint32(at + 8, true);
    const next = at + pad4(len);
    if (mseq !== seq >>> 0) {
      at = next;
      continue;
    }
    if ((flags & NLM_F_DUMP_INTR) !== 0) interrupted = true;
    if (type === NLMSG_ERROR || type === NLMSG_DONE) {
      if (len < NLMSG_HDRLEN + 4) return { ok: false, error: new SetDumpError("truncated", `netlink ${type === NLMSG_DONE ? "done" : "error"} message at offset ${at} has no error code`, at) };
      const err = v.getInt32(at + NLMSG_HDRLEN, true);
      if (err !== 0) return { ok: false, error: new SetDumpError("kernel", `the kernel refused the dump: errno ${-err}`, at, -err) };
      // An acknowledgement of 0 (NLMSG_ERROR) ends a dump too.
      done = true;
      at = next;
      continue;
    }
    if (type !== ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM)) {
      return { ok: false, error: new SetDumpError("malformed", `netlink message at offset ${at} has type 0x${type.toString(16)}, expected a set element list (0xa0c)`, at) };
    }
    if (len < NLMSG_HDRLEN + NFGENMSG_LEN) return { ok: false, error: new SetDumpError("truncated", `set element message at offset ${at} has no nfgenmsg header`, at) };
    const base = at + NLMSG_HDRLEN + NFGENMSG_LEN;
    const top = attrs(bytes.subarray(base, at + len), base, `set element message at offset ${at}`);
    if (top instanceof SetDumpError) return { ok: false, error: top };
    for (const list of top.filter((a) => a.type === NFTA_SET_ELEM_LIST_ELEMENTS)) {
      const items = attrs(list.payload, list.at + 4, `element list at offset ${list.at}`);
      if (items instanceof SetDumpError) return { ok: false, error: items };
      for (const item of items) {
        if (item.type !== NFTA_LIST_ELEM) continue;
        const e = element(item, elements.length);
        if (e instanceof SetDumpError) return { ok: false, error: e };
        elements.push(e);
      }
    }
    at = next;
  }
  return { ok: true, chunk: { elements, done, interrupted } };
}
