/**
 * The replication link's handshake and record protection (pure: no I/O).
 *
 * On the TCP stream every record is a u32 big-endian length, then that many
 * bytes. The first records are the handshake, in clear:
 *
 *   client -> server  hello   magic "VGRP", version 1, type 1, nonce (32 random bytes),
 *                             cluster, node (the sender), peer (who it expects to reach),
 *                             each u8 length + UTF-8 (1..64)
 *   server -> client  hello   the same with type 2, then proof (32 bytes)
 *   client -> server  proof   magic, version, type 3, proof (32 bytes)
 *   either            refuse  magic, version, type 4, reason u16 length + UTF-8 (0..512)
 *
 * transcript = SHA-256(client hello || server hello without its proof), so it
 * covers both nonces, the cluster and both node names. The server proves it
 * holds the cluster key first: HMAC-SHA256(authKey, "server" || transcript);
 * then the client: HMAC-SHA256(authKey, "client" || transcript). authKey is
 * derived from the cluster key with HKDF, so these MACs never equal a
 * heartbeat or arbiter frame's. A refuse is not authenticated (anyone on the
 * path could also just reset the connection); it only carries the reason to
 * the log of the other side.
 *
 * Session keys: HKDF-SHA256(cluster key, salt = client nonce || server nonce,
 * info = "vigil replication v1 session" || transcript), 64 bytes: the first 32
 * protect client-to-server records, the last 32 server-to-client. Every later
 * record is AES-256-GCM with the 4 length bytes as associated data and the
 * nonce 0u32 || counter u64, the counter counting the records of that
 * direction from 0. A receiver only accepts the next counter, so a replayed,
 * reordered, dropped or forged record fails authentication.
 *
 * A side that takes part in the link's feature exchange (from version 2,
 * src/core/link-features.ts) ends its nonce with FEATURE_EXCHANGE_MARK
 * (the rest stays random: 24 bytes), as TLS 1.3 marks its server random:
 * the hellos' layout stays the one the previous release decodes, which
 * refuses any other, and the mark is covered by the transcript. A random
 * nonce of the previous release ends so once in 2^64: its peer would then
 * send a features message it cannot read, it would close the connection,
 * and the next one has another nonce.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { ByteDecodeError, ByteReader, ByteWriter } from "./bytes.ts";

export const HANDSHAKE_NONCE_BYTES = 32;
export const HANDSHAKE_PROOF_BYTES = 32;
export const HANDSHAKE_MAX_NAME_BYTES = 64;
export const HANDSHAKE_MAX_REASON_BYTES = 512;
/** The largest handshake record (a server hello with three 64-byte names and a proof). */
export const HANDSHAKE_MAX_RECORD = 4 + 2 + HANDSHAKE_NONCE_BYTES + 3 * 65 + HANDSHAKE_PROOF_BYTES + 2 + HANDSHAKE_MAX_REASON_BYTES;
export const RECORD_TAG_BYTES = 16;
export const RECORD_LENGTH_BYTES = 4;
/** Parts of a sealed record up to this size are joined to the length prefix. */
const SMALL_PART_BYTES = 4096;

const MAGIC = new Uint8Array([0x56, 0x47, 0x52, 0x50]); // "VGRP"
/** The last bytes of the nonce of a side that takes part in the feature exchange: "VGRPfeat". Never changes. */
export const FEATURE_EXCHANGE_MARK = new Uint8Array([0x56, 0x47, 0x52, 0x50, 0x66, 0x65, 0x61, 0x74]);
const VERSION = 1;
const TYPE = { "client-hello": 1, "server-hello": 2, proof: 3, refuse: 4 } as const;
const CONTROL_CHAR = /[\u0000-\u001f\u007f]/;

export interface Hello {
  readonly nonce: Uint8Array;
  readonly cluster: string;
  /** The sender. */
  readonly node: string;
  /** The node the sender means to reach. */
  readonly peer: string;
}

export type HandshakeMessage =
  | ({ readonly type: "client-hello" } & Hello)
  | ({ readonly type: "server-hello"; readonly proof: Uint8Array } & Hello)
  | { readonly type: "proof"; readonly proof: Uint8Array }
  | { readonly type: "refuse"; readonly reason: string };

export type HandshakeDecodeResult = { ok: true; message: HandshakeMessage } | { ok: false; detail: string };

function writeName(w: ByteWriter, name: string, what: string): void {
  if (name.length === 0 || CONTROL_CHAR.test(name)) throw new RangeError(`replication handshake: ${what} ${JSON.stringify(name)} is empty or has a control character`);
  w.utf8WithU8Length(name, HANDSHAKE_MAX_NAME_BYTES, `replication handshake: ${what}`);
}

function readName(r: ByteReader, what: string): string {
  const at = r.offset;
  const n = r.u8(`length of ${what}`);
  if (n === 0 || n > HANDSHAKE_MAX_NAME_BYTES) throw new ByteDecodeError(`${what} at offset ${at} is ${n} bytes; expected 1..${HANDSHAKE_MAX_NAME_BYTES}`, at);
  const s = r.utf8(n, what);
  if (CONTROL_CHAR.test(s)) throw new ByteDecodeError(`${what} at offset ${at} contains a control character`, at);
  return s;
}

/** Encodes a handshake record's body (without the length prefix). */
export function encodeHandshake(m: HandshakeMessage): Uint8Array {
  const w = new ByteWriter(256);
  w.bytes(MAGIC);
  w.u8(VERSION, "replication handshake: version");
  w.u8(TYPE[m.type], "replication handshake: type");
  switch (m.type) {
    case "client-hello":
    case "server-hello":
      if (m.nonce.length !== HANDSHAKE_NONCE_BYTES) throw new RangeError(`replication handshake: nonce must be ${HANDSHAKE_NONCE_BYTES} bytes`);
      w.bytes(m.nonce);
      writeName(w, m.cluster, "cluster name");
      writeName(w, m.node, "node name");
      writeName(w, m.peer, "peer name");
      if (m.type === "server-hello") w.bytes(checkProof(m.proof));
      break;
    case "proof":
      w.bytes(checkProof(m.proof));
      break;
    case "refuse": {
      let reason = m.reason.replace(/[\u0000-\u001f\u007f]/g, " ");
      const enc = new TextEncoder();
      while (enc.encode(reason).length > HANDSHAKE_MAX_REASON_BYTES) reason = reason.slice(0, -1);
      const raw = enc.encode(reason.replace(/[\uD800-\uDFFF]$/, ""));
      w.u16(raw.length, "replication handshake: length of reason");
      w.bytes(raw);
      break;
    }
  }
  return w.finish();
}

function checkProof(p: Uint8Array): Uint8Array {
  if (p.length !== HANDSHAKE_PROOF_BYTES) throw new RangeError(`replication handshake: proof must be ${HANDSHAKE_PROOF_BYTES} bytes`);
  return p;
}

/** Decodes a handshake record's body. Never throws. */
export function decodeHandshake(bytes: Uint8Array): HandshakeDecodeResult {
  if (bytes.length > HANDSHAKE_MAX_RECORD) return { ok: false, detail: `handshake record is ${bytes.length} bytes; the limit is ${HANDSHAKE_MAX_RECORD}` };
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) return { ok: false, detail: `not a vigil replication handshake (byte ${i} of the magic "VGRP" differs): is the port right?` };
  }
  if (bytes.length < 6) return { ok: false, detail: `handshake record is ${bytes.length} bytes; too short` };
  if (bytes[4] !== VERSION) return { ok: false, detail: `handshake version ${bytes[4]}; this program speaks version ${VERSION}` };
  try {
    const r = new ByteReader(bytes, 5);
    const at = r.offset;
    const code = r.u8("type");
    let m: HandshakeMessage;
    if (code === TYPE["client-hello"] || code === TYPE["server-hello"]) {
      const nonce = r.bytesView(HANDSHAKE_NONCE_BYTES, "nonce").slice();
      const hello = { nonce, cluster: readName(r, "cluster name"), node: readName(r, "node name"), peer: readName(r, "peer name") };
      m = code === TYPE["client-hello"] ? { type: "client-hello", ...hello } : { type: "server-hello", ...hello, proof: r.bytesView(HANDSHAKE_PROOF_BYTES, "proof").slice() };
    } else if (code === TYPE.proof) {
      m = { type: "proof", proof: r.bytesView(HANDSHAKE_PROOF_BYTES, "proof").slice() };
    } else if (code === TYPE.refuse) {
      const lAt = r.offset;
      const n = r.u16("length of reason");
      if (n > HANDSHAKE_MAX_REASON_BYTES) throw new ByteDecodeError(`reason at offset ${lAt} is ${n} bytes; the limit is ${HANDSHAKE_MAX_REASON_BYTES}`, lAt);
      m = { type: "refuse", reason: r.utf8(n, "reason") };
    } else {
      throw new ByteDecodeError(`handshake type at offset ${at} is ${code}; expected 1..4`, at);
    }
    r.expectEnd(`the ${m.type}`);
    return { ok: true, message: m };
  } catch (err) {
    if (err instanceof ByteDecodeError) return { ok: false, detail: `malformed handshake: ${err.message}` };
    throw err;
  }
}

/** A nonce of `random`'s first bytes, ending with the feature exchange's mark. */
export function markedNonce(random: Uint8Array): Uint8Array {
  if (random.length !== HANDSHAKE_NONCE_BYTES) throw new RangeError(`replication handshake: nonce must be ${HANDSHAKE_NONCE_BYTES} bytes`);
  const n = random.slice();
  n.set(FEATURE_EXCHANGE_MARK, HANDSHAKE_NONCE_BYTES - FEATURE_EXCHANGE_MARK.length);
  return n;
}

/** Whether a hello's nonce offers the feature exchange. */
export function offersFeatureExchange(nonce: Uint8Array): boolean {
  if (nonce.length !== HANDSHAKE_NONCE_BYTES) return false;
  const at = HANDSHAKE_NONCE_BYTES - FEATURE_EXCHANGE_MARK.length;
  for (let i = 0; i < FEATURE_EXCHANGE_MARK.length; i++) if (nonce[at + i] !== FEATURE_EXCHANGE_MARK[i]) return false;
  return true;
}

/** The key the handshake proofs are made with; never used for anything else. */
export function handshakeAuthKey(clusterKey: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", clusterKey, "vigil replication", "vigil replication v1 auth", 32));
}

/** SHA-256 of the client hello's body and the server hello's body without the proof. */
export function handshakeTranscript(clientHello: Uint8Array, serverHelloWithoutProof: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(clientHello).update(serverHelloWithoutProof).digest());
}

/** The server hello's body minus its trailing proof: what the transcript covers. */
export function withoutProof(serverHelloBody: Uint8Array): Uint8Array {
  return serverHelloBody.subarray(0, serverHelloBody.length - HANDSHAKE_PROOF_BYTES);
}

export function handshakeProof(authKey: Uint8Array, role: "client" | "server", transcript: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", authKey).update(role).update(transcript).digest());
}

export function proofMatches(expected: Uint8Array, got: Uint8Array): boolean {
  return expected.length === got.length && timingSafeEqual(expected, got);
}

export interface SessionKeys {
  readonly clientToServer: Uint8Array;
  readonly serverToClient: Uint8Array;
}

export function sessionKeys(clusterKey: Uint8Array, clientNonce: Uint8Array, serverNonce: Uint8Array, transcript: Uint8Array): SessionKeys {
  const salt = new Uint8Array(clientNonce.length + serverNonce.length);
  salt.set(clientNonce);
  salt.set(serverNonce, clientNonce.length);
  const info = Buffer.concat([Buffer.from("vigil replication v1 session"), transcript]);
  const okm = new Uint8Array(hkdfSync("sha256", clusterKey, salt, info, 64));
  return { clientToServer: okm.slice(0, 32), serverToClient: okm.slice(32) };
}

function gcmNonce(counter: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeUIntBE(counter, 6, 6);
  return n;
}

/** Seals the records of one direction: each call returns a whole record (length prefix included). */
export class RecordSealer {
  private counter = 0;
  constructor(private readonly key: Uint8Array) {}

  seal(plaintext: Uint8Array): Uint8Array {
    return Buffer.concat(this.sealParts(plaintext));
  }

  /**
   * The record as [length prefix, ciphertext..., tag], to be written back to
   * back without joining them first. The plaintext may come in several parts
   * (a message's head and a write's data): the record is that of their
   * concatenation, which is never made.
   */
  sealParts(plaintext: Uint8Array | readonly Uint8Array[]): Buffer[] {
    // 2^48 records per connection: far beyond any connection's life, and GCM's limits.
    if (this.counter >= 2 ** 48) throw new RangeError("replication record counter exhausted; reconnect");
    const parts = plaintext instanceof Uint8Array ? [plaintext] : plaintext;
    let length = 0;
    for (const p of parts) length += p.length;
    const head = Buffer.allocUnsafe(RECORD_LENGTH_BYTES);
    head.writeUInt32BE(length + RECORD_TAG_BYTES, 0);
    const c = createCipheriv("aes-256-gcm", this.key, gcmNonce(this.counter++));
    c.setAAD(head);
    const out: Buffer[] = [];
    for (const p of parts) if (p.length > 0) out.push(c.update(p));
    const tail = c.final();
    if (tail.length > 0) out.push(tail);
    out.push(c.getAuthTag());
    // The length prefix joins a small first part: a record written uncorked
    // (see LinkSession.sendPlain) then does not start with a 4-byte segment.
    const first = out[0]!;
    if (first.length <= SMALL_PART_BYTES) out[0] = Buffer.concat([head, first]);
    else out.unshift(head);
    return out;
  }
}

/** Opens the records of one direction, in order. */
export class RecordOpener {
  private counter = 0;
  constructor(private readonly key: Uint8Array) {}

  /**
   * `body` is a record without its length prefix; null when it does not
   * authenticate. The plaintext is always a new buffer, never a view of `body`.
   */
  open(body: Uint8Array): Uint8Array | null {
    if (body.length < RECORD_TAG_BYTES) return null;
    const len = Buffer.alloc(RECORD_LENGTH_BYTES);
    len.writeUInt32BE(body.length, 0);
    const d = createDecipheriv("aes-256-gcm", this.key, gcmNonce(this.counter));
    d.setAAD(len);
    d.setAuthTag(body.subarray(body.length - RECORD_TAG_BYTES));
    try {
      const head = d.update(body.subarray(0, body.length - RECORD_TAG_BYTES));
      const tail = d.final();
      this.counter++;
      return tail.length === 0 ? new Uint8Array(head.buffer, head.byteOffset, head.length) : new Uint8Array(Buffer.concat([head, tail]));
    } catch {
      return null;
    }
  }
}
