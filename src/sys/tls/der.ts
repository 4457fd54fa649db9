/**
 * The few ASN.1 DER encodings an X.509 certificate needs (ITU-T X.690):
 * every value is tag, length, content, with the shortest length form.
 */

export function tlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  let len: number[];
  if (n < 0x80) len = [n];
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = [0x80 | bytes.length, ...bytes];
  }
  const out = new Uint8Array(1 + len.length + n);
  out[0] = tag;
  out.set(len, 1);
  out.set(content, 1 + len.length);
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const sequence = (...parts: Uint8Array[]): Uint8Array => tlv(0x30, concat(parts));
export const set = (...parts: Uint8Array[]): Uint8Array => tlv(0x31, concat(parts));
/** [n] EXPLICIT: a constructed context-specific tag around one encoded value. */
export const explicit = (n: number, inner: Uint8Array): Uint8Array => tlv(0xa0 | n, inner);
export const octetString = (b: Uint8Array): Uint8Array => tlv(0x04, b);
export const utf8String = (s: string): Uint8Array => tlv(0x0c, new TextEncoder().encode(s));
export const boolean = (v: boolean): Uint8Array => tlv(0x01, Uint8Array.of(v ? 0xff : 0x00));
/** A BIT STRING of whole bytes (no unused bits). */
export const bitString = (b: Uint8Array): Uint8Array => tlv(0x03, concat([Uint8Array.of(0), b]));

/** A non-negative INTEGER from its big-endian magnitude. */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const body = magnitude.subarray(start);
  const pad = body.length === 0 || (body[0] as number) & 0x80 ? [0] : [];
  return tlv(0x02, concat([Uint8Array.from(pad), body.length === 0 ? new Uint8Array() : body]));
}

export const smallInteger = (n: number): Uint8Array => unsignedInteger(Uint8Array.of(n));

/** "1.2.840.10045.4.3.2" -> OBJECT IDENTIFIER. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  const first = (arcs[0] as number) * 40 + (arcs[1] as number);
  const bytes: number[] = [];
  for (const arc of [first, ...arcs.slice(2)]) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    bytes.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(bytes));
}

/** UTCTime for 1950-2049, GeneralizedTime after (RFC 5280 4.1.2.5), to the second, in UTC. */
export function time(d: Date): Uint8Array {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  const y = d.getUTCFullYear();
  if (y >= 1950 && y < 2050) return tlv(0x17, new TextEncoder().encode(`${p(y % 100)}${rest}`));
  return tlv(0x18, new TextEncoder().encode(`${p(y, 4)}${rest}`));
}
