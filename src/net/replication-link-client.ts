/**
 * The PRIM's end of the replication link; see replication-link.ts.
 */
import * as net from "node:net";
import { performance } from "node:perf_hooks";
import type { ApplyResult } from "../replicator/apply-result.ts";
import type { MirrorOp } from "../replicator/ops.ts";
import { encodeReplicationParts, REPLICATION_DEFAULT_PORT, type ReplicationMessage } from "../proto/replication.ts";
import { HANDSHAKE_MAX_RECORD } from "../proto/replication-handshake.ts";
import { type AgreedFeatures, type LinkFeatures, NO_FEATURES, ourFeatures } from "../core/link-features.ts";
import type { ResyncRequest, ResyncResponse } from "../proto/replication-resync.ts";
import { DEFAULT_LINK_TIMERS, DEFAULT_WINDOW_BYTES, DEFAULT_WINDOW_OPS } from "./replication-link-defaults.ts";
import { clientHandshake, type LinkIdentity } from "./replication-link-handshake.ts";
import { RecordSocket } from "./replication-link-records.ts";
import type { PeerHearing } from "./replication-link-hearing.ts";
import { type LinkCounters, LinkSession, type LinkTimers } from "./replication-link-session.ts";
import { SessionStart } from "./replication-link-start.ts";
import { type LinkEndpoint, type LinkTransport, tcpTransport } from "./replication-link-transport.ts";

const DEFAULT_RETRY_MS = 500;
const DEFAULT_REFUSED_RETRY_MS = 100;
/** How a connection refused by the peer's host shows in a failure (RecordSocket's socket error). */
const REFUSED = "ECONNREFUSED";

/** Bytes buffered in the socket (not yet taken by the kernel) past which sending waits for a drain. */
const DRAIN_WAIT_BYTES = 1 << 20;

export type SendOutcome =
  | { readonly delivered: true; readonly result: ApplyResult }
  | { readonly delivered: false; readonly maybeApplied: boolean; readonly reason: string };


export interface ReplicationClientOptions extends LinkIdentity {
  /** The SECOND's addresses, tried in order: "a.b.c.d" (then `port`) or "a.b.c.d:port". */
  readonly addresses: readonly string[];
  readonly port?: number;
  readonly timers?: Partial<LinkTimers>;
  readonly connectTimeoutMs?: number;
  readonly handshakeTimeoutMs?: number;
  /** Pause between rounds of connection attempts. */
  readonly retryMs?: number;
  /**
   * Pause instead when every address refused the connection: the peer's host
   * answers but nothing listens yet (its daemon is starting), so the link can
   * come up as soon as it does. A refusal costs one SYN and one RST.
   */
  readonly refusedRetryMs?: number;
  readonly windowOps?: number;
  readonly windowBytes?: number;
  /** TCP unless given (tests: the in-memory twin, replication-link-memory.ts). */
  readonly transport?: LinkTransport;
  /** Shared with the other connection of the link (the peer's client to our server): replication-link-hearing.ts. */
  readonly hearing?: PeerHearing;
  /**
   * What this side tells in the feature exchange (src/core/link-features.ts);
   * default: this release's. null: it takes no part, as the previous release (tests).
   */
  readonly features?: LinkFeatures | null;
}

interface Pending {
  readonly seq: number;
  /** The encoded message, in parts (encodeReplicationParts), and its length. */
  readonly plain: readonly Uint8Array[];
  readonly length: number;
  readonly resolve: (o: SendOutcome) => void;
  /** performance.now() when send() was called. */
  readonly at: number;
}

/** What the PRIM has given the link and the SECOND has not acknowledged yet. */
export interface LinkBacklog {
  readonly inflightOps: number;
  readonly inflightBytes: number;
  readonly pendingOps: number;
  readonly pendingBytes: number;
  /** How long the oldest unacknowledged op has waited (ms); 0 when none: the lag of an async mirror. */
  readonly oldestMs: number;
}

/** A request in progress (see ReplicationClient.request). */
export interface RequestHandle {
  /** Asks for the next batch of a manifest. */
  next(): void;
  /** Stops the request: no more answers are delivered. */
  cancel(): void;
}

/** Answers of one request, as they arrive. */
interface OpenRequest {
  /** What was asked (a manifest's `next` is owed for its manifest). */
  readonly question: ResyncRequest;
  push(r: ResyncResponse | null, failure?: string): void;
  /** Since when (monotonic ms) an answer is awaited: set when the request or a `next` leaves, null once answered. */
  owedSince: number | null;
}

/** Parses "a.b.c.d", "a.b.c.d:port", "[v6]:port" or "v6" into an endpoint. */
export function parseEndpoint(text: string, defaultPort: number): LinkEndpoint | null {
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(text);
  const v4 = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(text);
  const m = v6 ?? v4;
  if (m === null) return net.isIPv6(text) ? { address: text, port: defaultPort } : null;
  const address = m[1] ?? "";
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (net.isIP(address) === 0 || port < 1 || port > 65535) return null;
  return { address, port };
}

export class ReplicationClient {
  private readonly endpoints: LinkEndpoint[];
  private readonly timers: LinkTimers;
  private session: LinkSession | null = null;
  private ready = false;
  private stopped = false;
  private started = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private lastSeq = -1;
  private lastReason = "not connected yet";
  private readonly pending: Pending[] = [];
  private readonly inflight: (Pending & { readonly size: number; readonly wiredAt: number })[] = [];
  private inflightBytes = 0;
  private pendingBytes = 0;
  private waitingDrain = false;
  private acked = 0;
  /** The pause before the next connection attempt after a drop that asked for one. */
  private pauseNext: number | null = null;
  private nextRequestId = 1;
  private readonly requests = new Map<number, OpenRequest>();
  private readonly upCbs: ((at: LinkEndpoint) => void)[] = [];
  private readonly downCbs: ((reason: string) => void)[] = [];
  private readonly aliveCbs: ((ageMs: number) => void)[] = [];
  private readonly heardCbs: ((ageMs: number) => void)[] = [];
  private readonly failCbs: ((at: LinkEndpoint, reason: string) => void)[] = [];
  private endpointUp: LinkEndpoint | null = null;
  private agreedNow: AgreedFeatures = NO_FEATURES;

  constructor(private readonly opts: ReplicationClientOptions) {
    const port = opts.port ?? REPLICATION_DEFAULT_PORT;
    if (opts.addresses.length === 0) throw new RangeError("replication link: no address of the peer to connect to");
    this.endpoints = opts.addresses.map((a) => {
      const e = parseEndpoint(a, port);
      if (e === null) throw new RangeError(`replication link: peer address "${a}" is not an IP address or address:port`);
      return e;
    });
    this.timers = { ...DEFAULT_LINK_TIMERS, ...opts.timers };
  }

  /** True while an authenticated session with the SECOND is open. */
  get up(): boolean {
    return this.ready;
  }

  /** Where the link is connected, or null. */
  get endpoint(): LinkEndpoint | null {
    return this.endpointUp;
  }

  /** What the session that is up agreed on in the feature exchange (none while down). */
  get agreed(): AgreedFeatures {
    return this.agreedNow;
  }

  /** Whether the session that is up may use `bit` (src/core/link-features.ts). */
  has(bit: number): boolean {
    return this.ready && (this.agreedNow.common & bit) !== 0;
  }

  /** Why the link is not up (the last failure), for status. */
  get downReason(): string {
    return this.lastReason;
  }

  /** What the current connection carried, and its last ping round trip; null while down. */
  counters(): LinkCounters | null {
    return this.session === null ? null : { ...this.session.counters };
  }

  /** Ops and bytes sent but not acknowledged, and waiting to be sent. */
  backlog(): LinkBacklog {
    const oldest = this.inflight[0] ?? this.pending[0];
    return {
      inflightOps: this.inflight.length,
      inflightBytes: this.inflightBytes,
      pendingOps: this.pending.length,
      pendingBytes: this.pendingBytes,
      oldestMs: oldest === undefined ? 0 : performance.now() - oldest.at,
    };
  }

  /**
   * The oldest op on the wire the SECOND has not acknowledged: its seq and how
   * long ago it was written (ms); null when none. What the mirror's ack bound
   * measures (src/core/mirror/ack-bound.ts).
   */
  owedAck(): { seq: number; ageMs: number } | null {
    const head = this.inflight[0];
    return head === undefined ? null : { seq: head.seq, ageMs: performance.now() - head.wiredAt };
  }

  /**
   * The oldest question the SECOND has not answered yet (a manifest's next
   * batch counts from its `next`): what was asked and how long ago (ms);
   * null when none. Bounded like the ops (src/core/mirror/ack-bound.ts).
   */
  owedAnswer(): { question: ResyncRequest; ageMs: number } | null {
    let oldest: OpenRequest | null = null;
    for (const r of this.requests.values()) if (r.owedSince !== null && (oldest === null || r.owedSince < oldest.owedSince!)) oldest = r;
    return oldest === null ? null : { question: oldest.question, ageMs: performance.now() - oldest.owedSince! };
  }

  /**
   * Resolves once every op sent so far is acknowledged or known undelivered
   * (the link went down): what a swap waits for before the peer is promoted.
   */
  drained(): Promise<void> {
    if (this.inflight.length === 0 && this.pending.length === 0) return Promise.resolve();
    const last = this.pending.at(-1) ?? this.inflight.at(-1);
    return new Promise((resolve) => this.drainWaiters.push({ seq: last!.seq, resolve }));
  }

  private readonly drainWaiters: { seq: number; resolve: () => void }[] = [];

  private settle(p: Pending, outcome: SendOutcome): void {
    p.resolve(outcome);
    if (this.drainWaiters.length === 0) return;
    const rest = this.drainWaiters.filter((w) => w.seq > p.seq);
    for (const w of this.drainWaiters) if (w.seq <= p.seq) w.resolve();
    this.drainWaiters.splice(0, this.drainWaiters.length, ...rest);
  }

  onUp(cb: (at: LinkEndpoint) => void): void {
    this.upCbs.push(cb);
  }

  /** The link was up and is not any more. */
  onDown(cb: (reason: string) => void): void {
    this.downCbs.push(cb);
  }

  /** The peer answered one of our pings, sent `ageMs` ago. */
  onAlive(cb: (ageMs: number) => void): void {
    this.aliveCbs.push(cb);
  }

  /** Records of the peer were read, the last one `ageMs` ago (SessionHandlers.heard). */
  onHeard(cb: (ageMs: number) => void): void {
    this.heardCbs.push(cb);
  }

  /** One connection attempt failed (unreachable, refused, wrong key...). */
  onConnectFailed(cb: (at: LinkEndpoint, reason: string) => void): void {
    this.failCbs.push(cb);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    void this.connectRound();
  }

  /**
   * Replicates one op. `seq` must grow from call to call. Throws RangeError
   * (synchronously) for an op that breaks the rules of ops.ts.
   */
  send(seq: number, op: MirrorOp): Promise<SendOutcome> {
    if (!Number.isSafeInteger(seq) || seq <= this.lastSeq) throw new RangeError(`replication link: seq ${seq} does not follow ${this.lastSeq}`);
    const plain = encodeReplicationParts({ type: "op", seq, op });
    const length = plain.reduce((n, p) => n + p.length, 0);
    this.lastSeq = seq;
    if (!this.ready || this.stopped) return Promise.resolve({ delivered: false, maybeApplied: false, reason: this.lastReason });
    return new Promise((resolve) => {
      this.pending.push({ seq, plain, length, resolve, at: performance.now() });
      this.pendingBytes += length;
      this.pump();
    });
  }

  /** Replicates one op under the next sequence number (one more than the last sent). */
  sendNext(op: MirrorOp): Promise<SendOutcome> {
    return this.send(this.lastSeq + 1, op);
  }

  /** The last sequence number sent (-1 before the first). */
  get seq(): number {
    return this.lastSeq;
  }

  /**
   * Sends a request; `onResponse` gets each answer, then null at the end (a
   * failure says why when the link went down first). Every answer but
   * "entries" ends a request; a manifest's batches come one per `next()`.
   * Returns null when the link is down.
   */
  request(request: ResyncRequest, onResponse: (r: ResyncResponse | null, failure?: string) => void): RequestHandle | null {
    const session = this.session;
    if (!this.ready || session === null) return null;
    const id = this.nextRequestId;
    this.nextRequestId = (this.nextRequestId % 0xffffffff) + 1;
    const open: OpenRequest = { question: request, push: onResponse, owedSince: performance.now() };
    this.requests.set(id, open);
    session.send({ type: "request", id, request });
    const follow = (kind: "next" | "cancel"): void => {
      if (!session.open || !this.requests.has(id)) return;
      if (kind === "next") open.owedSince = performance.now();
      session.send({ type: "request", id, request: { kind } });
    };
    return {
      next: () => follow("next"),
      cancel: () => {
        follow("cancel");
        this.requests.delete(id);
      },
    };
  }

  /**
   * Closes the current connection (with a goodbye naming `reason`) and connects
   * again after the retry pause, or after `pauseMs` when given.
   */
  drop(reason: string, pauseMs?: number): void {
    if (this.session === null) return;
    if (pauseMs !== undefined) this.pauseNext = pauseMs;
    this.session.close(reason);
  }

  /** How many ops the SECOND has acknowledged, over every connection. */
  get ackedOps(): number {
    return this.acked;
  }

  /** Stops for good: the connection is closed and every waiting send resolves undelivered. */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.session?.close("the PRIM stops replicating");
    this.failAll("the link was closed by this node");
    await new Promise((r) => setImmediate(r));
  }

  private failAll(reason: string): void {
    for (const p of this.inflight.splice(0)) this.settle(p, { delivered: false, maybeApplied: true, reason });
    for (const p of this.pending.splice(0)) this.settle(p, { delivered: false, maybeApplied: false, reason });
    this.inflightBytes = 0;
    this.pendingBytes = 0;
    for (const [, r] of this.requests) r.push(null, reason);
    this.requests.clear();
  }

  private pump(): void {
    const s = this.session;
    if (s === null || !this.ready) return;
    while (this.pending.length > 0 && !this.waitingDrain) {
      const next = this.pending[0]!;
      const size = next.length;
      const roomy = this.inflight.length === 0 || (this.inflight.length < (this.opts.windowOps ?? DEFAULT_WINDOW_OPS) && this.inflightBytes + size <= (this.opts.windowBytes ?? DEFAULT_WINDOW_BYTES));
      if (!roomy) return;
      this.pending.shift();
      this.pendingBytes -= size;
      this.inflight.push({ ...next, size, wiredAt: performance.now() });
      this.inflightBytes += size;
      // A corked socket says "wait for drain" after every write: wait only once a
      // good part of a window is buffered here (the window bounds it anyway), so the
      // pieces of a large write leave back to back instead of one per event-loop turn.
      if (!s.sendPlain(next.plain) && s.writeBacklog >= DRAIN_WAIT_BYTES) {
        this.waitingDrain = true;
        s.onDrain(() => {
          this.waitingDrain = false;
          this.pump();
        });
      }
    }
  }

  /** The server's "ready" came, after its features when it offered them. */
  private opened(agreed: AgreedFeatures): void {
    if (this.ready) return;
    this.ready = true;
    this.agreedNow = agreed;
    this.lastReason = "";
    for (const cb of this.upCbs) cb(this.endpointUp!);
    this.pump();
  }

  private onMessage(m: ReplicationMessage): void {
    // A second "ready" says nothing new.
    if (m.type === "ready") return;
    if (m.type === "ack") {
      const head = this.inflight[0];
      if (head === undefined || head.seq !== m.seq) {
        this.session?.close(`acknowledgement of op ${m.seq} out of order (expected ${head?.seq ?? "none"})`);
        return;
      }
      this.inflight.shift();
      this.inflightBytes -= head.size;
      this.acked++;
      this.settle(head, { delivered: true, result: m.result });
      this.pump();
      return;
    }
    if (m.type === "response") {
      const r = this.requests.get(m.id);
      if (r === undefined) return; // cancelled
      const last = m.response.kind !== "entries";
      r.owedSince = null;
      if (last) this.requests.delete(m.id);
      r.push(m.response);
      if (last) r.push(null);
      return;
    }
    this.session?.close(`unexpected ${m.type} message from the SECOND`);
  }

  private async connectRound(): Promise<void> {
    this.retryTimer = null;
    let allRefused = true;
    for (const at of this.endpoints) {
      if (this.stopped) return;
      const failure = await this.tryConnect(at);
      if (failure === null) return;
      if (!failure.includes(REFUSED)) allRefused = false;
      this.lastReason = `${at.address}:${at.port}: ${failure}`;
      for (const cb of this.failCbs) cb(at, failure);
    }
    this.scheduleRetry(allRefused ? (this.opts.refusedRetryMs ?? DEFAULT_REFUSED_RETRY_MS) : undefined);
  }

  private scheduleRetry(afterMs = this.opts.retryMs ?? DEFAULT_RETRY_MS): void {
    if (this.stopped || this.retryTimer !== null) return;
    this.retryTimer = setTimeout(() => void this.connectRound(), afterMs);
  }

  /** null once the session is ready; otherwise why this address did not work. */
  private tryConnect(at: LinkEndpoint): Promise<string | null> {
    return new Promise((resolve) => {
      const sock = (this.opts.transport ?? tcpTransport).connect(at);
      const rs = new RecordSocket(sock, HANDSHAKE_MAX_RECORD);
      let settled = false;
      const settle = (v: string | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(connectTimer);
        resolve(v);
      };
      const connectTimer = setTimeout(() => {
        rs.close("no answer in time");
        settle(`no answer within ${this.opts.connectTimeoutMs ?? 1000} ms`);
      }, this.opts.connectTimeoutMs ?? 1000);
      let connected = false;
      // Once connected, the handshake's outcome says what went wrong, more precisely.
      rs.onClose((reason) => {
        if (!connected) settle(reason);
      });
      sock.once("connect", () => {
        connected = true;
        clearTimeout(connectTimer);
        const ours = this.opts.features === undefined ? ourFeatures() : this.opts.features;
        void clientHandshake(rs, this.opts, this.opts.handshakeTimeoutMs ?? 3000, ours !== null).then((h) => {
          if (!h.ok) {
            settle(h.byPeer ? `refused by ${this.opts.peer}: ${h.reason}` : h.reason);
            return;
          }
          if (this.stopped) {
            rs.close("the link was closed by this node");
            settle("closed");
            return;
          }
          this.endpointUp = at;
          const start = new SessionStart("client", ours, this.opts.peer, {
            open: (agreed) => {
              settle(null);
              this.opened(agreed);
            },
            deliver: (m) => this.onMessage(m),
          });
          const session = new LinkSession(rs, h.sealer, h.opener, this.timers, this.opts.peer, {
            message: (m) => start.receive(m),
            alive: (ageMs) => {
              for (const cb of this.aliveCbs) cb(ageMs);
            },
            heard: (ageMs) => {
              for (const cb of this.heardCbs) cb(ageMs);
            },
            closed: (reason) => {
              settle(reason);
              this.onSessionClosed(reason);
            },
          }, this.opts.hearing === undefined ? undefined : { hearing: this.opts.hearing, owedSince: () => this.owedSince() });
          this.session = session;
          start.begin(session, h.peerOffersFeatures);
        });
      });
    });
  }

  /** Since when the oldest answer the SECOND owes us (an op's acknowledgement, a request's answer) is awaited; null when none. */
  private owedSince(): number | null {
    let since = this.inflight[0]?.wiredAt ?? null;
    for (const r of this.requests.values()) if (r.owedSince !== null && (since === null || r.owedSince < since)) since = r.owedSince;
    return since;
  }

  private onSessionClosed(reason: string): void {
    const wasUp = this.ready;
    this.session = null;
    this.ready = false;
    this.waitingDrain = false;
    this.endpointUp = null;
    this.agreedNow = NO_FEATURES;
    this.lastReason = reason;
    this.failAll(reason);
    const pause = this.pauseNext ?? undefined;
    this.pauseNext = null;
    if (wasUp) {
      for (const cb of this.downCbs) cb(reason);
      this.scheduleRetry(pause);
    }
  }
}
