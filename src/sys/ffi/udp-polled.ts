/**
 * A UDP socket opened and read through libc (bun:ffi) that the event loop
 * never watches: datagrams wait in the kernel until drain() reads them,
 * each with the time the kernel received it (SO_TIMESTAMPNS). A reader that
 * drains once per round of its own then takes one wake-up per round, not one
 * per datagram, and still knows when each datagram really arrived.
 *
 * Linux, glibc, x86-64 and arm64 (LP64, little-endian) layouts:
 *   struct mmsghdr { struct msghdr msg_hdr; unsigned msg_len; }        64 bytes
 *   struct msghdr  { void *name; socklen_t namelen; struct iovec *iov; size_t iovlen;
 *                    void *control; size_t controllen; int flags; }   56 bytes
 *   struct iovec   { void *base; size_t len; }                         16 bytes
 *   struct cmsghdr { size_t len; int level; int type; data... }        16 + data
 *   SCM_TIMESTAMPNS data: struct timespec { i64 sec; i64 nsec; }
 *
 * The kernel's timestamp is CLOCK_REALTIME; its age is taken against
 * CLOCK_REALTIME read in the same drain, so a datagram's arrival on any
 * monotonic clock is that clock's now minus the age. A step of the wall
 * clock between arrival and drain would distort the age: it is bounded to
 * [0, time since the previous drain that emptied the queue], a window the
 * datagram provably arrived in.
 */
import { errnoName, loadFfi, openLibcTable } from "./libc.ts";

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_RCVBUF = 8;
/** SO_TIMESTAMPNS_OLD (timespec of longs: 64-bit on LP64); also the cmsg type SCM_TIMESTAMPNS. */
const SO_TIMESTAMPNS = 35;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_TRUNC = 0x20;
const CLOCK_REALTIME = 0;
const EAGAIN = 11;
const EINTR = 4;

/** Datagrams per recvmmsg call. */
const BATCH = 16;
/** Bytes per datagram slot: above any heartbeat frame (1400); a longer datagram is dropped (MSG_TRUNC). */
const SLOT_BYTES = 2048;
const MMSG_BYTES = 64;
const IOV_BYTES = 16;
const NAME_BYTES = 16;
const CONTROL_BYTES = 64;

const OFF_MMSG = 0;
const OFF_IOV = OFF_MMSG + BATCH * MMSG_BYTES;
const OFF_NAME = OFF_IOV + BATCH * IOV_BYTES;
const OFF_CONTROL = OFF_NAME + BATCH * NAME_BYTES;
const OFF_TIME = OFF_CONTROL + BATCH * CONTROL_BYTES;
const OFF_DATA = OFF_TIME + 16;
const ARENA_BYTES = OFF_DATA + BATCH * SLOT_BYTES;

const SYMBOLS = {
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
  getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
  bind: { args: ["i32", "ptr", "u32"], returns: "i32" },
  connect: { args: ["i32", "ptr", "u32"], returns: "i32" },
  getsockname: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  send: { args: ["i32", "ptr", "u64", "i32"], returns: "i32" },
  recvmmsg: { args: ["i32", "ptr", "u32", "i32", "ptr"], returns: "i32" },
  clock_gettime: { args: ["i32", "ptr"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
} as const;

interface Calls {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Int32Array, length: number): number;
  getsockopt(fd: number, level: number, name: number, value: Int32Array, length: Uint32Array): number;
  bind(fd: number, addr: Uint8Array, length: number): number;
  connect(fd: number, addr: Uint8Array, length: number): number;
  getsockname(fd: number, addr: Uint8Array, length: Uint32Array): number;
  send(fd: number, buf: Uint8Array, length: number, flags: number): number;
  recvmmsg(fd: number, vec: number, vlen: number, flags: number, timeout: null): number;
  clock_gettime(clock: number, ts: number): number;
  close(fd: number): number;
}

interface Loaded {
  calls: Calls;
  errno(): number;
  /** One arena for every socket: drains are synchronous, never interleaved. */
  arena: Uint8Array;
  view: DataView;
  /**
   * The arena as native-endian 32-bit words (x86-64 and arm64: little
   * endian), for the message headers' fields: an element of a typed array
   * is read and written in the compiled code itself, where each DataView
   * get or set is a call into the runtime.
   */
  words: Uint32Array;
  /**
   * Message slots [0, dirty) may hold what the kernel wrote at the last
   * recvmmsg (lengths, flags): set back before the next call. The others
   * still hold their initial values, so a read that brings one datagram
   * sets back one slot, not BATCH.
   */
  dirty: number;
  base: number;
}

let loading: Promise<Loaded> | undefined;

/** errno names libc.ts does not list. */
function codeOf(errno: number): string {
  return errno === 111 ? "ECONNREFUSED" : errnoName(errno);
}

/** A failed call: `code` the errno's name, `syscall` which call. */
export class PolledUdpError extends Error {
  constructor(
    readonly syscall: string,
    readonly errno: number,
  ) {
    super(`${syscall} failed: ${codeOf(errno)}`);
    this.name = "PolledUdpError";
  }

  get code(): string {
    return codeOf(this.errno);
  }
}

function load(): Promise<Loaded> {
  loading ??= (async () => {
    const ffi = (await loadFfi("heartbeat sockets read once per round")) as unknown as { ptr(a: Uint8Array): number };
    const table = await openLibcTable("heartbeat sockets read once per round", SYMBOLS);
    const arena = new Uint8Array(ARENA_BYTES);
    const view = new DataView(arena.buffer);
    const base = ffi.ptr(arena);
    // The fixed parts of each message: where its name, data and control go.
    for (let i = 0; i < BATCH; i++) {
      const m = OFF_MMSG + i * MMSG_BYTES;
      const iov = OFF_IOV + i * IOV_BYTES;
      view.setBigUint64(m, BigInt(base + OFF_NAME + i * NAME_BYTES), true);
      view.setBigUint64(m + 16, BigInt(base + iov), true);
      view.setBigUint64(m + 24, 1n, true);
      view.setBigUint64(m + 32, BigInt(base + OFF_CONTROL + i * CONTROL_BYTES), true);
      view.setBigUint64(iov, BigInt(base + OFF_DATA + i * SLOT_BYTES), true);
      view.setBigUint64(iov + 8, BigInt(SLOT_BYTES), true);
    }
    return { calls: table.symbols as Calls, errno: table.errno, arena, view, words: new Uint32Array(arena.buffer, 0, ARENA_BYTES >> 2), dirty: BATCH, base };
  })();
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}

function sockaddrIn(address: string, port: number): Uint8Array {
  const a = new Uint8Array(16);
  a[0] = AF_INET;
  a[2] = (port >> 8) & 0xff;
  a[3] = port & 0xff;
  const parts = address.split(".").map(Number);
  for (let i = 0; i < 4; i++) a[4 + i] = parts[i] ?? 0;
  return a;
}

/** Called per datagram (`bytes` is the sink's own copy). `ageMs`: how long ago the kernel received it (undefined: no timestamp). */
export type PolledDatagramSink = (bytes: Uint8Array, address: string, port: number, ageMs: number | undefined) => void;

export interface PolledUdpOptions {
  address: string;
  port: number;
  reuseAddr: boolean;
  connect: { address: string; port: number };
}

export class PolledUdpSocket {
  private fd: number;
  /** performance.now() before the last recvmmsg that left the queue empty: nothing read later arrived before it. */
  private drainedAt: number;
  /**
   * The source of the last datagram read, as its four address bytes and
   * as text: a connected socket hears one address, so the text is made
   * once, not per datagram.
   */
  private lastSource = -1;
  private lastAddress = "";

  private constructor(
    private readonly l: Loaded,
    fd: number,
    readonly port: number,
  ) {
    this.fd = fd;
    this.drainedAt = performance.now();
  }

  /** Binds and connects a non-blocking socket; throws PolledUdpError (syscall "bind" or "connect", ...). */
  static async open(o: PolledUdpOptions): Promise<PolledUdpSocket> {
    const l = await load();
    const c = l.calls;
    const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new PolledUdpError("socket", l.errno());
    const fail = (call: string): never => {
      const e = new PolledUdpError(call, l.errno());
      c.close(fd);
      throw e;
    };
    const one = new Int32Array([1]);
    if (o.reuseAddr && c.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, 4) !== 0) fail("setsockopt SO_REUSEADDR");
    if (c.setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, one, 4) !== 0) fail("setsockopt SO_TIMESTAMPNS");
    if (c.bind(fd, sockaddrIn(o.address, o.port), 16) !== 0) fail("bind");
    const name = new Uint8Array(16);
    const nameLength = new Uint32Array([16]);
    if (c.getsockname(fd, name, nameLength) !== 0) fail("getsockname");
    const port = ((name[2] ?? 0) << 8) | (name[3] ?? 0);
    if (c.connect(fd, sockaddrIn(o.connect.address, o.connect.port), 16) !== 0) fail("connect");
    return new PolledUdpSocket(l, fd, port);
  }

  /** Sends to the connected peer; returns 0 or the errno. */
  send(bytes: Uint8Array): number {
    if (this.fd < 0) return 9;
    const n = this.l.calls.send(this.fd, bytes, bytes.length, MSG_DONTWAIT | MSG_NOSIGNAL);
    return n < 0 ? this.l.errno() : 0;
  }

  /** Asks for `bytes` of receive buffer; returns what the kernel gave, if it says. */
  growReceiveBuffer(bytes: number): number | undefined {
    const c = this.l.calls;
    c.setsockopt(this.fd, SOL_SOCKET, SO_RCVBUF, new Int32Array([bytes]), 4);
    const got = new Int32Array(1);
    return c.getsockopt(this.fd, SOL_SOCKET, SO_RCVBUF, got, new Uint32Array([4])) === 0 ? got[0] : undefined;
  }

  /**
   * Reads, without blocking, up to `max` datagrams the kernel holds, hands
   * each to `sink`, and returns how many it read. A socket error the
   * kernel reports instead (ECONNREFUSED after an ICMP port-unreachable)
   * goes to `onError` and is consumed; reading goes on.
   */
  drain(sink: PolledDatagramSink, onError: (e: PolledUdpError) => void, max: number): number {
    const l = this.l;
    const { calls, view, words, arena, base } = l;
    let total = 0;
    let errors = 0;
    while (total < max && this.fd >= 0) {
      const want = Math.min(BATCH, max - total);
      const reset = Math.min(l.dirty, BATCH);
      for (let i = 0; i < reset; i++) {
        const w = (OFF_MMSG + i * MMSG_BYTES) >> 2;
        words[w + 2] = NAME_BYTES; // msg_namelen
        words[w + 10] = CONTROL_BYTES; // msg_controllen
        words[w + 11] = 0;
        words[w + 12] = 0; // msg_flags
      }
      const before = performance.now();
      const got = calls.recvmmsg(this.fd, base + OFF_MMSG, want, MSG_DONTWAIT, null);
      // A failed call may have written nothing, or (EINTR after some) part of the batch: all of it is set back.
      l.dirty = got < 0 ? want : got;
      if (got < 0) {
        const errno = this.l.errno();
        if (errno === EAGAIN) {
          this.drainedAt = before;
          break;
        }
        if (errno === EINTR) continue;
        onError(new PolledUdpError("recvmmsg", errno));
        // A pending socket error is consumed by the call that reports it; a lasting one ends this drain.
        if (++errors > 2) break;
        continue;
      }
      if (got === 0) break;
      const window = performance.now() - this.drainedAt;
      calls.clock_gettime(CLOCK_REALTIME, base + OFF_TIME);
      const nowSec = (words[OFF_TIME >> 2] as number) + (words[(OFF_TIME >> 2) + 1] as number) * 2 ** 32;
      const nowNsec = words[(OFF_TIME >> 2) + 2] as number;
      for (let i = 0; i < got; i++) {
        const w = (OFF_MMSG + i * MMSG_BYTES) >> 2;
        const length = words[w + 14] as number; // msg_len
        if (((words[w + 12] as number) & MSG_TRUNC) !== 0) continue;
        const nm = OFF_NAME + i * NAME_BYTES;
        const port = ((arena[nm + 2] ?? 0) << 8) | (arena[nm + 3] ?? 0);
        const source = view.getUint32(nm + 4);
        if (source !== this.lastSource) {
          this.lastAddress = `${arena[nm + 4]}.${arena[nm + 5]}.${arena[nm + 6]}.${arena[nm + 7]}`;
          this.lastSource = source;
        }
        const address = this.lastAddress;
        const age = ageOf(words, OFF_CONTROL + i * CONTROL_BYTES, words[w + 10] as number, nowSec, nowNsec);
        const ageMs = age === undefined ? undefined : Math.min(Math.max(age, 0), window);
        // A copy: readers may keep a datagram past the call, and the arena is refilled by the next drain.
        sink(arena.slice(OFF_DATA + i * SLOT_BYTES, OFF_DATA + i * SLOT_BYTES + length), address, port, ageMs);
      }
      total += got;
      if (got < want) {
        this.drainedAt = before;
        break;
      }
    }
    return total;
  }

  close(): void {
    if (this.fd < 0) return;
    this.l.calls.close(this.fd);
    this.fd = -1;
  }
}

/** The SCM_TIMESTAMPNS of one message's control data, as an age in ms against (nowSec, nowNsec); undefined if absent. */
function ageOf(words: Uint32Array, at: number, length: number, nowSec: number, nowNsec: number): number | undefined {
  let off = 0;
  while (off + 16 <= length && off + 16 <= CONTROL_BYTES) {
    // Control messages start 8-byte aligned (CMSG_ALIGN), so at + off is a whole word.
    const w = (at + off) >> 2;
    const len = words[w] as number;
    if (len < 16) return undefined;
    const level = words[w + 2] as number;
    const type = words[w + 3] as number;
    if (level === SOL_SOCKET && type === SO_TIMESTAMPNS && len >= 32) {
      const sec = (words[w + 4] as number) + (words[w + 5] as number) * 2 ** 32;
      const nsec = words[w + 6] as number;
      return (nowSec - sec) * 1000 + (nowNsec - nsec) / 1e6;
    }
    off += (len + 7) & ~7;
  }
  return undefined;
}

/** Whether this runtime can open such sockets (Bun with libc). */
export async function polledUdpAvailable(): Promise<boolean> {
  try {
    await load();
    return true;
  } catch {
    return false;
  }
}
