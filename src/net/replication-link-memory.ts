/**
 * In-memory twin of the replication link's TCP transport, for tests of the
 * mirror's drivers: a LinkTransport whose connections are pairs of
 * in-process streams. Everything above the transport is the real code
 * (records, handshake, encryption, liveness), so a twin link behaves like a
 * TCP one: wrong keys are refused, pings flow, deadtimes expire.
 *
 * Faults: `blackhole(address, true)` holds every byte to and from that
 * address (nothing is lost: like TCP retransmitting into a dead path, the
 * bytes arrive once it is lifted), `refuse(address, true)` makes new
 * connections to it fail with ECONNREFUSED, `reset(address)` breaks the
 * connections it has now. Delivery is asynchronous (setImmediate), in order.
 */
import { Duplex } from "node:stream";
import type { LinkEndpoint, LinkListener, LinkStream, LinkTransport } from "./replication-link-transport.ts";

export interface MemoryLinkNetwork {
  /** A transport for a node with these local addresses (the first is its source address). */
  transport(localAddresses: readonly string[]): LinkTransport;
  blackhole(address: string, on: boolean): void;
  refuse(address: string, on: boolean): void;
  /** Breaks every connection to or from `address` (both ends see an error). */
  reset(address: string): void;
  /** Connections open now. */
  readonly connections: number;
}

const FIRST_PORT = 40000;

class MemoryStream extends Duplex implements LinkStream {
  other: MemoryStream | null = null;
  remoteAddress: string | undefined;
  remotePort: number | undefined;

  constructor(
    private readonly net: NetworkState,
    readonly localAddress: string,
  ) {
    super({ allowHalfOpen: false });
  }

  setNoDelay(): this {
    return this;
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    const to = this.other;
    if (to !== null) this.net.send(this, to, () => to.push(Buffer.from(chunk)));
    cb();
  }

  override _final(cb: (e?: Error | null) => void): void {
    const to = this.other;
    if (to !== null) this.net.send(this, to, () => to.push(null));
    cb();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    const to = this.other;
    this.other = null;
    this.net.open.delete(this);
    if (to !== null && !to.destroyed) this.net.send(this, to, () => to.destroy());
    cb(err);
  }
}

interface Held {
  readonly from: MemoryStream;
  readonly to: MemoryStream;
  readonly deliver: () => void;
}

class NetworkState {
  readonly listeners = new Map<string, (s: MemoryStream) => void>();
  readonly holes = new Set<string>();
  readonly refused = new Set<string>();
  readonly open = new Set<MemoryStream>();
  held: Held[] = [];
  nextPort = FIRST_PORT;

  blocked(a: MemoryStream, b: MemoryStream): boolean {
    return this.holes.has(a.localAddress) || this.holes.has(b.localAddress);
  }

  send(from: MemoryStream, to: MemoryStream, deliver: () => void): void {
    if (this.blocked(from, to)) {
      this.held.push({ from, to, deliver });
      return;
    }
    setImmediate(() => {
      if (!to.destroyed) deliver();
    });
  }

  release(): void {
    const keep: Held[] = [];
    const go: Held[] = [];
    for (const h of this.held) (this.blocked(h.from, h.to) ? keep : go).push(h);
    this.held = keep;
    for (const h of go) this.send(h.from, h.to, h.deliver);
  }
}

function refusedError(at: LinkEndpoint): Error {
  return Object.assign(new Error(`connect ECONNREFUSED ${at.address}:${at.port}`), { code: "ECONNREFUSED" });
}

export function createMemoryLinkNetwork(): MemoryLinkNetwork {
  const state = new NetworkState();
  const key = (a: LinkEndpoint): string => `${a.address}|${a.port}`;

  const transport = (locals: readonly string[]): LinkTransport => ({
    connect(at) {
      const mine = new MemoryStream(state, locals[0] ?? "127.0.0.1");
      setImmediate(() => {
        const accept = state.listeners.get(key(at));
        if (accept === undefined || state.refused.has(at.address)) {
          mine.destroy(refusedError(at));
          return;
        }
        // A blackholed path lets no SYN through either: the connect never completes.
        if (state.holes.has(at.address) || state.holes.has(mine.localAddress)) return;
        const theirs = new MemoryStream(state, at.address);
        mine.other = theirs;
        theirs.other = mine;
        mine.remoteAddress = at.address;
        mine.remotePort = at.port;
        theirs.remoteAddress = mine.localAddress;
        theirs.remotePort = state.nextPort++;
        state.open.add(mine);
        state.open.add(theirs);
        accept(theirs);
        mine.emit("connect");
      });
      return mine;
    },
    async listen(at, onConnection): Promise<LinkListener> {
      if (at.address !== "0.0.0.0" && !locals.includes(at.address)) {
        throw new Error(`replication link: cannot listen on ${at.address}:${at.port}: EADDRNOTAVAIL`);
      }
      const bound = { address: at.address, port: at.port === 0 ? state.nextPort++ : at.port };
      const addrs = at.address === "0.0.0.0" ? locals : [at.address];
      for (const a of addrs) {
        if (state.listeners.has(key({ address: a, port: bound.port }))) throw new Error(`replication link: cannot listen on ${a}:${bound.port}: EADDRINUSE`);
      }
      for (const a of addrs) state.listeners.set(key({ address: a, port: bound.port }), onConnection);
      return {
        bound,
        close: async () => {
          for (const a of addrs) state.listeners.delete(key({ address: a, port: bound.port }));
        },
      };
    },
  });

  return {
    transport,
    blackhole(address, on) {
      if (on) state.holes.add(address);
      else {
        state.holes.delete(address);
        state.release();
      }
    },
    refuse(address, on) {
      if (on) state.refused.add(address);
      else state.refused.delete(address);
    },
    reset(address) {
      for (const s of [...state.open]) {
        if (s.localAddress === address || s.remoteAddress === address) s.destroy(Object.assign(new Error("connection reset"), { code: "ECONNRESET" }));
      }
    },
    get connections() {
      return state.open.size;
    },
  };
}
