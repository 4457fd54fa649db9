/**
 * The SECOND's end of the replication link; see replication-link.ts.
 */
import type { ApplyResult } from "../replicator/apply-result.ts";
import type { MirrorOp } from "../replicator/ops.ts";
import type { ReplicationMessage } from "../proto/replication.ts";
import { HANDSHAKE_MAX_RECORD } from "../proto/replication-handshake.ts";
import { type AgreedFeatures, type LinkFeatures, NO_FEATURES, ourFeatures, unagreedUse } from "../core/link-features.ts";
import type { ResyncRequest, ResyncResponse } from "../proto/replication-resync.ts";
import { DEFAULT_LINK_TIMERS, DEFAULT_MAX_QUEUED_BYTES } from "./replication-link-defaults.ts";
import { type LinkIdentity, serverHandshake } from "./replication-link-handshake.ts";
import { RecordSocket } from "./replication-link-records.ts";
import type { PeerHearing } from "./replication-link-hearing.ts";
import { type LinkCounters, LinkSession, type LinkTimers } from "./replication-link-session.ts";
import { SessionStart } from "./replication-link-start.ts";
import { type LinkEndpoint, type LinkListener, type LinkStream, type LinkTransport, tcpTransport } from "./replication-link-transport.ts";

export interface ReplicationServerOptions extends LinkIdentity {
  /** Where to listen; port 0 picks a free port (tests). */
  readonly listen: readonly LinkEndpoint[];
  /** Carries out one op on this node's copy; called one at a time, in order. */
  readonly apply: (op: MirrorOp, seq: number) => ApplyResult | Promise<ApplyResult>;
  /** Answers the PRIM's requests (resync, mirror control). Absent: every request gets an error. */
  readonly answerer?: RequestAnswerer;
  readonly timers?: Partial<LinkTimers>;
  readonly handshakeTimeoutMs?: number;
  readonly maxQueuedBytes?: number;
  /** TCP unless given (tests: the in-memory twin, replication-link-memory.ts). */
  readonly transport?: LinkTransport;
  /** Shared with the other connection of the link (our client to the peer's server): replication-link-hearing.ts. */
  readonly hearing?: PeerHearing;
  /**
   * What this side tells in the feature exchange (src/core/link-features.ts);
   * default: this release's. null: it takes no part, as the previous release (tests).
   */
  readonly features?: LinkFeatures | null;
}

/**
 * The SECOND's side of requests. `request` gets every request of the current
 * session (cancel and next included, under the id they continue);
 * `reply` sends one answer and returns false once the session is gone.
 * `reset` is called when a session ends: drop whatever is still open.
 */
export interface RequestAnswerer {
  request(id: number, request: ResyncRequest, reply: (r: ResyncResponse) => boolean): Promise<void> | void;
  reset(): void;
}

interface QueuedOp {
  readonly seq: number;
  readonly op: MirrorOp;
  readonly size: number;
  readonly session: LinkSession;
}

/** Ops handed to the applier ahead of their results, at most. */
export const MAX_APPLYING = 64;
/**
 * More ops are handed over once no more than this many are still being
 * applied: a resync keeps the queue full, and handing over one op per
 * result would cost a message to the applier's thread and one back per op.
 * The thread still has this many to work on meanwhile.
 */
export const REFILL_AT = MAX_APPLYING / 2;

/** Connections in their handshake at once, at most. */
const MAX_HANDSHAKES = 4;

export class ReplicationServer {
  private readonly listeners: LinkListener[] = [];
  private readonly timers: LinkTimers;
  private session: LinkSession | null = null;
  /** Connections in their handshake, oldest first. */
  private readonly handshakes: RecordSocket[] = [];
  private queue: QueuedOp[] = [];
  private queuedBytes = 0;
  /** Bytes of ops handed to the applier and not finished yet. */
  private applyingBytes = 0;
  private applying = false;
  private lastSeq = -1;
  private closed = false;
  private agreedNow: AgreedFeatures = NO_FEATURES;
  /** The session once its start is done (the feature exchange): the link is up. */
  private openSession: LinkSession | null = null;
  private readonly upCbs: ((from: LinkEndpoint) => void)[] = [];
  private readonly downCbs: ((reason: string) => void)[] = [];
  private readonly refusedCbs: ((from: LinkEndpoint, reason: string) => void)[] = [];

  constructor(private readonly opts: ReplicationServerOptions) {
    this.timers = { ...DEFAULT_LINK_TIMERS, ...opts.timers };
  }

  get up(): boolean {
    return this.openSession !== null;
  }

  /** What the session that is up agreed on in the feature exchange (none while down). */
  get agreed(): AgreedFeatures {
    return this.agreedNow;
  }

  /** What the current connection carried; null while down. */
  counters(): LinkCounters | null {
    return this.session === null ? null : { ...this.session.counters };
  }

  /** Ops received and not yet applied (bytes). */
  get backlogBytes(): number {
    return this.queuedBytes + this.applyingBytes;
  }

  onUp(cb: (from: LinkEndpoint) => void): void {
    this.upCbs.push(cb);
  }

  onDown(cb: (reason: string) => void): void {
    this.downCbs.push(cb);
  }

  /** The peer answered one of our pings, sent `ageMs` ago. */
  onAlive(cb: (ageMs: number) => void): void {
    this.aliveCbs.push(cb);
  }

  private readonly aliveCbs: ((ageMs: number) => void)[] = [];

  /** Records of the peer were read, the last one `ageMs` ago (SessionHandlers.heard). */
  onHeard(cb: (ageMs: number) => void): void {
    this.heardCbs.push(cb);
  }

  private readonly heardCbs: ((ageMs: number) => void)[] = [];

  /** A connection was refused or failed its handshake. */
  onRefused(cb: (from: LinkEndpoint, reason: string) => void): void {
    this.refusedCbs.push(cb);
  }

  /** Listens on every endpoint; rejects with the OS error of the first that fails (the others are closed). */
  async start(): Promise<void> {
    try {
      for (const at of this.opts.listen) this.listeners.push(await (this.opts.transport ?? tcpTransport).listen(at, (sock) => this.onConnection(sock)));
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** The endpoints actually bound (the real port when 0 was asked). */
  bound(): LinkEndpoint[] {
    return this.listeners.map((l) => l.bound);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.session?.close("the SECOND stops replicating");
    await Promise.all(this.listeners.map((l) => l.close()));
    this.listeners.length = 0;
  }

  /** Closes the current connection (with a goodbye naming `reason`); the peer's client connects again. */
  drop(reason: string): void {
    this.session?.close(reason);
  }

  private onConnection(sock: LinkStream): void {
    const from: LinkEndpoint = { address: sock.remoteAddress ?? "?", port: sock.remotePort ?? 0 };
    if (this.closed) {
      sock.destroy();
      return;
    }
    // Connections that never finish their handshake must not lock the PRIM out:
    // past the limit the oldest one gives way.
    if (this.handshakes.length >= MAX_HANDSHAKES) this.handshakes[0]?.close("too many connections in their handshake");
    const rs = new RecordSocket(sock, HANDSHAKE_MAX_RECORD);
    this.handshakes.push(rs);
    const ours = this.opts.features === undefined ? ourFeatures() : this.opts.features;
    void serverHandshake(rs, this.opts, this.opts.handshakeTimeoutMs ?? 3000, ours !== null).then((h) => {
      this.handshakes.splice(this.handshakes.indexOf(rs), 1);
      if (!h.ok) {
        const reason = h.byPeer ? `refused by ${this.opts.peer}: ${h.reason}` : h.reason;
        for (const cb of this.refusedCbs) cb(from, reason);
        return;
      }
      if (this.closed) {
        rs.close("the SECOND stops replicating");
        return;
      }
      // A PRIM that reconnects may do so before this side saw the old connection die.
      this.session?.close(`replaced by a new connection from ${from.address}:${from.port}`);
      this.lastSeq = -1;
      const start = new SessionStart("server", ours, this.opts.peer, {
        open: (agreed) => {
          if (this.session !== session) return;
          this.agreedNow = agreed;
          this.openSession = session;
          for (const cb of this.upCbs) cb(from);
        },
        deliver: (m) => this.onMessage(session, m),
      });
      const session: LinkSession = new LinkSession(rs, h.sealer, h.opener, this.timers, this.opts.peer, {
        message: (m) => start.receive(m),
        closed: (reason) => this.onSessionClosed(session, reason, from),
        alive: (ageMs) => {
          for (const cb of this.aliveCbs) cb(ageMs);
        },
        heard: (ageMs) => {
          for (const cb of this.heardCbs) cb(ageMs);
        },
      }, this.opts.hearing === undefined ? undefined : { hearing: this.opts.hearing });
      this.session = session;
      start.begin(session, h.peerOffersFeatures);
    });
  }

  private onSessionClosed(session: LinkSession, reason: string, from: LinkEndpoint): void {
    // Ops of a dead connection that are not applied yet are dropped: the PRIM
    // counts them as maybe applied and journals them.
    this.queue = this.queue.filter((q) => q.session !== session);
    this.queuedBytes = this.queue.reduce((n, q) => n + q.size, 0);
    if (this.session !== session) return;
    this.session = null;
    this.agreedNow = NO_FEATURES;
    this.opts.answerer?.reset();
    if (this.openSession !== session) {
      // It ended in its start (the feature exchange): it never was up.
      for (const cb of this.refusedCbs) cb(from, reason);
      return;
    }
    this.openSession = null;
    for (const cb of this.downCbs) cb(reason);
  }

  private onMessage(session: LinkSession, m: ReplicationMessage): void {
    if (m.type === "op") {
      if (m.seq <= this.lastSeq) {
        session.close(`op ${m.seq} does not follow op ${this.lastSeq}`);
        return;
      }
      this.lastSeq = m.seq;
      const size = m.op.op === "write" ? m.op.data.length + 64 : 64;
      this.queue.push({ seq: m.seq, op: m.op, size, session });
      this.queuedBytes += size;
      if (this.backlogBytes > (this.opts.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES)) session.setReading(false);
      void this.applyQueued();
      return;
    }
    if (m.type === "request") {
      const unagreed = unagreedUse(this.agreedNow, m.request);
      if (unagreed !== null) {
        session.close(`${this.opts.peer} ${unagreed}`);
        return;
      }
      void this.answer(session, m.id, m.request);
      return;
    }
    session.close(`unexpected ${m.type} message from the PRIM`);
  }

  private async answer(session: LinkSession, id: number, request: ResyncRequest): Promise<void> {
    const reply = (r: ResyncResponse): boolean => {
      if (!session.open || this.session !== session) return false;
      session.send({ type: "response", id, response: r });
      return true;
    };
    try {
      if (this.opts.answerer === undefined) {
        if (request.kind !== "cancel") reply({ kind: "error", errno: "ENOTSUP", message: "this node does not answer requests" });
      } else {
        await this.opts.answerer.request(id, request, reply);
      }
    } catch (e) {
      reply({ kind: "error", errno: "EIO", message: e instanceof Error ? e.message : String(e) });
    }
  }

  private async applyQueued(): Promise<void> {
    if (this.applying) return;
    this.applying = true;
    const max = this.opts.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    // Ops are handed to the applier ahead of their results (an applier on its
    // own thread queues them), in runs that go over together (see REFILL_AT),
    // and acknowledged strictly in order.
    const started: { q: QueuedOp; result: Promise<ApplyResult> }[] = [];
    try {
      for (;;) {
        if (started.length <= REFILL_AT) while (started.length < MAX_APPLYING && this.queue.length > 0) {
          const q = this.queue.shift()!;
          this.queuedBytes -= q.size;
          this.applyingBytes += q.size;
          started.push({ q, result: this.startApply(q) });
        }
        const head = started.shift();
        if (head === undefined) break;
        const result = await head.result;
        this.applyingBytes -= head.q.size;
        const s = head.q.session;
        if (s.open) s.send({ type: "ack", seq: head.q.seq, result });
        if (s.open && !s.reading && this.backlogBytes <= max / 2) s.setReading(true);
      }
    } finally {
      this.applying = false;
    }
  }

  private async startApply(q: QueuedOp): Promise<ApplyResult> {
    try {
      return await this.opts.apply(q.op, q.seq);
    } catch (e) {
      return { ok: false, kind: "failed", errno: "EIO", message: `applying op ${q.seq} threw: ${e instanceof Error ? e.message : String(e)}` };
    }
  }
}
