/**
 * The replication link: one TCP connection from the PRIM (ReplicationClient)
 * to the SECOND (ReplicationServer), authenticated and encrypted with keys
 * derived from the cluster key (src/proto/replication-handshake.ts).
 *
 * - The client tries the SECOND's addresses in order, and again after
 *   `retryMs` when none answers or the connection dies (after `refusedRetryMs`
 *   when every address refused it: the peer's daemon is starting).
 * - `send(seq, op)` takes the op's place in the one ordered stream at once,
 *   during the call, and resolves with the SECOND's result once it applied the
 *   op; or, when the link is or goes down, with `delivered: false` (and
 *   `maybeApplied` for an op that was on the wire: the SECOND may have applied
 *   it). It never rejects.
 * - Backpressure: at most `windowOps` ops and `windowBytes` bytes are
 *   unacknowledged on the wire, and nothing more is written while the socket
 *   asks for a drain; later ops wait in order. The server stops reading when
 *   more than `maxQueuedBytes` wait to be applied, so a client that ignores
 *   the window is held back by TCP instead of filling the SECOND's memory.
 * - Liveness: each side pings every `pingIntervalMs`; `deadtimeMs` without a
 *   record from the other side closes the connection (onDown), unless the
 *   peer was heard on the link's other connection meanwhile (a `hearing`
 *   shared by the client and the server of one node: see
 *   replication-link-hearing.ts for what a connection may borrow). The link
 *   counts as a heartbeat link: answers to pings (onAlive) and the other
 *   records read (onHeard) go to the membership.
 * - A record that fails authentication or decoding closes the connection;
 *   nothing in it is applied, and nothing after it is read.
 */
export { REPLICATION_DEFAULT_PORT } from "../proto/replication.ts";
export { DEFAULT_LINK_TIMERS, DEFAULT_MAX_QUEUED_BYTES, DEFAULT_WINDOW_BYTES, DEFAULT_WINDOW_OPS } from "./replication-link-defaults.ts";
export type { LinkIdentity } from "./replication-link-handshake.ts";
export type { LinkCounters, LinkTimers } from "./replication-link-session.ts";
export type { LinkEndpoint, LinkTransport } from "./replication-link-transport.ts";
export { type LinkBacklog, parseEndpoint, ReplicationClient, type ReplicationClientOptions, type RequestHandle, type SendOutcome } from "./replication-link-client.ts";
export { ReplicationServer, type ReplicationServerOptions, type RequestAnswerer } from "./replication-link-server.ts";
