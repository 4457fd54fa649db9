import { createHmac } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { expectDecodeError, randomSource } from "./codec-test-helpers.ts";
import { decodeHeartbeat, encodeHeartbeat, HEARTBEAT_MAC_BYTES, type HeartbeatDecodeResult, type HeartbeatFrame } from "../../src/proto/heartbeat.ts";

const KEY = new Uint8Array(32).map((_, i) => i * 5 + 3);

function frame(overrides: Partial<HeartbeatFrame> = {}): HeartbeatFrame {
  return {
    cluster: "names-pair",
    node: "n1",
    epoch: (1_733_000_000_000n << 16n) | 0x1234n,
    seq: 7,
    sentAt: 5_000.5,
    link: 0,
    echoes: [{ node: "n2", sentAt: 4_900.25, heldMs: 1.5 }],
    modules: [{ module: "web", role: "PRIM", generation: 3 }],
    ...overrides,
  };
}

function resign(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + HEARTBEAT_MAC_BYTES);
  out.set(body);
  out.set(createHmac("sha256", KEY).update(body).digest(), body.length);
  return out;
}

const bodyOf = (bytes: Uint8Array): Uint8Array => bytes.slice(0, bytes.length - HEARTBEAT_MAC_BYTES);

/** Where `name`'s UTF-8 first appears in `bytes` after its length byte. */
function nameAt(bytes: Uint8Array, name: string): number {
  const raw = new TextEncoder().encode(name);
  for (let i = 1; i + raw.length <= bytes.length; i++) {
    if (bytes[i - 1] === raw.length && raw.every((b, k) => bytes[i + k] === b)) return i;
  }
  throw new Error(`${name} not in frame`);
}

describe("heartbeat decoding of names already known", () => {
  afterEach(() => vi.restoreAllMocks());

  it("does not decode a known name's bytes again; a new name is decoded once", () => {
    const bytes = encodeHeartbeat(frame(), KEY);
    expect(decodeHeartbeat(bytes.slice(), KEY)).toEqual({ ok: true, frame: frame() });
    const decode = vi.spyOn(TextDecoder.prototype, "decode");
    const again = decodeHeartbeat(bytes.slice(), KEY);
    expect(again).toEqual({ ok: true, frame: frame() });
    expect(decode).not.toHaveBeenCalled();

    // As another node writes it: this node's writer never saw the new name, only a placeholder of its length.
    const newPeer = "peer-never-seen-\u00e9";
    const raw = new TextEncoder().encode(newPeer);
    const placeholder = "q".repeat(raw.length);
    const withNewPeer = frame({ echoes: [{ node: "n2", sentAt: 1, heldMs: 2 }, { node: newPeer, sentAt: 3, heldMs: 4 }] });
    const body = bodyOf(encodeHeartbeat({ ...withNewPeer, echoes: [{ node: "n2", sentAt: 1, heldMs: 2 }, { node: placeholder, sentAt: 3, heldMs: 4 }] }, KEY));
    body.set(raw, nameAt(body, placeholder));
    const r = decodeHeartbeat(resign(body), KEY);
    expect(r).toEqual({ ok: true, frame: withNewPeer });
    expect(decode).toHaveBeenCalledTimes(1);
  });

  it("a name one byte off a known one is read as itself, and a bad byte in it is still refused", () => {
    const bytes = encodeHeartbeat(frame(), KEY);
    decodeHeartbeat(bytes, KEY);
    const at = nameAt(bytes, "web");
    const body = bodyOf(bytes);
    body[at + 2] = 0x63; // "wec"
    const r = decodeHeartbeat(resign(body), KEY);
    expect(r.ok && r.frame.modules[0]?.module).toBe("wec");

    body[at + 2] = 0x01;
    expectDecodeError(decodeHeartbeat(resign(body), KEY), "malformed", /module advert 0 module name at offset \d+ contains a control character/);
    body[at + 2] = 0xff;
    expectDecodeError(decodeHeartbeat(resign(body), KEY), "malformed", /module advert 0 module name at offset \d+ is not valid UTF-8/);
    // Refused names are not learned: the same bytes are refused again.
    expectDecodeError(decodeHeartbeat(resign(body), KEY), "malformed", /not valid UTF-8/);
  });
});

describe("heartbeat names: seeded property runs over more names than the table keeps", () => {
  const SEED = Number(process.env["CODEC_SEED"] ?? 20_261_207);
  const rand = randomSource(SEED);
  const pick = (n: number): number => Math.floor(rand() * n);
  const ALPHABET = ["a", "b", "z", "0", "-", ".", "\u00e9", "\u00df", "\u20ac", "\ud83d\ude00", "\ufeff", " "];

  function randomName(maxBytes: number): string {
    for (;;) {
      let s = "";
      const len = 1 + pick(maxBytes);
      while (new TextEncoder().encode(s).length < len) s += ALPHABET[pick(ALPHABET.length)] as string;
      if (new TextEncoder().encode(s).length <= maxBytes) return s;
    }
  }

  // 600 names: the table (256) is cleared several times along the way.
  const pool = Array.from({ length: 600 }, (_, i) => (i % 50 === 0 ? "x".repeat(64) : randomName(i % 3 === 0 ? 32 : 64)));
  const poolName = (): string => pool[pick(pool.length)] as string;

  function randomFrame(): HeartbeatFrame {
    return frame({
      cluster: poolName(),
      node: poolName(),
      echoes: Array.from({ length: pick(4) }, () => ({ node: poolName(), sentAt: pick(1e6), heldMs: pick(100) })),
      modules: Array.from({ length: pick(3) }, () => ({ module: poolName(), role: randomName(32), generation: pick(1e9) })),
      ...(pick(3) === 0 ? { config: { digest: "0123456789abcdef", total: 3, first: 1, keys: [{ key: poolName(), hash: "fedcba9876543210" }] } } : {}),
      ...(pick(3) === 0 ? { vrrp: [{ instance: poolName(), vrid: 1 + pick(255), address: "192.0.2.7" }] } : {}),
    });
  }

  function decodeTwice(bytes: Uint8Array, label: string): HeartbeatDecodeResult {
    let first: HeartbeatDecodeResult;
    let second: HeartbeatDecodeResult;
    try {
      first = decodeHeartbeat(bytes.slice(), KEY);
      second = decodeHeartbeat(bytes.slice(), KEY);
    } catch (e) {
      throw new Error(`decodeHeartbeat threw on ${label} (seed ${SEED}): ${String(e)}\n${Buffer.from(bytes).toString("hex")}`);
    }
    // Whether the names were known or not, the answer is the same.
    expect(second, `${label} (seed ${SEED})`).toEqual(first);
    if (first.ok) expect(Buffer.from(encodeHeartbeat(first.frame, KEY)).equals(Buffer.from(bytes)), `${label} (seed ${SEED})`).toBe(true);
    else expect(first.error.detail.length).toBeGreaterThan(0);
    return first;
  }

  it("3,000 frames of random names decode to exactly those names, twice", () => {
    for (let n = 0; n < 3_000; n++) {
      const f = randomFrame();
      const bytes = resign(bodyOf(encodeHeartbeat(f, KEY)));
      expect(decodeTwice(bytes, `frame ${n}`)).toEqual({ ok: true, frame: f });
    }
  });

  it("10,000 re-signed mutations of such frames decode to the same answer, or fail with the typed error, every time", () => {
    const counts = { ok: 0, malformed: 0 };
    for (let n = 0; n < 10_000; n++) {
      const body = Array.from(bodyOf(encodeHeartbeat(randomFrame(), KEY)));
      for (let e = 1 + pick(3); e > 0; e--) {
        const at = 5 + pick(body.length - 5);
        switch (pick(4)) {
          case 0: body[at] = pick(256); break;
          case 1: body[at] = [0, 1, 31, 0x7f, 0x80, 0xc0, 0xed, 0xef, 0xff][pick(9)] as number; break;
          case 2: body.splice(at, 1 + pick(4)); break;
          default: body.splice(at, 0, ...Array.from({ length: 1 + pick(4) }, () => pick(256))); break;
        }
      }
      const r = decodeTwice(resign(new Uint8Array(body)), `mutation ${n}`);
      if (r.ok) counts.ok++;
      else if (r.error.kind === "malformed") counts.malformed++;
    }
    expect(counts.ok).toBeGreaterThan(100);
    expect(counts.malformed).toBeGreaterThan(1000);
  });
});
