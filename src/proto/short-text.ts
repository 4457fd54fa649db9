/**
 * Names and short texts of the small signed datagrams (witness, farm flow
 * reports): UTF-8 behind a one-byte length, no control characters, since
 * they end up in logs.
 */
import { ByteDecodeError, type ByteReader, type ByteWriter } from "./bytes.ts";

export const CONTROL_CHAR = /[\u0000-\u001f\u007f]/;

/** Writes `value`; throws RangeError (a bug of the sender) naming `codec` and `what` when it breaks the rules. */
export function writeShortText(w: ByteWriter, value: string, minBytes: number, maxBytes: number, codec: string, what: string): void {
  if (minBytes > 0 && value.length === 0) throw new RangeError(`${codec}: ${what} must not be empty`);
  if (CONTROL_CHAR.test(value)) throw new RangeError(`${codec}: ${what} ${JSON.stringify(value)} contains a control character`);
  w.utf8WithU8Length(value, maxBytes, `${codec}: ${what}`);
}

/** Reads one; a ByteDecodeError naming `what` and its offset when it breaks the rules. */
export function readShortText(r: ByteReader, minBytes: number, maxBytes: number, what: string): string {
  const at = r.offset;
  const n = r.u8(`length of ${what}`);
  if (n < minBytes) throw new ByteDecodeError(`${what} at offset ${at} is empty`, at);
  if (n > maxBytes) throw new ByteDecodeError(`${what} at offset ${at} is ${n} bytes; the limit is ${maxBytes}`, at);
  const value = r.utf8(n, what);
  if (CONTROL_CHAR.test(value)) throw new ByteDecodeError(`${what} at offset ${at} contains a control character`, at);
  return value;
}
