/**
 * Runs the replication handshake (src/proto/replication-handshake.ts) on one
 * connection, as the client (the PRIM) or the server (the SECOND). Either
 * side that finds something wrong tells the other why in a refuse record,
 * closes, and returns the reason; a success returns the record protection
 * for the session.
 */
import { randomBytes } from "node:crypto";
import {
  decodeHandshake,
  encodeHandshake,
  HANDSHAKE_NONCE_BYTES,
  handshakeAuthKey,
  markedNonce,
  offersFeatureExchange,
  handshakeProof,
  handshakeTranscript,
  type HandshakeMessage,
  proofMatches,
  RecordOpener,
  RecordSealer,
  sessionKeys,
  withoutProof,
} from "../proto/replication-handshake.ts";
import { frameRecord, type RecordSocket } from "./replication-link-records.ts";

export interface LinkIdentity {
  readonly cluster: string;
  /** This node. */
  readonly node: string;
  /** The only node this one talks to over the link. */
  readonly peer: string;
  /** The cluster key (the key file's bytes). */
  readonly key: Uint8Array;
}

export type HandshakeOutcome =
  /** `peerOffersFeatures`: the peer's nonce bore the feature exchange's mark (src/core/link-features.ts). */
  | { readonly ok: true; readonly sealer: RecordSealer; readonly opener: RecordOpener; readonly peerOffersFeatures: boolean }
  /** `byPeer`: the other side refused us (its reason); otherwise we refused it or the connection failed. */
  | { readonly ok: false; readonly reason: string; readonly byPeer: boolean };

const WRONG_KEY = "the two nodes hold different cluster keys (compare the key files)";

/** Waits for the next handshake record, the connection's end, or the timeout. */
function nextMessage(rs: RecordSocket, deadline: number): Promise<{ ok: true; message: HandshakeMessage; body: Uint8Array } | { ok: false; reason: string }> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: { ok: true; message: HandshakeMessage; body: Uint8Array } | { ok: false; reason: string }): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: "no handshake answer in time" }), Math.max(0, deadline - Date.now()));
    rs.onClose((reason) => finish({ ok: false, reason }));
    rs.setHandler(
      (body) => {
        // One record per step: the next may already be the session's.
        rs.clearHandler();
        const d = decodeHandshake(body);
        finish(d.ok ? { ok: true, message: d.message, body } : { ok: false, reason: d.detail });
      },
      (reason) => finish({ ok: false, reason: `the other side does not speak the vigil replication protocol (${reason}): is the port right?` }),
    );
  });
}

function refuse(rs: RecordSocket, reason: string): HandshakeOutcome {
  rs.write(frameRecord(encodeHandshake({ type: "refuse", reason })));
  // Let the refusal leave before the reset.
  setTimeout(() => rs.close(`refused: ${reason}`), 50);
  return { ok: false, reason, byPeer: false };
}

function failed(rs: RecordSocket, reason: string): HandshakeOutcome {
  rs.close(reason);
  return { ok: false, reason, byPeer: false };
}

/** A new nonce; marked when this side offers the feature exchange. */
function newNonce(offerFeatures: boolean): Uint8Array {
  const random = new Uint8Array(randomBytes(HANDSHAKE_NONCE_BYTES));
  return offerFeatures ? markedNonce(random) : random;
}

export async function clientHandshake(rs: RecordSocket, id: LinkIdentity, timeoutMs: number, offerFeatures = true): Promise<HandshakeOutcome> {
  const deadline = Date.now() + timeoutMs;
  const nonce = newNonce(offerFeatures);
  const hello = encodeHandshake({ type: "client-hello", nonce, cluster: id.cluster, node: id.node, peer: id.peer });
  rs.write(frameRecord(hello));
  const got = await nextMessage(rs, deadline);
  if (!got.ok) return failed(rs, got.reason);
  const m = got.message;
  if (m.type === "refuse") {
    rs.close(`refused by ${id.peer}: ${m.reason}`);
    return { ok: false, reason: m.reason, byPeer: true };
  }
  if (m.type !== "server-hello") return refuse(rs, `expected the server's hello, got a ${m.type}`);
  if (m.cluster !== id.cluster) return refuse(rs, `the server belongs to cluster "${m.cluster}", this node to "${id.cluster}"`);
  if (m.node !== id.peer) return refuse(rs, `the server is node "${m.node}", but this node replicates to "${id.peer}"`);
  if (m.peer !== id.node) return refuse(rs, `the server expects node "${m.peer}", this is "${id.node}"`);
  const transcript = handshakeTranscript(hello, withoutProof(got.body));
  const auth = handshakeAuthKey(id.key);
  if (!proofMatches(handshakeProof(auth, "server", transcript), m.proof)) return refuse(rs, `the server's proof of the cluster key does not match: ${WRONG_KEY}`);
  rs.write(frameRecord(encodeHandshake({ type: "proof", proof: handshakeProof(auth, "client", transcript) })));
  const keys = sessionKeys(id.key, nonce, m.nonce, transcript);
  return { ok: true, sealer: new RecordSealer(keys.clientToServer), opener: new RecordOpener(keys.serverToClient), peerOffersFeatures: offersFeatureExchange(m.nonce) };
}

export async function serverHandshake(rs: RecordSocket, id: LinkIdentity, timeoutMs: number, offerFeatures = true): Promise<HandshakeOutcome> {
  const deadline = Date.now() + timeoutMs;
  const first = await nextMessage(rs, deadline);
  if (!first.ok) return failed(rs, first.reason);
  const h = first.message;
  if (h.type !== "client-hello") return refuse(rs, `expected a client hello, got a ${h.type}`);
  if (h.cluster !== id.cluster) return refuse(rs, `this node belongs to cluster "${id.cluster}", the client to "${h.cluster}"`);
  if (h.node !== id.peer) return refuse(rs, `node "${h.node}" is not this node's replication peer (expected "${id.peer}")`);
  if (h.peer !== id.node) return refuse(rs, `the connection is meant for node "${h.peer}", this is "${id.node}"`);
  const nonce = newNonce(offerFeatures);
  const auth = handshakeAuthKey(id.key);
  const bare = encodeHandshake({ type: "server-hello", nonce, cluster: id.cluster, node: id.node, peer: id.peer, proof: new Uint8Array(32) });
  const transcript = handshakeTranscript(first.body, withoutProof(bare));
  const reply = bare.slice();
  reply.set(handshakeProof(auth, "server", transcript), bare.length - 32);
  rs.write(frameRecord(reply));
  const second = await nextMessage(rs, deadline);
  if (!second.ok) return failed(rs, second.reason);
  const p = second.message;
  if (p.type === "refuse") {
    rs.close(`refused by ${id.peer}: ${p.reason}`);
    return { ok: false, reason: p.reason, byPeer: true };
  }
  if (p.type !== "proof") return refuse(rs, `expected the client's proof, got a ${p.type}`);
  if (!proofMatches(handshakeProof(auth, "client", transcript), p.proof)) return refuse(rs, `the client's proof of the cluster key does not match: ${WRONG_KEY}`);
  const keys = sessionKeys(id.key, h.nonce, nonce, transcript);
  return { ok: true, sealer: new RecordSealer(keys.serverToClient), opener: new RecordOpener(keys.clientToServer), peerOffersFeatures: offersFeatureExchange(h.nonce) };
}
