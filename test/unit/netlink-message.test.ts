import { describe, expect, it } from "vitest";
import { decodeAck, encodeAddressRequest, NLMSG_ERROR, RTM_DELADDR, RTM_NEWADDR } from "../../src/sys/netlink-message.ts";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

describe("rtnetlink address requests", () => {
  it("an add is RTM_NEWADDR with create|replace|ack, the prefix in ifaddrmsg, IFA_LOCAL, IFA_ADDRESS and the label padded to 4 bytes", () => {
    const b = encodeAddressRequest({ op: "add", address: "198.51.100.80", prefixLength: 24, ifindex: 7, label: "eth0:vip", seq: 9 });
    expect(b.length).toBe(16 + 8 + 8 + 8 + 16);
    const v = new DataView(b.buffer);
    expect(v.getUint32(0, true)).toBe(b.length);
    expect(v.getUint16(4, true)).toBe(RTM_NEWADDR);
    expect(v.getUint16(6, true)).toBe(0x1 | 0x4 | 0x400 | 0x100);
    expect(v.getUint32(8, true)).toBe(9);
    expect(hex(b.subarray(16, 24))).toBe("0218000007000000"); // AF_INET, /24, flags 0, scope 0, ifindex 7
    expect(hex(b.subarray(24, 32))).toBe("08000200c6336450"); // IFA_LOCAL 198.51.100.80
    expect(hex(b.subarray(32, 40))).toBe("08000100c6336450"); // IFA_ADDRESS
    expect(hex(b.subarray(40, 56))).toBe(`0d000300${hex(new TextEncoder().encode("eth0:vip"))}00000000`); // IFA_LABEL, NUL, pad
  });

  it("a remove is RTM_DELADDR naming the address by IFA_LOCAL only, so any prefix matches", () => {
    const b = encodeAddressRequest({ op: "remove", address: "192.0.2.5", prefixLength: 32, ifindex: 2, seq: 1 });
    const v = new DataView(b.buffer);
    expect(b.length).toBe(32);
    expect(v.getUint16(4, true)).toBe(RTM_DELADDR);
    expect(v.getUint16(6, true)).toBe(0x1 | 0x4);
    expect(hex(b.subarray(24))).toBe("08000200c0000205");
  });

  it("refuses arguments no caller may pass", () => {
    expect(() => encodeAddressRequest({ op: "add", address: "198.51.100.300", prefixLength: 32, ifindex: 1, seq: 1 })).toThrow(RangeError);
    expect(() => encodeAddressRequest({ op: "add", address: "198.51.100.1", prefixLength: 33, ifindex: 1, seq: 1 })).toThrow(RangeError);
    expect(() => encodeAddressRequest({ op: "add", address: "198.51.100.1", prefixLength: 32, ifindex: 0, seq: 1 })).toThrow(RangeError);
    expect(() => encodeAddressRequest({ op: "add", address: "198.51.100.1", prefixLength: 32, ifindex: 1, label: "eth0:a-very-long-one", seq: 1 })).toThrow(RangeError);
  });
});

function ack(seq: number, error: number, extra = 16): Uint8Array {
  const b = new Uint8Array(16 + 4 + extra);
  const v = new DataView(b.buffer);
  v.setUint32(0, b.length, true);
  v.setUint16(4, NLMSG_ERROR, true);
  v.setUint32(8, seq, true);
  v.setInt32(16, error, true);
  return b;
}

describe("rtnetlink acknowledgements", () => {
  it("reads success and -errno for the request's sequence number, skipping other messages", () => {
    expect(decodeAck(ack(5, 0), 5)).toEqual({ ok: true, seq: 5, errno: 0 });
    expect(decodeAck(ack(5, -99), 5)).toEqual({ ok: true, seq: 5, errno: 99 });
    const two = new Uint8Array([...ack(4, -17), ...ack(5, -19)]);
    expect(decodeAck(two, 5)).toEqual({ ok: true, seq: 5, errno: 19 });
  });

  it("never throws on bytes it cannot read", () => {
    expect(decodeAck(new Uint8Array(0), 1)).toMatchObject({ ok: false });
    expect(decodeAck(ack(6, 0), 5)).toMatchObject({ ok: false, message: "no acknowledgement of request 5 in 36 bytes" });
    const lying = ack(5, 0);
    new DataView(lying.buffer).setUint32(0, 4000, true);
    expect(decodeAck(lying, 5)).toMatchObject({ ok: false });
    const short = ack(5, 0, 0).subarray(0, 18);
    new DataView(short.buffer).setUint32(0, 18, true);
    expect(decodeAck(short, 5)).toMatchObject({ ok: false, message: "netlink acknowledgement too short to hold an error code" });
    const zero = new Uint8Array(20);
    expect(decodeAck(zero, 5)).toMatchObject({ ok: false });
  });
});
