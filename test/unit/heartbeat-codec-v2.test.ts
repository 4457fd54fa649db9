/**
 * Heartbeat frame version 2: the goodbye flag, module progress and failure,
 * the config digest page; and version 1 frames (the previous release) still
 * decode, so a node of this version can join a cluster of the last one.
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  cutUtf8,
  decodeHeartbeat,
  encodeHeartbeat,
  HEARTBEAT_MAC_BYTES,
  HEARTBEAT_VERSION,
  type HeartbeatFrame,
} from "../../src/proto/heartbeat.ts";

const KEY = new Uint8Array(32).map((_, i) => (i * 7 + 3) & 0xff);

function frame(over: Partial<HeartbeatFrame> = {}): HeartbeatFrame {
  return {
    cluster: "scada",
    node: "scada1",
    epoch: 77n,
    seq: 9,
    sentAt: 1000.5,
    link: 0,
    echoes: [{ node: "scada2", sentAt: 990, heldMs: 3 }],
    modules: [{ module: "hmi", role: "PRIM", generation: 4 }],
    ...over,
  };
}

function resign(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + HEARTBEAT_MAC_BYTES);
  out.set(body);
  out.set(createHmac("sha256", KEY).update(body).digest(), body.length);
  return out;
}

describe("heartbeat frame version 2", () => {
  it("is written on request, for peers that speak no later version", () => {
    expect(HEARTBEAT_VERSION).toBeGreaterThan(2);
    expect(encodeHeartbeat(frame(), KEY, 2)[4]).toBe(2);
  });

  it("round-trips leaving, module progress and failure, and a config page", () => {
    const f = frame({
      leaving: true,
      modules: [
        { module: "hmi", role: "PRIM", generation: 4, starting: true },
        { module: "db", role: "WAIT", generation: 2, failure: "start of script start.sh failed: exited 1" },
      ],
      config: { digest: "0123456789abcdef", total: 20, first: 16, keys: [{ key: "modules.hmi.failback", hash: "fedcba9876543210" }] },
    });
    expect(decodeHeartbeat(encodeHeartbeat(f, KEY), KEY)).toEqual({ ok: true, frame: f });
  });

  it("a version 1 frame (the previous release) still decodes, without the new fields", () => {
    const f = frame({ leaving: true, config: { digest: "0123456789abcdef", total: 1, first: 0, keys: [] } });
    const v1 = encodeHeartbeat(f, KEY, 1);
    expect(v1[4]).toBe(1);
    const r = decodeHeartbeat(v1, KEY);
    expect(r).toEqual({ ok: true, frame: frame() });
    if (r.ok) {
      expect(r.frame.leaving).toBeUndefined();
      expect(r.frame.config).toBeUndefined();
    }
  });

  it("a version 1 frame with bytes after its last module advert is still malformed", () => {
    const v1 = encodeHeartbeat(frame(), KEY, 1);
    const body = v1.slice(0, v1.length - HEARTBEAT_MAC_BYTES);
    const longer = new Uint8Array(body.length + 1);
    longer.set(body);
    const r = decodeHeartbeat(resign(longer), KEY);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ kind: "malformed", detail: expect.stringMatching(/trailing bytes .* after the last module advert/) });
  });

  it("rejects reserved flag bits, naming the byte", () => {
    const bytes = encodeHeartbeat(frame({ modules: [] }), KEY, 2);
    const body = bytes.slice(0, bytes.length - HEARTBEAT_MAC_BYTES);
    // The frame flags sit right before the 13-byte empty config page.
    const at = body.length - 14;
    body[at] = 0x82;
    const r = decodeHeartbeat(resign(body), KEY);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toEqual({ kind: "malformed", detail: `flags at offset ${at} is 0x82; only bit 0 is defined` });
  });

  it("rejects a config page whose keys lie beyond its total", () => {
    const f = frame({ config: { digest: "0123456789abcdef", total: 1, first: 0, keys: [{ key: "a", hash: "0000000000000001" }] } });
    const bytes = encodeHeartbeat(f, KEY);
    const body = bytes.slice(0, bytes.length - HEARTBEAT_MAC_BYTES);
    const totalAt = body.length - (1 + 1 + 8) - 1 - 2 - 2;
    new DataView(body.buffer).setUint16(totalAt, 0);
    const r = decodeHeartbeat(resign(body), KEY);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.detail).toMatch(/config page at offset \d+ lists keys 0\.\.0 of only 0/);
  });

  it("refuses to encode a bad digest or too many keys, naming the field", () => {
    expect(() => encodeHeartbeat(frame({ config: { digest: "xyz", total: 0, first: 0, keys: [] } }), KEY)).toThrow(/config digest must be 16 lowercase hex digits/);
    const keys = Array.from({ length: 17 }, (_, i) => ({ key: `k${i}`, hash: "0000000000000001" }));
    expect(() => encodeHeartbeat(frame({ config: { digest: "0123456789abcdef", total: 17, first: 0, keys } }), KEY)).toThrow(/17 config keys; the limit per frame is 16/);
  });

  it("cuts a long failure note to 160 bytes on a character boundary", () => {
    const long = "é".repeat(100);
    const cut = cutUtf8(long, 160);
    expect(new TextEncoder().encode(cut).length).toBeLessThanOrEqual(160);
    expect(cut.endsWith("\u2026")).toBe(true);
    expect(cutUtf8("line one\nline two", 160)).toBe("line one line two");
    const f = frame({ modules: [{ module: "hmi", role: "WAIT", generation: 2, failure: cut }] });
    expect(decodeHeartbeat(encodeHeartbeat(f, KEY), KEY)).toEqual({ ok: true, frame: f });
  });
});
