/**
 * VRRP on the wire: a raw IPv4 socket for IP protocol 112 (bun:ffi).
 *
 * Node has no raw sockets, so this works only under Bun (the vigil binary);
 * elsewhere openVrrpSocket rejects with FfiUnavailableError.
 *
 * Socket set-up, and why (RFC 5798 §5.1.1.3, keepalived's checks):
 * - TTL 255 for unicast and multicast: receivers drop adverts with any other
 *   TTL, which proves the sender is on the link;
 * - TOS 0xc0 (network control), as keepalived and routers send adverts, so
 *   switches that honour it queue adverts ahead of bulk traffic;
 * - multicast loop off, so we never hear our own adverts;
 * - SO_BINDTODEVICE, so only this interface's adverts come in;
 * - multicast mode joins 224.0.0.18 and pins the source address with
 *   IP_MULTICAST_IF: the checksum covers the source, so it must be the one
 *   the codec used. The socket is NOT bound to an address: a bound raw socket
 *   only receives datagrams addressed to that address, never the group;
 * - unicast mode (keepalived's `unicast_peer`) binds to the source address,
 *   which pins it and receives exactly the adverts sent to us.
 *
 * Receiving: a Worker (src/sys/ffi/raw-reader.ts) loops on a blocking poll() + recvfrom() and posts each
 * IP packet to the main thread, so the event loop never blocks. A
 * SharedArrayBuffer flag stops it, and an eventfd in its poll set
 * (src/sys/ffi/wake-fd.ts) wakes it for that, so an idle Worker sleeps until
 * an advert comes; the fd is closed only after the Worker has left its loop,
 * so a reused fd number can never be read by mistake.
 */
import { isIPv4 } from "node:net";
import { networkInterfaces } from "node:os";
import {
  cString,
  FfiUnavailableError,
  type Libc,
  loadLibc,
  startFfiWorker,
  SyscallError,
} from "../sys/ffi/libc.ts";
import { VRRP_MULTICAST_V4, VRRP_PROTOCOL, VRRP_TTL } from "../proto/vrrp.ts";
import { RAW_READER_STOP_BYTES, type RawReaderData, rawReceiveLoop } from "../sys/ffi/raw-reader.ts";
import { openWakeFd, type WakeFd } from "../sys/ffi/wake-fd.ts";
import { type AdvertBackstop, startAdvertBackstop } from "./raw-vrrp-backstop.ts";

export interface VrrpSocketOptions {
  /** The interface adverts go out on and come in from, e.g. "eth0". */
  interface: string;
  /** Our IPv4 address on that interface: the source of every advert. */
  sourceAddress: string;
  /** true: join 224.0.0.18 (standard VRRP); false: unicast peers only. */
  multicast: boolean;
  /**
   * Start an advert backstop thread (raw-vrrp-backstop.ts) with the socket,
   * for masters at a tight advert_int: keepAdvertising is then present.
   */
  backstop?: boolean;
}

export interface VrrpSocket {
  /**
   * Sends one VRRP message (no IP header: the kernel adds it) to 224.0.0.18
   * or to a unicast peer. Never throws: failures go to onError.
   */
  send(packet: Uint8Array, dst: string): void;
  /**
   * Each received IPv4 packet, header included (source, TTL 255 check, checksum
   * pseudo-header). Packets that arrive before the first callback is registered
   * are dropped, so register right after open.
   */
  onPacket(cb: (ipPacket: Uint8Array) => void): void;
  /** Send failures and receive-loop failures. */
  onError(cb: (err: VrrpSocketError) => void): void;
  /**
   * Packets already read from the socket but not yet handed to onPacket
   * (they wait behind whatever this thread is doing); absent where packets
   * are handed over at once.
   */
  pending?(): number;
  /**
   * Reads on the calling thread, without blocking, up to `max` datagrams the
   * kernel holds that the receive Worker has not read yet, and hands each to
   * onPacket before returning; returns how many. After a stall of the whole
   * process (SIGSTOP, CPU starvation) the Worker may not have run yet when a
   * timer fires, so adverts that arrived in time still wait in the kernel.
   * Absent where packets are handed over at once.
   */
  readNow?(max: number): number;
  /**
   * A MASTER's instance (`slot`: its index among the socket's instances)
   * has just sent these adverts and sends the next every `intervalMs`: the
   * backstop thread sends them again whenever this thread is late, for at
   * most `leaseMs` after now (raw-vrrp-backstop.ts). Returns false when they
   * cannot be covered. Absent without a backstop.
   */
  keepAdvertising?(slot: number, adverts: readonly { bytes: Uint8Array; dst: string }[], intervalMs: number, leaseMs: number): boolean;
  /** The instance is no longer MASTER: the backstop sends nothing more for it, from this call on. */
  stopAdvertising?(slot: number): void;
  /** Adverts the backstop thread has sent since the socket opened. */
  advertsByBackstop?(): number;
  /** Stops receiving and closes the socket; safe to call twice. */
  close(): Promise<void>;
}

export type VrrpSocketErrorKind =
  | "invalid-options"
  | "no-interface"
  | "no-source-address"
  | "permission"
  | "setup-failed"
  | "send-failed"
  | "receive-failed"
  | "closed";

export class VrrpSocketError extends Error {
  readonly kind: VrrpSocketErrorKind;
  readonly interface: string;
  /** errno name (EPERM, ENETUNREACH...) when a system call failed. */
  readonly code: string | undefined;
  constructor(kind: VrrpSocketErrorKind, iface: string, message: string, code?: string) {
    super(`VRRP socket on ${iface === "" ? "(no interface)" : iface}: ${message}`);
    this.name = "VrrpSocketError";
    this.kind = kind;
    this.interface = iface;
    this.code = code;
  }
}

const MAX_IFNAME = 15;

/** Option mistakes that need no system call to find; shared with the in-memory twin. */
export function checkVrrpSocketOptions(opts: VrrpSocketOptions): VrrpSocketError | undefined {
  const iface = typeof opts.interface === "string" ? opts.interface : "";
  if (iface === "" || iface.length > MAX_IFNAME || /[\s/:]/.test(iface) || iface.startsWith("-")) {
    return new VrrpSocketError("invalid-options", iface, `interface name ${JSON.stringify(opts.interface)} is not valid (1-${MAX_IFNAME} characters, no spaces, '/' or ':')`);
  }
  if (!isIPv4(opts.sourceAddress)) {
    return new VrrpSocketError("invalid-options", iface, `source address ${JSON.stringify(opts.sourceAddress)} is not an IPv4 address`);
  }
  if (isMulticastOrUnspecified(opts.sourceAddress)) {
    return new VrrpSocketError("invalid-options", iface, `source address ${opts.sourceAddress} must be a unicast address`);
  }
  return undefined;
}

/** Why a destination cannot be sent to, or undefined when it is fine. */
export function checkVrrpDestination(dst: string): string | undefined {
  if (!isIPv4(dst)) return `destination ${JSON.stringify(dst)} is not an IPv4 address`;
  if (dst !== VRRP_MULTICAST_V4 && isMulticastOrUnspecified(dst)) {
    return `destination ${dst} is neither ${VRRP_MULTICAST_V4} nor a unicast peer`;
  }
  return undefined;
}

function isMulticastOrUnspecified(addr: string): boolean {
  const first = Number(addr.split(".")[0]);
  return addr === "0.0.0.0" || addr === "255.255.255.255" || (first >= 224 && first <= 239);
}

function ipv4Bytes(addr: string): Uint8Array {
  return Uint8Array.from(addr.split(".").map(Number));
}

/** struct sockaddr_in: family (host order), port 0, address, 8 bytes of zero. */
function sockaddrIn(addr: string): Uint8Array {
  const b = new Uint8Array(16);
  new DataView(b.buffer).setUint16(0, AF_INET, true);
  b.set(ipv4Bytes(addr), 4);
  return b;
}

/** struct ip_mreqn { in_addr multiaddr; in_addr address; int ifindex; }. */
function ipMreqn(group: string, local: string, ifindex: number): Uint8Array {
  const b = new Uint8Array(12);
  b.set(ipv4Bytes(group), 0);
  b.set(ipv4Bytes(local), 4);
  new DataView(b.buffer).setInt32(8, ifindex, true);
  return b;
}

function int32(value: number): Uint8Array {
  return new Uint8Array(Int32Array.of(value).buffer);
}

// Linux constants (asm-generic; the same on x86-64 and arm64).
const AF_INET = 2;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const IPPROTO_IP = 0;
const IP_TOS = 1;
const IP_TTL = 2;
const IPTOS_NETWORK_CONTROL = 0xc0;
const IP_MULTICAST_IF = 32;
const IP_MULTICAST_TTL = 33;
const IP_MULTICAST_LOOP = 34;
const IP_ADD_MEMBERSHIP = 35;

/** How often the receive Worker looks at the stop flag without a wake fd (wake-fd.ts); bounds close() latency. */
const POLL_MS = 100;
/** With a wake fd, close() wakes the Worker: its poll timeout is only a fallback, and costs a wake-up a second. */
const POLL_WOKEN_MS = 1000;
const RECEIVE_BUFFER = 65536;
/** readNow's buffer: an advert with 255 addresses is about 1 KiB; a longer datagram is cut and then fails its checksum. */
const READ_NOW_BUFFER = 4096;
const MSG_DONTWAIT = 0x40;
const CLOSE_GRACE_MS = 2000;

interface WorkerMessage {
  type?: unknown;
  bytes?: unknown;
  call?: unknown;
  errno?: unknown;
  message?: unknown;
}

function setupError(iface: string, e: unknown, what: string): VrrpSocketError {
  if (e instanceof SyscallError) {
    if (e.code === "EPERM" || e.code === "EACCES") {
      return new VrrpSocketError("permission", iface, `${what}: ${e.message}; raw sockets need root or CAP_NET_RAW`, e.code);
    }
    return new VrrpSocketError("setup-failed", iface, `${what}: ${e.message}`, e.code);
  }
  return new VrrpSocketError("setup-failed", iface, `${what}: ${e instanceof Error ? e.message : String(e)}`);
}

/**
 * Opens the VRRP socket. Rejects with FfiUnavailableError off Bun, and with
 * VrrpSocketError for bad options, a missing interface or address, or a
 * failed system call (EPERM without root).
 */
export async function openVrrpSocket(opts: VrrpSocketOptions): Promise<VrrpSocket> {
  const invalid = checkVrrpSocketOptions(opts);
  if (invalid !== undefined) throw invalid;
  const iface = opts.interface;
  const libc: Libc = await loadLibc("VRRP");

  const ifindex = libc.ifNameToIndex(iface);
  if (ifindex === 0) throw new VrrpSocketError("no-interface", iface, `interface ${iface} does not exist`);
  const local = (networkInterfaces()[iface] ?? []).some((a) => a.family === "IPv4" && a.address === opts.sourceAddress);
  if (!local) {
    throw new VrrpSocketError("no-source-address", iface, `source address ${opts.sourceAddress} is not configured on ${iface}`);
  }

  let fd: number;
  try {
    fd = libc.socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, VRRP_PROTOCOL);
  } catch (e) {
    throw setupError(iface, e, "cannot open a raw IP socket for protocol 112");
  }
  try {
    libc.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, cString(iface), "SO_BINDTODEVICE");
    libc.setsockopt(fd, IPPROTO_IP, IP_TOS, int32(IPTOS_NETWORK_CONTROL), "IP_TOS");
    libc.setsockopt(fd, IPPROTO_IP, IP_TTL, int32(VRRP_TTL), "IP_TTL");
    libc.setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, int32(VRRP_TTL), "IP_MULTICAST_TTL");
    libc.setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, int32(0), "IP_MULTICAST_LOOP");
    if (opts.multicast) {
      libc.setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, ipMreqn("0.0.0.0", opts.sourceAddress, ifindex), "IP_MULTICAST_IF");
      libc.setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, ipMreqn(VRRP_MULTICAST_V4, "0.0.0.0", ifindex), `IP_ADD_MEMBERSHIP ${VRRP_MULTICAST_V4}`);
    } else {
      libc.bind(fd, sockaddrIn(opts.sourceAddress));
    }
  } catch (e) {
    libc.close(fd);
    throw setupError(iface, e, "cannot set up the VRRP socket");
  }

  // Before the receive Worker: once that one runs, nothing may be awaited until its
  // messages have a handler (vrrpSocket), or its first ones are lost.
  let backstop: AdvertBackstop | undefined;
  if (opts.backstop === true) {
    try {
      backstop = await startAdvertBackstop(fd);
    } catch (e) {
      libc.close(fd);
      throw setupError(iface, e, "cannot start the advert backstop thread");
    }
  }

  // [0]: the stop flag; [1]: packets the Worker has read and posted.
  const stopFlag = new SharedArrayBuffer(RAW_READER_STOP_BYTES);
  // Made before the Worker starts: nothing may be awaited between its start and its handler.
  const wake = await openWakeFd("VRRP");
  let worker: Worker;
  try {
    const reader: RawReaderData = wake === undefined
      ? { fd, stop: stopFlag, pollMs: POLL_MS, bufferSize: RECEIVE_BUFFER }
      : { fd, stop: stopFlag, pollMs: POLL_WOKEN_MS, bufferSize: RECEIVE_BUFFER, wakeFd: wake.fd };
    worker = await startFfiWorker<RawReaderData>("VRRP", rawReceiveLoop, reader);
  } catch (e) {
    await backstop?.close();
    wake?.close();
    libc.close(fd);
    if (e instanceof FfiUnavailableError) throw e;
    throw setupError(iface, e, "cannot start the receive worker");
  }
  const socket = vrrpSocket(libc, fd, iface, worker, stopFlag, backstop, wake);
  // A Worker boots in tens of milliseconds, hundreds on a loaded host. Until its
  // loop runs, adverts wait in the socket: a backup that started its
  // Master_Down_Interval meanwhile (60-80 ms at a 20 ms advert) would take
  // over from a master it cannot hear yet. So the socket is handed out only
  // once it receives.
  const ready = await socket.receiving;
  if (ready !== undefined) {
    await socket.close();
    throw new VrrpSocketError("setup-failed", iface, ready);
  }
  return socket;
}

/** How long the receive Worker may take to start before opening fails. */
const RECEIVE_START_TIMEOUT_MS = 10_000;

function vrrpSocket(
  libc: Libc,
  fd: number,
  iface: string,
  worker: Worker,
  stopFlag: SharedArrayBuffer,
  backstop: AdvertBackstop | undefined,
  wake: WakeFd | undefined,
): VrrpSocket & { receiving: Promise<string | undefined> } {
  let receivingNow: (problem?: string) => void = () => {};
  const receiving = new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(`the receive worker did not start within ${RECEIVE_START_TIMEOUT_MS} ms`), RECEIVE_START_TIMEOUT_MS);
    receivingNow = (problem) => {
      clearTimeout(timer);
      resolve(problem);
    };
  });
  const packetSinks: ((p: Uint8Array) => void)[] = [];
  const errorSinks: ((e: VrrpSocketError) => void)[] = [];
  let closed = false;
  let closing: Promise<void> | undefined;
  let workerDone: () => void = () => {};
  const workerFinished = new Promise<void>((resolve) => {
    workerDone = resolve;
  });

  const report = (err: VrrpSocketError): void => {
    // Asynchronous, like a socket error event: send() never calls back into its caller.
    queueMicrotask(() => {
      for (const cb of errorSinks) cb(err);
    });
  };

  worker.onmessage = (event: MessageEvent) => {
    const m = event.data as WorkerMessage;
    if (m.type === "packet" && m.bytes instanceof Uint8Array) {
      delivered += 1;
      if (closed) return;
      for (const cb of packetSinks) cb(m.bytes);
    } else if (m.type === "receiving") {
      receivingNow();
    } else if (m.type === "error") {
      const errno = typeof m.errno === "number" ? m.errno : 0;
      const err = new SyscallError(String(m.call), errno, "in the receive loop");
      report(new VrrpSocketError("receive-failed", iface, err.message, err.code));
    } else if (m.type === "ffi-worker-exit") {
      workerDone();
    } else if (m.type === "ffi-worker-error") {
      receivingNow(`receive worker stopped: ${String(m.message)}`);
      report(new VrrpSocketError("receive-failed", iface, `receive worker stopped: ${String(m.message)}`));
      workerDone();
    }
  };
  worker.onerror = (event: ErrorEvent) => {
    receivingNow(`receive worker failed: ${event.message}`);
    report(new VrrpSocketError("receive-failed", iface, `receive worker failed: ${event.message}`));
    workerDone();
  };

  const posted = new Int32Array(stopFlag);
  let delivered = 0;
  let readBuffer: Uint8Array | undefined;

  const backstopCalls: Pick<VrrpSocket, "keepAdvertising" | "stopAdvertising" | "advertsByBackstop"> =
    backstop === undefined
      ? {}
      : {
          keepAdvertising: (slot, adverts, intervalMs, leaseMs) =>
            !closed && adverts.every((a) => checkVrrpDestination(a.dst) === undefined) &&
            backstop.sent(slot, adverts.map((a) => ({ sockaddr: sockaddrIn(a.dst), bytes: a.bytes })), intervalMs, leaseMs),
          stopAdvertising: (slot) => backstop.disarm(slot),
          advertsByBackstop: () => backstop.sentByBackstop(),
        };

  return {
    receiving,
    ...backstopCalls,
    pending: () => Atomics.load(posted, 1) - delivered,
    readNow(max) {
      let read = 0;
      readBuffer ??= new Uint8Array(READ_NOW_BUFFER);
      while (!closed && read < max) {
        // EAGAIN (nothing queued) and errors alike end it; the Worker reports receive errors.
        const n = Number(libc.symbols.recvfrom(fd, readBuffer, readBuffer.length, MSG_DONTWAIT, null, null));
        if (n < 0) break;
        read += 1;
        const packet = readBuffer.slice(0, n);
        for (const cb of packetSinks) cb(packet);
      }
      return read;
    },
    send(packet, dst) {
      if (closed) {
        report(new VrrpSocketError("closed", iface, "send after close"));
        return;
      }
      const bad = checkVrrpDestination(dst);
      if (bad !== undefined) {
        report(new VrrpSocketError("send-failed", iface, bad));
        return;
      }
      try {
        libc.sendto(fd, packet, 0, sockaddrIn(dst));
      } catch (e) {
        const code = e instanceof SyscallError ? e.code : undefined;
        report(new VrrpSocketError("send-failed", iface, `advert to ${dst}: ${e instanceof Error ? e.message : String(e)}`, code));
      }
    },
    onPacket(cb) {
      packetSinks.push(cb);
    },
    onError(cb) {
      errorSinks.push(cb);
    },
    close() {
      if (closing !== undefined) return closing;
      closed = true;
      closing = (async () => {
        // Before the fd is closed: the backstop sends on it.
        await backstop?.close();
        const flag = new Int32Array(stopFlag);
        Atomics.store(flag, 0, 1);
        Atomics.notify(flag, 0);
        wake?.wake();
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          workerFinished,
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, CLOSE_GRACE_MS);
          }),
        ]);
        if (timer !== undefined) clearTimeout(timer);
        worker.terminate();
        try {
          libc.close(fd);
        } catch {
          // Nothing useful to do: the socket is gone either way.
        }
        wake?.close();
      })();
      return closing;
    },
  };
}
