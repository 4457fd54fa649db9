import { describe, expect, it } from "vitest";
import { Prng } from "../sim/harness/prng.ts";
import { internetChecksum, ipv4PseudoHeader, onesComplementSum } from "../../src/proto/checksum.ts";
import {
  decodeVrrp,
  encodeAdvert,
  encodeIpv4Datagram,
  formatIpv4,
  ipv4ToNumber,
  parseIpv4,
  verifyVrrpAuth,
  vrrpDecodeErrorKinds,
  type VrrpAdvert,
  type VrrpDecodeErrorKind,
  type VrrpDecodeOptions,
  type VrrpDecodeResult,
} from "../../src/proto/vrrp.ts";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));

const IP = { src: "198.51.100.11", dst: "224.0.0.18" } as const;
/** Our advert as keepalived accepted it in the lab (RECIPES section 2). */
const GOLDEN = "3133c8010064d132c6336432";
const GOLDEN_RESIGN = "3133000100649933c6336432";

const advert = (over: Partial<VrrpAdvert> = {}): VrrpAdvert => ({
  version: 3,
  vrid: 51,
  priority: 200,
  advertIntCs: 100,
  addresses: ["198.51.100.50"],
  ...over,
});

function rejected(r: VrrpDecodeResult, kind: VrrpDecodeErrorKind): string {
  if (r.ok) throw new Error(`expected a "${kind}" rejection, got a packet`);
  expect(r.error.kind).toBe(kind);
  return r.error.detail;
}

/** Rewrites the IPv4 header checksum after a test changed a header byte. */
function fixIpChecksum(d: Uint8Array): Uint8Array {
  const ihl = (d[0]! & 15) * 4;
  d[10] = 0;
  d[11] = 0;
  const sum = internetChecksum(d.subarray(0, ihl));
  d[10] = sum >> 8;
  d[11] = sum & 0xff;
  return d;
}

/** Rewrites the VRRP checksum (v3 pseudo-header) after a test changed a message byte. */
function fixVrrpChecksum(d: Uint8Array): Uint8Array {
  const ihl = (d[0]! & 15) * 4;
  const total = (d[2]! << 8) | d[3]!;
  const msg = d.subarray(ihl, total);
  msg[6] = 0;
  msg[7] = 0;
  const sum =
    msg[0]! >> 4 === 3 ? internetChecksum(ipv4PseudoHeader(d.subarray(12, 16), d.subarray(16, 20), 112, msg.length), msg) : internetChecksum(msg);
  msg[6] = sum >> 8;
  msg[7] = sum & 0xff;
  return d;
}

describe("Internet checksum (RFC 1071)", () => {
  it("matches the worked example of RFC 1071 section 3", () => {
    const data = unhex("0001f203f4f5f6f7");
    expect(onesComplementSum([data])).toBe(0xddf2);
    expect(internetChecksum(data)).toBe(0x220d);
  });

  it("sums parts as if they were concatenated, odd lengths included", () => {
    const rng = Prng.fromSeed(7);
    for (let n = 0; n < 200; n++) {
      const whole = new Uint8Array(rng.int(0, 80)).map(() => rng.int(0, 255));
      const cut1 = rng.int(0, whole.length);
      const cut2 = rng.int(cut1, whole.length);
      const parts = [whole.subarray(0, cut1), whole.subarray(cut1, cut2), whole.subarray(cut2)];
      expect(internetChecksum(...parts)).toBe(internetChecksum(whole));
    }
  });

  it("verifies to zero once the checksum is in place, and stays exact over long input", () => {
    const data = new Uint8Array(70_001).fill(0xff);
    data[0] = 0x12;
    const sum = internetChecksum(data);
    const withSum = new Uint8Array(data.length + 1 + 2);
    withSum.set(data);
    withSum[data.length + 1] = sum >> 8;
    withSum[data.length + 2] = sum & 0xff;
    expect(internetChecksum(withSum)).toBe(0);
  });

  it("builds the IPv4 pseudo-header", () => {
    expect(hex(ipv4PseudoHeader(parseIpv4("198.51.100.11")!, parseIpv4("224.0.0.18")!, 112, 12))).toBe("c633640be00000120070000c");
    expect(() => ipv4PseudoHeader(new Uint8Array(3), new Uint8Array(4), 112, 12)).toThrow(RangeError);
  });
});

describe("IPv4 address text", () => {
  it("parses dotted quads strictly", () => {
    expect(parseIpv4("198.51.100.11")).toEqual(new Uint8Array([198, 51, 100, 11]));
    expect(ipv4ToNumber("255.255.255.255")).toBe(0xffffffff);
    expect(ipv4ToNumber("198.51.100.12")! > ipv4ToNumber("198.51.100.11")!).toBe(true);
    for (const bad of ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", " 1.2.3.4", "1.2.3.4/24", "a.b.c.d", "1..3.4"]) {
      expect(parseIpv4(bad), bad).toBeNull();
    }
    expect(formatIpv4(new Uint8Array([0, 10, 192, 0, 2, 1]), 2)).toBe("192.0.2.1");
  });
});

describe("VRRP encoding", () => {
  it("produces the lab-proven VRRPv3 advert and its priority-0 resignation byte for byte", () => {
    expect(hex(encodeAdvert(advert(), IP))).toBe(GOLDEN);
    expect(hex(encodeAdvert(advert({ priority: 0 }), IP))).toBe(GOLDEN_RESIGN);
  });

  it("covers the pseudo-header in v3: another source address changes the checksum", () => {
    const other = encodeAdvert(advert(), { src: "198.51.100.12", dst: "224.0.0.18" });
    expect(hex(other.subarray(0, 6))).toBe(GOLDEN.slice(0, 12));
    expect(hex(other.subarray(6, 8))).not.toBe(GOLDEN.slice(12, 16));
  });

  it("encodes VRRPv2 with keepalived's PASS authentication, checksum over the message only", () => {
    const msg = encodeAdvert(advert({ version: 2, priority: 100, auth: { type: "pass", password: "secret" } }), IP);
    // version 2 | type 1, vrid 51, prio 100, 1 address, auth type 1, 1 s, checksum, address, "secret" zero-padded
    expect(hex(msg)).toBe("21336401" + "0101" + hex(msg.subarray(6, 8)) + "c6336432" + "7365637265740000");
    expect(internetChecksum(msg)).toBe(0);
    // Independent of the pseudo-header: the same bytes from any source.
    expect(hex(encodeAdvert(advert({ version: 2, priority: 100, auth: { type: "pass", password: "secret" } }), { src: "192.0.2.1", dst: "224.0.0.18" }))).toBe(hex(msg));
    const plain = encodeAdvert(advert({ version: 2, advertIntCs: 300 }), IP);
    expect(hex(plain.subarray(4, 6))).toBe("0003");
    expect(hex(plain.subarray(12))).toBe("0000000000000000");
  });

  it("refuses adverts that cannot be sent, naming the field", () => {
    const cases: [Partial<VrrpAdvert>, RegExp][] = [
      [{ vrid: 0 }, /VRID must be an integer in 1\.\.255, got 0/],
      [{ priority: 256 }, /priority/],
      [{ addresses: [] }, /address count/],
      [{ addresses: Array.from({ length: 256 }, () => "192.0.2.1") }, /address count/],
      [{ addresses: ["192.0.2.300"] }, /address 0 "192\.0\.2\.300"/],
      [{ advertIntCs: 4096 }, /VRRPv3 advert interval/],
      [{ advertIntCs: 0 }, /VRRPv3 advert interval/],
      [{ version: 2, advertIntCs: 150 }, /whole seconds/],
      [{ version: 2, advertIntCs: 25600 }, /VRRPv2 advert interval/],
      [{ auth: { type: "pass", password: "x" } }, /VRRPv3 has no authentication/],
      [{ version: 2, auth: { type: "pass", password: "too-long!" } }, /1 to 8 printable ASCII/],
      [{ version: 2, auth: { type: "pass", password: "" } }, /1 to 8 printable ASCII/],
    ];
    for (const [over, message] of cases) expect(() => encodeAdvert(advert(over), IP)).toThrow(message);
    expect(() => encodeAdvert(advert(), { src: "nope", dst: "224.0.0.18" })).toThrow(/source address "nope"/);
  });
});

describe("VRRP decoding", () => {
  it("decodes the golden advert behind the IPv4 header a raw socket delivers", () => {
    const r = decodeVrrp(encodeIpv4Datagram(unhex(GOLDEN), IP));
    expect(r).toEqual({
      ok: true,
      packet: {
        version: 3,
        vrid: 51,
        priority: 200,
        advertIntCs: 100,
        addresses: ["198.51.100.50"],
        auth: { type: "none" },
        src: "198.51.100.11",
        dst: "224.0.0.18",
        ttl: 255,
      },
    });
  });

  it("reads a kernel-style header: DF set, an IP option (IHL 6), an id, link padding after the total length", () => {
    const msg = unhex(GOLDEN_RESIGN);
    const header = unhex("46c00024 1a2b4000 ff700000 c633640b e0000012 94040000");
    const d = new Uint8Array(header.length + msg.length + 6);
    d.set(header);
    d.set(msg, header.length);
    fixIpChecksum(d);
    const r = decodeVrrp(d);
    expect(r.ok && r.packet.priority).toBe(0);
    expect(r.ok && r.packet.src).toBe("198.51.100.11");
  });

  it("round-trips random valid adverts of both versions", () => {
    const rng = Prng.fromSeed(51);
    const addr = (): string => `${rng.int(1, 223)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(0, 255)}`;
    for (let n = 0; n < 2000; n++) {
      const version = rng.chance(0.5) ? 3 : 2;
      const a: VrrpAdvert = {
        version,
        vrid: rng.int(1, 255),
        priority: rng.int(0, 255),
        advertIntCs: version === 3 ? rng.int(1, 4095) : rng.int(1, 255) * 100,
        addresses: Array.from({ length: rng.int(1, 20) }, addr),
        auth: version === 2 && rng.chance(0.5) ? { type: "pass", password: "p".repeat(rng.int(1, 8)) } : { type: "none" },
      };
      const ip = { src: addr(), dst: rng.chance(0.5) ? "224.0.0.18" : addr() };
      const r = decodeVrrp(encodeIpv4Datagram(encodeAdvert(a, ip), ip), { version, ...(a.auth === undefined ? {} : { auth: a.auth }) });
      if (!r.ok) throw new Error(`round trip ${n} failed: ${r.error.kind}: ${r.error.detail}`);
      expect(r.packet).toEqual({ ...a, auth: a.auth, ...ip, ttl: 255 });
    }
  });

  describe("rejections, one per kind, each naming the problem and where it is", () => {
    const good = (): Uint8Array => encodeIpv4Datagram(unhex(GOLDEN), IP);

    it("truncated", () => {
      expect(rejected(decodeVrrp(new Uint8Array(0)), "truncated")).toMatch(/0 bytes; an IPv4 header alone needs 20/);
      expect(rejected(decodeVrrp(good().subarray(0, 31)), "truncated")).toMatch(/total length at offset 2 is 32 but only 31/);
      const short = encodeIpv4Datagram(unhex("3133c801"), IP);
      expect(rejected(decodeVrrp(short), "truncated")).toMatch(/VRRP message at offset 20 is 4 bytes/);
      const bigIhl = good();
      bigIhl[0] = 0x4f;
      expect(rejected(decodeVrrp(bigIhl.subarray(0, 40)), "truncated")).toMatch(/header claims 60 bytes/);
    });

    it("bad-ip-header", () => {
      const v6 = good();
      v6[0] = 0x65;
      expect(rejected(decodeVrrp(v6), "bad-ip-header")).toMatch(/IP version at offset 0 is 6/);
      const ihl = good();
      ihl[0] = 0x44;
      expect(rejected(decodeVrrp(ihl), "bad-ip-header")).toMatch(/header length at offset 0 is 16/);
      const tot = good();
      tot[3] = 10;
      expect(rejected(decodeVrrp(fixIpChecksum(tot)), "bad-ip-header")).toMatch(/total length at offset 2 is 10/);
      const frag = good();
      frag[6] = 0x20; // more fragments
      expect(rejected(decodeVrrp(fixIpChecksum(frag)), "bad-ip-header")).toMatch(/fragment at offset 6/);
      const sum = good();
      sum[10] = (sum[10]! ^ 0x55) & 0xff;
      expect(rejected(decodeVrrp(sum), "bad-ip-header")).toMatch(/header checksum at offset 10/);
    });

    it("ttl", () => {
      const routed = encodeIpv4Datagram(unhex(GOLDEN), { ...IP, ttl: 254 });
      expect(rejected(decodeVrrp(routed), "ttl")).toMatch(/TTL at offset 8 is 254; VRRP requires 255/);
    });

    it("not-vrrp", () => {
      const udp = encodeIpv4Datagram(unhex(GOLDEN), { ...IP, protocol: 17 });
      expect(rejected(decodeVrrp(udp), "not-vrrp")).toMatch(/protocol at offset 9 is 17; VRRP is 112/);
    });

    it("version", () => {
      const v4 = good();
      v4[20] = 0x41;
      expect(rejected(decodeVrrp(fixVrrpChecksum(v4)), "version")).toMatch(/VRRP version at offset 20 is 4; expected 2 or 3/);
      expect(rejected(decodeVrrp(good(), { version: 2 }), "version")).toMatch(/is 3 but this instance speaks VRRPv2/);
    });

    it("type", () => {
      const t = good();
      t[20] = 0x32;
      expect(rejected(decodeVrrp(fixVrrpChecksum(t)), "type")).toMatch(/type at offset 20 is 2; only 1 \(advertisement\)/);
    });

    it("checksum: a flipped bit, and a v3 advert carried with another source address", () => {
      const flipped = good();
      flipped[22] = 150;
      expect(rejected(decodeVrrp(flipped), "checksum")).toMatch(/VRRPv3 checksum at offset 26 \(0xd132\) does not match the pseudo-header and message/);
      const spoofed = encodeIpv4Datagram(unhex(GOLDEN), { src: "198.51.100.12", dst: "224.0.0.18" });
      rejected(decodeVrrp(spoofed), "checksum");
      const v2 = encodeAdvert(advert({ version: 2 }), IP);
      v2[2] = 7;
      expect(rejected(decodeVrrp(encodeIpv4Datagram(v2, IP)), "checksum")).toMatch(/VRRPv2 checksum .* does not match the message$/);
    });

    it("addr-count: the count field disagrees with the message length, both ways", () => {
      const more = good();
      more[23] = 2;
      expect(rejected(decodeVrrp(fixVrrpChecksum(more)), "addr-count")).toMatch(/address count at offset 23 is 2, which makes a 16-byte message, but it is 12 bytes/);
      const extra = encodeIpv4Datagram(unhex(GOLDEN + "c6336433"), IP);
      rejected(decodeVrrp(fixVrrpChecksum(extra)), "addr-count");
      const v2NoAuth = encodeIpv4Datagram(encodeAdvert(advert({ version: 2 }), IP).subarray(0, 12), IP);
      expect(rejected(decodeVrrp(fixVrrpChecksum(v2NoAuth)), "addr-count")).toMatch(/VRRPv2 address count .* makes a 20-byte message, but it is 12/);
    });

    it("auth: v2 password or type mismatch; v3 is never checked", () => {
      const pass = (password: string) => encodeIpv4Datagram(encodeAdvert(advert({ version: 2, auth: { type: "pass", password } }), IP), IP);
      const plain = encodeIpv4Datagram(encodeAdvert(advert({ version: 2 }), IP), IP);
      const expectPass: VrrpDecodeOptions = { auth: { type: "pass", password: "secret" } };
      expect(decodeVrrp(pass("secret"), expectPass).ok).toBe(true);
      expect(rejected(decodeVrrp(pass("secreT"), expectPass), "auth")).toMatch(/password does not match .*offset 24/);
      expect(rejected(decodeVrrp(pass("secret1"), expectPass), "auth")).toMatch(/password does not match/);
      expect(rejected(decodeVrrp(plain, expectPass), "auth")).toMatch(/carries no authentication but this instance expects a simple-text password/);
      expect(rejected(decodeVrrp(pass("secret"), { auth: { type: "none" } }), "auth")).toMatch(/carries a simple-text password but this instance expects none/);
      const ah = encodeIpv4Datagram(encodeAdvert(advert({ version: 2 }), IP), IP);
      ah[24] = 2;
      expect(rejected(decodeVrrp(fixVrrpChecksum(ah), expectPass), "auth")).toMatch(/auth type 2 \(IP AH\)/);
      // A zero byte inside the password is data: "se\0ret" is not "se".
      const inner = pass("seXret");
      inner[20 + 12 + 2] = 0;
      expect(rejected(decodeVrrp(fixVrrpChecksum(inner), { auth: { type: "pass", password: "se" } }), "auth")).toMatch(/password does not match/);
      expect(decodeVrrp(encodeIpv4Datagram(unhex(GOLDEN), IP), expectPass).ok).toBe(true);
      // Without an expectation, the packet reports what it carries, for verifyVrrpAuth later.
      const open = decodeVrrp(pass("secret"));
      if (!open.ok) throw new Error(open.error.detail);
      expect(open.packet.auth).toEqual({ type: "pass", password: "secret" });
      expect(verifyVrrpAuth(open.packet, { type: "pass", password: "secret" })).toBeNull();
      expect(verifyVrrpAuth(open.packet, { type: "pass", password: "other" })?.kind).toBe("auth");
    });
  });

  it("never throws: 20,000 random buffers and mutations of valid packets", () => {
    const rng = Prng.fromSeed(1071);
    const seeds = [
      encodeIpv4Datagram(unhex(GOLDEN), IP),
      encodeIpv4Datagram(encodeAdvert(advert({ version: 2, auth: { type: "pass", password: "secret" } }), IP), IP),
      encodeIpv4Datagram(encodeAdvert(advert({ addresses: ["192.0.2.1", "192.0.2.2", "203.0.113.9"] }), IP), IP),
    ];
    const kinds = new Set<string>(vrrpDecodeErrorKinds);
    const seen = new Map<string, number>();
    for (let n = 0; n < 20_000; n++) {
      let buf: Uint8Array;
      const pick = rng.int(0, 3);
      if (pick === 0) {
        buf = new Uint8Array(rng.int(0, 80)).map(() => rng.int(0, 255));
      } else {
        const base = seeds[rng.int(0, seeds.length - 1)]!;
        buf = base.slice(0, pick === 1 ? rng.int(0, base.length) : base.length);
        const flips = rng.int(1, 4);
        for (let f = 0; f < flips && buf.length > 0; f++) buf[rng.int(0, buf.length - 1)] = rng.int(0, 255);
        if (pick === 3) {
          fixIpChecksum(buf);
          if (buf.length >= 28 && ((buf[0]! & 15) * 4) + 8 <= buf.length && ((buf[2]! << 8) | buf[3]!) <= buf.length) fixVrrpChecksum(buf);
        }
      }
      let r: VrrpDecodeResult;
      try {
        r = decodeVrrp(buf, rng.chance(0.5) ? { auth: { type: "pass", password: "secret" } } : {});
      } catch (err) {
        throw new Error(`decodeVrrp threw on ${hex(buf)}: ${String(err)}`);
      }
      const label = r.ok ? "ok" : r.error.kind;
      if (!r.ok) {
        expect(kinds.has(r.error.kind)).toBe(true);
        expect(r.error.detail.length).toBeGreaterThan(0);
      }
      seen.set(label, (seen.get(label) ?? 0) + 1);
    }
    // The mutations reach deep into the decoder, not just the first check.
    for (const k of ["ok", "truncated", "bad-ip-header", "checksum", "not-vrrp", "ttl", "version", "addr-count", "auth"]) {
      expect(seen.get(k) ?? 0, `outcome "${k}"`).toBeGreaterThan(0);
    }
  });
});
