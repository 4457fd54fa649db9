/**
 * Arbiter (`vigil witness`) message codec: lease requests and releases from
 * nodes, grants and denials from the arbiter, one per UDP datagram,
 * authenticated with HMAC-SHA256 over the cluster key.
 *
 * Layout (version 1, big-endian):
 *
 *   off  size  field
 *   0    4     magic "VGWT"
 *   4    1     version = 1
 *   5    1     type: 1 request, 2 release, 3 grant, 4 deny
 *   6    8     epoch    u64  (boot epoch of the sender)
 *   14   4     seq      u32  (+1 per message per sender and epoch, from 1)
 *   18   1+n   cluster  u8 length + UTF-8 (1..64 bytes)
 *   ..   1+n   node     u8 length + UTF-8 (1..64): the sender of a request
 *                       or release, the node addressed by a grant or denial
 *   ..   1+n   module   u8 length + UTF-8 (1..64)
 *   then, by type:
 *     request  request u64 (<= 2^53-1)
 *     release  (nothing)
 *     grant    request u64, peerEpoch u64, durationMs u32, token u32,
 *              detail u8 length + UTF-8 (0..200)
 *     deny     request u64, peerEpoch u64, token u32,
 *              holder u8 length + UTF-8 (0..64; 0 = nobody),
 *              detail u8 length + UTF-8 (0..200)
 *   end-32 32  HMAC-SHA256(key, every byte before it)
 *
 * A reply echoes the request number and the requester's epoch (peerEpoch),
 * so a node matches it to one request of its current life and nothing else.
 * The magic differs from heartbeat frames' and is covered by the MAC, so a
 * frame of one protocol can never pass as the other under the same key.
 * The MAC is checked before any variable-length field is parsed.
 */
import { ByteDecodeError, ByteReader, ByteWriter, utf8Bytes } from "./bytes.ts";
import { HMAC_TRAILER_BYTES, hmacTrailerMatches, withHmacTrailer } from "./hmac-trailer.ts";
import { CONTROL_CHAR, readShortText, writeShortText } from "./short-text.ts";

/** UDP port of the arbiter unless the config says otherwise (config/defaults.ts DEFAULTS.witness.port, the same). */
export const WITNESS_DEFAULT_PORT = 7693;
export const WITNESS_VERSION = 1;
/** Fits the 576-byte datagram every IPv4 host must accept; the largest message encodes to 531. */
export const WITNESS_MAX_FRAME = 548;
export const WITNESS_MAC_BYTES = HMAC_TRAILER_BYTES;
export const WITNESS_MAX_NAME_BYTES = 64;
export const WITNESS_MAX_DETAIL_BYTES = 200;

const MAGIC = new Uint8Array([0x56, 0x47, 0x57, 0x54]); // "VGWT"
const FIXED_HEADER_BYTES = 18;
/** A release with three 1-byte names. */
export const WITNESS_MIN_FRAME = FIXED_HEADER_BYTES + 3 * 2 + WITNESS_MAC_BYTES;

const TYPE_CODES = { request: 1, release: 2, grant: 3, deny: 4 } as const;
export type WitnessMessageType = keyof typeof TYPE_CODES;

interface Header {
  cluster: string;
  /** The sender (request, release) or the addressee (grant, deny). */
  node: string;
  /** u64: boot epoch of the sender; a restart has a larger one. */
  epoch: bigint;
  /** u32: +1 per message per sender within an epoch, from 1. */
  seq: number;
  module: string;
}

export type WitnessMessage =
  | (Header & { type: "request"; request: number })
  | (Header & { type: "release" })
  | (Header & { type: "grant"; request: number; peerEpoch: bigint; durationMs: number; token: number; detail: string })
  | (Header & { type: "deny"; request: number; peerEpoch: bigint; token: number; holder: string | null; detail: string });

export type WitnessDecodeErrorKind = "truncated" | "oversized" | "bad-magic" | "bad-version" | "bad-mac" | "malformed";

export interface WitnessDecodeError {
  kind: WitnessDecodeErrorKind;
  detail: string;
}

export type WitnessDecodeResult = { ok: true; message: WitnessMessage } | { ok: false; error: WitnessDecodeError };

/** Names and details end up in logs and the status page: short-text.ts keeps control characters out. */
const CODEC = "witness message";


function writeRequest(w: ByteWriter, request: number): void {
  if (!Number.isSafeInteger(request) || request < 0) {
    throw new RangeError(`witness message: request number must be a safe integer >= 0, got ${request}`);
  }
  w.u64(BigInt(request), "witness message: request number");
}

function readRequest(r: ByteReader): number {
  const at = r.offset;
  const n = r.u64("request number");
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new ByteDecodeError(`request number at offset ${at} is ${n}; the limit is 2^53-1`, at);
  return Number(n);
}

/**
 * `text` cut to at most WITNESS_MAX_DETAIL_BYTES of UTF-8 on a character
 * boundary, control characters replaced: what a sender does to a free-form
 * detail before encoding it.
 */
export function clipDetail(text: string): string {
  let out = "";
  let bytes = 0;
  for (const ch of text) {
    const safe = CONTROL_CHAR.test(ch) ? " " : /^[\uD800-\uDFFF]$/.test(ch) ? "?" : ch;
    const n = utf8Bytes(safe, "detail").length;
    if (bytes + n > WITNESS_MAX_DETAIL_BYTES) break;
    out += safe;
    bytes += n;
  }
  return out;
}

/**
 * Encodes and signs a message. Throws RangeError when the message itself is
 * invalid (a name too long or empty, a number out of range): those are bugs
 * or config mistakes of the sender.
 */
export function encodeWitness(m: WitnessMessage, key: Uint8Array): Uint8Array {
  const w = new ByteWriter(160);
  w.bytes(MAGIC);
  w.u8(WITNESS_VERSION, "witness message: version");
  w.u8(TYPE_CODES[m.type], "witness message: type");
  w.u64(m.epoch, "witness message: epoch");
  w.u32(m.seq, "witness message: seq");
  writeShortText(w, m.cluster, 1, WITNESS_MAX_NAME_BYTES, CODEC, "cluster name");
  writeShortText(w, m.node, 1, WITNESS_MAX_NAME_BYTES, CODEC, "node name");
  writeShortText(w, m.module, 1, WITNESS_MAX_NAME_BYTES, CODEC, "module name");
  switch (m.type) {
    case "request":
      writeRequest(w, m.request);
      break;
    case "release":
      break;
    case "grant":
      writeRequest(w, m.request);
      w.u64(m.peerEpoch, "witness message: peer epoch");
      w.u32(m.durationMs, "witness message: lease duration");
      w.u32(m.token, "witness message: token");
      writeShortText(w, m.detail, 0, WITNESS_MAX_DETAIL_BYTES, CODEC, "detail");
      break;
    case "deny":
      writeRequest(w, m.request);
      w.u64(m.peerEpoch, "witness message: peer epoch");
      w.u32(m.token, "witness message: token");
      writeShortText(w, m.holder ?? "", 0, WITNESS_MAX_NAME_BYTES, CODEC, "holder name");
      writeShortText(w, m.detail, 0, WITNESS_MAX_DETAIL_BYTES, CODEC, "detail");
      break;
  }
  return withHmacTrailer(w.finish(), key);
}

function fail(kind: WitnessDecodeErrorKind, detail: string): WitnessDecodeResult {
  return { ok: false, error: { kind, detail } };
}

function parseBody(r: ByteReader): WitnessMessage {
  const typeAt = r.offset;
  const code = r.u8("type");
  const type = (Object.keys(TYPE_CODES) as WitnessMessageType[]).find((t) => TYPE_CODES[t] === code);
  if (type === undefined) throw new ByteDecodeError(`type at offset ${typeAt} is ${code}; expected 1 (request), 2 (release), 3 (grant) or 4 (deny)`, typeAt);
  const header: Header = {
    epoch: r.u64("epoch"),
    seq: r.u32("seq"),
    cluster: readShortText(r, 1, WITNESS_MAX_NAME_BYTES, "cluster name"),
    node: readShortText(r, 1, WITNESS_MAX_NAME_BYTES, "node name"),
    module: readShortText(r, 1, WITNESS_MAX_NAME_BYTES, "module name"),
  };
  let m: WitnessMessage;
  switch (type) {
    case "request":
      m = { type, ...header, request: readRequest(r) };
      break;
    case "release":
      m = { type, ...header };
      break;
    case "grant":
      m = {
        type,
        ...header,
        request: readRequest(r),
        peerEpoch: r.u64("peer epoch"),
        durationMs: r.u32("lease duration"),
        token: r.u32("token"),
        detail: readShortText(r, 0, WITNESS_MAX_DETAIL_BYTES, "detail"),
      };
      break;
    case "deny": {
      const request = readRequest(r);
      const peerEpoch = r.u64("peer epoch");
      const token = r.u32("token");
      const holder = readShortText(r, 0, WITNESS_MAX_NAME_BYTES, "holder name");
      m = { type, ...header, request, peerEpoch, token, holder: holder === "" ? null : holder, detail: readShortText(r, 0, WITNESS_MAX_DETAIL_BYTES, "detail") };
      break;
    }
  }
  r.expectEnd(`the ${type} fields`);
  return m;
}

/**
 * Checks and decodes one datagram. Never throws: every problem comes back as
 * `{ ok: false, error }` with a detail naming the field and its offset.
 */
export function decodeWitness(bytes: Uint8Array, key: Uint8Array): WitnessDecodeResult {
  const len = bytes.length;
  if (len > WITNESS_MAX_FRAME) return fail("oversized", `message is ${len} bytes; the limit is ${WITNESS_MAX_FRAME}`);
  for (let i = 0; i < Math.min(len, MAGIC.length); i++) {
    if (bytes[i] !== MAGIC[i]) {
      return fail("bad-magic", `byte ${i} is 0x${(bytes[i] ?? 0).toString(16).padStart(2, "0")}; an arbiter message starts with "VGWT"`);
    }
  }
  if (len <= MAGIC.length) return fail("truncated", `message is ${len} bytes; the smallest arbiter message is ${WITNESS_MIN_FRAME}`);
  const version = bytes[MAGIC.length];
  if (version !== WITNESS_VERSION) {
    return fail("bad-version", `message version is ${version} at offset ${MAGIC.length}; this program speaks version ${WITNESS_VERSION}`);
  }
  if (len < WITNESS_MIN_FRAME) return fail("truncated", `message is ${len} bytes; the smallest arbiter message is ${WITNESS_MIN_FRAME}`);
  const macAt = len - WITNESS_MAC_BYTES;
  if (!hmacTrailerMatches(bytes, key)) {
    return fail("bad-mac", `HMAC-SHA256 at offset ${macAt} does not match: wrong cluster key or altered message`);
  }
  try {
    return { ok: true, message: parseBody(new ByteReader(bytes, MAGIC.length + 1, macAt)) };
  } catch (err) {
    if (err instanceof ByteDecodeError) return fail("malformed", err.message);
    throw err;
  }
}
