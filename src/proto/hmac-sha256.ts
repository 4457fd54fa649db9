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

  /**
   * Views of `inner` by message length, made once per length: a node's
   * frames come in a few lengths, and a subarray() per MAC was one of the
   * dearest calls of a heartbeat round (its own object, and the runtime's
   * species lookup). At most one per length up to `inner`'s size.
   */
  private views: (Uint8Array | undefined)[] = [];

  /** The MAC of `bytes`' first `length` bytes (the rest, such as the MAC the frame carries, is copied but not signed). */
  macOfPrefixInto(bytes: Uint8Array, length: number, out: Uint8Array): void {
    if (BLOCK + bytes.length > this.inner.length) {
      const grown = new Uint8Array(BLOCK + bytes.length);
      grown.set(this.inner.subarray(0, BLOCK));
      this.inner = grown;
      this.views = [];
    }
    this.inner.set(bytes, BLOCK);
    let signed = this.views[length];
    if (signed === undefined) {
      signed = this.inner.subarray(0, BLOCK + length);
      this.views[length] = signed;
    }
    sha256Into(signed, this.innerDigest);
    sha256Into(this.outer, out);
  }
}

const byKey = new WeakMap<Uint8Array, KeyedSha256>();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function keyedFor(key: Uint8Array): KeyedSha256 {
  let keyed = byKey.get(key);
  if (keyed === undefined || !sameBytes(keyed.key, key)) {
    keyed = new KeyedSha256(key);
    byKey.set(key, keyed);
  }
  return keyed;
}

/** HMAC-SHA256(key, message) written into `out` (HMAC_SHA256_BYTES long). */
export function hmacSha256Into(key: Uint8Array, message: Uint8Array, out: Uint8Array): void {
  keyedFor(key).macOfPrefixInto(message, message.length, out);
}

/** HMAC-SHA256(key, the first `length` bytes of `bytes`) written into `out`: a frame's MAC without a view of its body. */
export function hmacSha256PrefixInto(key: Uint8Array, bytes: Uint8Array, length: number, out: Uint8Array): void {
  if (length < 0 || length > bytes.length) throw new RangeError(`HMAC of ${length} bytes of a ${bytes.length}-byte buffer`);
  keyedFor(key).macOfPrefixInto(bytes, length, out);
}
