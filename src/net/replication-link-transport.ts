/**
 * How the replication link reaches the other node: TCP (node:net) in the
 * daemon, or the in-memory twin (replication-link-memory.ts) in tests. Both
 * hand out byte streams; everything above them (records, handshake,
 * encryption, liveness) is the same code.
 */
import * as net from "node:net";
import type { Duplex } from "node:stream";

/** A connected byte stream: a net.Socket, or a memory stream that behaves like one. */
export interface LinkStream extends Duplex {
  setNoDelay?(noDelay?: boolean): unknown;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

export interface LinkEndpoint {
  readonly address: string;
  readonly port: number;
}

export interface LinkListener {
  /** Where it listens (the real port when 0 was asked). */
  readonly bound: LinkEndpoint;
  close(): Promise<void>;
}

export interface LinkTransport {
  /** Starts connecting; the stream emits "connect" once connected, or "error" (ECONNREFUSED...). */
  connect(at: LinkEndpoint): LinkStream;
  /** Listens; rejects with an Error naming the endpoint and the OS code. */
  listen(at: LinkEndpoint, onConnection: (stream: LinkStream) => void): Promise<LinkListener>;
}

export const tcpTransport: LinkTransport = {
  connect(at) {
    return net.connect({ host: at.address, port: at.port, noDelay: true });
  },
  async listen(at, onConnection) {
    const srv = net.createServer({ noDelay: true }, onConnection);
    await new Promise<void>((resolve, reject) => {
      srv.once("error", (e: Error & { code?: string }) => reject(new Error(`replication link: cannot listen on ${at.address}:${at.port}: ${e.code ?? e.message}`)));
      srv.listen(at.port, at.address, () => resolve());
    });
    const a = srv.address();
    const bound = a !== null && typeof a === "object" ? { address: a.address, port: a.port } : at;
    return { bound, close: () => new Promise<void>((r) => srv.close(() => r())) };
  },
};
