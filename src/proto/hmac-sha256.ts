/**
 * HMAC-SHA256 (RFC 2104) for a key that signs or checks every frame. The
 * key's inner and outer pads are made once per key, and a MAC is two SHA-256
 * runs over buffers kept with them, so a frame costs no Hmac object: on Bun
 * (the binary) the digests are written into those buffers, elsewhere each is
 * one small Buffer. Not reentrant, which single-threaded codecs need not be.
 */
import * as crypto from "node:crypto";

const BLOCK = 64;
export const HMAC_SHA256_BYTES = 32;

type Sha256Into = (data: Uint8Array, out: Uint8Array) => void;

interface BunSha256 {
  hash(data: Uint8Array, out: Uint8Array): Uint8Array;
}
const bunSha256 = (globalThis as { Bun?: { SHA256?: BunSha256 } }).Bun?.SHA256;
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: "buffer") => Uint8Array }).hash;

const sha256Into: Sha256Into =
  bunSha256 !== undefined
    ? (data, out) => void bunSha256.hash(data, out)
    : oneShot !== undefined
      ? (data, out) => out.set(oneShot("sha256", data, "buffer"))
      : (data, out) => out.set(crypto.createHash("sha256").update(data).digest());

class KeyedSha256 {
  /** ipad-key, then the message. */
  private inner: Uint8Array;
  /** opad-key, then the inner digest. */
  private readonly outer = new Uint8Array(BLOCK + HMAC_SHA256_BYTES);
  private readonly innerDigest = this.outer.subarray(BLOCK);
  /** The key this was made for, to notice one changed in place. */
  readonly key: Uint8Array;

  constructor(key: Uint8Array) {
    this.key = key.slice();
    const k = new Uint8Array(BLOCK);
    if (key.length > BLOCK) sha256Into(key, k.subarray(0, HMAC_SHA256_BYTES));
    else k.set(key);
    this.inner = new Uint8Array(BLOCK + 1500);
    for (let i = 0; i < BLOCK; i++) {
      this.inner[i] = (k[i] ?? 0) ^ 0x36;
      this.outer[i] = (k[i] ?? 0) ^ 0x5c;
    }
  }

  macInto(message: Uint8Array, out: Uint8Array): void {
    if (BLOCK + message.length > this.inner.length) {
      const grown = new Uint8Array(BLOCK + message.length);
      grown.set(this.inner.subarray(0, BLOCK));
      this.inner = grown;
    }
    this.inner.set(message, BLOCK);
    sha256Into(this.inner.subarray(0, BLOCK + message.length), this.innerDigest);
    sha256Into(this.outer, out);
  }
}

const byKey = new WeakMap<Uint8Array, KeyedSha256>();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** HMAC-SHA256(key, message) written into `out` (HMAC_SHA256_BYTES long). */
export function hmacSha256Into(key: Uint8Array, message: Uint8Array, out: Uint8Array): void {
  let keyed = byKey.get(key);
  if (keyed === undefined || !sameBytes(keyed.key, key)) {
    keyed = new KeyedSha256(key);
    byKey.set(key, keyed);
  }
  keyed.macInto(message, out);
}
