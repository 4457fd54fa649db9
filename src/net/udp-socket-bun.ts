/**
 * The UDP socket backend on Bun's native socket (`Bun.udpSocket`): what the
 * vigil binary uses (see udp-socket.ts for why).
 *
 * What Bun does not offer is done as node:dgram does it on Bun, or through
 * libc:
 * - SO_REUSEADDR: the socket's `flags` (Bun's listen flags; the values are
 *   the ones Bun's own node:dgram passes);
 * - the receive buffer: setsockopt/getsockopt on the socket's fd through FFI
 *   (the binary loads FFI at start anyway); without FFI the kernel's default
 *   buffer stays, which only holds a shorter burst.
 *
 * - reading what the kernel holds for the socket right now (readQueued):
 *   recvfrom(MSG_DONTWAIT) on its fd through FFI, for the heartbeat's
 *   "read before judging" (membership.ts).
 *
 * Bun reports an ICMP error for an earlier datagram (a peer's port closed)
 * as a socket error with syscall "recv"; a send fails synchronously or not
 * at all.
 */
import { openLibcTable } from "../sys/ffi/libc.ts";
import { joinLinkMulticast, type OpenSocketOptions, openError, type SocketEndpoint, type UdpBackend, type UdpSocketLike } from "./udp-socket.ts";

/** Bun's listen flags (packages/bun-usockets): SO_REUSEADDR, and fail rather than share a port through SO_REUSEPORT. */
const LISTEN_REUSE_ADDR = 16;
const LISTEN_DISALLOW_REUSE_PORT_FAILURE = 32;

const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const MSG_DONTWAIT = 0x40;
/** Datagrams read per readQueued() call at most: a flood must not hold the event loop. */
const READ_QUEUED_MAX = 64;
/** Larger than any heartbeat frame; one buffer for every socket (reads are synchronous). */
const readBuffer = new Uint8Array(65_536);
const fromAddress = new Uint8Array(16);
const fromLength = new Uint32Array(1);

/** The part of Bun's native UDP socket used here (connected or not). */
interface NativeSocket {
  readonly port: number;
  readonly fd: number;
  send(data: Uint8Array, port?: number, address?: string): boolean;
  setBroadcast(on: boolean): boolean;
  setMulticastInterface(address: string): boolean;
  setMulticastTTL(ttl: number): number;
  setMulticastLoopback(on: boolean): boolean;
  addMembership(group: string, iface?: string): boolean;
  close(): void;
}

interface NativeHandler {
  data(socket: unknown, data: Uint8Array, port: number, address: string): void;
  /** Bun passes the error first (its typings say otherwise). */
  error(e: Error): void;
}

interface BunUdp {
  udpSocket(o: {
    hostname: string;
    port: number;
    flags: number;
    binaryType: "uint8array";
    socket: NativeHandler;
    connect?: { hostname: string; port: number };
  }): Promise<NativeSocket>;
}

/** Bun's global, when running on Bun. */
export function bunUdp(): BunUdp | undefined {
  const bun = (globalThis as { Bun?: { udpSocket?: unknown } }).Bun;
  return typeof bun?.udpSocket === "function" ? (bun as BunUdp) : undefined;
}

interface SockoptCalls {
  setsockopt(fd: number, level: number, name: number, value: Int32Array, length: number): number;
  getsockopt(fd: number, level: number, name: number, value: Int32Array, length: Uint32Array): number;
  recvfrom(fd: number, buf: Uint8Array, length: number, flags: number, from: Uint8Array, fromLength: Uint32Array): number;
}

let sockopt: Promise<SockoptCalls | undefined> | undefined;
/** Set once the table is loaded: readQueued() is synchronous. */
let loadedCalls: SockoptCalls | undefined;

function sockoptCalls(): Promise<SockoptCalls | undefined> {
  sockopt ??= openLibcTable("the heartbeat receive buffer", {
    setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
    getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
    recvfrom: { args: ["i32", "ptr", "u64", "i32", "ptr", "ptr"], returns: "i32" },
    __errno_location: { args: [], returns: "ptr" },
  }).then(
    (t) => (loadedCalls = t.symbols as SockoptCalls),
    () => undefined,
  );
  return sockopt;
}

class BunSocket implements UdpSocketLike {
  constructor(
    private readonly sock: NativeSocket,
    private readonly onMessage: OpenSocketOptions["onMessage"],
  ) {}

  get port(): number {
    return this.sock.port;
  }

  setMulticast(localAddress: string, group: string): void {
    joinLinkMulticast(this.sock, localAddress, group);
  }

  setBroadcast(): void {
    this.sock.setBroadcast(true);
  }

  async growReceiveBuffer(bytes: number): Promise<number | undefined> {
    const calls = await sockoptCalls();
    if (calls === undefined) return undefined;
    const fd = this.sock.fd;
    // Refused: the default buffer still works, it only holds a shorter burst.
    calls.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, new Int32Array([bytes]), 4);
    const got = new Int32Array(1);
    return calls.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, got, new Uint32Array([4])) === 0 ? got[0] : undefined;
  }

  send(bytes: Uint8Array, to: SocketEndpoint | undefined, failed: (e: unknown) => void): void {
    try {
      if (to === undefined) this.sock.send(bytes);
      else this.sock.send(bytes, to.port, to.address);
    } catch (e) {
      queueMicrotask(() => failed(e));
    }
  }

  readQueued(): number {
    const calls = loadedCalls;
    if (calls === undefined) return 0;
    const fd = this.sock.fd;
    let n = 0;
    while (n < READ_QUEUED_MAX) {
      fromLength[0] = fromAddress.length;
      // -1 (EAGAIN: nothing queued, or a pending socket error, which this read consumes) ends it.
      const got = calls.recvfrom(fd, readBuffer, readBuffer.length, MSG_DONTWAIT, fromAddress, fromLength);
      if (got < 0) break;
      n += 1;
      const port = ((fromAddress[2] ?? 0) << 8) | (fromAddress[3] ?? 0);
      const address = `${fromAddress[4]}.${fromAddress[5]}.${fromAddress[6]}.${fromAddress[7]}`;
      this.onMessage(readBuffer.slice(0, got), address, port);
    }
    return n;
  }

  close(): Promise<void> {
    try {
      this.sock.close();
    } catch {
      // already closed
    }
    return Promise.resolve();
  }
}

export const bunBackend: UdpBackend = {
  name: "bun",
  async open(o: OpenSocketOptions): Promise<UdpSocketLike> {
    const bun = bunUdp();
    if (bun === undefined) throw openError("bind", Object.assign(new Error("Bun's UDP socket is not available on this runtime"), { code: "ENOTSUP" }));
    const handler: NativeHandler = {
      data: (_socket, data, port, address) => o.onMessage(data, address, port),
      error: (e) => o.onError(e),
    };
    const flags = LISTEN_DISALLOW_REUSE_PORT_FAILURE | (o.reuseAddr ? LISTEN_REUSE_ADDR : 0);
    const connect = o.connect === undefined ? {} : { connect: { hostname: o.connect.address, port: o.connect.port } };
    try {
      // Throws synchronously for some failures, rejects for others.
      return new BunSocket(await bun.udpSocket({ hostname: o.address, port: o.port, flags, binaryType: "uint8array", socket: handler, ...connect }), o.onMessage);
    } catch (e) {
      const syscall = (e as { syscall?: unknown } | null)?.syscall;
      throw openError(o.connect !== undefined && syscall === "connect" ? "connect" : "bind", e);
    }
  },
};
