/**
 * Bounds-checked big-endian (network order) readers and writers for wire
 * codecs. A reader never reads past its window: every overrun or bad UTF-8
 * sequence becomes a ByteDecodeError that names the field and its offset, so
 * a codec can turn it into its own typed result without catching anything else.
 */

/** The one error a ByteReader throws. `offset` is where the bad field starts. */
export class ByteDecodeError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.name = "ByteDecodeError";
    this.offset = offset;
  }
}

// fatal: bad UTF-8 must be rejected, not silently replaced with U+FFFD.
// ignoreBOM: a leading U+FEFF is data; stripping it would break round trips.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

// With the u flag, paired surrogates are one code point, so this only
// matches lone surrogates, which TextEncoder would silently turn into U+FFFD.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** UTF-8 bytes of `text`; throws RangeError for a lone surrogate (not encodable faithfully). */
export function utf8Bytes(text: string, what: string): Uint8Array {
  if (LONE_SURROGATE.test(text)) {
    throw new RangeError(`${what} contains a lone UTF-16 surrogate and cannot be encoded as UTF-8`);
  }
  return utf8Encoder.encode(text);
}

/**
 * Scratch for the 8-byte reads: the bytes are copied here in host order and
 * read through a typed array, so a read allocates no DataView (only the
 * BigInt a u64 is). Codecs run on one thread.
 */
const scratch = new Uint8Array(8);
const scratchF64 = new Float64Array(scratch.buffer);
const scratchU64 = new BigUint64Array(scratch.buffer);
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class ByteReader {
  private readonly bytes: Uint8Array;
  private readonly end: number;
  private pos: number;

  /** Reads `bytes[start, end)`; offsets in errors are relative to `bytes`. */
  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    if (start < 0 || end > bytes.length || start > end) {
      throw new RangeError(`ByteReader window [${start}, ${end}) is outside a buffer of ${bytes.length} bytes`);
    }
    this.bytes = bytes;
    this.pos = start;
    this.end = end;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private take(n: number, what: string): number {
    if (n > this.end - this.pos) {
      throw new ByteDecodeError(
        `${what} at offset ${this.pos} needs ${n} bytes but only ${this.end - this.pos} remain`,
        this.pos,
      );
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** Passes over the next `n` bytes and returns where they start in `bytes`: for callers that read them in place. */
  skip(n: number, what: string): number {
    return this.take(n, what);
  }

  // take() checked the window lies inside `bytes`: the reads below are in range.
  private at(i: number): number {
    return this.bytes[i] as number;
  }

  u8(what: string): number {
    return this.at(this.take(1, what));
  }

  u16(what: string): number {
    const i = this.take(2, what);
    return (this.at(i) << 8) | this.at(i + 1);
  }

  u32(what: string): number {
    const i = this.take(4, what);
    return ((this.at(i) << 24) | (this.at(i + 1) << 16) | (this.at(i + 2) << 8) | this.at(i + 3)) >>> 0;
  }

  private load8(i: number): void {
    if (HOST_LITTLE_ENDIAN) for (let k = 0; k < 8; k++) scratch[k] = this.at(i + 7 - k);
    else for (let k = 0; k < 8; k++) scratch[k] = this.at(i + k);
  }

  u64(what: string): bigint {
    this.load8(this.take(8, what));
    return scratchU64[0] as bigint;
  }

  /** A u64 as a number when it is at most 2^53-1, else undefined (no BigInt made for the common case). */
  u64Safe(what: string): number | undefined {
    const i = this.take(8, what);
    const hi = ((this.at(i) << 24) | (this.at(i + 1) << 16) | (this.at(i + 2) << 8) | this.at(i + 3)) >>> 0;
    if (hi > 0x1fffff) return undefined;
    const lo = ((this.at(i + 4) << 24) | (this.at(i + 5) << 16) | (this.at(i + 6) << 8) | this.at(i + 7)) >>> 0;
    return hi * 0x100000000 + lo;
  }

  f64(what: string): number {
    this.load8(this.take(8, what));
    return scratchF64[0] as number;
  }

  /** A view (not a copy) of the next `n` bytes. */
  bytesView(n: number, what: string): Uint8Array {
    const at = this.take(n, what);
    return this.bytes.subarray(at, at + n);
  }

  utf8(n: number, what: string): string {
    if (n === 0) return "";
    const at = this.pos;
    const raw = this.bytesView(n, what);
    try {
      return utf8Decoder.decode(raw);
    } catch {
      throw new ByteDecodeError(`${what} at offset ${at} is not valid UTF-8`, at);
    }
  }

  /** A string prefixed by its byte length as one u8. */
  utf8WithU8Length(what: string): string {
    const n = this.u8(`length of ${what}`);
    return this.utf8(n, what);
  }

  /** Fails if anything is left in the window: trailing bytes are a framing error. */
  expectEnd(what: string): void {
    if (this.pos !== this.end) {
      throw new ByteDecodeError(
        `${this.end - this.pos} unexpected trailing bytes at offset ${this.pos} after ${what}`,
        this.pos,
      );
    }
  }
}

/**
 * Growable writer. Values out of range are programming errors of the caller
 * and throw RangeError naming the field.
 */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.len;
  }

  // Callers must take the offset before touching this.view: growing replaces it.
  private reserve(n: number): number {
    const need = this.len + n;
    if (need > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < need) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.len;
    this.len = need;
    return at;
  }

  private checkInt(value: number, max: number, what: string): void {
    if (!Number.isInteger(value) || value < 0 || value > max) {
      throw new RangeError(`${what} must be an integer in 0..${max}, got ${value}`);
    }
  }

  u8(value: number, what: string): void {
    this.checkInt(value, 0xff, what);
    const at = this.reserve(1);
    this.view.setUint8(at, value);
  }

  u16(value: number, what: string): void {
    this.checkInt(value, 0xffff, what);
    const at = this.reserve(2);
    this.view.setUint16(at, value);
  }

  u32(value: number, what: string): void {
    this.checkInt(value, 0xffffffff, what);
    const at = this.reserve(4);
    this.view.setUint32(at, value);
  }

  u64(value: bigint, what: string): void {
    if (value < 0n || value > 0xffffffffffffffffn) {
      throw new RangeError(`${what} must fit in an unsigned 64-bit integer, got ${value}`);
    }
    const at = this.reserve(8);
    this.view.setBigUint64(at, value);
  }

  f64(value: number, what: string): void {
    if (!Number.isFinite(value)) {
      throw new RangeError(`${what} must be a finite number, got ${value}`);
    }
    const at = this.reserve(8);
    this.view.setFloat64(at, value);
  }

  bytes(data: Uint8Array): void {
    const at = this.reserve(data.length);
    this.buf.set(data, at);
  }

  /** A string prefixed by its UTF-8 byte length as one u8; `maxBytes` <= 255. */
  utf8WithU8Length(text: string, maxBytes: number, what: string): void {
    this.bytesWithU8Length(utf8Bytes(text, what), maxBytes, what);
  }

  /** Bytes prefixed by their length as one u8; `maxBytes` <= 255. */
  bytesWithU8Length(raw: Uint8Array, maxBytes: number, what: string): void {
    if (raw.length > Math.min(maxBytes, 0xff)) {
      throw new RangeError(`${what} is ${raw.length} bytes of UTF-8; the limit is ${Math.min(maxBytes, 0xff)}`);
    }
    // The length fits a u8 (checked above): no label string made for an error that cannot happen.
    const at = this.reserve(1);
    this.view.setUint8(at, raw.length);
    this.bytes(raw);
  }

  /** A copy of what was written, exactly `length` bytes. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  /**
   * A copy of what was written followed by `room` more bytes, whose content
   * the caller writes (until then it is whatever the buffer held): a frame
   * and its trailer in one allocation and one copy.
   */
  finishWithRoom(room: number): Uint8Array {
    const at = this.reserve(room);
    const out = this.buf.slice(0, this.len);
    this.len = at;
    return out;
  }

  /** What was written, as a view of the buffer (valid until the next write or reset). */
  written(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /** Starts over, keeping the buffer: a writer reused for every frame allocates none. */
  reset(): void {
    this.len = 0;
  }
}
