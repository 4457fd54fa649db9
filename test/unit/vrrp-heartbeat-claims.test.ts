/**
 * Heartbeat frame version 3 carries the VRRP instances the sender is MASTER
 * of (name, VRID, advert source), so a BACKUP can tell adverts lost on the
 * way from a master that is gone. Older versions carry nothing, and a
 * version 2 frame still decodes.
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  decodeHeartbeat,
  encodeHeartbeat,
  HEARTBEAT_MAC_BYTES,
  HEARTBEAT_MAX_VRRP_CLAIMS,
  HEARTBEAT_VERSION,
  type HeartbeatFrame,
} from "../../src/proto/heartbeat.ts";

const KEY = new Uint8Array(32).map((_, i) => (i * 5 + 1) & 0xff);

function frame(over: Partial<HeartbeatFrame> = {}): HeartbeatFrame {
  return { cluster: "vms-pair", node: "vms1", epoch: 9n, seq: 3, sentAt: 12.5, link: 1, echoes: [], modules: [], ...over };
}

function resign(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + HEARTBEAT_MAC_BYTES);
  out.set(body);
  out.set(createHmac("sha256", KEY).update(body).digest(), body.length);
  return out;
}

describe("heartbeat frame version 3: VRRP instances the sender is MASTER of", () => {
  it("is in what this node writes (version 4 has version 3's layout), and round-trips the claims", () => {
    expect(HEARTBEAT_VERSION).toBe(4);
    const f = frame({ vrrp: [{ instance: "VI_1", vrid: 51, address: "198.51.100.11" }, { instance: "VI_2", vrid: 255, address: "203.0.113.254" }] });
    const bytes = encodeHeartbeat(f, KEY);
    expect(bytes[4]).toBe(4);
    expect(decodeHeartbeat(bytes, KEY)).toEqual({ ok: true, frame: f });
    const v3 = encodeHeartbeat(f, KEY, 3);
    expect(v3.subarray(5, v3.length - 32)).toEqual(bytes.subarray(5, bytes.length - 32));
    expect(decodeHeartbeat(v3, KEY)).toEqual({ ok: true, frame: f });
  });

  it("costs one byte without claims, and each claim its name, a VRID byte and four address bytes", () => {
    const none = encodeHeartbeat(frame(), KEY);
    expect(none.length).toBe(encodeHeartbeat(frame(), KEY, 2).length + 1);
    const one = encodeHeartbeat(frame({ vrrp: [{ instance: "VI_1", vrid: 51, address: "198.51.100.11" }] }), KEY);
    expect(one.length).toBe(none.length + 1 + 4 + 1 + 4);
    // An empty list is written as no list: a decoded frame re-encodes to its bytes.
    expect(decodeHeartbeat(encodeHeartbeat(frame({ vrrp: [] }), KEY), KEY)).toEqual({ ok: true, frame: frame() });
  });

  it("version 2 leaves the claims out, and a version 2 frame decodes without them", () => {
    const f = frame({ vrrp: [{ instance: "VI_1", vrid: 51, address: "198.51.100.11" }] });
    const v2 = encodeHeartbeat(f, KEY, 2);
    expect(v2[4]).toBe(2);
    expect(decodeHeartbeat(v2, KEY)).toEqual({ ok: true, frame: frame() });
  });

  it("refuses to write a bad claim, naming it", () => {
    expect(() => encodeHeartbeat(frame({ vrrp: [{ instance: "VI_1", vrid: 0, address: "198.51.100.11" }] }), KEY)).toThrow(/VRRP instance 0 vrid must be 1\.\.255, got 0/);
    expect(() => encodeHeartbeat(frame({ vrrp: [{ instance: "VI_1", vrid: 51, address: "198.51.100.300" }] }), KEY)).toThrow(/VRRP instance 0 address must be a dotted-quad IPv4 address/);
    const many = Array.from({ length: HEARTBEAT_MAX_VRRP_CLAIMS + 1 }, (_, i) => ({ instance: `VI_${i}`, vrid: 1 + i, address: "198.51.100.11" }));
    expect(() => encodeHeartbeat(frame({ vrrp: many }), KEY)).toThrow(/33 VRRP instances; the limit is 32/);
  });

  it("rejects a count over the limit, a zero VRID and bytes after the claims, as malformed with the offset", () => {
    const f = frame({ vrrp: [{ instance: "VI_1", vrid: 51, address: "198.51.100.11" }] });
    const bytes = encodeHeartbeat(f, KEY);
    const body = bytes.slice(0, bytes.length - HEARTBEAT_MAC_BYTES);
    const countAt = body.length - (1 + 4 + 1 + 4) - 1;
    const vridAt = body.length - 5;

    const tooMany = body.slice();
    tooMany[countAt] = HEARTBEAT_MAX_VRRP_CLAIMS + 1;
    expect(decodeHeartbeat(resign(tooMany), KEY)).toEqual({ ok: false, error: { kind: "malformed", detail: `VRRP instance count at offset ${countAt} is 33; the limit is 32` } });

    const zero = body.slice();
    zero[vridAt] = 0;
    expect(decodeHeartbeat(resign(zero), KEY)).toEqual({ ok: false, error: { kind: "malformed", detail: `VRRP instance 0 vrid at offset ${vridAt} is 0; VRIDs are 1..255` } });

    const extra = new Uint8Array(body.length + 1);
    extra.set(body);
    const r = decodeHeartbeat(resign(extra), KEY);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.kind).toBe("malformed");

    const cut = body.slice(0, body.length - 2);
    const t = decodeHeartbeat(resign(cut), KEY);
    expect(t.ok).toBe(false);
    if (!t.ok) expect(t.error.kind).toBe("malformed");
  });
});
