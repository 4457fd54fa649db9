/**
 * Replication messages: what the PRIM and the SECOND say to each other once
 * the link's handshake is done (src/proto/replication-handshake.ts). Each
 * message is the plaintext of one sealed record; the record layer already
 * authenticated it, so this codec only has to reject what is malformed.
 *
 * Layout (version 1, big-endian): type u8, then by type:
 *
 *   1 ready     (nothing)        the SECOND accepted the session and will apply
 *   2 ping      id u32           liveness; the other side answers with pong
 *   3 pong      id u32
 *   4 op        seq u64 (<= 2^53-1), one MirrorOp (src/proto/replication-op.ts)
 *   5 ack       seq u64, result u8 (0 ok, 1 refused, 2 failed, 3 inconsistent,
 *               4 unsupported); on failure errno u8 length + ASCII (1..32)
 *               and message u16 length + UTF-8 (0..1024)
 *   6 close     reason u16 length + UTF-8 (0..1024): a polite goodbye
 *   7 request   id u32, resync request (src/proto/replication-resync.ts)
 *   8 response  id u32, resync response
 *   9 features  version u16 (>= 2), feature bits u32; what a later version
 *               adds follows and is skipped by this decoder (version 2 adds
 *               nothing). Only towards a peer that offered the feature
 *               exchange in its handshake (src/core/link-features.ts): the
 *               previous release, version 1, knows no type 9
 *
 * decodeReplication never throws: every problem is a typed error naming the
 * field and its offset.
 */
import { ByteDecodeError, ByteReader, ByteWriter } from "./bytes.ts";
import { readMirrorOp, REPLICATION_MAX_DATA, writeMirrorOp } from "./replication-op.ts";
import { readResyncRequest, readResyncResponse, type ResyncRequest, type ResyncResponse, writeResyncRequest, writeResyncResponse } from "./replication-resync.ts";
import { MIRROR_OP_NAMES, type MirrorOp } from "../replicator/ops.ts";
import { APPLY_FAILURE_KINDS, type ApplyResult, MAX_MESSAGE_BYTES, MAX_ERRNO_NAME_BYTES } from "../replicator/apply-result.ts";

/** This release's version of the link protocol, told in its features message (1: the release before the feature exchange, which tells none). */
export const REPLICATION_VERSION = 2;
/** TCP port of the replication link unless the config says otherwise (the port plan in config/defaults.ts: heartbeat 7694 and its news 7695, farm flows 7697, the arbiter 7693). */
export const REPLICATION_DEFAULT_PORT = 7696;
/** The largest message: a write of REPLICATION_MAX_DATA bytes at the longest path, with room to spare. */
export const REPLICATION_MAX_MESSAGE = REPLICATION_MAX_DATA + 8192;

export type ReplicationMessage =
  | { readonly type: "ready" }
  | { readonly type: "ping"; readonly id: number }
  | { readonly type: "pong"; readonly id: number }
  | { readonly type: "op"; readonly seq: number; readonly op: MirrorOp }
  | { readonly type: "ack"; readonly seq: number; readonly result: ApplyResult }
  | { readonly type: "close"; readonly reason: string }
  | { readonly type: "request"; readonly id: number; readonly request: ResyncRequest }
  | { readonly type: "response"; readonly id: number; readonly response: ResyncResponse }
  | { readonly type: "features"; readonly version: number; readonly bits: number };

export type ReplicationMessageType = ReplicationMessage["type"];

const TYPE_CODES: Readonly<Record<ReplicationMessageType, number>> = { ready: 1, ping: 2, pong: 3, op: 4, ack: 5, close: 6, request: 7, response: 8, features: 9 };
const TYPES = Object.keys(TYPE_CODES) as ReplicationMessageType[];

export type ReplicationDecodeErrorKind = "truncated" | "oversized" | "unknown-type" | "malformed";

export interface ReplicationDecodeError {
  readonly kind: ReplicationDecodeErrorKind;
  readonly detail: string;
}

export type ReplicationDecodeResult = { ok: true; message: ReplicationMessage } | { ok: false; error: ReplicationDecodeError };

const ERRNO_NAME = /^[A-Z][A-Z0-9_]*$/;
const utf8 = new TextEncoder();

function writeSeq(w: ByteWriter, seq: number, what: string): void {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`replication message: ${what} must be an integer in 0..2^53-1, got ${seq}`);
  w.u64(BigInt(seq), `replication message: ${what}`);
}

function readSeq(r: ByteReader, what: string): number {
  const at = r.offset;
  const v = r.u64(what);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ByteDecodeError(`${what} at offset ${at} is ${v}; the limit is 2^53-1`, at);
  return Number(v);
}

/** `text` cut to at most `max` UTF-8 bytes on a character boundary (lone surrogates become "?"). */
export function clipUtf8(text: string, max: number): string {
  const clean = text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "?");
  if (utf8.encode(clean).length <= max) return clean;
  let out = "";
  let n = 0;
  for (const ch of clean) {
    const len = utf8.encode(ch).length;
    if (n + len > max) break;
    out += ch;
    n += len;
  }
  return out;
}

function writeText16(w: ByteWriter, text: string, what: string): void {
  const raw = utf8.encode(clipUtf8(text, MAX_MESSAGE_BYTES));
  w.u16(raw.length, `replication message: length of ${what}`);
  w.bytes(raw);
}

function readText16(r: ByteReader, what: string): string {
  const at = r.offset;
  const n = r.u16(`length of ${what}`);
  if (n > MAX_MESSAGE_BYTES) throw new ByteDecodeError(`${what} at offset ${at} is ${n} bytes; the limit is ${MAX_MESSAGE_BYTES}`, at);
  return r.utf8(n, what);
}

function writeResult(w: ByteWriter, result: ApplyResult): void {
  if (result.ok) {
    w.u8(0, "replication message: result");
    return;
  }
  w.u8(APPLY_FAILURE_KINDS.indexOf(result.kind) + 1, "replication message: result");
  const errno = ERRNO_NAME.test(result.errno) && result.errno.length <= MAX_ERRNO_NAME_BYTES ? result.errno : "EUNKNOWN";
  w.utf8WithU8Length(errno, MAX_ERRNO_NAME_BYTES, "replication message: errno name");
  writeText16(w, result.message, "message");
}

function readResult(r: ByteReader): ApplyResult {
  const at = r.offset;
  const code = r.u8("result");
  if (code === 0) return { ok: true };
  const kind = APPLY_FAILURE_KINDS[code - 1];
  if (kind === undefined) throw new ByteDecodeError(`result at offset ${at} is ${code}; expected 0..${APPLY_FAILURE_KINDS.length}`, at);
  const eAt = r.offset;
  const errno = r.utf8WithU8Length("errno name");
  if (errno.length > MAX_ERRNO_NAME_BYTES || !ERRNO_NAME.test(errno)) throw new ByteDecodeError(`errno name at offset ${eAt} is not an errno name`, eAt);
  return { ok: false, kind, errno, message: readText16(r, "message") };
}

/**
 * Encodes one message. Throws RangeError for a message that breaks the rules
 * (a path with "..", a write over 1 MiB): those are bugs of the sender.
 */
export function encodeReplication(m: ReplicationMessage): Uint8Array {
  const w = new ByteWriter(m.type === "op" && m.op.op === "write" ? m.op.data.length + m.op.path.length + 64 : 64);
  w.u8(TYPE_CODES[m.type], "replication message: type");
  switch (m.type) {
    case "ready":
      break;
    case "ping":
    case "pong":
      w.u32(m.id, "replication message: ping id");
      break;
    case "op":
      writeSeq(w, m.seq, "seq");
      writeMirrorOp(w, m.op);
      break;
    case "ack":
      writeSeq(w, m.seq, "seq");
      writeResult(w, m.result);
      break;
    case "close":
      writeText16(w, m.reason, "close reason");
      break;
    case "request":
      w.u32(m.id, "replication message: request id");
      writeResyncRequest(w, m.request);
      break;
    case "response":
      w.u32(m.id, "replication message: request id");
      writeResyncResponse(w, m.response);
      break;
    case "features":
      if (!Number.isInteger(m.version) || m.version < 2) throw new RangeError(`replication message: features of version ${m.version}; the exchange began with version 2`);
      w.u16(m.version, "replication message: version");
      w.u32(m.bits >>> 0, "replication message: feature bits");
      break;
  }
  if (w.length > REPLICATION_MAX_MESSAGE) throw new RangeError(`replication message: ${m.type} is ${w.length} bytes; the limit is ${REPLICATION_MAX_MESSAGE}`);
  return w.finish();
}

/**
 * `m` encoded as parts whose concatenation is encodeReplication(m): a write
 * op's data is its own part, so it is sealed where it lies instead of being
 * copied into the message first.
 */
export function encodeReplicationParts(m: ReplicationMessage): Uint8Array[] {
  if (m.type !== "op" || m.op.op !== "write") return [encodeReplication(m)];
  const w = new ByteWriter(m.op.path.length + 64);
  w.u8(TYPE_CODES[m.type], "replication message: type");
  writeSeq(w, m.seq, "seq");
  writeMirrorOp(w, m.op, false);
  if (w.length + m.op.data.length > REPLICATION_MAX_MESSAGE) throw new RangeError(`replication message: op is ${w.length + m.op.data.length} bytes; the limit is ${REPLICATION_MAX_MESSAGE}`);
  return [w.finish(), m.op.data];
}

function parse(r: ByteReader): ReplicationMessage {
  const at = r.offset;
  const code = r.u8("type");
  const type = TYPES.find((t) => TYPE_CODES[t] === code);
  if (type === undefined) throw new ByteDecodeError(`type at offset ${at} is ${code}; expected 1..${TYPES.length}`, at);
  let m: ReplicationMessage;
  switch (type) {
    case "ready":
      m = { type };
      break;
    case "ping":
    case "pong":
      m = { type, id: r.u32("ping id") };
      break;
    case "op":
      m = { type, seq: readSeq(r, "seq"), op: readMirrorOp(r) };
      break;
    case "ack":
      m = { type, seq: readSeq(r, "seq"), result: readResult(r) };
      break;
    case "close":
      m = { type, reason: readText16(r, "close reason") };
      break;
    case "request":
      m = { type, id: r.u32("request id"), request: readResyncRequest(r) };
      break;
    case "response":
      m = { type, id: r.u32("request id"), response: readResyncResponse(r) };
      break;
    case "features": {
      const vAt = r.offset;
      const version = r.u16("version");
      if (version < 2) throw new ByteDecodeError(`version at offset ${vAt} is ${version}; the features message began with version 2`, vAt);
      m = { type, version, bits: r.u32("feature bits") };
      // A later version's own fields: not this decoder's to read.
      if (version > REPLICATION_VERSION) r.skip(r.remaining, "fields of a later version");
      break;
    }
  }
  r.expectEnd(`the ${type} message`);
  return m;
}

const WRITE_CODE = MIRROR_OP_NAMES.indexOf("write") + 1;
/** Offset of an op's kind byte: after the type and the seq. */
const OP_KIND_AT = 1 + 8;

function isWriteOp(bytes: Uint8Array): boolean {
  return bytes[0] === TYPE_CODES.op && bytes[OP_KIND_AT] === WRITE_CODE;
}

/** The same bytes as a plain Uint8Array (not a Buffer, whose `slice` does not copy). */
function plainView(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/**
 * Decodes one message (the whole plaintext of one record). Never throws.
 * `owned`: `bytes` is a buffer nobody else holds or changes (a record's fresh
 * plaintext), so a write op's data and path are views into it instead of
 * copies (the op codec copies with `slice`, which for a Node Buffer's views
 * makes views; they are handed out as plain Uint8Arrays).
 */
export function decodeReplication(bytes: Uint8Array, owned = false): ReplicationDecodeResult {
  if (bytes.length > REPLICATION_MAX_MESSAGE) {
    return { ok: false, error: { kind: "oversized", detail: `message is ${bytes.length} bytes; the limit is ${REPLICATION_MAX_MESSAGE}` } };
  }
  if (bytes.length === 0) return { ok: false, error: { kind: "truncated", detail: "message is empty" } };
  const code = bytes[0] ?? 0;
  if (code === 0 || code > TYPES.length) {
    return { ok: false, error: { kind: "unknown-type", detail: `message type ${code} at offset 0 is unknown; expected 1..${TYPES.length}` } };
  }
  try {
    if (!owned || !isWriteOp(bytes)) return { ok: true, message: parse(new ByteReader(bytes)) };
    const m = parse(new ByteReader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)));
    if (m.type !== "op" || m.op.op !== "write") return { ok: true, message: m };
    return { ok: true, message: { ...m, op: { ...m.op, path: plainView(m.op.path), data: plainView(m.op.data) } } };
  } catch (err) {
    if (err instanceof ByteDecodeError) {
      const kind: ReplicationDecodeErrorKind = / needs \d+ bytes but only \d+ remain/.test(err.message) ? "truncated" : "malformed";
      return { ok: false, error: { kind, detail: err.message } };
    }
    throw err;
  }
}
