/**
 * One authenticated replication connection after its handshake: seals and
 * opens records, answers pings, and closes the connection on the first
 * record that fails authentication or decoding (nothing of it reaches the
 * caller), on the peer's goodbye, or after `deadtimeMs` without any record
 * from the peer (on this connection, or on another one of the link: see
 * replication-link-hearing.ts for what it may borrow), not counting the
 * time this process itself ran late (src/core/link-silence.ts). `closed` is called
 * exactly once with the reason.
 */
import { performance } from "node:perf_hooks";
import { forgiveAt, heardAt, type SilenceState, silenceAt, tickAt } from "../core/link-silence.ts";
import { decodeReplication, encodeReplication, type ReplicationMessage } from "../proto/replication.ts";
import { RECORD_TAG_BYTES, type RecordOpener, type RecordSealer } from "../proto/replication-handshake.ts";
import { REPLICATION_MAX_MESSAGE } from "../proto/replication.ts";
import { markOwnedByMessage } from "./replication-link-buffers.ts";
import type { PeerHearing } from "./replication-link-hearing.ts";
import type { RecordSocket } from "./replication-link-records.ts";

/** Records from this size on are written uncorked (see sendPlain). */
const UNCORKED_RECORD_BYTES = 64 * 1024;

export interface LinkTimers {
  /** How often each side pings the other. */
  readonly pingIntervalMs: number;
  /** Silence after which the connection counts as dead. */
  readonly deadtimeMs: number;
}

export interface SessionHandlers {
  message(m: ReplicationMessage): void;
  closed(reason: string): void;
  /** The peer answered our ping sent `ageMs` ago: its vigil ran since then (the link counts as a heartbeat link). */
  alive?(ageMs: number): void;
  /**
   * Records of the peer were read, the last one `ageMs` ago (at most one
   * call per half ping interval). Not called for records read right after
   * this process stalled or this connection resumed reading: those waited
   * in our kernel (see "Records" in src/core/membership/membership.ts).
   */
  heard?(ageMs: number): void;
}

/** What a session shares with the other connections of its link (replication-link-hearing.ts). */
export interface LinkSharing {
  readonly hearing: PeerHearing;
  /** A client's: since when (monotonic ms) the oldest answer owed by the peer is awaited; null when none. */
  readonly owedSince?: () => number | null;
}

/** What a session has carried so far, for status and metrics. */
export interface LinkCounters {
  recordsSent: number;
  bytesSent: number;
  recordsReceived: number;
  bytesReceived: number;
  /** Round trip of the last answered ping, ms; null before the first. */
  rttMs: number | null;
}

export class LinkSession {
  readonly counters: LinkCounters = { recordsSent: 0, bytesSent: 0, recordsReceived: 0, bytesReceived: 0, rttMs: null };
  private readonly pingsOut = new Map<number, number>();
  /** The peer's silence, less this process's own lateness (src/core/link-silence.ts). */
  private silence: SilenceState = silenceAt(performance.now());
  private lastPing = 0;
  private readonly tickMs: number;
  private pingId = 0;
  private readonly timer: NodeJS.Timeout;
  private ended = false;
  private deaf = false;
  /** When the last record was read on this connection, and when records were last reported (handlers.heard). */
  private lastRecordAt = -Infinity;
  private reportedAt = -Infinity;
  /**
   * Records read before this moment are neither reported nor lent to the
   * other connection: they may have waited in our kernel during a stall of
   * ours or a read pause. Set one stall threshold ahead, the time the reads
   * after it take to catch up; what is read later counts from when it was
   * read, as a heartbeat frame read after our freeze does (the membership's
   * stall credit covers the freeze itself).
   */
  private reportFrom = -Infinity;

  constructor(
    private readonly rs: RecordSocket,
    private readonly sealer: RecordSealer,
    private readonly opener: RecordOpener,
    private readonly timers: LinkTimers,
    readonly peer: string,
    private readonly handlers: SessionHandlers,
    private readonly sharing?: LinkSharing,
  ) {
    rs.maxRecord = REPLICATION_MAX_MESSAGE + RECORD_TAG_BYTES;
    // onRecord decrypts the body into a new buffer and keeps nothing of it.
    rs.bodiesBorrowed = true;
    rs.socket.setNoDelay?.(true);
    rs.onClose((reason) => this.finish(reason));
    rs.setHandler(
      (body) => this.onRecord(body),
      (reason) => this.finish(reason),
    );
    this.tickMs = Math.max(5, Math.min(timers.pingIntervalMs, timers.deadtimeMs / 20));
    this.timer = setInterval(() => this.onTick(), this.tickMs);
  }

  get open(): boolean {
    return !this.ended;
  }

  /** Bytes the socket holds that the kernel has not taken yet. */
  get writeBacklog(): number {
    return this.rs.socket.writableLength;
  }

  /**
   * Stops or resumes reading from the socket (backpressure towards the
   * peer). While not reading, the peer's pings wait in the kernel, so its
   * silence does not count.
   */
  setReading(reading: boolean): void {
    this.deaf = !reading;
    if (reading) {
      const now = performance.now();
      this.silence = forgiveAt(this.silence, now);
      // What comes first waited in the kernel while we did not read.
      this.reportFrom = now + this.stallMs;
      this.rs.socket.resume();
    } else {
      this.rs.socket.pause();
    }
  }

  get reading(): boolean {
    return !this.deaf;
  }

  /** Seals and writes an already encoded message, whole or in parts (see send, encodeReplicationParts). */
  sendPlain(plain: Uint8Array | readonly Uint8Array[]): boolean {
    if (this.ended) return false;
    const parts = this.sealer.sealParts(plain);
    let length = 0;
    for (const p of parts) length += p.length;
    // Small records written in one turn leave together (corked). A large one is
    // written part by part, uncorked: a corked socket joins what it holds into
    // one new buffer first, a copy of the whole record.
    if (length >= UNCORKED_RECORD_BYTES) this.uncork();
    else this.cork();
    this.counters.recordsSent++;
    this.counters.bytesSent += length;
    let ok = true;
    for (const p of parts) ok = this.rs.write(p);
    return ok;
  }

  private uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.rs.socket.uncork();
  }

  private corked = false;

  /** Records written in one turn of the event loop leave in one system call. */
  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.rs.socket.cork();
    process.nextTick(() => this.uncork());
  }

  /** Seals and writes one message; false when the socket wants a drain before more. */
  send(m: ReplicationMessage): boolean {
    return this.sendPlain(encodeReplication(m));
  }

  onDrain(cb: () => void): void {
    this.rs.socket.once("drain", cb);
  }

  /** Says goodbye and closes; what was written before (acks, the goodbye) still leaves. */
  close(reason: string): void {
    if (this.ended) return;
    this.send({ type: "close", reason });
    this.finish(reason, true);
  }

  private finish(reason: string, graceful = false): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.timer);
    if (graceful) this.rs.closeGracefully(reason);
    else this.rs.close(reason);
    this.handlers.closed(reason);
  }

  private onRecord(body: Uint8Array): void {
    if (this.ended) return;
    const plain = this.opener.open(body);
    if (plain === null) {
      this.finish(`a record from ${this.peer} failed authentication (altered, forged, replayed, reordered or missing record): connection closed`);
      return;
    }
    const heardNow = performance.now();
    this.silence = heardAt(this.silence, heardNow);
    // The first read after this process did not run (no tick, no read for a stall's length): it waited in our
    // kernel. A tick late while records keep being read is not that: the timers are late, the reads are not.
    if (heardNow - Math.max(this.silence.lastTick, this.lastRecordAt) > this.stallMs) this.reportFrom = heardNow + this.stallMs;
    this.lastRecordAt = heardNow;
    // Only what was not waiting in our kernel is lent to the other connections.
    if (heardNow >= this.reportFrom) this.sharing?.hearing.heard(heardNow);
    // The first record after a quiet spell goes out at once; those after it with the next ticks.
    this.report(heardNow);
    this.counters.recordsReceived++;
    this.counters.bytesReceived += body.length + 4;
    // A large record's plaintext is a new buffer of its own (RecordOpener.open): its op
    // refers to it instead of copying from it. (The decipher may leave a spare byte at its end.)
    const owned = plain.length >= UNCORKED_RECORD_BYTES && plain.byteOffset === 0 && plain.buffer.byteLength - plain.length <= 64;
    if (owned) markOwnedByMessage(plain.buffer);
    const d = decodeReplication(plain, owned);
    if (!d.ok) {
      this.finish(`a malformed message from ${this.peer} (${d.error.kind}: ${d.error.detail}): connection closed`);
      return;
    }
    const m = d.message;
    if (m.type === "ping") this.send({ type: "pong", id: m.id });
    else if (m.type === "pong") {
      const sentAt = this.pingsOut.get(m.id);
      if (sentAt !== undefined) this.counters.rttMs = heardNow - sentAt;
      // Only this ping and older ones: with a round trip longer than the ping interval, the answers
      // to the later ones are on their way, and each proves more than this one.
      if (sentAt === undefined) this.pingsOut.clear();
      else for (const [id, at] of this.pingsOut) if (at <= sentAt) this.pingsOut.delete(id);
      if (sentAt !== undefined) this.handlers.alive?.(heardNow - sentAt);
    }
    else if (m.type === "close") this.finish(`${this.peer} closed the link: ${m.reason}`);
    else this.handlers.message(m);
  }

  /** This silent connection stays open on what the link's other connections hear (replication-link-hearing.ts). */
  private borrows(now: number): boolean {
    const sh = this.sharing;
    const dt = this.timers.deadtimeMs;
    if (sh === undefined || now - sh.hearing.lastHeardAt > dt) return false;
    const owed = sh.owedSince?.() ?? null;
    return owed === null || now - owed <= dt;
  }

  /** A gap this long between two ticks means this process did not run (see onTick). */
  private get stallMs(): number {
    return this.tickMs + this.timers.deadtimeMs / 4;
  }

  private report(now: number): void {
    const h = this.handlers.heard;
    if (h === undefined || this.lastRecordAt <= this.reportedAt || this.lastRecordAt < this.reportFrom) return;
    if (now - this.reportedAt < this.timers.pingIntervalMs / 2) return;
    this.reportedAt = now;
    h(now - this.lastRecordAt);
  }

  private onTick(): void {
    const now = performance.now();
    // This process stalled (a long synchronous call, a frozen VM) or its tick
    // ran late: what the peer sent meanwhile waits unread in the socket, so
    // that part of its silence is ours (src/core/link-silence.ts).
    const t = tickAt(this.silence, now, { tickMs: this.tickMs, stallMs: this.stallMs });
    const stalled = t.stalled;
    this.silence = this.deaf ? forgiveAt(t.state, now) : t.state;
    if (this.deaf || (stalled && now - this.lastRecordAt > this.stallMs)) this.reportFrom = now + this.stallMs;
    if (this.silence.counted > this.timers.deadtimeMs && !this.borrows(now)) {
      const late = this.silence.credited > 0 ? `, less ${Math.round(this.silence.credited)} ms this node ran late` : "";
      this.finish(`nothing heard from ${this.peer} for ${Math.round(now - this.silence.lastHeard)} ms (deadtime ${this.timers.deadtimeMs} ms)${late}`);
      return;
    }
    this.report(now);
    if (now - this.lastPing >= this.timers.pingIntervalMs) {
      this.lastPing = now;
      this.pingId = (this.pingId + 1) >>> 0;
      // Only the latest few pings are timed: an answer older than that says little.
      if (this.pingsOut.size > 8) this.pingsOut.clear();
      this.pingsOut.set(this.pingId, now);
      this.send({ type: "ping", id: this.pingId });
    }
  }
}
