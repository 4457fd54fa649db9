/**
 * The Linux kernel's jhash (Bob Jenkins' lookup3, include/linux/jhash.h), as
 * nftables' `jhash` expression runs it (net/netfilter/nft_hash.c):
 *
 *   bucket = reciprocal_scale(jhash(key, len, seed), modulus)
 *
 * where `key` is the expression's source registers. Each part of a
 * concatenation such as `ip saddr . tcp sport` fills whole 32-bit registers,
 * zero-padded, so the key is saddr (4 bytes, network order) then sport (2 bytes,
 * network order) then 2 zero bytes: 8 bytes in all. The kernel reads the
 * trailing (<= 12) bytes bytewise, low byte first; full 12-byte blocks as
 * host-order words, which is little-endian on the machines vigil targets.
 */

const INITVAL = 0xdeadbeef;

const rol = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

function wordLe(k: Uint8Array, i: number): number {
  return ((k[i] ?? 0) | ((k[i + 1] ?? 0) << 8) | ((k[i + 2] ?? 0) << 16) | ((k[i + 3] ?? 0) << 24)) >>> 0;
}

/** jhash(key, key.length, seed): an unsigned 32-bit value. */
export function jhash(key: Uint8Array, seed: number): number {
  let length = key.length;
  let a = (INITVAL + length + (seed >>> 0)) >>> 0;
  let b = a;
  let c = a;
  let at = 0;
  while (length > 12) {
    a = (a + wordLe(key, at)) >>> 0;
    b = (b + wordLe(key, at + 4)) >>> 0;
    c = (c + wordLe(key, at + 8)) >>> 0;
    // __jhash_mix
    a = (a - c) >>> 0; a = (a ^ rol(c, 4)) >>> 0; c = (c + b) >>> 0;
    b = (b - a) >>> 0; b = (b ^ rol(a, 6)) >>> 0; a = (a + c) >>> 0;
    c = (c - b) >>> 0; c = (c ^ rol(b, 8)) >>> 0; b = (b + a) >>> 0;
    a = (a - c) >>> 0; a = (a ^ rol(c, 16)) >>> 0; c = (c + b) >>> 0;
    b = (b - a) >>> 0; b = (b ^ rol(a, 19)) >>> 0; a = (a + c) >>> 0;
    c = (c - b) >>> 0; c = (c ^ rol(b, 4)) >>> 0; b = (b + a) >>> 0;
    length -= 12;
    at += 12;
  }
  if (length === 0) return c;
  const byte = (i: number): number => key[at + i] ?? 0;
  // The kernel's switch falls through from `length` down to 1.
  for (let i = length - 1; i >= 0; i--) {
    const v = byte(i) << ((i % 4) * 8);
    if (i >= 8) c = (c + v) >>> 0;
    else if (i >= 4) b = (b + v) >>> 0;
    else a = (a + v) >>> 0;
  }
  // __jhash_final
  c = (c ^ b) >>> 0; c = (c - rol(b, 14)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rol(c, 11)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rol(a, 25)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rol(b, 16)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rol(c, 4)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rol(a, 14)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rol(b, 24)) >>> 0;
  return c;
}

/** The kernel's reciprocal_scale: maps a 32-bit value onto [0, modulus). */
export function reciprocalScale(value: number, modulus: number): number {
  // (u64)value * modulus >> 32, exact in doubles since both factors are < 2^32 and modulus is small.
  return Math.floor(((value >>> 0) * modulus) / 4294967296);
}

function ipv4Bytes(address: string): Uint8Array | undefined {
  const parts = address.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? "";
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

/**
 * The bucket nft puts a client in: `jhash ip saddr mod M seed S` when `port`
 * is undefined, else `jhash ip saddr . th sport mod M seed S`.
 * Throws RangeError for an address that is not dotted IPv4 or a port outside 0-65535.
 */
export function nftBucket(clientIp: string, port: number | undefined, modulus: number, seed: number): number {
  const ip = ipv4Bytes(clientIp);
  if (ip === undefined) throw new RangeError(`${JSON.stringify(clientIp)} is not an IPv4 address`);
  let key: Uint8Array;
  if (port === undefined) {
    key = ip;
  } else {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port ${port} is not in 0-65535`);
    key = new Uint8Array(8);
    key.set(ip, 0);
    key[4] = port >> 8;
    key[5] = port & 0xff;
  }
  return reciprocalScale(jhash(key, seed), modulus);
}
