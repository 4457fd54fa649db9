/**
 * rtnetlink messages that add and remove an IPv4 address (RTM_NEWADDR,
 * RTM_DELADDR), and the kernel's acknowledgement, as bytes. Pure: the
 * socket that carries them is netlink-addr.ts.
 *
 * Layouts (linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h), host byte
 * order except the addresses themselves:
 * - nlmsghdr, 16 bytes: u32 length, u16 type, u16 flags, u32 seq, u32 port;
 * - ifaddrmsg, 8 bytes: u8 family, u8 prefixlen, u8 flags, u8 scope, u32 ifindex;
 * - then attributes: u16 length, u16 type, the value, padded to 4 bytes.
 * An acknowledgement is an NLMSG_ERROR message: i32 error (0 or -errno)
 * followed by the header of the request it answers.
 */

export const NLMSG_ERROR = 2;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_CREATE = 0x400;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_LABEL = 3;
const AF_INET = 2;
const NLMSG_HDRLEN = 16;
const IFADDRMSG_LEN = 8;
/** IFNAMSIZ: a label of 15 characters plus its NUL. */
const MAX_LABEL = 15;

export interface AddressRequest {
  readonly op: "add" | "remove";
  /** Dotted-quad IPv4. */
  readonly address: string;
  /** 0..32: the prefix the address is added with. */
  readonly prefixLength: number;
  readonly ifindex: number;
  /** "eth0:vip"; add only. */
  readonly label?: string;
  readonly seq: number;
}

const align4 = (n: number): number => (n + 3) & ~3;

function ipv4Bytes(address: string): Uint8Array {
  const parts = address.split(".");
  const nums = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  if (nums.length !== 4 || nums.some((n) => !(n >= 0 && n <= 255))) throw new RangeError(`${JSON.stringify(address)} is not an IPv4 address`);
  return Uint8Array.from(nums);
}

/**
 * The request, ready for sendto. An add replaces (NLM_F_CREATE|NLM_F_REPLACE,
 * as `ip addr replace`), so repeating it succeeds. A remove names the address
 * by IFA_LOCAL only: the kernel then matches it whatever prefix it was added
 * with, so an address left by a run that used another prefix still goes.
 * Throws RangeError on an argument no caller should pass (checked before).
 */
export function encodeAddressRequest(r: AddressRequest): Uint8Array {
  if (!Number.isInteger(r.prefixLength) || r.prefixLength < 0 || r.prefixLength > 32) throw new RangeError(`prefix length ${r.prefixLength} is not 0..32`);
  if (!Number.isInteger(r.ifindex) || r.ifindex <= 0) throw new RangeError(`interface index ${r.ifindex} is not positive`);
  const ip = ipv4Bytes(r.address);
  const attrs: { type: number; value: Uint8Array }[] = [{ type: IFA_LOCAL, value: ip }];
  if (r.op === "add") {
    attrs.push({ type: IFA_ADDRESS, value: ip });
    if (r.label !== undefined) {
      const text = new TextEncoder().encode(r.label);
      if (text.length === 0 || text.length > MAX_LABEL) throw new RangeError(`label ${JSON.stringify(r.label)} is not 1..${MAX_LABEL} bytes`);
      const value = new Uint8Array(text.length + 1);
      value.set(text);
      attrs.push({ type: IFA_LABEL, value });
    }
  }
  const length = NLMSG_HDRLEN + IFADDRMSG_LEN + attrs.reduce((n, a) => n + align4(4 + a.value.length), 0);
  const out = new Uint8Array(length);
  const v = new DataView(out.buffer);
  v.setUint32(0, length, true);
  v.setUint16(4, r.op === "add" ? RTM_NEWADDR : RTM_DELADDR, true);
  v.setUint16(6, NLM_F_REQUEST | NLM_F_ACK | (r.op === "add" ? NLM_F_CREATE | NLM_F_REPLACE : 0), true);
  v.setUint32(8, r.seq >>> 0, true);
  v.setUint32(12, 0, true);
  out[16] = AF_INET;
  out[17] = r.prefixLength;
  out[18] = 0; // flags
  out[19] = 0; // scope: universe
  v.setUint32(20, r.ifindex, true);
  let at = NLMSG_HDRLEN + IFADDRMSG_LEN;
  for (const a of attrs) {
    v.setUint16(at, 4 + a.value.length, true);
    v.setUint16(at + 2, a.type, true);
    out.set(a.value, at + 4);
    at += align4(4 + a.value.length);
  }
  return out;
}

export type AckResult =
  /** The kernel's answer to request `seq`: 0 for success, else the errno. */
  | { readonly ok: true; readonly seq: number; readonly errno: number }
  | { readonly ok: false; readonly message: string };

/**
 * Finds the acknowledgement of `seq` in what one recv returned. Never
 * throws: bytes it cannot read give { ok: false } naming what was wrong.
 */
export function decodeAck(bytes: Uint8Array, seq: number): AckResult {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at + NLMSG_HDRLEN <= bytes.length) {
    const length = v.getUint32(at, true);
    if (length < NLMSG_HDRLEN || at + length > bytes.length) return { ok: false, message: `netlink message of ${length} bytes at offset ${at} does not fit in the ${bytes.length} received` };
    const type = v.getUint16(at + 4, true);
    const mseq = v.getUint32(at + 8, true);
    if (type === NLMSG_ERROR && mseq === seq >>> 0) {
      if (length < NLMSG_HDRLEN + 4) return { ok: false, message: "netlink acknowledgement too short to hold an error code" };
      const error = v.getInt32(at + NLMSG_HDRLEN, true);
      return { ok: true, seq: mseq, errno: error < 0 ? -error : error };
    }
    at += align4(length);
  }
  return { ok: false, message: `no acknowledgement of request ${seq} in ${bytes.length} bytes` };
}
