import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  decodeHandshake,
  encodeHandshake,
  HANDSHAKE_MAX_RECORD,
  type HandshakeMessage,
  handshakeAuthKey,
  handshakeProof,
  handshakeTranscript,
  RecordOpener,
  RecordSealer,
  sessionKeys,
  withoutProof,
} from "../../src/proto/replication-handshake.ts";

const KEY = new Uint8Array(32).fill(9);
const nonce = (): Uint8Array => new Uint8Array(randomBytes(32));
const body = (record: Uint8Array): Uint8Array => record.subarray(4);

describe("replication handshake messages", () => {
  const msgs: HandshakeMessage[] = [
    { type: "client-hello", nonce: nonce(), cluster: "pair", node: "a", peer: "b" },
    { type: "server-hello", nonce: nonce(), cluster: "pair", node: "b", peer: "a", proof: new Uint8Array(32).fill(3) },
    { type: "proof", proof: new Uint8Array(32).fill(4) },
    { type: "refuse", reason: "wrong key ✓" },
  ];

  it.each(msgs.map((m) => [m.type, m] as const))("round-trips a %s", (_t, m) => {
    expect(decodeHandshake(encodeHandshake(m))).toEqual({ ok: true, message: m });
  });

  it("rejects other protocols, versions, truncation and trailing bytes with a reason, never a throw", () => {
    expect(decodeHandshake(new TextEncoder().encode("GET / HTTP/1.1"))).toMatchObject({ ok: false, detail: expect.stringMatching(/not a vigil replication handshake/) });
    const hello = encodeHandshake(msgs[0]!);
    const v2 = hello.slice();
    v2[4] = 2;
    expect(decodeHandshake(v2)).toMatchObject({ ok: false, detail: expect.stringMatching(/version 2/) });
    for (let n = 0; n < hello.length; n++) expect(decodeHandshake(hello.subarray(0, n)).ok).toBe(false);
    expect(decodeHandshake(new Uint8Array([...hello, 0])).ok).toBe(false);
    expect(decodeHandshake(new Uint8Array(HANDSHAKE_MAX_RECORD + 1)).ok).toBe(false);
  });

  it("long refusal reasons are cut, not refused", () => {
    const r = decodeHandshake(encodeHandshake({ type: "refuse", reason: "x".repeat(5000) }));
    expect(r.ok && r.message.type === "refuse" && r.message.reason.length).toBe(512);
  });
});

describe("proofs and session keys", () => {
  const ch = encodeHandshake({ type: "client-hello", nonce: nonce(), cluster: "pair", node: "a", peer: "b" });
  const sh = encodeHandshake({ type: "server-hello", nonce: nonce(), cluster: "pair", node: "b", peer: "a", proof: new Uint8Array(32) });
  const t = handshakeTranscript(ch, withoutProof(sh));

  it("the two roles' proofs differ, and a different key gives different proofs", () => {
    const auth = handshakeAuthKey(KEY);
    expect(handshakeProof(auth, "client", t)).not.toEqual(handshakeProof(auth, "server", t));
    expect(handshakeProof(handshakeAuthKey(new Uint8Array(32).fill(8)), "client", t)).not.toEqual(handshakeProof(auth, "client", t));
  });

  it("session keys depend on both nonces and the transcript (names), and differ per direction", () => {
    const n1 = nonce();
    const n2 = nonce();
    const k = sessionKeys(KEY, n1, n2, t);
    expect(k.clientToServer).not.toEqual(k.serverToClient);
    expect(sessionKeys(KEY, nonce(), n2, t).clientToServer).not.toEqual(k.clientToServer);
    expect(sessionKeys(KEY, n1, nonce(), t).clientToServer).not.toEqual(k.clientToServer);
    const other = handshakeTranscript(ch, withoutProof(encodeHandshake({ type: "server-hello", nonce: nonce(), cluster: "pair", node: "c", peer: "a", proof: new Uint8Array(32) })));
    expect(sessionKeys(KEY, n1, n2, other).clientToServer).not.toEqual(k.clientToServer);
    expect(sessionKeys(KEY, n1, n2, t)).toEqual(k);
  });
});

describe("sealed records", () => {
  const key = new Uint8Array(32).fill(5);

  it("open in order; a replayed, reordered, dropped, altered or truncated record does not", () => {
    const s = new RecordSealer(key);
    const r1 = s.seal(new Uint8Array([1, 2, 3]));
    const r2 = s.seal(new Uint8Array([4]));
    const r3 = s.seal(new Uint8Array(0));
    const o = new RecordOpener(key);
    expect(o.open(body(r1))).toEqual(new Uint8Array([1, 2, 3]));
    expect(o.open(body(r1))).toBeNull(); // replay
    expect(o.open(body(r3))).toBeNull(); // r2 dropped
    expect(o.open(body(r2))).toEqual(new Uint8Array([4]));
    expect(o.open(body(r3))).toEqual(new Uint8Array(0));

    const fresh = (): RecordOpener => new RecordOpener(key);
    for (let i = 0; i < body(r1).length; i++) {
      const t = body(r1).slice();
      t[i]! ^= 0x80;
      expect(fresh().open(t)).toBeNull();
    }
    expect(fresh().open(body(r1).subarray(0, 18))).toBeNull();
    expect(fresh().open(new Uint8Array(3))).toBeNull();
    expect(new RecordOpener(new Uint8Array(32).fill(6)).open(body(r1))).toBeNull();
  });

  it("a record sealed from parts is the record of their concatenation", () => {
    const whole = new RecordSealer(key);
    const parted = new RecordSealer(key);
    const head = new Uint8Array([9, 8, 7]);
    const data = new Uint8Array(70_000).map((_, i) => i & 0xff);
    const joined = new Uint8Array([...head, ...data]);
    expect(Buffer.concat(parted.sealParts([head, new Uint8Array(0), data]))).toEqual(Buffer.from(whole.seal(joined)));
    expect(Buffer.concat(parted.sealParts([]))).toEqual(Buffer.from(whole.seal(new Uint8Array(0))));
    const o = new RecordOpener(key);
    expect(o.open(body(whole.seal(new Uint8Array([1]))))).toBeNull(); // a third record of `whole`, opened as the first: refused
    const fresh = new RecordOpener(key);
    expect(fresh.open(body(Buffer.concat(new RecordSealer(key).sealParts([head, data]))))).toEqual(joined);
  });

  it("a record's length prefix is authenticated", () => {
    const r = new RecordSealer(key).seal(new Uint8Array([1, 2, 3]));
    // Same body, claimed under a different length: the body a receiver reads differs, and fails.
    expect(new RecordOpener(key).open(new Uint8Array([...body(r), 0]))).toBeNull();
  });
});
