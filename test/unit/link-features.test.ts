/**
 * The replication link's feature exchange (src/core/link-features.ts): the
 * session start of each side with a peer of this release, of the previous
 * release (it tells nothing) and of a later version, a peer that breaks the
 * order, and the codecs of the features message, the manifest's flags and
 * the nonce's mark.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  agree, beginSession, featureNames, LINK_FEATURE, LINK_FEATURES_ALL, NO_FEATURES, ourFeatures, type SessionStartAction,
  type SessionStartConfig, type SessionStartEvent, type SessionStartState, stepSession, unagreedUse,
} from "../../src/core/link-features.ts";
import { ByteReader, ByteWriter } from "../../src/proto/bytes.ts";
import { HANDSHAKE_NONCE_BYTES, markedNonce, offersFeatureExchange } from "../../src/proto/replication-handshake.ts";
import { decodeReplication, encodeReplication, REPLICATION_VERSION } from "../../src/proto/replication.ts";
import { readResyncRequest, writeResyncRequest } from "../../src/proto/replication-resync.ts";
import { relPath } from "../../src/replicator/ops.ts";

const client: SessionStartConfig = { role: "client", ours: ourFeatures(), peer: "h2" };
const server: SessionStartConfig = { role: "server", ours: ourFeatures(), peer: "h1" };

/** Runs the events through the machine; the actions of each step, in order. */
function run(cfg: SessionStartConfig, peerOffers: boolean, events: readonly SessionStartEvent[]): { state: SessionStartState; actions: SessionStartAction[][] } {
  const first = beginSession(cfg, peerOffers);
  let state = first.state;
  const actions: SessionStartAction[][] = [[...first.actions]];
  for (const ev of events) {
    const s = stepSession(cfg, state, ev);
    state = s.state;
    actions.push([...s.actions]);
  }
  return { state, actions };
}

const featuresOf = (version: number, bits: number): SessionStartEvent => ({ type: "features", features: { version, bits } });
const READY: SessionStartEvent = { type: "ready" };
const other = (what: string): SessionStartEvent => ({ type: "other", what });

describe("link feature exchange: both sides of this release", () => {
  it("the client tells its features first, and is up with the bits of both once the server's features and ready came", () => {
    const r = run(client, true, [featuresOf(REPLICATION_VERSION, LINK_FEATURES_ALL), READY, other("ack")]);
    expect(r.actions[0]).toEqual([{ type: "send-features", features: ourFeatures() }]);
    expect(r.actions[1]).toEqual([]);
    expect(r.actions[2]).toEqual([{ type: "open", agreed: { peer: { version: REPLICATION_VERSION, bits: LINK_FEATURES_ALL }, common: LINK_FEATURES_ALL } }]);
    expect(r.actions[3]).toEqual([{ type: "deliver" }]);
    expect(r.state.phase).toBe("open");
  });

  it("the server tells its features, and its ready once the client's came: then it is up", () => {
    const r = run(server, true, [featuresOf(REPLICATION_VERSION, LINK_FEATURES_ALL), other("request")]);
    expect(r.actions[0]).toEqual([{ type: "send-features", features: ourFeatures() }]);
    expect(r.actions[1]).toEqual([{ type: "send-ready" }, { type: "open", agreed: { peer: ourFeatures(), common: LINK_FEATURES_ALL } }]);
    expect(r.actions[2]).toEqual([{ type: "deliver" }]);
  });
});

describe("link feature exchange: a peer of the previous release (no mark, no features)", () => {
  it("a client of this release sends nothing more and is up on the ready alone, with no features", () => {
    const r = run(client, false, [READY]);
    expect(r.actions).toEqual([[], [{ type: "open", agreed: NO_FEATURES }]]);
  });

  it("a server of this release sends its ready alone and is up at once, with no features", () => {
    const r = run(server, false, [other("op")]);
    expect(r.actions).toEqual([[{ type: "send-ready" }, { type: "open", agreed: NO_FEATURES }], [{ type: "deliver" }]]);
  });
});

describe("link feature exchange: a peer of a later version", () => {
  it("is served with the bits both have; the bits this release does not know are left out", () => {
    const later = { version: REPLICATION_VERSION + 5, bits: 0xffff_ffff };
    const c = run(client, true, [featuresOf(later.version, later.bits), READY]);
    expect(c.actions[2]).toEqual([{ type: "open", agreed: { peer: later, common: LINK_FEATURES_ALL } }]);
    // A bit this release does not have (foldedTimes, 0b10, is one it has now).
    const s = run(server, true, [featuresOf(later.version, 0x8000_0000)]);
    expect(s.actions[1]).toEqual([{ type: "send-ready" }, { type: "open", agreed: { peer: { version: later.version, bits: 0x8000_0000 }, common: 0 } }]);
  });

  it("agree takes the intersection, as a u32", () => {
    expect(agree({ version: 2, bits: 0x8000_0001 }, { version: 9, bits: 0x8000_0003 }).common).toBe(0x8000_0001);
    expect(agree(ourFeatures(), null)).toBe(NO_FEATURES);
  });
});

describe("link feature exchange: a peer that breaks the order has the connection closed, naming it", () => {
  it("a server that offered the exchange and sends its ready before its features", () => {
    const r = run(client, true, [READY]);
    expect(r.state.phase).toBe("closed");
    expect(r.actions[1]).toEqual([{ type: "close", reason: "h2 offered the link's feature exchange but sent its ready before its features: connection closed" }]);
  });

  it("a client that offered the exchange and sends an op or a request before its features", () => {
    for (const [what, named] of [["op", "an op"], ["request", "a request"]] as const) {
      const r = run(server, true, [other(what)]);
      expect(r.actions[1]).toEqual([{ type: "close", reason: `h1 offered the link's feature exchange but sent ${named} message before its features: connection closed` }]);
    }
  });

  it("features twice, or from a peer that did not offer the exchange", () => {
    expect(run(client, true, [featuresOf(2, 1), featuresOf(2, 1)]).actions[2]).toEqual([{ type: "close", reason: "h2 sent its features twice: connection closed" }]);
    expect(run(server, true, [featuresOf(2, 1), featuresOf(2, 1)]).actions[2]).toEqual([{ type: "close", reason: "h1 sent its features twice: connection closed" }]);
    expect(run(server, false, [featuresOf(2, 1)]).actions[1]).toEqual([{ type: "close", reason: "h1 sent features without offering the link's feature exchange: connection closed" }]);
    expect(run(client, false, [featuresOf(2, 1)]).actions[1]).toEqual([{ type: "close", reason: "h2 sent features without offering the link's feature exchange: connection closed" }]);
  });

  it("a client that sends a ready (only the SECOND does), and nothing after a close", () => {
    const r = run(server, true, [featuresOf(2, 1), READY, other("op")]);
    expect(r.actions[2]).toEqual([{ type: "close", reason: "h1 sent a ready message, which only the SECOND sends: connection closed" }]);
    expect(r.actions[3]).toEqual([]);
  });
});

describe("link features: what a request needs", () => {
  const bare = { kind: "manifest", under: relPath(""), recursive: true, withoutXattrs: true } as const;
  it("a listing without xattrs needs the feature; other requests need none", () => {
    expect(unagreedUse({ peer: ourFeatures(), common: LINK_FEATURES_ALL }, bare)).toBeNull();
    expect(unagreedUse(NO_FEATURES, bare)).toBe("asked a manifest with listingWithoutXattrs, which the link's feature exchange did not agree on: connection closed");
    expect(unagreedUse(NO_FEATURES, { kind: "manifest", under: relPath(""), recursive: true })).toBeNull();
    expect(unagreedUse(NO_FEATURES, { kind: "entry", path: relPath("a") })).toBeNull();
  });

  it("feature names, unknown bits by value", () => {
    expect(featureNames(0)).toBe("none");
    expect(featureNames(LINK_FEATURE.listingWithoutXattrs | 0x100)).toBe("listingWithoutXattrs, 0x100");
  });
});

describe("codecs of the exchange", () => {
  it("the features message round-trips; a later version's added fields are skipped", () => {
    const bytes = encodeReplication({ type: "features", version: 2, bits: 0x8000_0001 });
    expect(decodeReplication(bytes)).toEqual({ ok: true, message: { type: "features", version: 2, bits: 0x8000_0001 } });
    const later = new Uint8Array([...encodeReplication({ type: "features", version: 3, bits: 5 }), 1, 2, 3, 4]);
    expect(decodeReplication(later)).toEqual({ ok: true, message: { type: "features", version: 3, bits: 5 } });
  });

  it("a malformed features message is a typed error, never a throw", () => {
    const v2 = encodeReplication({ type: "features", version: 2, bits: 1 });
    expect(decodeReplication(new Uint8Array([...v2, 0]))).toMatchObject({ ok: false, error: { kind: "malformed" } });
    expect(decodeReplication(new Uint8Array([9, 0, 1, 0, 0, 0, 1]))).toMatchObject({ ok: false, error: { kind: "malformed", detail: expect.stringMatching(/version at offset 1 is 1/) } });
    expect(decodeReplication(new Uint8Array([9, 0, 2, 0]))).toMatchObject({ ok: false, error: { kind: "truncated" } });
    expect(() => encodeReplication({ type: "features", version: 1, bits: 0 })).toThrow(RangeError);
    let seed = 5;
    for (let i = 0; i < 2000; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const body = new Uint8Array(seed % 12).map((_, j) => (seed >>> (j % 24)) & 0xff);
      const r = decodeReplication(new Uint8Array([9, ...body]));
      if (r.ok) expect(r.message.type).toBe("features");
    }
  });

  it("a manifest asked without xattrs carries flag bit 1; other bits are refused", () => {
    const w = new ByteWriter();
    writeResyncRequest(w, { kind: "manifest", under: relPath("d"), recursive: false, withoutXattrs: true });
    const bytes = w.finish();
    expect(bytes.at(-1)).toBe(2);
    expect(readResyncRequest(new ByteReader(bytes))).toEqual({ kind: "manifest", under: relPath("d"), recursive: false, withoutXattrs: true });
    const plain = new ByteWriter();
    writeResyncRequest(plain, { kind: "manifest", under: relPath("d"), recursive: true });
    // What the previous release sends and reads: recursive 0 or 1.
    expect(plain.finish().at(-1)).toBe(1);
    const bad = bytes.slice();
    bad[bad.length - 1] = 4;
    expect(() => readResyncRequest(new ByteReader(bad))).toThrow(/manifest flags at offset \d+ is 4; expected 0\.\.3/);
  });

  it("the nonce's mark: a marked nonce offers the exchange, a random one does not", () => {
    const marked = markedNonce(new Uint8Array(randomBytes(HANDSHAKE_NONCE_BYTES)));
    expect(offersFeatureExchange(marked)).toBe(true);
    expect(offersFeatureExchange(new Uint8Array(randomBytes(HANDSHAKE_NONCE_BYTES)))).toBe(false);
    expect(offersFeatureExchange(marked.subarray(1))).toBe(false);
  });
});
