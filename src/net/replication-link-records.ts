/**
 * Cuts a TCP stream into records (u32 big-endian length, then the body) and
 * hands each whole record to the current handler, which the handshake and
 * then the session replace in turn; bytes that arrived with the last
 * handshake record stay buffered for the session. A length above the limit
 * fails at once, before anything is buffered for it.
 */
import type { LinkStream } from "./replication-link-transport.ts";

export type RecordHandler = (body: Uint8Array) => void;

export class RecordSocket {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private handler: RecordHandler | null = null;
  private failed: ((reason: string) => void) | null = null;
  private closedReason: string | null = null;
  private readonly closeWaiters: ((reason: string) => void)[] = [];
  private pumping = false;
  /** Longest record body accepted now. */
  maxRecord: number;
  /**
   * The handler reads a record's body during the call and keeps none of it
   * (the session: it decrypts into a new buffer). A record that spans chunks
   * is then joined in one buffer reused from record to record, instead of a
   * new one each time: a fresh megabyte costs its page faults on every record.
   */
  bodiesBorrowed = false;
  private scratch: Buffer | null = null;

  constructor(readonly socket: LinkStream, maxRecord: number) {
    this.maxRecord = maxRecord;
    socket.on("data", (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.pump();
    });
    socket.on("error", (e: Error) => this.close(`socket error: ${(e as { code?: string }).code ?? e.message}`));
    socket.on("end", () => this.close("the peer closed the connection"));
    socket.on("close", () => this.close("the connection closed"));
  }

  get closed(): boolean {
    return this.closedReason !== null;
  }

  get reason(): string | null {
    return this.closedReason;
  }

  /** Where whole records go from now on; records already buffered are delivered at once. */
  setHandler(handler: RecordHandler, onFailure: (reason: string) => void): void {
    this.handler = handler;
    this.failed = onFailure;
    queueMicrotask(() => this.pump());
  }

  /** Stops delivering: records stay buffered until the next setHandler. */
  clearHandler(): void {
    this.handler = null;
  }

  onClose(cb: (reason: string) => void): void {
    if (this.closedReason !== null) cb(this.closedReason);
    else this.closeWaiters.push(cb);
  }

  /** Writes one record (length prefix included); false when the socket asks to wait for drain. */
  write(record: Uint8Array): boolean {
    if (this.closedReason !== null) return false;
    return this.socket.write(record);
  }

  /** Closes the connection once; the first reason wins and goes to every onClose callback. */
  close(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.chunks = [];
    this.buffered = 0;
    this.scratch = null;
    this.socket.destroy();
    for (const cb of this.closeWaiters.splice(0)) cb(reason);
  }

  /**
   * Like close, but what is already written is still sent (FIN after it);
   * the socket is destroyed after `graceMs` at the latest. Nothing more is read.
   */
  closeGracefully(reason: string, graceMs = 1000): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.chunks = [];
    this.buffered = 0;
    this.scratch = null;
    this.handler = null;
    this.socket.pause();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), graceMs).unref();
    for (const cb of this.closeWaiters.splice(0)) cb(reason);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = this.bodiesBorrowed ? this.scratchOf(n) : Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - at);
      c.copy(out, at, 0, k);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }

  private scratchOf(n: number): Buffer {
    if (this.scratch === null || this.scratch.length < n) this.scratch = Buffer.allocUnsafeSlow(Math.ceil(n / 65536) * 65536);
    return this.scratch.subarray(0, n);
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= 4) return first.readUInt32BE(0);
    const head = Buffer.alloc(4);
    let at = 0;
    for (const c of this.chunks) {
      const k = Math.min(c.length, 4 - at);
      c.copy(head, at, 0, k);
      at += k;
      if (at === 4) break;
    }
    return head.readUInt32BE(0);
  }

  private pump(): void {
    // A handler may close the socket or swap itself for another: re-check each round.
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.closedReason === null && this.handler !== null && this.buffered >= 4) {
        const len = this.peekLength();
        if (len > this.maxRecord) {
          const why = `record of ${len} bytes announced; the limit is ${this.maxRecord}`;
          this.failed?.(why);
          this.close(why);
          return;
        }
        if (this.buffered < 4 + len) return;
        this.take(4);
        const body = this.take(len);
        this.handler(new Uint8Array(body.buffer, body.byteOffset, body.length));
      }
    } finally {
      this.pumping = false;
    }
  }
}

/** A record: the u32 length, then `body`. */
export function frameRecord(body: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}
