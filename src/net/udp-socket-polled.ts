/**
 * The UDP socket backend whose sockets the event loop does not watch
 * (src/sys/ffi/udp-polled.ts): a datagram waits in the kernel until the
 * transport's readArrived()/readQueued() reads it, and comes with its age
 * (the kernel's receive timestamp). For connect()ed sockets only: the kernel
 * then drops every datagram that is not from the peer, so what waits
 * between two reads is the peer's own few frames, never a stranger's flood.
 * Needs bun:ffi (the vigil binary); polledUdpBackend() says whether it is there.
 */
import { PolledUdpError, PolledUdpSocket, polledUdpAvailable } from "../sys/ffi/udp-polled.ts";
import { type OpenSocketOptions, openError, type SocketEndpoint, type UdpBackend, type UdpSocketLike } from "./udp-socket.ts";

/** Datagrams read per socket per read at most: a flood must not hold the event loop. */
export const POLLED_READ_MAX = 64;

class PolledSocket implements UdpSocketLike {
  readonly polled = true;

  constructor(
    private readonly sock: PolledUdpSocket,
    private readonly o: OpenSocketOptions,
  ) {}

  get port(): number {
    return this.sock.port;
  }

  setMulticast(): void {
    throw Object.assign(new Error("a connected heartbeat socket does not join groups"), { code: "EINVAL" });
  }

  setBroadcast(): void {
    throw Object.assign(new Error("a connected heartbeat socket does not broadcast"), { code: "EINVAL" });
  }

  growReceiveBuffer(bytes: number): Promise<number | undefined> {
    return Promise.resolve(this.sock.growReceiveBuffer(bytes));
  }

  send(bytes: Uint8Array, to: SocketEndpoint | undefined, failed: (e: unknown) => void): void {
    if (to !== undefined) {
      queueMicrotask(() => failed(Object.assign(new Error("a connected heartbeat socket sends only to its peer"), { code: "EISCONN" })));
      return;
    }
    const errno = this.sock.send(bytes);
    if (errno !== 0) {
      const e = new PolledUdpError("send", errno);
      queueMicrotask(() => failed(e));
    }
  }

  readQueued(): number {
    return this.sock.drain(this.o.onMessage, this.o.onError, POLLED_READ_MAX);
  }

  close(): Promise<void> {
    this.sock.close();
    return Promise.resolve();
  }
}

/**
 * The backend, where this runtime has FFI; undefined elsewhere (Node, Deno).
 * A socket the kernel will not timestamp (SO_TIMESTAMPNS refused) is opened
 * on `fallback` instead: without arrival times, reading it late would move
 * its peer's deadlines late.
 */
export async function polledUdpBackend(fallback: UdpBackend): Promise<UdpBackend | undefined> {
  if (!(await polledUdpAvailable())) return undefined;
  return {
    name: "polled",
    async open(o: OpenSocketOptions): Promise<UdpSocketLike> {
      if (o.connect === undefined) return fallback.open(o);
      try {
        return new PolledSocket(await PolledUdpSocket.open({ address: o.address, port: o.port, reuseAddr: o.reuseAddr, connect: o.connect }), o);
      } catch (e) {
        if (e instanceof PolledUdpError && e.syscall !== "bind" && e.syscall !== "connect") return fallback.open(o);
        throw openError(e instanceof PolledUdpError && e.syscall === "connect" ? "connect" : "bind", e);
      }
    },
  };
}
