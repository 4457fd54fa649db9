import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { expectDecodeError, randomSource } from "./codec-test-helpers.ts";
import {
  clipDetail,
  decodeWitness,
  encodeWitness,
  WITNESS_MAC_BYTES,
  WITNESS_MAX_DETAIL_BYTES,
  WITNESS_MAX_FRAME,
  WITNESS_MIN_FRAME,
  type WitnessDecodeResult,
  type WitnessMessage,
} from "../../src/proto/witness.ts";

const KEY = new Uint8Array(32).map((_, i) => i * 5 + 3);
const OTHER_KEY = new Uint8Array(32).map((_, i) => i * 5 + 4);
const EPOCH = (1_764_000_000_000n << 16n) | 0x1234n;
const NODE_EPOCH = (1_763_999_000_000n << 16n) | 0xabcdn;

const base = { cluster: "vms-pair", node: "vms1", epoch: EPOCH, seq: 7, module: "vms" };
const request: WitnessMessage = { ...base, type: "request", request: 42 };
const release: WitnessMessage = { ...base, type: "release" };
const grant: WitnessMessage = { ...base, type: "grant", request: 42, peerEpoch: NODE_EPOCH, durationMs: 3000, token: 5, detail: "granted" };
const deny: WitnessMessage = { ...base, type: "deny", request: 43, peerEpoch: NODE_EPOCH, token: 5, holder: "vms2", detail: "held by vms2 for 1200 ms more" };
const ALL = [request, release, grant, deny];

function sign(body: Uint8Array, key = KEY): Uint8Array {
  const out = new Uint8Array(body.length + WITNESS_MAC_BYTES);
  out.set(body);
  out.set(createHmac("sha256", key).update(body).digest(), body.length);
  return out;
}

const bodyOf = (bytes: Uint8Array): Uint8Array => bytes.slice(0, bytes.length - WITNESS_MAC_BYTES);

/** Offset of the cluster name's length byte. */
const CLUSTER_AT = 18;

describe("arbiter message encoding", () => {
  it.each(ALL.map((m) => [m.type, m] as const))("round-trips a %s", (_t, m) => {
    expect(decodeWitness(encodeWitness(m, KEY), KEY)).toEqual({ ok: true, message: m });
  });

  it("round-trips a denial with no holder, an empty detail and the numeric extremes", () => {
    const m: WitnessMessage = { ...base, epoch: 0xffffffffffffffffn, seq: 0xffffffff, type: "deny", request: Number.MAX_SAFE_INTEGER, peerEpoch: 0n, token: 0, holder: null, detail: "" };
    expect(decodeWitness(encodeWitness(m, KEY), KEY)).toEqual({ ok: true, message: m });
  });

  it("keeps non-ASCII names byte for byte", () => {
    const m: WitnessMessage = { ...grant, cluster: "centrale-é", node: "nœud-1", module: "主机", detail: "accordé ✓" } as WitnessMessage;
    expect(decodeWitness(encodeWitness(m, KEY), KEY)).toEqual({ ok: true, message: m });
  });

  it("lays a request out as magic, version, type, epoch, seq, names, request number (u64), then the HMAC of all before it", () => {
    const bytes = encodeWitness(request, KEY);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe("VGWT");
    expect([bytes[4], bytes[5]]).toEqual([1, 1]);
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    expect(view.getBigUint64(6)).toBe(EPOCH);
    expect(view.getUint32(14)).toBe(7);
    expect(bytes[CLUSTER_AT]).toBe("vms-pair".length);
    expect(view.getBigUint64(bytes.length - WITNESS_MAC_BYTES - 8)).toBe(42n);
    expect(bytes.length).toBe(18 + 9 + 5 + 4 + 8 + 32);
    expect(Buffer.from(bytes.subarray(bytes.length - 32))).toEqual(createHmac("sha256", KEY).update(bodyOf(bytes)).digest());
  });

  it("the smallest message is WITNESS_MIN_FRAME bytes; the largest stays within WITNESS_MAX_FRAME", () => {
    const small = encodeWitness({ cluster: "c", node: "n", module: "m", epoch: 1n, seq: 1, type: "release" }, KEY);
    expect(small.length).toBe(WITNESS_MIN_FRAME);
    expect(decodeWitness(small, KEY).ok).toBe(true);
    const n64 = "x".repeat(64);
    const big = encodeWitness({ ...base, cluster: n64, node: n64, module: n64, type: "deny", request: 1, peerEpoch: 1n, token: 1, holder: n64, detail: "d".repeat(WITNESS_MAX_DETAIL_BYTES) }, KEY);
    expect(big.length).toBeLessThanOrEqual(WITNESS_MAX_FRAME);
    expect(decodeWitness(big, KEY).ok).toBe(true);
  });

  it.each<[string, WitnessMessage, RegExp]>([
    ["an empty node name", { ...request, node: "" }, /node name must not be empty/],
    ["a module name over 64 bytes", { ...request, module: "é".repeat(33) }, /module name is 66 bytes of UTF-8; the limit is 64/],
    ["a control character", { ...request, cluster: "a\tb" }, /cluster name .* control character/],
    ["a lone surrogate", { ...request, node: "n\uDC00" }, /lone UTF-16 surrogate/],
    ["a seq over u32", { ...request, seq: 2 ** 32 }, /seq must be an integer in 0\.\.4294967295/],
    ["a negative request number", { ...request, request: -1 } as WitnessMessage, /request number must be a safe integer >= 0, got -1/],
    ["a request number over 2^53-1", { ...request, request: 2 ** 53 } as WitnessMessage, /request number must be a safe integer/],
    ["an epoch over u64", { ...request, epoch: 1n << 64n }, /epoch must fit/],
    ["a fractional duration", { ...grant, durationMs: 1.5 } as WitnessMessage, /lease duration must be an integer/],
    ["a detail over 200 bytes", { ...grant, detail: "x".repeat(201) } as WitnessMessage, /detail is 201 bytes of UTF-8; the limit is 200/],
    ["a detail with a newline", { ...deny, detail: "a\nb" } as WitnessMessage, /detail .* control character/],
  ])("refuses to encode %s", (_name, m, message) => {
    expect(() => encodeWitness(m, KEY)).toThrow(message);
  });

  it("clipDetail cuts on a character boundary and replaces control characters", () => {
    expect(clipDetail("a\nb")).toBe("a b");
    const clipped = clipDetail("é".repeat(150));
    expect(Buffer.byteLength(clipped)).toBe(200);
    expect(clipDetail("x".repeat(199) + "é")).toBe("x".repeat(199));
    expect(clipDetail("a\uD800b")).toBe("a?b");
    expect(() => encodeWitness({ ...grant, detail: clipDetail("😀".repeat(80) + "\u0007") } as WitnessMessage, KEY)).not.toThrow();
  });
});

describe("arbiter message decoding rejects", () => {
  const good = encodeWitness(deny, KEY);

  it("a message signed with another key, as bad-mac", () => {
    expectDecodeError(decodeWitness(encodeWitness(request, OTHER_KEY), KEY), "bad-mac", /HMAC-SHA256 at offset \d+ does not match/);
  });

  it("a heartbeat-style frame: only VGWT is accepted", () => {
    expectDecodeError(decodeWitness(new TextEncoder().encode("VGHB\u0001rest-of-a-heartbeat-frame"), KEY), "bad-magic", /byte 2 is 0x48; an arbiter message starts with "VGWT"/);
  });

  it("every single-bit change anywhere in a valid message", () => {
    for (let i = 0; i < good.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = good.slice();
        bad[i] = (bad[i] ?? 0) ^ (1 << bit);
        const r = decodeWitness(bad, KEY);
        expect(r.ok, `flip of bit ${bit} in byte ${i}`).toBe(false);
        if (!r.ok) expect(["bad-magic", "bad-version", "bad-mac"]).toContain(r.error.kind);
      }
    }
  });

  it("every truncation of a valid message", () => {
    for (let n = 0; n < good.length; n++) {
      const r = decodeWitness(good.subarray(0, n), KEY);
      expect(r.ok, `first ${n} bytes`).toBe(false);
      if (!r.ok) expect(r.error.kind).toBe(n < WITNESS_MIN_FRAME ? "truncated" : "bad-mac");
    }
  });

  it("an oversized datagram before anything else, and an empty one as truncated", () => {
    expectDecodeError(decodeWitness(new Uint8Array(WITNESS_MAX_FRAME + 1), KEY), "oversized", /549 bytes; the limit is 548/);
    expectDecodeError(decodeWitness(new Uint8Array(0), KEY), "truncated", /0 bytes; the smallest arbiter message is 56/);
  });

  it("another version, before the MAC is checked", () => {
    const bad = good.slice();
    bad[4] = 9;
    expectDecodeError(decodeWitness(bad, KEY), "bad-version", /version is 9 at offset 4; this program speaks version 1/);
  });

  it("an unknown type, signed", () => {
    const body = bodyOf(good);
    body[5] = 7;
    expectDecodeError(decodeWitness(sign(body), KEY), "malformed", /type at offset 5 is 7; expected 1 \(request\)/);
  });

  it("a request whose type byte says grant: the grant fields are missing", () => {
    const body = bodyOf(encodeWitness(request, KEY));
    body[5] = 3;
    expectDecodeError(decodeWitness(sign(body), KEY), "malformed", /peer epoch at offset \d+ needs 8 bytes/);
  });

  it("trailing bytes after the last field", () => {
    const body = bodyOf(encodeWitness(release, KEY));
    const longer = new Uint8Array([...body, 0, 0]);
    expectDecodeError(decodeWitness(sign(longer), KEY), "malformed", new RegExp(`2 unexpected trailing bytes at offset ${body.length} after the release fields`));
  });

  it("an empty, overlong, invalid UTF-8 or control-character name", () => {
    const body = bodyOf(encodeWitness({ ...request, cluster: "ab" }, KEY));
    const empty = new Uint8Array([...body.subarray(0, CLUSTER_AT), 0, ...body.subarray(CLUSTER_AT + 3)]);
    expectDecodeError(decodeWitness(sign(empty), KEY), "malformed", /cluster name at offset 18 is empty/);
    const long = body.slice();
    long[CLUSTER_AT] = 65;
    expectDecodeError(decodeWitness(sign(long), KEY), "malformed", /cluster name at offset 18 is 65 bytes; the limit is 64/);
    const utf = body.slice();
    utf[CLUSTER_AT + 1] = 0xc1;
    utf[CLUSTER_AT + 2] = 0x81;
    expectDecodeError(decodeWitness(sign(utf), KEY), "malformed", /cluster name at offset 19 is not valid UTF-8/);
    const ctl = body.slice();
    ctl[CLUSTER_AT + 1] = 0x1b;
    expectDecodeError(decodeWitness(sign(ctl), KEY), "malformed", /cluster name at offset 18 contains a control character/);
  });

  it("a request number beyond 2^53-1", () => {
    const body = bodyOf(encodeWitness(request, KEY));
    new DataView(body.buffer).setBigUint64(body.length - 8, 1n << 60n);
    expectDecodeError(decodeWitness(sign(body), KEY), "malformed", /request number at offset \d+ is 1152921504606846976; the limit is 2\^53-1/);
  });

  it("a detail over its limit", () => {
    const body = bodyOf(encodeWitness({ ...grant, detail: "" } as WitnessMessage, KEY));
    const bad = new Uint8Array([...body.subarray(0, body.length - 1), 201, ...new Uint8Array(201).fill(0x61)]);
    expectDecodeError(decodeWitness(sign(bad), KEY), "malformed", /detail at offset \d+ is 201 bytes; the limit is 200/);
  });

  it("works on a view into a larger buffer", () => {
    const pool = new Uint8Array(good.length + 50);
    pool.set(good, 13);
    expect(decodeWitness(pool.subarray(13, 13 + good.length), KEY)).toEqual({ ok: true, message: deny });
  });
});

describe("arbiter decoding never throws (seeded property runs)", () => {
  const SEED = Number(process.env["CODEC_SEED"] ?? 20_261_128);

  function assertSound(bytes: Uint8Array, label: string): WitnessDecodeResult {
    let r: WitnessDecodeResult;
    try {
      r = decodeWitness(bytes, KEY);
    } catch (e) {
      throw new Error(`decodeWitness threw on ${label} (seed ${SEED}): ${String(e)}\n${Buffer.from(bytes).toString("hex")}`);
    }
    if (r.ok) expect(Buffer.from(encodeWitness(r.message, KEY)).equals(Buffer.from(bytes)), `${label} (seed ${SEED})`).toBe(true);
    else expect(r.error.detail.length).toBeGreaterThan(0);
    return r;
  }

  it("20,000 random buffers, half of them starting with a valid header", () => {
    const rand = randomSource(SEED);
    for (let n = 0; n < 20_000; n++) {
      const len = Math.floor(rand() * (WITNESS_MAX_FRAME + 40));
      const bytes = new Uint8Array(len);
      for (let i = 0; i < len; i++) bytes[i] = Math.floor(rand() * 256);
      if (n % 2 === 0) bytes.set([0x56, 0x47, 0x57, 0x54, 1].slice(0, len));
      expect(assertSound(bytes, `random buffer ${n}`).ok).toBe(false);
    }
  });

  it("20,000 random mutations of valid messages, re-signed so the parser behind the MAC is reached", () => {
    const rand = randomSource(SEED + 1);
    const pick = (n: number): number => Math.floor(rand() * n);
    const seeds = ALL.map((m) => encodeWitness(m, KEY));
    const counts = { ok: 0, malformed: 0, other: 0 };
    for (let n = 0; n < 20_000; n++) {
      const body = Array.from(bodyOf(seeds[pick(seeds.length)] as Uint8Array));
      for (let e = 0, edits = 1 + pick(4); e < edits; e++) {
        const at = 5 + pick(Math.max(1, body.length - 5));
        switch (pick(5)) {
          case 0: body[at] = pick(256); break;
          case 1: body[at] = [0, 1, 2, 3, 4, 5, 31, 64, 65, 200, 201, 255][pick(12)] as number; break;
          case 2: body.splice(at, 1 + pick(8)); break;
          case 3: body.splice(at, 0, ...Array.from({ length: 1 + pick(8) }, () => pick(256))); break;
          default: body.length = Math.max(5, at); break;
        }
      }
      const signed = sign(new Uint8Array(body));
      const r = assertSound(signed, `mutation ${n}`);
      if (r.ok) counts.ok++;
      else if (r.error.kind === "malformed") counts.malformed++;
      else counts.other++;
      if (signed.length >= WITNESS_MIN_FRAME && signed.length <= WITNESS_MAX_FRAME) {
        const forged = signed.slice();
        forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
        expectDecodeError(assertSound(forged, `forged mutation ${n}`), "bad-mac");
      }
    }
    expect(counts.malformed).toBeGreaterThan(5_000);
    expect(counts.ok).toBeGreaterThan(100);
  });
});
