/**
 * The HMAC-SHA256 trailer of the small signed datagrams (witness, farm flow
 * reports): the MAC covers every byte before it and is checked, in constant
 * time, before anything after the fixed header is parsed.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const HMAC_TRAILER_BYTES = 32;

/** `body` followed by its MAC under `key`. */
export function withHmacTrailer(body: Uint8Array, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + HMAC_TRAILER_BYTES);
  out.set(body, 0);
  out.set(createHmac("sha256", key).update(body).digest(), body.length);
  return out;
}

/** Whether the last HMAC_TRAILER_BYTES of `bytes` are the MAC of the rest; false when too short. */
export function hmacTrailerMatches(bytes: Uint8Array, key: Uint8Array): boolean {
  if (bytes.length < HMAC_TRAILER_BYTES) return false;
  const at = bytes.length - HMAC_TRAILER_BYTES;
  return timingSafeEqual(createHmac("sha256", key).update(bytes.subarray(0, at)).digest(), bytes.subarray(at));
}
