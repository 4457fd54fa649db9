/**
 * VRRP advertisement codec for IPv4: VRRPv3 (RFC 5798) and VRRPv2 (RFC 3768,
 * with the simple-text password keepalived still speaks).
 *
 * Message layout (big-endian), after the IPv4 header:
 *
 *   off  size  v3                              v2
 *   0    1     version 3 << 4 | type 1         version 2 << 4 | type 1
 *   1    1     VRID                            VRID
 *   2    1     priority                        priority
 *   3    1     count of IPv4 addresses         count of IPv4 addresses
 *   4    2     rsvd(4) | max advert int(12),   auth type(8), advert int(8) in seconds
 *              in centiseconds
 *   6    2     checksum                        checksum
 *   8    4n    IPv4 addresses                  IPv4 addresses
 *   ..   8     -                               authentication data
 *
 * The v3 checksum covers the IPv4 pseudo-header (src, dst, 0, 112, VRRP
 * length) and the message; the v2 checksum covers the message only.
 *
 * Intervals are centiseconds in both versions here, so the rest of the code
 * has one unit: a v2 interval on the wire is whole seconds and is converted.
 *
 * Decoding takes what a raw IPv4 socket delivers: the IPv4 header followed
 * by the message. It never throws; every rejection comes back as a typed
 * error whose detail names the field and its offset in the datagram.
 */
import { internetChecksum, ipv4PseudoHeader } from "./checksum.ts";

export const VRRP_PROTOCOL = 112;
export const VRRP_MULTICAST_V4 = "224.0.0.18";
/** RFC 5798 5.1.1.3: sent with, and only accepted with, TTL 255 (proof the sender is on-link). */
export const VRRP_TTL = 255;
export const VRRP_TYPE_ADVERTISEMENT = 1;
export const VRRP_HEADER_BYTES = 8;
export const VRRP_V2_AUTH_BYTES = 8;
/** 12 bits of centiseconds: 40.95 s. */
export const VRRP_V3_MAX_ADVERT_INT_CS = 4095;
/** 8 bits of seconds. */
export const VRRP_V2_MAX_ADVERT_INT_S = 255;
export const VRRP_MAX_ADDRESSES = 255;
const IPV4_MIN_HEADER_BYTES = 20;

export type VrrpVersion = 2 | 3;

/** What an instance is configured with (v2 only; v3 has no authentication). */
export type VrrpAuth = { readonly type: "none" } | { readonly type: "pass"; readonly password: string };

/** What a received v2 packet carries: type 2 (IP AH) and unknown types are reported, never accepted as a match. */
export type VrrpWireAuth = VrrpAuth | { readonly type: "other"; readonly code: number };

export interface VrrpAdvert {
  readonly version: VrrpVersion;
  /** 1..255 */
  readonly vrid: number;
  /** 0..255; 0 = the master resigns, 255 = the address owner. */
  readonly priority: number;
  /** v3: 1..4095 cs; v2: whole seconds 1..255, given as 100..25500 cs. */
  readonly advertIntCs: number;
  /** Dotted-quad IPv4 addresses, 1..255 of them. */
  readonly addresses: readonly string[];
  /** v2 only; default none. */
  readonly auth?: VrrpAuth;
}

export interface VrrpPacket {
  readonly version: VrrpVersion;
  readonly vrid: number;
  readonly priority: number;
  readonly advertIntCs: number;
  readonly addresses: readonly string[];
  /** Always `{type: "none"}` for v3. */
  readonly auth: VrrpWireAuth;
  /** IPv4 source: the sender's primary address, the election tiebreak. */
  readonly src: string;
  readonly dst: string;
  readonly ttl: number;
}

export type VrrpDecodeErrorKind =
  | "truncated"
  | "bad-ip-header"
  | "ttl"
  | "not-vrrp"
  | "version"
  | "type"
  | "checksum"
  | "addr-count"
  | "auth";

export const vrrpDecodeErrorKinds: readonly VrrpDecodeErrorKind[] = [
  "truncated",
  "bad-ip-header",
  "ttl",
  "not-vrrp",
  "version",
  "type",
  "checksum",
  "addr-count",
  "auth",
];

export interface VrrpDecodeError {
  readonly kind: VrrpDecodeErrorKind;
  readonly detail: string;
}

export type VrrpDecodeResult = { readonly ok: true; readonly packet: VrrpPacket } | { readonly ok: false; readonly error: VrrpDecodeError };

export interface VrrpDecodeOptions {
  /** Reject the other version (what the instance speaks). Default: accept 2 and 3. */
  readonly version?: VrrpVersion;
  /** Check v2 authentication against this. Default: no check (see verifyVrrpAuth). */
  readonly auth?: VrrpAuth;
}

// ---- IPv4 addresses ---------------------------------------------------------

// No leading zeros: "010" means 8 to some parsers and 10 to others.
const OCTET = /^(?:0|[1-9][0-9]{0,2})$/;

/** The 4 bytes of a dotted-quad address, or null if `text` is not exactly one. */
export function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? "";
    if (!OCTET.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

/** The address as an unsigned 32-bit number (for comparisons), or null if invalid. */
export function ipv4ToNumber(text: string): number | null {
  const b = parseIpv4(text);
  if (b === null) return null;
  return (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
}

export function formatIpv4(bytes: Uint8Array, at = 0): string {
  return `${bytes[at] ?? 0}.${bytes[at + 1] ?? 0}.${bytes[at + 2] ?? 0}.${bytes[at + 3] ?? 0}`;
}

function requireIpv4(text: string, what: string): Uint8Array {
  const b = parseIpv4(text);
  if (b === null) throw new RangeError(`${what} ${JSON.stringify(text)} is not a dotted-quad IPv4 address`);
  return b;
}

// ---- authentication ---------------------------------------------------------

const PASSWORD_CHARS = /^[\u0020-\u007e]{1,8}$/;

/** The 8 authentication bytes for a password: ASCII, zero-padded, as keepalived sends them. */
function passwordBytes(password: string): Uint8Array {
  if (!PASSWORD_CHARS.test(password)) {
    throw new RangeError(`VRRPv2 password must be 1 to 8 printable ASCII characters, got ${password.length} characters`);
  }
  const out = new Uint8Array(VRRP_V2_AUTH_BYTES);
  for (let i = 0; i < password.length; i++) out[i] = password.charCodeAt(i);
  return out;
}

/**
 * Byte-per-character (latin1), trailing zeros stripped. Lossless, so comparing
 * these strings compares the bytes, and a zero byte in the middle survives.
 */
function passwordText(auth: Uint8Array): string {
  let end = auth.length;
  while (end > 0 && auth[end - 1] === 0) end--;
  let s = "";
  for (let i = 0; i < end; i++) s += String.fromCharCode(auth[i] ?? 0);
  return s;
}

function describeAuth(a: VrrpWireAuth): string {
  if (a.type === "other") return `auth type ${a.code}${a.code === 2 ? " (IP AH)" : ""}`;
  return a.type === "pass" ? "a simple-text password" : "no authentication";
}

/**
 * Checks a decoded packet against the instance's authentication, for drivers
 * that decode before they know which instance a packet is for. v3 packets
 * carry no authentication and always pass. Returns null when it matches.
 */
export function verifyVrrpAuth(packet: VrrpPacket, expected: VrrpAuth): VrrpDecodeError | null {
  if (packet.version !== 2) return null;
  const got = packet.auth;
  if (expected.type === "none") {
    if (got.type === "none") return null;
    return { kind: "auth", detail: `VRRPv2 packet from ${packet.src} carries ${describeAuth(got)} but this instance expects none` };
  }
  if (got.type !== "pass") {
    return { kind: "auth", detail: `VRRPv2 packet from ${packet.src} carries ${describeAuth(got)} but this instance expects a simple-text password` };
  }
  if (got.password !== expected.password) {
    return { kind: "auth", detail: `VRRPv2 packet from ${packet.src}: the password does not match this instance's` };
  }
  return null;
}

// ---- encoding ---------------------------------------------------------------

function checkInt(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`VRRP advert: ${what} must be an integer in ${min}..${max}, got ${value}`);
  }
}

/**
 * The VRRP message (no IPv4 header: the kernel adds it). `src` and `dst` are
 * the addresses the datagram will carry; the v3 checksum covers them, so
 * they must be what the socket really uses. Throws RangeError for an advert
 * that cannot be sent (a bug or a config the loader should have refused).
 */
export function encodeAdvert(advert: VrrpAdvert, ip: { readonly src: string; readonly dst: string }): Uint8Array {
  const { version } = advert;
  if (version !== 2 && version !== 3) throw new RangeError(`VRRP advert: version must be 2 or 3, got ${String(version)}`);
  checkInt(advert.vrid, 1, 255, "VRID");
  checkInt(advert.priority, 0, 255, "priority");
  checkInt(advert.addresses.length, 1, VRRP_MAX_ADDRESSES, "address count");
  const src = requireIpv4(ip.src, "VRRP advert: source address");
  const dst = requireIpv4(ip.dst, "VRRP advert: destination address");
  const auth = advert.auth ?? { type: "none" };
  let intervalField: number;
  if (version === 3) {
    checkInt(advert.advertIntCs, 1, VRRP_V3_MAX_ADVERT_INT_CS, "VRRPv3 advert interval (centiseconds)");
    if (auth.type !== "none") throw new RangeError("VRRP advert: VRRPv3 has no authentication; use version 2 for a password");
    intervalField = advert.advertIntCs;
  } else {
    if (advert.advertIntCs % 100 !== 0) {
      throw new RangeError(`VRRP advert: a VRRPv2 advert interval is whole seconds, got ${advert.advertIntCs} cs`);
    }
    checkInt(advert.advertIntCs / 100, 1, VRRP_V2_MAX_ADVERT_INT_S, "VRRPv2 advert interval (seconds)");
    intervalField = ((auth.type === "pass" ? 1 : 0) << 8) | (advert.advertIntCs / 100);
  }
  const len = VRRP_HEADER_BYTES + 4 * advert.addresses.length + (version === 2 ? VRRP_V2_AUTH_BYTES : 0);
  const msg = new Uint8Array(len);
  msg[0] = (version << 4) | VRRP_TYPE_ADVERTISEMENT;
  msg[1] = advert.vrid;
  msg[2] = advert.priority;
  msg[3] = advert.addresses.length;
  msg[4] = intervalField >>> 8;
  msg[5] = intervalField & 0xff;
  advert.addresses.forEach((a, i) => msg.set(requireIpv4(a, `VRRP advert: address ${i}`), VRRP_HEADER_BYTES + 4 * i));
  if (version === 2 && auth.type === "pass") msg.set(passwordBytes(auth.password), len - VRRP_V2_AUTH_BYTES);
  const sum = version === 3 ? internetChecksum(ipv4PseudoHeader(src, dst, VRRP_PROTOCOL, len), msg) : internetChecksum(msg);
  msg[6] = sum >>> 8;
  msg[7] = sum & 0xff;
  return msg;
}

/**
 * A whole IPv4 datagram around `payload`, as a raw socket would deliver it:
 * for the in-memory transport and tests. No options, DF clear, header
 * checksum filled in.
 */
export function encodeIpv4Datagram(
  payload: Uint8Array,
  ip: { readonly src: string; readonly dst: string; readonly ttl?: number; readonly protocol?: number; readonly id?: number },
): Uint8Array {
  const total = IPV4_MIN_HEADER_BYTES + payload.length;
  if (total > 0xffff) throw new RangeError(`IPv4 datagram would be ${total} bytes; the limit is 65535`);
  const ttl = ip.ttl ?? VRRP_TTL;
  const protocol = ip.protocol ?? VRRP_PROTOCOL;
  const id = ip.id ?? 0;
  checkInt(ttl, 0, 255, "IPv4 TTL");
  checkInt(protocol, 0, 255, "IPv4 protocol");
  checkInt(id, 0, 0xffff, "IPv4 identification");
  const out = new Uint8Array(total);
  out[0] = 0x45;
  out[2] = total >>> 8;
  out[3] = total & 0xff;
  out[4] = id >>> 8;
  out[5] = id & 0xff;
  out[8] = ttl;
  out[9] = protocol;
  out.set(requireIpv4(ip.src, "IPv4 source address"), 12);
  out.set(requireIpv4(ip.dst, "IPv4 destination address"), 16);
  const sum = internetChecksum(out.subarray(0, IPV4_MIN_HEADER_BYTES));
  out[10] = sum >>> 8;
  out[11] = sum & 0xff;
  out.set(payload, IPV4_MIN_HEADER_BYTES);
  return out;
}

// ---- decoding ---------------------------------------------------------------

function fail(kind: VrrpDecodeErrorKind, detail: string): VrrpDecodeResult {
  return { ok: false, error: { kind, detail } };
}

function hex(n: number, digits: number): string {
  return `0x${n.toString(16).padStart(digits, "0")}`;
}

/** Checks and decodes one datagram (IPv4 header included). Never throws. */
export function decodeVrrp(datagram: Uint8Array, options: VrrpDecodeOptions = {}): VrrpDecodeResult {
  const b = datagram;
  const at = (i: number): number => b[i] ?? 0;
  if (b.length < IPV4_MIN_HEADER_BYTES) {
    return fail("truncated", `datagram is ${b.length} bytes; an IPv4 header alone needs ${IPV4_MIN_HEADER_BYTES}`);
  }
  const ipVersion = at(0) >>> 4;
  if (ipVersion !== 4) return fail("bad-ip-header", `IP version at offset 0 is ${ipVersion}; expected 4`);
  const ihl = (at(0) & 0x0f) * 4;
  if (ihl < IPV4_MIN_HEADER_BYTES) return fail("bad-ip-header", `IPv4 header length at offset 0 is ${ihl} bytes; the minimum is 20`);
  if (ihl > b.length) return fail("truncated", `IPv4 header claims ${ihl} bytes but the datagram is ${b.length}`);
  const total = (at(2) << 8) | at(3);
  if (total < ihl) return fail("bad-ip-header", `IPv4 total length at offset 2 is ${total}, less than its ${ihl}-byte header`);
  if (total > b.length) return fail("truncated", `IPv4 total length at offset 2 is ${total} but only ${b.length} bytes arrived`);
  const fragment = ((at(6) << 8) | at(7)) & 0x3fff;
  if (fragment !== 0) return fail("bad-ip-header", `IPv4 fragment at offset 6 (flags/offset ${hex(fragment, 4)}); adverts are never fragmented`);
  if (internetChecksum(b.subarray(0, ihl)) !== 0) return fail("bad-ip-header", "IPv4 header checksum at offset 10 does not match");
  const protocol = at(9);
  if (protocol !== VRRP_PROTOCOL) return fail("not-vrrp", `IP protocol at offset 9 is ${protocol}; VRRP is ${VRRP_PROTOCOL}`);
  const ttl = at(8);
  if (ttl !== VRRP_TTL) {
    return fail("ttl", `IPv4 TTL at offset 8 is ${ttl}; VRRP requires ${VRRP_TTL} (the packet was routed or the sender is misconfigured)`);
  }
  const src = formatIpv4(b, 12);
  const dst = formatIpv4(b, 16);
  // Bytes after the total length (link-layer padding) are not part of the message.
  const msg = b.subarray(ihl, total);
  const v = ihl; // details give offsets in the whole datagram, so the message starts at v
  if (msg.length < VRRP_HEADER_BYTES) {
    return fail("truncated", `VRRP message at offset ${v} is ${msg.length} bytes; its fixed header needs ${VRRP_HEADER_BYTES}`);
  }
  const m = (i: number): number => msg[i] ?? 0;
  const version = m(0) >>> 4;
  if (version !== 2 && version !== 3) return fail("version", `VRRP version at offset ${v} is ${version}; expected 2 or 3`);
  if (options.version !== undefined && version !== options.version) {
    return fail("version", `VRRP version at offset ${v} is ${version} but this instance speaks VRRPv${options.version}`);
  }
  const type = m(0) & 0x0f;
  if (type !== VRRP_TYPE_ADVERTISEMENT) return fail("type", `VRRP type at offset ${v} is ${type}; only 1 (advertisement) exists`);
  const sum =
    version === 3
      ? internetChecksum(ipv4PseudoHeader(b.subarray(12, 16), b.subarray(16, 20), VRRP_PROTOCOL, msg.length), msg)
      : internetChecksum(msg);
  if (sum !== 0) {
    const covered = version === 3 ? "pseudo-header and message" : "message";
    return fail("checksum", `VRRPv${version} checksum at offset ${v + 6} (${hex((m(6) << 8) | m(7), 4)}) does not match the ${covered}`);
  }
  const count = m(3);
  const authBytes = version === 2 ? VRRP_V2_AUTH_BYTES : 0;
  const expected = VRRP_HEADER_BYTES + 4 * count + authBytes;
  if (msg.length !== expected) {
    return fail(
      "addr-count",
      `VRRPv${version} address count at offset ${v + 3} is ${count}, which makes a ${expected}-byte message, but it is ${msg.length} bytes`,
    );
  }
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) addresses.push(formatIpv4(msg, VRRP_HEADER_BYTES + 4 * i));
  let advertIntCs: number;
  let auth: VrrpWireAuth = { type: "none" };
  if (version === 3) {
    advertIntCs = ((m(4) & 0x0f) << 8) | m(5);
  } else {
    advertIntCs = m(5) * 100;
    const code = m(4);
    const data = msg.subarray(msg.length - VRRP_V2_AUTH_BYTES);
    auth = code === 0 ? { type: "none" } : code === 1 ? { type: "pass", password: passwordText(data) } : { type: "other", code };
  }
  const packet: VrrpPacket = { version, vrid: m(1), priority: m(2), advertIntCs, addresses, auth, src, dst, ttl };
  if (options.auth !== undefined) {
    const bad = verifyVrrpAuth(packet, options.auth);
    if (bad !== null) return { ok: false, error: { kind: "auth", detail: `${bad.detail} (auth type at offset ${v + 4})` } };
  }
  return { ok: true, packet };
}
