/**
 * Connection bounds of one HTTP listener: how many sockets in all and per
 * client address, and how long a client may take to send its headers. A
 * socket over a bound gets a one-line JSON answer and is closed, so a client
 * that opens connections and sends nothing pins neither memory nor a slot.
 *
 * When all slots are taken, a newcomer is not simply turned away: the client
 * holding the most connections (more than the newcomer would then hold) loses
 * its oldest one. Many attacking addresses can fill the listener, but a client
 * with few connections, the operator's browser, still gets in.
 */
import type { Socket } from "node:net";
import { type HttpLimits, rawRefusal } from "./http-limits.ts";

export interface RefusalCounts {
  /** Connections closed at once because a bound on connections was reached. */
  connections: number;
  /** Requests whose headers, or whose body, did not arrive in time. */
  timeouts: number;
  /** Request bodies over the size bound. */
  tooLarge: number;
}

interface Tracked {
  readonly client: string;
  /** The socket's remoteKey, taken while it is open: Bun clears remoteAddress and remotePort once a socket closes. */
  readonly remote: string;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Requests begun on this socket: an idle keep-alive socket is closed without a 408. */
  requests: number;
}

export class ConnectionGuard {
  readonly refusals: RefusalCounts = { connections: 0, timeouts: 0, tooLarge: 0 };
  private total = 0;
  /** Open sockets per client address, oldest first. */
  private readonly perClient = new Map<string, Set<Socket>>();
  private readonly sockets = new Map<Socket, Tracked>();
  /**
   * Under Node a TLS request's socket is a TLSSocket wrapped around the one
   * seen at "connection" (under Bun they are one object): the two share the
   * client's address and port, which find the tracked connection.
   */
  private readonly byRemote = new Map<string, Socket>();

  constructor(
    private readonly limits: HttpLimits,
    /** On a TLS listener no plain-text answer can be written before the handshake: a refused socket is just closed. */
    private readonly options: { tls: boolean } = { tls: false },
  ) {}

  /** Open connections now (for tests and metrics). */
  open(): number {
    return this.total;
  }

  /** Sockets the guard still holds a reference to, in any of its tables (for tests: none once all have closed). */
  held(): number {
    return Math.max(this.sockets.size, this.byRemote.size, [...this.perClient.values()].reduce((n, s) => n + s.size, 0));
  }

  onConnection(socket: Socket): void {
    const client = socket.remoteAddress ?? "local";
    const fromClient = this.perClient.get(client)?.size ?? 0;
    let reason: string | undefined;
    if (fromClient >= this.limits.maxConnectionsPerClient) {
      reason = `too many open connections from ${client} (limit ${this.limits.maxConnectionsPerClient}); close some and try again`;
    } else if (this.total >= this.limits.maxConnections && !this.makeRoomFor(fromClient + 1)) {
      reason = `too many open connections (limit ${this.limits.maxConnections}); try again later`;
    }
    if (reason !== undefined) {
      this.refusals.connections++;
      this.refuse(socket, rawRefusal(503, reason));
      return;
    }
    this.total++;
    const mine = this.perClient.get(client) ?? new Set<Socket>();
    mine.add(socket);
    this.perClient.set(client, mine);
    const tracked: Tracked = { client, remote: remoteKey(socket), timer: undefined, requests: 0 };
    this.sockets.set(socket, tracked);
    this.byRemote.set(tracked.remote, socket);
    this.armHeaderTimer(socket, tracked);
    socket.once("close", () => this.forget(socket));
  }

  /** Closes the oldest connection of the client holding the most, if it holds more than `newcomerWouldHold`. */
  private makeRoomFor(newcomerWouldHold: number): boolean {
    let heaviest: { client: string; sockets: Set<Socket> } | undefined;
    for (const [client, sockets] of this.perClient) {
      if (heaviest === undefined || sockets.size > heaviest.sockets.size) heaviest = { client, sockets };
    }
    if (heaviest === undefined || heaviest.sockets.size <= newcomerWouldHold) return false;
    const oldest = heaviest.sockets.values().next().value as Socket;
    this.refusals.connections++;
    this.forget(oldest);
    this.refuse(oldest, rawRefusal(503, `connection closed to make room for another client: ${heaviest.client} holds the most of the ${this.limits.maxConnections} allowed`));
    return true;
  }

  /** The headers of a request arrived on this socket; false when the socket was refused and is closing. */
  requestStarted(socket: Socket): boolean {
    const t = this.find(socket);
    if (t === undefined) return false;
    t.requests++;
    clearTimeout(t.timer);
    t.timer = undefined;
    return true;
  }

  /** A response was sent and the socket stays open for the next request. */
  responseDone(socket: Socket): void {
    const t = this.find(socket);
    const raw = this.raw(socket);
    if (t !== undefined && raw !== undefined && !socket.destroyed) this.armHeaderTimer(raw, t);
  }

  private armHeaderTimer(socket: Socket, t: Tracked): void {
    clearTimeout(t.timer);
    t.timer = setTimeout(() => {
      t.timer = undefined;
      if (t.requests === 0) {
        this.refusals.timeouts++;
        this.refuse(socket, rawRefusal(408, `the request headers did not arrive within ${this.limits.headerTimeoutMs} ms`));
      } else {
        socket.destroy();
      }
    }, this.limits.headerTimeoutMs);
    t.timer.unref?.();
  }

  private forget(socket: Socket): void {
    const t = this.sockets.get(socket);
    if (t === undefined) return;
    clearTimeout(t.timer);
    this.sockets.delete(socket);
    if (this.byRemote.get(t.remote) === socket) this.byRemote.delete(t.remote);
    this.total--;
    const mine = this.perClient.get(t.client);
    mine?.delete(socket);
    if (mine !== undefined && mine.size === 0) this.perClient.delete(t.client);
  }

  private raw(socket: Socket): Socket | undefined {
    if (this.sockets.has(socket)) return socket;
    const raw = this.byRemote.get(remoteKey(socket));
    return raw;
  }

  private find(socket: Socket): Tracked | undefined {
    const raw = this.raw(socket);
    return raw === undefined ? undefined : this.sockets.get(raw);
  }

  private refuse(socket: Socket, text: string): void {
    if (this.options.tls) socket.destroy();
    else closeWith(socket, text);
  }

  /** Closes every socket (server shutdown). */
  closeAll(): void {
    for (const socket of [...this.sockets.keys()]) socket.destroy();
  }
}

function remoteKey(socket: Socket): string {
  return `${socket.remoteAddress ?? "?"}|${socket.remotePort ?? "?"}`;
}

/**
 * Sends a last answer and closes. The socket is half-closed first and
 * destroyed a moment later: destroying it at once, with the client's bytes
 * still unread, would reset the connection and the client might never read why.
 */
export function closeWith(socket: Socket, text: string): void {
  if (socket.destroyed) return;
  const kill = setTimeout(() => socket.destroy(), 500);
  kill.unref?.();
  socket.once("close", () => clearTimeout(kill));
  socket.end(text);
}
