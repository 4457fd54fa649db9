/**
 * Heartbeat frame codec: authenticated membership frames, one per UDP datagram.
 *
 * Layout (version 3, big-endian; version 2 is the same without the fields
 * marked v3, version 1 also without those marked v2):
 *
 *   off  size  field
 *   0    4     magic "VGHB"
 *   4    1     version = 2 (1 is still read)
 *   5    8     epoch      u64  (boot epoch of the sender)
 *   13   4     seq        u32
 *   17   8     sentAt     f64  (sender's monotonic ms)
 *   25   1     link       u8
 *   26   1+n   cluster    u8 length + UTF-8 (1..64 bytes)
 *   ..   1+n   node       u8 length + UTF-8 (1..64 bytes)
 *   ..   1     echo count (0..32), then per echo:
 *                node u8+UTF-8 (1..64), sentAt f64, heldMs f64
 *   ..   1     module count (0..32), then per module:
 *                module u8+UTF-8 (1..64), role u8+UTF-8 (1..32), generation u64,
 *                v2: flags u8 (bit 0: starting, its resources are not all up),
 *                    failure u8+UTF-8 (0..160: why a start failed there; 0 = none)
 *   ..   1     v2: flags (bit 0: leaving, the sender's daemon is stopping)
 *   ..   8     v2: config digest (0 = not published), then
 *        2         the number of config keys it covers, 2 the index of the
 *        1         first key in this frame, count (0..16), then per key:
 *                  key u8+UTF-8 (1..64), hash 8 bytes
 *   ..   1     v3: VRRP instances the sender is MASTER of (0..32), then per
 *                  instance: name u8+UTF-8 (1..64), vrid u8 (1..255),
 *                  advert source IPv4 4 bytes
 *   end-32 32  HMAC-SHA256(key, every byte before it)
 *
 * Version 4 has the layout of version 3. It says that the sender reads
 * frames sent to it from a peer's port + 1 as they come (udp-transport.ts,
 * "News"), so a peer may send its news from there.
 *
 * Versions: a node decodes every version up to its own, so a node of the
 * next version can join a cluster of this one (it reads their frames; the
 * missing fields read as "not leaving, no config published"). It sends its
 * own version. Reserved flag bits must be 0 and an unpublished digest is all
 * zeros with no keys, so a decoded frame re-encodes to exactly its bytes; a
 * later version that needs more raises the version number.
 *
 * The config key list is long (one hash per cluster-relevant key), so each
 * frame carries a page of it and the sender walks through the pages; a peer
 * assembles them under the digest they belong to.
 *
 * The datagram boundary is the frame boundary, so there is no length field;
 * bytes left between the last module and the MAC are rejected. The MAC is
 * checked before any variable-length field is parsed, so an attacker without
 * the key can only ever reach the fixed-size checks.
 */
import { ByteDecodeError, ByteReader, ByteWriter, utf8Bytes } from "./bytes.ts";
import { HMAC_SHA256_BYTES, hmacSha256PrefixInto } from "./hmac-sha256.ts";

export const HEARTBEAT_MAX_FRAME = 1400;
export const HEARTBEAT_VERSION = 4;
/** The oldest frame version this node still reads. */
export const HEARTBEAT_OLDEST_VERSION = 1;
export const HEARTBEAT_MAC_BYTES = 32;
export const HEARTBEAT_MAX_NAME_BYTES = 64;
export const HEARTBEAT_MAX_ROLE_BYTES = 32;
export const HEARTBEAT_MAX_ECHOES = 32;
export const HEARTBEAT_MAX_MODULES = 32;
export const HEARTBEAT_MAX_FAILURE_BYTES = 160;
export const HEARTBEAT_MAX_CONFIG_KEYS_PER_FRAME = 16;
export const HEARTBEAT_DIGEST_BYTES = 8;
export const HEARTBEAT_MAX_VRRP_CLAIMS = 32;

const MAGIC = new Uint8Array([0x56, 0x47, 0x48, 0x42]); // "VGHB"
const FIXED_HEADER_BYTES = 26;
/** Fixed header, two 1-byte names with their lengths, two zero counts, MAC. */
export const HEARTBEAT_MIN_FRAME = FIXED_HEADER_BYTES + 2 + 2 + 1 + 1 + HEARTBEAT_MAC_BYTES;

/** For RTT: we echo the last sentAt heard from `node` and how long we held it. */
export interface PeerEcho {
  node: string;
  sentAt: number;
  heldMs: number;
}

/** Later modules publish their role and data generation here. */
export interface ModuleAdvert {
  module: string;
  role: string;
  generation: number;
  /** v2: running (PRIM/ALONE) but its resources are not all started yet. Absent: false. */
  starting?: boolean;
  /** v2: why the module could not start there (cut to 160 bytes). Absent: none. */
  failure?: string;
}

/**
 * One page of the sender's config digest: `digest` stands for the whole
 * cluster-relevant config; `keys` are entries [first, first + keys.length)
 * of its `total` keys, each with the hash of that key's value. Hashes and
 * the digest are hex strings of HEARTBEAT_DIGEST_BYTES bytes.
 */
export interface ConfigDigestPage {
  digest: string;
  total: number;
  first: number;
  keys: { key: string; hash: string }[];
}

/**
 * v3: a VRRP instance the sender is MASTER of, its addresses up: a BACKUP
 * that stops hearing this master's adverts can tell adverts lost on the
 * way from a master that is gone or has resigned (src/core/vrrp/vrrp.ts,
 * "Heartbeat hold").
 */
export interface VrrpMasterClaim {
  /** The instance's name (the same on every node). */
  instance: string;
  vrid: number;
  /** The source address of its adverts (dotted quad). */
  address: string;
}

export interface HeartbeatFrame {
  cluster: string;
  node: string;
  /** u64, ordered: (daemon start wall-clock ms << 16n) | random16; a restart always has a larger epoch. */
  epoch: bigint;
  /** u32, +1 per frame per sender (shared across links), starts at 1. */
  seq: number;
  /** Sender's monotonic ms; finite and >= 0. */
  sentAt: number;
  /** Index of the link it was sent on (0-based), lets receivers see cross-wired links. */
  link: number;
  echoes: readonly PeerEcho[];
  modules: ModuleAdvert[];
  /** v2: the sender's daemon is stopping; this is its last round. Absent: false. */
  leaving?: boolean;
  /** v2: a page of the sender's config digest. Absent: not published. */
  config?: ConfigDigestPage;
  /** v3: the VRRP instances the sender is MASTER of. Absent: none (or, below v3, not told). */
  vrrp?: VrrpMasterClaim[];
}

export type HeartbeatDecodeErrorKind = "truncated" | "oversized" | "bad-magic" | "bad-version" | "bad-mac" | "malformed";

export interface HeartbeatDecodeError {
  kind: HeartbeatDecodeErrorKind;
  detail: string;
}

export type HeartbeatDecodeResult = { ok: true; frame: HeartbeatFrame } | { ok: false; error: HeartbeatDecodeError };

// Names end up in logs, the console and the CLI table: no control characters.
const CONTROL_CHAR = /[\u0000-\u001f\u007f]/;

/**
 * The names of a frame's repeated fields, for error texts, made once per
 * index (counts are checked against their limits first, so at most 32): a
 * frame is written and read without building a string per field.
 */
function perIndex<T>(make: (i: number) => T): (i: number) => T {
  const made: T[] = [];
  return (i) => (made[i] ??= make(i));
}

/** A decoded frame's MAC, checked against the one it carries (codecs run on one thread). */
const expectedMac = new Uint8Array(HMAC_SHA256_BYTES);
/** An encoded frame's MAC before it is copied into the frame. */
const macOut = new Uint8Array(HMAC_SHA256_BYTES);
const ZERO_DIGEST = new Uint8Array(HEARTBEAT_DIGEST_BYTES);

const PREFIX = "heartbeat frame: ";
const echoOut = perIndex((i) => ({ node: `${PREFIX}echo ${i} node name`, sentAt: `${PREFIX}echo ${i} sentAt`, heldMs: `${PREFIX}echo ${i} heldMs` }));
const moduleOut = perIndex((i) => ({
  module: `${PREFIX}module advert ${i} module name`,
  role: `${PREFIX}module advert ${i} role`,
  generation: `${PREFIX}module advert ${i} generation`,
  flags: `${PREFIX}module advert ${i} flags`,
  failure: `${PREFIX}module advert ${i} failure`,
}));
const configKeyOut = perIndex((i) => ({ key: `${PREFIX}config key ${i}`, hash: `${PREFIX}config key ${i} hash` }));

/**
 * The UTF-8 of names already written and found valid: a node writes the
 * same few (its cluster, itself, its peers, its modules) in every frame.
 * Cleared when it holds more than NAME_CACHE_MAX, so it stays small
 * whatever names come and go.
 */
const nameBytes = new Map<string, Uint8Array>();
const NAME_CACHE_MAX = 256;

/** `what` is the field's name with the "heartbeat frame: " prefix. */
function writeName(w: ByteWriter, value: string, maxBytes: number, what: string): void {
  let raw = nameBytes.get(value);
  if (raw === undefined) {
    if (value.length === 0) throw new RangeError(`${what} must not be empty`);
    if (CONTROL_CHAR.test(value)) throw new RangeError(`${what} ${JSON.stringify(value)} contains a control character`);
    raw = utf8Bytes(value, what);
    if (nameBytes.size >= NAME_CACHE_MAX) nameBytes.clear();
    nameBytes.set(value, raw);
    rememberName(raw, 0, raw.length, value);
  }
  w.bytesWithU8Length(raw, maxBytes, what);
}

/** The writer of every frame (codecs run on one thread): reset per frame, so encoding allocates only the frame. */
const frameWriter = new ByteWriter(512);

function writeMs(w: ByteWriter, value: number, what: string): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${what} must be a finite number >= 0, got ${value}`);
  }
  w.f64(value, what);
}

/**
 * Encodes and signs a frame. Throws RangeError when the frame itself is
 * invalid (a name too long, a count over its limit, the whole frame over
 * HEARTBEAT_MAX_FRAME): those are bugs or config mistakes of the sender.
 */
export function encodeHeartbeat(frame: HeartbeatFrame, key: Uint8Array, version: number = HEARTBEAT_VERSION): Uint8Array {
  if (version < HEARTBEAT_OLDEST_VERSION || version > HEARTBEAT_VERSION) {
    throw new RangeError(`heartbeat frame: version ${version}; this node writes ${HEARTBEAT_OLDEST_VERSION} to ${HEARTBEAT_VERSION}`);
  }
  if (frame.echoes.length > HEARTBEAT_MAX_ECHOES) {
    throw new RangeError(`heartbeat frame: ${frame.echoes.length} echoes; the limit is ${HEARTBEAT_MAX_ECHOES}`);
  }
  if (frame.modules.length > HEARTBEAT_MAX_MODULES) {
    throw new RangeError(`heartbeat frame: ${frame.modules.length} module adverts; the limit is ${HEARTBEAT_MAX_MODULES}`);
  }
  const w = frameWriter;
  w.reset();
  w.bytes(MAGIC);
  w.u8(version, "heartbeat frame: version");
  w.u64(frame.epoch, "heartbeat frame: epoch");
  w.u32(frame.seq, "heartbeat frame: seq");
  writeMs(w, frame.sentAt, "heartbeat frame: sentAt");
  w.u8(frame.link, "heartbeat frame: link index");
  writeName(w, frame.cluster, HEARTBEAT_MAX_NAME_BYTES, "heartbeat frame: cluster name");
  writeName(w, frame.node, HEARTBEAT_MAX_NAME_BYTES, "heartbeat frame: node name");
  w.u8(frame.echoes.length, "heartbeat frame: echo count");
  for (let i = 0; i < frame.echoes.length; i++) {
    const e = frame.echoes[i] as PeerEcho;
    const what = echoOut(i);
    writeName(w, e.node, HEARTBEAT_MAX_NAME_BYTES, what.node);
    writeMs(w, e.sentAt, what.sentAt);
    writeMs(w, e.heldMs, what.heldMs);
  }
  w.u8(frame.modules.length, "heartbeat frame: module count");
  for (let i = 0; i < frame.modules.length; i++) {
    const m = frame.modules[i] as ModuleAdvert;
    const what = moduleOut(i);
    writeName(w, m.module, HEARTBEAT_MAX_NAME_BYTES, what.module);
    writeName(w, m.role, HEARTBEAT_MAX_ROLE_BYTES, what.role);
    if (!Number.isSafeInteger(m.generation) || m.generation < 0) {
      throw new RangeError(`${what.generation} must be a safe integer >= 0, got ${m.generation}`);
    }
    w.u64(BigInt(m.generation), what.generation);
    if (version >= 2) {
      w.u8(m.starting === true ? 1 : 0, what.flags);
      writeText(w, cutUtf8(m.failure ?? "", HEARTBEAT_MAX_FAILURE_BYTES), what.failure);
    }
  }
  if (version >= 2) {
    w.u8(frame.leaving === true ? 1 : 0, "heartbeat frame: flags");
    writeConfigPage(w, frame.config);
  }
  if (version >= 3) writeVrrpClaims(w, frame.vrrp ?? []);
  const total = w.length + HEARTBEAT_MAC_BYTES;
  if (total > HEARTBEAT_MAX_FRAME) {
    throw new RangeError(`heartbeat frame would be ${total} bytes; the limit is ${HEARTBEAT_MAX_FRAME}`);
  }
  const bodyLength = w.length;
  const out = w.finishWithRoom(HEARTBEAT_MAC_BYTES);
  // Into a buffer kept for it, then copied: a view of `out` per frame cost more than the copy.
  hmacSha256PrefixInto(key, out, bodyLength, macOut);
  out.set(macOut, bodyLength);
  return out;
}

/** `text` shortened to at most `maxBytes` of UTF-8, on a character boundary; control characters become spaces. */
export function cutUtf8(text: string, maxBytes: number): string {
  if (text === "") return text;
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, " ");
  const utf8 = new TextEncoder();
  if (utf8.encode(clean).length <= maxBytes) return clean;
  let out = "";
  let bytes = 0;
  for (const ch of clean) {
    const n = utf8.encode(ch).length;
    if (bytes + n > maxBytes - 3) break;
    out += ch;
    bytes += n;
  }
  return `${out}\u2026`;
}

/** A possibly empty text with its u8 length (the failure note). */
function writeText(w: ByteWriter, value: string, what: string): void {
  if (CONTROL_CHAR.test(value)) throw new RangeError(`${what} contains a control character`);
  w.utf8WithU8Length(value, HEARTBEAT_MAX_FAILURE_BYTES, what);
}

const HEX_DIGEST = new RegExp(`^[0-9a-f]{${HEARTBEAT_DIGEST_BYTES * 2}}$`);
const digestOut = new Uint8Array(HEARTBEAT_DIGEST_BYTES);

/** The value of a lowercase hex digit (the caller checked it is one). */
const nibble = (code: number): number => (code <= 0x39 ? code - 0x30 : code - 0x57);

function writeDigest(w: ByteWriter, hex: string, what: string): void {
  if (!HEX_DIGEST.test(hex)) throw new RangeError(`${what} must be ${HEARTBEAT_DIGEST_BYTES * 2} lowercase hex digits, got ${JSON.stringify(hex)}`);
  for (let i = 0; i < HEARTBEAT_DIGEST_BYTES; i++) digestOut[i] = (nibble(hex.charCodeAt(2 * i)) << 4) | nibble(hex.charCodeAt(2 * i + 1));
  w.bytes(digestOut);
}

function writeConfigPage(w: ByteWriter, page: ConfigDigestPage | undefined): void {
  if (page === undefined) {
    w.bytes(ZERO_DIGEST);
    w.u16(0, "heartbeat frame: config key total");
    w.u16(0, "heartbeat frame: config page start");
    w.u8(0, "heartbeat frame: config key count");
    return;
  }
  if (page.keys.length > HEARTBEAT_MAX_CONFIG_KEYS_PER_FRAME) {
    throw new RangeError(`heartbeat frame: ${page.keys.length} config keys; the limit per frame is ${HEARTBEAT_MAX_CONFIG_KEYS_PER_FRAME}`);
  }
  if (page.first + page.keys.length > page.total) {
    throw new RangeError(`heartbeat frame: config keys ${page.first}..${page.first + page.keys.length - 1} lie beyond the total of ${page.total}`);
  }
  writeDigest(w, page.digest, "heartbeat frame: config digest");
  w.u16(page.total, "heartbeat frame: config key total");
  w.u16(page.first, "heartbeat frame: config page start");
  w.u8(page.keys.length, "heartbeat frame: config key count");
  for (let i = 0; i < page.keys.length; i++) {
    const k = page.keys[i] as { key: string; hash: string };
    const what = configKeyOut(i);
    writeName(w, k.key, HEARTBEAT_MAX_NAME_BYTES, what.key);
    writeDigest(w, k.hash, what.hash);
  }
}

const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function writeVrrpClaims(w: ByteWriter, claims: readonly VrrpMasterClaim[]): void {
  if (claims.length > HEARTBEAT_MAX_VRRP_CLAIMS) {
    throw new RangeError(`heartbeat frame: ${claims.length} VRRP instances; the limit is ${HEARTBEAT_MAX_VRRP_CLAIMS}`);
  }
  w.u8(claims.length, "heartbeat frame: VRRP instance count");
  for (let i = 0; i < claims.length; i++) {
    const c = claims[i] as VrrpMasterClaim;
    const what = `${PREFIX}VRRP instance ${i}`;
    writeName(w, c.instance, HEARTBEAT_MAX_NAME_BYTES, `${what} name`);
    if (!Number.isInteger(c.vrid) || c.vrid < 1 || c.vrid > 255) throw new RangeError(`${what} vrid must be 1..255, got ${c.vrid}`);
    w.u8(c.vrid, `${what} vrid`);
    const m = DOTTED_QUAD.exec(c.address);
    const octets = m === null ? [] : m.slice(1).map(Number);
    if (octets.length !== 4 || octets.some((o) => o > 255)) throw new RangeError(`${what} address must be a dotted-quad IPv4 address, got ${JSON.stringify(c.address)}`);
    for (const o of octets) w.u8(o, `${what} address`);
  }
}

/** The claims, or undefined for none (most frames: no array made for them). */
function readVrrpClaims(r: ByteReader, bytes: Uint8Array): VrrpMasterClaim[] | undefined {
  const n = readCount(r, HEARTBEAT_MAX_VRRP_CLAIMS, "VRRP instance count");
  if (n === 0) return undefined;
  const claims: VrrpMasterClaim[] = [];
  for (let i = 0; i < n; i++) {
    const instance = readName(r, bytes, HEARTBEAT_MAX_NAME_BYTES, nameField(`VRRP instance ${i} name`));
    const at = r.offset;
    const vrid = r.u8(`VRRP instance ${i} vrid`);
    if (vrid === 0) throw new ByteDecodeError(`VRRP instance ${i} vrid at offset ${at} is 0; VRIDs are 1..255`, at);
    const a = r.skip(4, `VRRP instance ${i} address`);
    claims.push({ instance, vrid, address: `${bytes[a]}.${bytes[a + 1]}.${bytes[a + 2]}.${bytes[a + 3]}` });
  }
  return claims;
}

/** Whether the MAC at `bytes[macAt..]` is `expectedMac`, in time independent of where they differ. */
function macMatches(bytes: Uint8Array, macAt: number): boolean {
  let diff = 0;
  for (let i = 0; i < HEARTBEAT_MAC_BYTES; i++) diff |= (expectedMac[i] as number) ^ (bytes[macAt + i] as number);
  return diff === 0;
}

function fail(kind: HeartbeatDecodeErrorKind, detail: string): HeartbeatDecodeResult {
  return { ok: false, error: { kind, detail } };
}

/** A name field for error texts: its name and the name of its length byte. */
interface NameField {
  readonly what: string;
  readonly length: string;
}
const nameField = (what: string): NameField => ({ what, length: `length of ${what}` });
const CLUSTER_NAME = nameField("cluster name");
const NODE_NAME = nameField("node name");
const echoIn = perIndex((i) => ({ node: nameField(`echo ${i} node name`), sentAt: `echo ${i} sentAt`, heldMs: `echo ${i} heldMs` }));
const moduleIn = perIndex((i) => ({
  module: nameField(`module advert ${i} module name`),
  role: nameField(`module advert ${i} role`),
  generation: `module advert ${i} generation`,
  flags: `module advert ${i} flags`,
  failure: nameField(`module advert ${i} failure`),
}));
const configKeyIn = perIndex((i) => ({ key: nameField(`config key ${i}`), hash: `config key ${i} hash` }));

/**
 * Names already found valid (decoded, or written by this node), by their
 * UTF-8, in buckets by byte length: a peer sends the same few names (cluster,
 * itself, its peers, its modules and roles) in every frame, so a name whose
 * bytes match one of these is that string, without decoding or checking it
 * again. Only frames that passed the MAC reach names, and the table is
 * cleared when it holds more than NAME_CACHE_MAX, so it stays small whatever
 * names come and go.
 */
interface KnownName {
  readonly raw: Uint8Array;
  readonly value: string;
}
let knownByLength: (KnownName[] | undefined)[] = [];
let knownCount = 0;

function rememberName(bytes: Uint8Array, at: number, n: number, value: string): void {
  if (n === 0 || n > 0xff) return;
  if (knownCount >= NAME_CACHE_MAX) {
    knownByLength = [];
    knownCount = 0;
  }
  const entry = { raw: bytes.slice(at, at + n), value };
  const bucket = knownByLength[n];
  if (bucket === undefined) knownByLength[n] = [entry];
  else bucket.push(entry);
  knownCount++;
}

function knownName(bytes: Uint8Array, at: number, n: number): string | undefined {
  const bucket = knownByLength[n];
  if (bucket === undefined) return undefined;
  for (let e = 0; e < bucket.length; e++) {
    const known = bucket[e] as KnownName;
    const raw = known.raw;
    let i = 0;
    while (i < n && raw[i] === bytes[at + i]) i++;
    if (i === n) return known.value;
  }
  return undefined;
}

function readName(r: ByteReader, bytes: Uint8Array, maxBytes: number, field: NameField): string {
  const { what } = field;
  const at = r.offset;
  const n = r.u8(field.length);
  if (n === 0) throw new ByteDecodeError(`${what} at offset ${at} is empty`, at);
  if (n > maxBytes) throw new ByteDecodeError(`${what} at offset ${at} is ${n} bytes; the limit is ${maxBytes}`, at);
  const start = r.offset;
  if (n <= r.remaining) {
    const known = knownName(bytes, start, n);
    if (known !== undefined) {
      r.skip(n, what);
      return known;
    }
  }
  const value = r.utf8(n, what);
  if (CONTROL_CHAR.test(value)) throw new ByteDecodeError(`${what} at offset ${at} contains a control character`, at);
  rememberName(bytes, start, n, value);
  return value;
}

function readMs(r: ByteReader, what: string): number {
  const at = r.offset;
  const value = r.f64(what);
  if (!Number.isFinite(value) || value < 0) {
    throw new ByteDecodeError(`${what} at offset ${at} is ${value}; expected a finite number >= 0`, at);
  }
  return value;
}

function readCount(r: ByteReader, max: number, what: string): number {
  const at = r.offset;
  const n = r.u8(what);
  if (n > max) throw new ByteDecodeError(`${what} at offset ${at} is ${n}; the limit is ${max}`, at);
  return n;
}

/** A flags byte of which only bit 0 is defined; the others are reserved and must be 0. */
function readFlags(r: ByteReader, what: string): number {
  const at = r.offset;
  const v = r.u8(what);
  if ((v & ~1) !== 0) throw new ByteDecodeError(`${what} at offset ${at} is 0x${v.toString(16)}; only bit 0 is defined`, at);
  return v;
}

const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** The digest at `bytes[at, at + HEARTBEAT_DIGEST_BYTES)` as hex. */
function hexDigest(bytes: Uint8Array, at: number): string {
  let out = "";
  for (let i = at; i < at + HEARTBEAT_DIGEST_BYTES; i++) out += HEX_BYTE[bytes[i] as number] as string;
  return out;
}

function readDigest(r: ByteReader, bytes: Uint8Array, what: string): string {
  return hexDigest(bytes, r.skip(HEARTBEAT_DIGEST_BYTES, what));
}

function isZeroDigest(bytes: Uint8Array, at: number): boolean {
  for (let i = at; i < at + HEARTBEAT_DIGEST_BYTES; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Stands for "no keys" until a page is returned (never handed out, so never written to). */
const NO_KEYS_READ: { key: string; hash: string }[] = [];

function readConfigPage(r: ByteReader, bytes: Uint8Array): ConfigDigestPage | undefined {
  // Most frames carry no page: its all-zero digest is not turned into text.
  const digestAt = r.skip(HEARTBEAT_DIGEST_BYTES, "config digest");
  const total = r.u16("config key total");
  const firstAt = r.offset;
  const first = r.u16("config page start");
  const count = readCount(r, HEARTBEAT_MAX_CONFIG_KEYS_PER_FRAME, "config key count");
  if (first + count > total) throw new ByteDecodeError(`config page at offset ${firstAt} lists keys ${first}..${first + count - 1} of only ${total}`, firstAt);
  const keys: { key: string; hash: string }[] = count === 0 ? NO_KEYS_READ : [];
  for (let i = 0; i < count; i++) {
    const what = configKeyIn(i);
    keys.push({ key: readName(r, bytes, HEARTBEAT_MAX_NAME_BYTES, what.key), hash: readDigest(r, bytes, what.hash) });
  }
  if (isZeroDigest(bytes, digestAt)) {
    if (total !== 0 || first !== 0 || count !== 0) throw new ByteDecodeError(`config page at offset ${firstAt} lists keys without a digest`, firstAt);
    return undefined;
  }
  return { digest: hexDigest(bytes, digestAt), total, first, keys: count === 0 ? [] : keys };
}

function parseBody(r: ByteReader, bytes: Uint8Array, version: number): HeartbeatFrame {
  const epoch = r.u64("epoch");
  const seq = r.u32("seq");
  const sentAt = readMs(r, "sentAt");
  const link = r.u8("link index");
  const cluster = readName(r, bytes, HEARTBEAT_MAX_NAME_BYTES, CLUSTER_NAME);
  const node = readName(r, bytes, HEARTBEAT_MAX_NAME_BYTES, NODE_NAME);
  const echoes: PeerEcho[] = [];
  const echoCount = readCount(r, HEARTBEAT_MAX_ECHOES, "echo count");
  for (let i = 0; i < echoCount; i++) {
    const what = echoIn(i);
    echoes.push({
      node: readName(r, bytes, HEARTBEAT_MAX_NAME_BYTES, what.node),
      sentAt: readMs(r, what.sentAt),
      heldMs: readMs(r, what.heldMs),
    });
  }
  const modules: ModuleAdvert[] = [];
  const moduleCount = readCount(r, HEARTBEAT_MAX_MODULES, "module count");
  for (let i = 0; i < moduleCount; i++) {
    const what = moduleIn(i);
    const module = readName(r, bytes, HEARTBEAT_MAX_NAME_BYTES, what.module);
    const role = readName(r, bytes, HEARTBEAT_MAX_ROLE_BYTES, what.role);
    const at = r.offset;
    const generation = r.u64Safe(what.generation);
    if (generation === undefined) {
      const big = new ByteReader(bytes, at, at + 8).u64(what.generation);
      throw new ByteDecodeError(`${what.generation} at offset ${at} is ${big}; the limit is 2^53-1`, at);
    }
    const advert: ModuleAdvert = { module, role, generation };
    if (version >= 2) {
      if (readFlags(r, what.flags) === 1) advert.starting = true;
      const at = r.offset;
      const n = r.u8(what.failure.length);
      if (n > HEARTBEAT_MAX_FAILURE_BYTES) throw new ByteDecodeError(`${what.failure.what} at offset ${at} is ${n} bytes; the limit is ${HEARTBEAT_MAX_FAILURE_BYTES}`, at);
      const failure = r.utf8(n, what.failure.what);
      if (CONTROL_CHAR.test(failure)) throw new ByteDecodeError(`${what.failure.what} at offset ${at} contains a control character`, at);
      if (failure !== "") advert.failure = failure;
    }
    modules.push(advert);
  }
  const frame: HeartbeatFrame = { cluster, node, epoch, seq, sentAt, link, echoes, modules };
  if (version >= 2) {
    if (readFlags(r, "flags") === 1) frame.leaving = true;
    const config = readConfigPage(r, bytes);
    if (config !== undefined) frame.config = config;
  }
  if (version >= 3) {
    const vrrp = readVrrpClaims(r, bytes);
    if (vrrp !== undefined) frame.vrrp = vrrp;
  }
  r.expectEnd(version >= 3 ? "the VRRP instances" : version >= 2 ? "the config page" : "the last module advert");
  return frame;
}

/**
 * Checks and decodes one datagram. Never throws: every problem comes back as
 * `{ ok: false, error }` with a detail naming the field and its offset.
 */
export function decodeHeartbeat(bytes: Uint8Array, key: Uint8Array): HeartbeatDecodeResult {
  const len = bytes.length;
  if (len > HEARTBEAT_MAX_FRAME) {
    return fail("oversized", `frame is ${len} bytes; the limit is ${HEARTBEAT_MAX_FRAME}`);
  }
  for (let i = 0; i < Math.min(len, MAGIC.length); i++) {
    if (bytes[i] !== MAGIC[i]) {
      return fail("bad-magic", `byte ${i} is 0x${(bytes[i] ?? 0).toString(16).padStart(2, "0")}; a heartbeat frame starts with "VGHB"`);
    }
  }
  if (len <= MAGIC.length) {
    return fail("truncated", `frame is ${len} bytes; the smallest heartbeat frame is ${HEARTBEAT_MIN_FRAME}`);
  }
  const version = bytes[MAGIC.length];
  if (version === undefined || version < HEARTBEAT_OLDEST_VERSION || version > HEARTBEAT_VERSION) {
    return fail("bad-version", `frame version is ${version} at offset ${MAGIC.length}; this node reads versions ${HEARTBEAT_OLDEST_VERSION} to ${HEARTBEAT_VERSION}`);
  }
  if (len < HEARTBEAT_MIN_FRAME) {
    return fail("truncated", `frame is ${len} bytes; the smallest heartbeat frame is ${HEARTBEAT_MIN_FRAME}`);
  }
  const macAt = len - HEARTBEAT_MAC_BYTES;
  hmacSha256PrefixInto(key, bytes, macAt, expectedMac);
  if (!macMatches(bytes, macAt)) {
    return fail("bad-mac", `HMAC-SHA256 at offset ${macAt} does not match: wrong cluster key or altered frame`);
  }
  try {
    const r = new ByteReader(bytes, MAGIC.length + 1, macAt);
    return { ok: true, frame: parseBody(r, bytes, version) };
  } catch (err) {
    if (err instanceof ByteDecodeError) return fail("malformed", err.message);
    throw err;
  }
}
