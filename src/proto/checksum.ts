/**
 * The Internet checksum (RFC 1071): the 16-bit one's complement of the one's
 * complement sum of the data taken as big-endian 16-bit words.
 *
 * Several parts are summed as if they were one buffer, so a pseudo-header and
 * a message can be checksummed without copying them together; an odd-length
 * part shifts the pairing of the bytes after it, exactly as concatenation would.
 */

/** The folded 16-bit one's complement sum of the concatenation of `parts` (not complemented). */
export function onesComplementSum(parts: readonly Uint8Array[]): number {
  let sum = 0;
  let high = true;
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) {
      const byte = part[i] ?? 0;
      sum += high ? byte << 8 : byte;
      high = !high;
      // Folding as we go keeps the sum below 2^17 whatever the length, so the
      // 32-bit bit operations never see a truncated value.
      if (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    }
  }
  return sum;
}

/**
 * The checksum to put in a header whose checksum field is zero while summing.
 * Over data that already carries its correct checksum the result is 0, which
 * is how a receiver verifies.
 */
export function internetChecksum(...parts: Uint8Array[]): number {
  return ~onesComplementSum(parts) & 0xffff;
}

/**
 * The IPv4 pseudo-header upper-layer checksums cover (RFC 768/793 shape, and
 * RFC 5798 section 5.2.8 for VRRPv3): source, destination, a zero byte, the
 * protocol number and the upper-layer length.
 */
export function ipv4PseudoHeader(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): Uint8Array {
  if (src.length !== 4 || dst.length !== 4) {
    throw new RangeError(`pseudo-header addresses must be 4 bytes each, got ${src.length} and ${dst.length}`);
  }
  if (!Number.isInteger(protocol) || protocol < 0 || protocol > 0xff) {
    throw new RangeError(`pseudo-header protocol must be an integer in 0..255, got ${protocol}`);
  }
  if (!Number.isInteger(length) || length < 0 || length > 0xffff) {
    throw new RangeError(`pseudo-header length must be an integer in 0..65535, got ${length}`);
  }
  const out = new Uint8Array(12);
  out.set(src, 0);
  out.set(dst, 4);
  out[8] = 0;
  out[9] = protocol;
  out[10] = length >>> 8;
  out[11] = length & 0xff;
  return out;
}
