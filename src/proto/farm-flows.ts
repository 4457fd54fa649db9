/**
 * Farm flow messages (src/core/farm/farm.ts): a node that listens before
 * taking buckets, or just gained some, asks its peers which UDP flows they
 * answer, and each tells it, in parts, what its table records as its own; a
 * node holding buckets checks with a peer the flows of those buckets its
 * table leaves to that peer, and the peer disclaims, to every node, those it
 * does not answer. One message per UDP datagram, authenticated with
 * HMAC-SHA256 over the cluster key.
 *
 * Layout (version 1, big-endian):
 *
 *   off  size  field
 *   0    4     magic "VGFF"
 *   4    1     version = 1
 *   5    1     type: 1 ask, 2 tell, 3 check, 4 disclaim
 *   6    1+n   cluster  u8 length + UTF-8 (1..64 bytes)
 *   ..   1+n   module   u8 length + UTF-8 (1..64)
 *   ..   1+n   from     u8 length + UTF-8 (1..64): the sender
 *   ..   1+n   to       u8 length + UTF-8 (1..64): the node addressed
 *   ..   8     askedAt  f64: the asker's clock (ms) when it asked; a tell or disclaim echoes it
 *   then, for a tell, check or disclaim:
 *        2     part     u16 (0-based, < parts)
 *        2     parts    u16 (>= 1)
 *        2     count    u16 (<= FARM_FLOWS_PER_PART)
 *        8 * count      flows: client IPv4 u32, client port u16, VIP port u16 (1..65535)
 *   end-32 32  HMAC-SHA256(key, every byte before it)
 *
 * The magic differs from every other frame's and is covered by the MAC, so
 * no frame of another protocol passes as this one under the same key. The
 * MAC is checked before any variable-length field is parsed. A replayed tell
 * echoes an ask of an earlier listening time, which the core ignores.
 */
import { ByteDecodeError, ByteReader, ByteWriter } from "./bytes.ts";
import { HMAC_TRAILER_BYTES, hmacTrailerMatches, withHmacTrailer } from "./hmac-trailer.ts";
import { readShortText, writeShortText } from "./short-text.ts";

/** A UDP flow as a farm table keys it: client IPv4 (u32), client port, VIP port. */
export interface FlowKey {
  readonly client: number;
  readonly port: number;
  readonly vipPort: number;
}

export const FARM_FLOWS_VERSION = 1;
export const FARM_FLOWS_MAC_BYTES = HMAC_TRAILER_BYTES;
export const FARM_FLOWS_MAX_NAME_BYTES = 64;
/** Flows per tell: with four 64-byte names a tell is 1271 bytes, under a 1400-byte datagram. */
export const FARM_FLOWS_PER_PART = 128;
export const FARM_FLOWS_MAX_FRAME = 1400;

const MAGIC = new Uint8Array([0x56, 0x47, 0x46, 0x46]); // "VGFF"
/** An ask with four 1-byte names. */
export const FARM_FLOWS_MIN_FRAME = MAGIC.length + 2 + 4 * 2 + 8 + FARM_FLOWS_MAC_BYTES;

const TYPE_CODES = { ask: 1, tell: 2, check: 3, disclaim: 4 } as const;
type FlowListType = "tell" | "check" | "disclaim";

interface Header {
  readonly cluster: string;
  readonly module: string;
  readonly from: string;
  readonly to: string;
  readonly askedAt: number;
}

export type FarmFlowsMessage =
  | (Header & { readonly type: "ask" })
  | (Header & { readonly type: FlowListType; readonly part: number; readonly parts: number; readonly flows: readonly FlowKey[] });

export type FarmFlowsDecodeErrorKind = "truncated" | "oversized" | "bad-magic" | "bad-version" | "bad-mac" | "malformed";

export interface FarmFlowsDecodeError {
  readonly kind: FarmFlowsDecodeErrorKind;
  readonly detail: string;
}

export type FarmFlowsDecodeResult = { ok: true; message: FarmFlowsMessage } | { ok: false; error: FarmFlowsDecodeError };

function checkInt(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`farm flow message: ${what} must be a whole number ${min}-${max}, got ${value}`);
}

/**
 * Encodes and signs a message. Throws RangeError when the message itself is
 * invalid (an empty or too long name, a part out of range, too many flows):
 * those are bugs of the sender.
 */
export function encodeFarmFlows(m: FarmFlowsMessage, key: Uint8Array): Uint8Array {
  const w = new ByteWriter(m.type === "ask" ? 280 : 280 + 8 * m.flows.length);
  w.bytes(MAGIC);
  w.u8(FARM_FLOWS_VERSION, "farm flow message: version");
  w.u8(TYPE_CODES[m.type], "farm flow message: type");
  writeShortText(w, m.cluster, 1, FARM_FLOWS_MAX_NAME_BYTES, "farm flow message", "cluster name");
  writeShortText(w, m.module, 1, FARM_FLOWS_MAX_NAME_BYTES, "farm flow message", "module name");
  writeShortText(w, m.from, 1, FARM_FLOWS_MAX_NAME_BYTES, "farm flow message", "sender name");
  writeShortText(w, m.to, 1, FARM_FLOWS_MAX_NAME_BYTES, "farm flow message", "addressee name");
  if (!Number.isFinite(m.askedAt) || m.askedAt < 0) throw new RangeError(`farm flow message: askedAt must be a finite time >= 0, got ${m.askedAt}`);
  w.f64(m.askedAt, "farm flow message: askedAt");
  if (m.type !== "ask") {
    checkInt(m.parts, 1, 0xffff, "parts");
    checkInt(m.part, 0, m.parts - 1, "part");
    checkInt(m.flows.length, 0, FARM_FLOWS_PER_PART, "number of flows");
    w.u16(m.part, "farm flow message: part");
    w.u16(m.parts, "farm flow message: parts");
    w.u16(m.flows.length, "farm flow message: count");
    for (const f of m.flows) {
      checkInt(f.client, 0, 0xffffffff, "client address");
      checkInt(f.port, 0, 0xffff, "client port");
      checkInt(f.vipPort, 1, 0xffff, "VIP port");
      w.u32(f.client, "farm flow message: client address");
      w.u16(f.port, "farm flow message: client port");
      w.u16(f.vipPort, "farm flow message: VIP port");
    }
  }
  return withHmacTrailer(w.finish(), key);
}

function fail(kind: FarmFlowsDecodeErrorKind, detail: string): FarmFlowsDecodeResult {
  return { ok: false, error: { kind, detail } };
}

function parseBody(r: ByteReader): FarmFlowsMessage {
  const typeAt = r.offset;
  const code = r.u8("type");
  const type = (Object.keys(TYPE_CODES) as (keyof typeof TYPE_CODES)[]).find((t) => TYPE_CODES[t] === code);
  if (type === undefined) throw new ByteDecodeError(`type at offset ${typeAt} is ${code}; expected 1 (ask), 2 (tell), 3 (check) or 4 (disclaim)`, typeAt);
  const cluster = readShortText(r, 1, FARM_FLOWS_MAX_NAME_BYTES, "cluster name");
  const module = readShortText(r, 1, FARM_FLOWS_MAX_NAME_BYTES, "module name");
  const from = readShortText(r, 1, FARM_FLOWS_MAX_NAME_BYTES, "sender name");
  const to = readShortText(r, 1, FARM_FLOWS_MAX_NAME_BYTES, "addressee name");
  const askedAtAt = r.offset;
  const askedAt = r.f64("askedAt");
  if (!Number.isFinite(askedAt) || askedAt < 0) throw new ByteDecodeError(`askedAt at offset ${askedAtAt} is ${askedAt}; expected a finite time >= 0`, askedAtAt);
  const header: Header = { cluster, module, from, to, askedAt };
  if (type === "ask") {
    r.expectEnd("the ask fields");
    return { type, ...header };
  }
  const partAt = r.offset;
  const part = r.u16("part");
  const parts = r.u16("parts");
  if (parts < 1 || part >= parts) throw new ByteDecodeError(`part at offset ${partAt} is ${part} of ${parts}; expected 0 <= part < parts`, partAt);
  const countAt = r.offset;
  const count = r.u16("count");
  if (count > FARM_FLOWS_PER_PART) throw new ByteDecodeError(`count at offset ${countAt} is ${count}; the limit is ${FARM_FLOWS_PER_PART}`, countAt);
  const flows: FlowKey[] = [];
  for (let i = 0; i < count; i++) {
    const client = r.u32(`client address of flow ${i}`);
    const port = r.u16(`client port of flow ${i}`);
    const vipAt = r.offset;
    const vipPort = r.u16(`VIP port of flow ${i}`);
    if (vipPort === 0) throw new ByteDecodeError(`VIP port of flow ${i} at offset ${vipAt} is 0`, vipAt);
    flows.push({ client, port, vipPort });
  }
  r.expectEnd(`the ${type} fields`);
  return { type, ...header, part, parts, flows };
}

/**
 * Checks and decodes one datagram. Never throws: every problem comes back as
 * `{ ok: false, error }` with a detail naming the field and its offset.
 */
export function decodeFarmFlows(bytes: Uint8Array, key: Uint8Array): FarmFlowsDecodeResult {
  const len = bytes.length;
  if (len > FARM_FLOWS_MAX_FRAME) return fail("oversized", `message is ${len} bytes; the limit is ${FARM_FLOWS_MAX_FRAME}`);
  for (let i = 0; i < Math.min(len, MAGIC.length); i++) {
    if (bytes[i] !== MAGIC[i]) {
      return fail("bad-magic", `byte ${i} is 0x${(bytes[i] ?? 0).toString(16).padStart(2, "0")}; a farm flow message starts with "VGFF"`);
    }
  }
  if (len <= MAGIC.length) return fail("truncated", `message is ${len} bytes; the smallest farm flow message is ${FARM_FLOWS_MIN_FRAME}`);
  const version = bytes[MAGIC.length];
  if (version !== FARM_FLOWS_VERSION) {
    return fail("bad-version", `message version is ${version} at offset ${MAGIC.length}; this program speaks version ${FARM_FLOWS_VERSION}`);
  }
  if (len < FARM_FLOWS_MIN_FRAME) return fail("truncated", `message is ${len} bytes; the smallest farm flow message is ${FARM_FLOWS_MIN_FRAME}`);
  const macAt = len - FARM_FLOWS_MAC_BYTES;
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

/** A message's flows in parts of at most FARM_FLOWS_PER_PART; one empty part when there are none. */
export function flowParts(flows: readonly FlowKey[]): FlowKey[][] {
  const out: FlowKey[][] = [];
  for (let i = 0; i < flows.length; i += FARM_FLOWS_PER_PART) out.push(flows.slice(i, i + FARM_FLOWS_PER_PART));
  return out.length > 0 ? out : [[]];
}
