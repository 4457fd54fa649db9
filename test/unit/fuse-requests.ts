/** Hand-built FUSE requests for the unit tests. */
import { SIZE } from "../../src/sys/fuse/abi.ts";

export type Field = number | bigint | string | Uint8Array | [number, "u16"];

/** Builds a request as the kernel lays it out: fuse_in_header, then the argument bytes. */
export function request(opcode: number, body: Field[], opts: { nodeid?: bigint; unique?: bigint; uid?: number; gid?: number } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const v of body) {
    if (typeof v === "number") {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, v >>> 0, true);
      parts.push(b);
    } else if (typeof v === "bigint") {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
      parts.push(b);
    } else if (typeof v === "string") {
      parts.push(new TextEncoder().encode(`${v}\0`));
    } else if (v instanceof Uint8Array) {
      parts.push(v);
    } else {
      const b = new Uint8Array(2);
      new DataView(b.buffer).setUint16(0, v[0], true);
      parts.push(b);
    }
  }
  const bodyLen = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(SIZE.inHeader + bodyLen);
  const v = new DataView(out.buffer);
  v.setUint32(0, out.length, true);
  v.setUint32(4, opcode, true);
  v.setBigUint64(8, opts.unique ?? 77n, true);
  v.setBigUint64(16, opts.nodeid ?? 1n, true);
  v.setUint32(24, opts.uid ?? 1000, true);
  v.setUint32(28, opts.gid ?? 100, true);
  v.setUint32(32, 4242, true);
  let at = SIZE.inHeader;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

