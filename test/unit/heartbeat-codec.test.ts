import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { expectDecodeError, randomSource } from "./codec-test-helpers.ts";
import {
  decodeHeartbeat,
  encodeHeartbeat,
  HEARTBEAT_MAC_BYTES,
  HEARTBEAT_MAX_ECHOES,
  HEARTBEAT_MAX_FRAME,
  HEARTBEAT_MAX_MODULES,
  HEARTBEAT_MIN_FRAME,
  HEARTBEAT_VERSION,
  type HeartbeatDecodeResult,
  type HeartbeatFrame,
} from "../../src/proto/heartbeat.ts";

const KEY = new Uint8Array(32).map((_, i) => i * 7 + 1);
const OTHER_KEY = new Uint8Array(32).map((_, i) => i * 7 + 2);

function frame(overrides: Partial<HeartbeatFrame> = {}): HeartbeatFrame {
  return {
    cluster: "vms-pair",
    node: "vms1",
    epoch: (1_732_000_000_000n << 16n) | 0xbeefn,
    seq: 42,
    sentAt: 123_456.789,
    link: 1,
    echoes: [{ node: "vms2", sentAt: 120_000.5, heldMs: 3.25 }],
    modules: [{ module: "vms", role: "PRIM", generation: 17 }],
    ...overrides,
  };
}

function hmac(bytes: Uint8Array, key = KEY): Uint8Array {
  return createHmac("sha256", key).update(bytes).digest();
}

/** Appends a valid MAC so the parser behind the MAC check can be exercised. */
function sign(body: Uint8Array, key = KEY): Uint8Array {
  const out = new Uint8Array(body.length + HEARTBEAT_MAC_BYTES);
  out.set(body);
  out.set(hmac(body, key), body.length);
  return out;
}

function bodyOf(bytes: Uint8Array): Uint8Array {
  return bytes.slice(0, bytes.length - HEARTBEAT_MAC_BYTES);
}

/** Byte offset where the cluster name's length byte sits. */
const CLUSTER_AT = 26;

describe("heartbeat frame encoding", () => {
  it("round-trips every field", () => {
    const f = frame({
      echoes: [
        { node: "vms2", sentAt: 1.5, heldMs: 0 },
        { node: "vms3", sentAt: 0, heldMs: 99.125 },
      ],
      modules: [
        { module: "vms", role: "PRIM", generation: 0 },
        { module: "web", role: "SECOND", generation: Number.MAX_SAFE_INTEGER },
      ],
    });
    const r = decodeHeartbeat(encodeHeartbeat(f, KEY), KEY);
    expect(r).toEqual({ ok: true, frame: f });
  });

  it("round-trips the extremes of the numeric fields", () => {
    const f = frame({ epoch: 0xffffffffffffffffn, seq: 0xffffffff, sentAt: 0, link: 255, echoes: [], modules: [] });
    expect(decodeHeartbeat(encodeHeartbeat(f, KEY), KEY)).toEqual({ ok: true, frame: f });
  });

  it("keeps non-ASCII names byte for byte, including a leading BOM", () => {
    const f = frame({ cluster: "\uFEFFcentrale-é", node: "nœud-1-🛰", echoes: [{ node: "主机", sentAt: 1, heldMs: 1 }] });
    expect(decodeHeartbeat(encodeHeartbeat(f, KEY), KEY)).toEqual({ ok: true, frame: f });
  });

  it("lays the frame out as magic, version, fields, then an HMAC-SHA256 of everything before it", () => {
    const bytes = encodeHeartbeat(frame({ echoes: [], modules: [] }), KEY, 2);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe("VGHB");
    expect(bytes[4]).toBe(2);
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    expect(view.getBigUint64(5)).toBe((1_732_000_000_000n << 16n) | 0xbeefn);
    expect(view.getUint32(13)).toBe(42);
    expect(view.getFloat64(17)).toBe(123_456.789);
    expect(bytes[25]).toBe(1);
    expect(bytes[CLUSTER_AT]).toBe("vms-pair".length);
    // header 26 + "vms-pair" 9 + "vms1" 5 + two counts + flags + empty config page (8 + 2 + 2 + 1) + MAC
    expect(bytes.length).toBe(26 + 9 + 5 + 2 + 1 + 13 + 32);
    expect(Buffer.from(bytes.subarray(bytes.length - 32))).toEqual(Buffer.from(hmac(bodyOf(bytes))));
  });

  it("the smallest possible frame (version 1) is HEARTBEAT_MIN_FRAME bytes and decodes", () => {
    const f = frame({ cluster: "c", node: "n", echoes: [], modules: [] });
    const bytes = encodeHeartbeat(f, KEY, 1);
    expect(bytes.length).toBe(HEARTBEAT_MIN_FRAME);
    expect(decodeHeartbeat(bytes, KEY).ok).toBe(true);
  });

  it("a frame of exactly HEARTBEAT_MAX_FRAME bytes is accepted, one more byte is refused", () => {
    // Grow the cluster name until the frame is exactly at the limit.
    const modules = Array.from({ length: 16 }, (_, i) => ({ module: `m${i}`.padEnd(64, "x"), role: "SECOND", generation: i }));
    const base = encodeHeartbeat(frame({ cluster: "c", modules, echoes: [] }), KEY).length;
    const cluster = "c".repeat(1 + HEARTBEAT_MAX_FRAME - base);
    const atLimit = frame({ cluster, modules, echoes: [] });
    const bytes = encodeHeartbeat(atLimit, KEY);
    expect(bytes.length).toBe(HEARTBEAT_MAX_FRAME);
    expect(decodeHeartbeat(bytes, KEY)).toEqual({ ok: true, frame: atLimit });
    expect(() => encodeHeartbeat(frame({ cluster: cluster + "c", modules, echoes: [] }), KEY)).toThrow(/1401 bytes; the limit is 1400/);
  });

  it.each<[string, Partial<HeartbeatFrame>, RegExp]>([
    ["empty cluster name", { cluster: "" }, /cluster name must not be empty/],
    ["node name over 64 bytes", { node: "é".repeat(33) }, /node name is 66 bytes of UTF-8; the limit is 64/],
    ["control character", { node: "vms\n1" }, /node name .* control character/],
    ["lone surrogate", { node: "vms\uD800" }, /lone UTF-16 surrogate/],
    ["seq over u32", { seq: 2 ** 32 }, /seq must be an integer in 0\.\.4294967295/],
    ["fractional seq", { seq: 1.5 }, /seq must be an integer/],
    ["negative epoch", { epoch: -1n }, /epoch must fit in an unsigned 64-bit integer/],
    ["epoch over u64", { epoch: 1n << 64n }, /epoch must fit/],
    ["link over u8", { link: 256 }, /link index must be an integer in 0\.\.255/],
    ["NaN sentAt", { sentAt: Number.NaN }, /sentAt must be a finite number >= 0/],
    ["negative heldMs", { echoes: [{ node: "a", sentAt: 1, heldMs: -1 }] }, /echo 0 heldMs must be a finite number >= 0/],
    ["role over 32 bytes", { modules: [{ module: "vms", role: "R".repeat(33), generation: 1 }] }, /module advert 0 role is 33 bytes/],
    ["unsafe generation", { modules: [{ module: "vms", role: "PRIM", generation: 2 ** 53 }] }, /generation must be a safe integer/],
    ["too many echoes", { echoes: Array.from({ length: HEARTBEAT_MAX_ECHOES + 1 }, () => ({ node: "a", sentAt: 1, heldMs: 1 })) }, /33 echoes; the limit is 32/],
    ["too many modules", { modules: Array.from({ length: HEARTBEAT_MAX_MODULES + 1 }, () => ({ module: "m", role: "r", generation: 1 })) }, /33 module adverts; the limit is 32/],
  ])("refuses to encode a frame with %s", (_name, overrides, message) => {
    expect(() => encodeHeartbeat(frame(overrides), KEY)).toThrow(message);
  });
});

describe("heartbeat frame decoding rejects", () => {
  const good = encodeHeartbeat(frame(), KEY);

  it("a frame signed with another key, as bad-mac", () => {
    expectDecodeError(decodeHeartbeat(encodeHeartbeat(frame(), OTHER_KEY), KEY), "bad-mac", /HMAC-SHA256 at offset \d+ does not match/);
  });

  it("every single-bit change anywhere in a valid frame", () => {
    for (let i = 0; i < good.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = good.slice();
        bad[i] = (bad[i] ?? 0) ^ (1 << bit);
        const r = decodeHeartbeat(bad, KEY);
        expect(r.ok, `flip of bit ${bit} in byte ${i}`).toBe(false);
        if (!r.ok) expect(["bad-magic", "bad-version", "bad-mac"]).toContain(r.error.kind);
      }
    }
  });

  it("every truncation of a valid frame", () => {
    for (let n = 0; n < good.length; n++) {
      const r = decodeHeartbeat(good.subarray(0, n), KEY);
      expect(r.ok, `first ${n} bytes`).toBe(false);
      if (!r.ok) expect(n < HEARTBEAT_MIN_FRAME ? "truncated" : "bad-mac").toBe(r.error.kind);
    }
  });

  it("an empty datagram, as truncated", () => {
    expectDecodeError(decodeHeartbeat(new Uint8Array(0), KEY), "truncated", /0 bytes; the smallest heartbeat frame is 64/);
  });

  it("a datagram over HEARTBEAT_MAX_FRAME, as oversized, before anything else", () => {
    const big = new Uint8Array(HEARTBEAT_MAX_FRAME + 1);
    big.set(good);
    expectDecodeError(decodeHeartbeat(big, KEY), "oversized", /1401 bytes; the limit is 1400/);
  });

  it("a foreign protocol, as bad-magic naming the byte", () => {
    const bad = good.slice();
    bad[2] = 0x00;
    expectDecodeError(decodeHeartbeat(bad, KEY), "bad-magic", /byte 2 is 0x00/);
    expectDecodeError(decodeHeartbeat(new Uint8Array([0x47]), KEY), "bad-magic", /byte 0 is 0x47/);
  });

  it("another protocol version, as bad-version, before checking the MAC", () => {
    const bad = good.slice();
    bad[4] = HEARTBEAT_VERSION + 1;
    expectDecodeError(decodeHeartbeat(bad, KEY), "bad-version", new RegExp(`version is ${HEARTBEAT_VERSION + 1} at offset 4; this node reads versions 1 to ${HEARTBEAT_VERSION}`));
    bad[4] = 0;
    expectDecodeError(decodeHeartbeat(bad, KEY), "bad-version", /version is 0 at offset 4/);
  });

  it("a frame whose MAC is valid but whose name length runs past the end, as malformed", () => {
    const body = bodyOf(good);
    body[CLUSTER_AT] = 200;
    expectDecodeError(decodeHeartbeat(sign(body), KEY), "malformed", /cluster name at offset 26 is 200 bytes; the limit is 64/);
    body[CLUSTER_AT] = 60;
    expectDecodeError(decodeHeartbeat(sign(body.slice(0, CLUSTER_AT + 20)), KEY), "malformed", /needs \d+ bytes but only \d+ remain/);
  });

  it("trailing bytes between the last field and the MAC", () => {
    const body = bodyOf(good);
    const longer = new Uint8Array(body.length + 3);
    longer.set(body);
    expectDecodeError(decodeHeartbeat(sign(longer), KEY), "malformed", new RegExp(`3 unexpected trailing bytes at offset ${body.length}`));
  });

  it("invalid UTF-8 in a name", () => {
    const body = bodyOf(good);
    body[CLUSTER_AT + 1] = 0xff;
    expectDecodeError(decodeHeartbeat(sign(body), KEY), "malformed", /cluster name at offset 27 is not valid UTF-8/);
  });

  it("an overlong UTF-8 encoding", () => {
    const body = bodyOf(encodeHeartbeat(frame({ cluster: "ab" }), KEY));
    body[CLUSTER_AT + 1] = 0xc1; // "A" encoded in two bytes: forbidden
    body[CLUSTER_AT + 2] = 0x81;
    expectDecodeError(decodeHeartbeat(sign(body), KEY), "malformed", /not valid UTF-8/);
  });

  it("an empty name and a name with a control character", () => {
    const body = bodyOf(encodeHeartbeat(frame({ cluster: "ab" }), KEY));
    body[CLUSTER_AT + 1] = 0x07;
    expectDecodeError(decodeHeartbeat(sign(body), KEY), "malformed", /cluster name at offset 26 contains a control character/);
    const shortened = new Uint8Array([...body.subarray(0, CLUSTER_AT), 0, ...body.subarray(CLUSTER_AT + 3)]);
    expectDecodeError(decodeHeartbeat(sign(shortened), KEY), "malformed", /cluster name at offset 26 is empty/);
  });

  it("an echo count over the limit", () => {
    const f = frame({ echoes: [], modules: [] });
    const body = bodyOf(encodeHeartbeat(f, KEY));
    const countAt = CLUSTER_AT + 1 + f.cluster.length + 1 + f.node.length;
    body[countAt] = HEARTBEAT_MAX_ECHOES + 1;
    expectDecodeError(decodeHeartbeat(sign(body), KEY), "malformed", new RegExp(`echo count at offset ${countAt} is 33; the limit is 32`));
  });

  it("a non-finite or negative time", () => {
    const body = bodyOf(good);
    const view = new DataView(body.buffer);
    view.setFloat64(17, Number.POSITIVE_INFINITY);
    expectDecodeError(decodeHeartbeat(sign(body), KEY), "malformed", /sentAt at offset 17 is Infinity/);
    view.setFloat64(17, -5);
    expectDecodeError(decodeHeartbeat(sign(body), KEY), "malformed", /sentAt at offset 17 is -5/);
    view.setFloat64(17, Number.NaN);
    expectDecodeError(decodeHeartbeat(sign(body), KEY), "malformed", /sentAt at offset 17 is NaN/);
  });

  it("a module generation beyond 2^53-1", () => {
    const body = bodyOf(encodeHeartbeat(frame({ echoes: [] }), KEY, 1));
    new DataView(body.buffer).setBigUint64(body.length - 8, 1n << 60n);
    expectDecodeError(decodeHeartbeat(sign(body), KEY), "malformed", /module advert 0 generation at offset \d+ is 1152921504606846976/);
  });

  it("works on a view into a larger buffer (as from a socket pool)", () => {
    const pool = new Uint8Array(good.length + 100);
    pool.set(good, 37);
    expect(decodeHeartbeat(pool.subarray(37, 37 + good.length), KEY)).toEqual({ ok: true, frame: frame() });
  });
});

describe("heartbeat decoding never throws (seeded property runs)", () => {
  const SEED = Number(process.env["CODEC_SEED"] ?? 20_240_611);

  function assertSound(bytes: Uint8Array, key: Uint8Array, label: string): HeartbeatDecodeResult {
    let r: HeartbeatDecodeResult;
    try {
      r = decodeHeartbeat(bytes, key);
    } catch (e) {
      throw new Error(`decodeHeartbeat threw on ${label} (seed ${SEED}): ${String(e)}\n${Buffer.from(bytes).toString("hex")}`);
    }
    if (r.ok) {
      // A decoded frame is a real frame: it re-encodes to exactly the bytes received.
      expect(Buffer.from(encodeHeartbeat(r.frame, key)).equals(Buffer.from(bytes)), `${label} (seed ${SEED})`).toBe(true);
    } else {
      expect(r.error.detail.length).toBeGreaterThan(0);
    }
    return r;
  }

  it("20,000 random buffers, half of them starting with a valid header", () => {
    const rand = randomSource(SEED);
    for (let n = 0; n < 20_000; n++) {
      const len = Math.floor(rand() * (HEARTBEAT_MAX_FRAME + 80));
      const bytes = new Uint8Array(len);
      for (let i = 0; i < len; i++) bytes[i] = Math.floor(rand() * 256);
      if (n % 2 === 0) bytes.set([0x56, 0x47, 0x48, 0x42, 1].slice(0, len));
      const r = assertSound(bytes, KEY, `random buffer ${n}`);
      expect(r.ok).toBe(false);
    }
  });

  it("20,000 random mutations of valid frames, re-signed so the parser behind the MAC is reached", () => {
    const rand = randomSource(SEED + 1);
    const pick = (n: number): number => Math.floor(rand() * n);
    const seeds = [
      encodeHeartbeat(frame(), KEY),
      encodeHeartbeat(frame({ echoes: [], modules: [] }), KEY),
      encodeHeartbeat(frame({ echoes: [{ node: "a", sentAt: 1, heldMs: 2 }, { node: "bé", sentAt: 3, heldMs: 4 }], modules: [{ module: "m", role: "r", generation: 5 }, { module: "n", role: "s", generation: 6 }] }), KEY),
    ];
    const counts = { ok: 0, malformed: 0, other: 0 };
    for (let n = 0; n < 20_000; n++) {
      const body = Array.from(bodyOf(seeds[pick(seeds.length)] as Uint8Array));
      const edits = 1 + pick(4);
      for (let e = 0; e < edits; e++) {
        const at = 5 + pick(Math.max(1, body.length - 5)); // keep magic and version so the MAC check is reached
        switch (pick(5)) {
          case 0: body[at] = pick(256); break;
          case 1: body[at] = [0, 1, 31, 32, 33, 64, 65, 127, 128, 255][pick(10)] as number; break;
          case 2: body.splice(at, 1 + pick(8)); break;
          case 3: body.splice(at, 0, ...Array.from({ length: 1 + pick(8) }, () => pick(256))); break;
          default: body.length = Math.max(5, at); break;
        }
      }
      const signed = sign(new Uint8Array(body));
      const r = assertSound(signed, KEY, `mutation ${n}`);
      if (r.ok) counts.ok++;
      else if (r.error.kind === "malformed") counts.malformed++;
      else counts.other++;
      // The same bytes with a broken MAC must never get past the MAC check.
      if (signed.length <= HEARTBEAT_MAX_FRAME && signed.length >= HEARTBEAT_MIN_FRAME) {
        const forged = signed.slice();
        forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
        expectDecodeError(assertSound(forged, KEY, `forged mutation ${n}`), "bad-mac");
      }
    }
    // The run must reach the parser in earnest, not stop at the header.
    expect(counts.malformed).toBeGreaterThan(5_000);
    expect(counts.ok).toBeGreaterThan(100);
  });
});
