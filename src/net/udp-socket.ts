/**
 * One bound UDP socket of a heartbeat link, as the transport uses it.
 *
 * Two backends provide it: Bun's native UDP socket (udp-socket-bun.ts; the
 * vigil binary) and node:dgram (udp-socket-dgram.ts; Node, the unit tests).
 * On Bun, node:dgram is itself a JS layer over the native socket that, per
 * datagram, emits an event with a fresh rinfo object and, per send, runs a
 * callback and a DNS-style lookup of the destination; the native socket
 * hands the bytes, port and address straight to one handler set at open,
 * and sends synchronously. At ten rounds a second to each peer that layer is
 * most of the heartbeat's idle cost.
 *
 * Each socket of a link sends to exactly one target: its connect()ed peer,
 * or the group or broadcast address of its link.
 */

export interface SocketEndpoint {
  address: string;
  port: number;
}

export interface OpenSocketOptions {
  address: string;
  port: number;
  /** SO_REUSEADDR: several sockets of one link share its address and port, each connect()ed to its peer. */
  reuseAddr: boolean;
  /** connect() the socket to this peer: it then hears only that peer, and sends there. */
  connect?: SocketEndpoint;
  /**
   * Called for every datagram; `bytes` is only valid during the call.
   * `ageMs`: how long ago the kernel received it, where the socket is read
   * later than that (a polled socket); undefined: just now.
   */
  onMessage(bytes: Uint8Array, address: string, port: number, ageMs?: number): void;
  /** Socket-level errors (an ICMP error for an earlier datagram, ...); `code` is the OS error where known. */
  onError(e: Error & { code?: string }): void;
}

export interface UdpSocketLike {
  /** The port the socket is bound to. */
  readonly port: number;
  /** Its datagrams come only when readQueued() reads them (udp-socket-polled.ts), never from the event loop. */
  readonly polled?: boolean;
  setMulticast(localAddress: string, group: string): void;
  setBroadcast(): void;
  /** Asks for `bytes` of receive buffer; returns what the kernel gave, if it says. */
  growReceiveBuffer(bytes: number): Promise<number | undefined>;
  /**
   * Sends one datagram to the connected peer (`to` undefined) or to `to`.
   * A failure is handed to `failed`, never thrown: synchronously for what
   * the socket refuses at once, later for what the OS reports afterwards.
   */
  send(bytes: Uint8Array, to: SocketEndpoint | undefined, failed: (e: unknown) => void): void;
  /**
   * Reads at once, without blocking, the datagrams the kernel already holds
   * for this socket and hands each to onMessage as if the runtime had
   * delivered it; returns how many. Absent where the backend cannot.
   */
  readQueued?(): number;
  close(): Promise<void>;
}

export interface UdpBackend {
  readonly name: "bun" | "dgram" | "polled";
  /** Binds (and connects) a socket; rejects with an OpenSocketError. */
  open(o: OpenSocketOptions): Promise<UdpSocketLike>;
}

/** A socket could not be bound or connected; `code` is the OS error (EADDRINUSE, ...). */
export class OpenSocketError extends Error {
  constructor(
    readonly step: "bind" | "connect",
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "OpenSocketError";
  }
}

export function errorCode(e: unknown): string {
  if (typeof e === "object" && e !== null && "code" in e) {
    const code = (e as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  return "EUNKNOWN";
}

export function openError(step: OpenSocketError["step"], e: unknown): OpenSocketError {
  return new OpenSocketError(step, errorCode(e), e instanceof Error ? e.message : String(e));
}

/** The multicast calls of both backends' sockets, which share their names. */
interface MulticastCalls {
  setMulticastInterface(address: string): unknown;
  setMulticastTTL(ttl: number): unknown;
  setMulticastLoopback(enabled: boolean): unknown;
  addMembership(group: string, address?: string): unknown;
}

/** Joins `group` on the interface of `localAddress`: TTL 1 (the link only), our own frames not looped back. */
export function joinLinkMulticast(sock: MulticastCalls, localAddress: string, group: string): void {
  sock.setMulticastInterface(localAddress);
  sock.setMulticastTTL(1);
  sock.setMulticastLoopback(false);
  sock.addMembership(group, localAddress);
}
