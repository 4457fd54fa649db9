/**
 * Adds and removes an IPv4 address through rtnetlink from the daemon itself
 * (an AF_NETLINK socket through bun:ffi), so no process is spawned on the
 * failover path: `ip addr replace` costs about 5 ms of fork and exec, the
 * netlink request a few tens of microseconds.
 *
 * The kernel handles an rtnetlink request inside sendto() and queues its
 * acknowledgement before sendto() returns, so the answer is read with a
 * non-blocking recvfrom on the main thread; if it is not there yet (it always
 * has been), a few short waits are allowed before giving up.
 *
 * Only the Bun runtime (the vigil binary) has FFI: elsewhere every call
 * answers { ok: false, kind: "no-ffi" } and the caller uses `ip` instead.
 */
import { type FfiModule, FfiUnavailableError, type Libc, loadFfi, loadLibc, SyscallError } from "./ffi/libc.ts";
import { decodeAck, encodeAddressRequest } from "./netlink-message.ts";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
const RECV_BYTES = 8192;
const ACK_WAITS = 50;
const ACK_WAIT_MS = 2;

export const EPERM = 1;
export const ENODEV = 19;
export const EEXIST = 17;
export const EADDRNOTAVAIL = 99;

const NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  13: "EACCES",
  17: "EEXIST",
  19: "ENODEV",
  22: "EINVAL",
  99: "EADDRNOTAVAIL",
  105: "ENOBUFS",
};

export type NetlinkFailureKind = "no-ffi" | "no-interface" | "refused" | "failed";

export type NetlinkResult =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly kind: NetlinkFailureKind;
      /** The kernel's errno (0 when the failure was not an errno). */
      readonly errno: number;
      /** "EEXIST (File exists)", or what went wrong. */
      readonly message: string;
    };

export interface AddressChange {
  readonly address: string;
  readonly prefixLength: number;
  readonly interface: string;
  /** add only: "eth0:vip". */
  readonly label?: string;
}

interface Handle {
  readonly libc: Libc;
  readonly ffi: FfiModule;
}

let handle: Handle | undefined;
let seq = 1;

async function open(): Promise<Handle | FfiUnavailableError> {
  if (handle !== undefined) return handle;
  try {
    const libc = await loadLibc("adding a VIP through netlink");
    const ffi = await loadFfi("adding a VIP through netlink");
    handle = { libc, ffi };
    return handle;
  } catch (e) {
    return e instanceof FfiUnavailableError ? e : new FfiUnavailableError("adding a VIP through netlink", String(e));
  }
}

/** True where this runtime can reach netlink (the vigil binary). */
export async function netlinkAvailable(): Promise<boolean> {
  return !((await open()) instanceof FfiUnavailableError);
}

export function errnoText(h: Handle | undefined, errno: number): string {
  const name = NAMES[errno] ?? `errno ${errno}`;
  const text = h === undefined ? "" : String(h.libc.symbols.strerror(errno) ?? "");
  return text === "" ? name : `${name} (${text})`;
}

function lastErrno(h: Handle): number {
  const at = h.libc.symbols.__errno_location();
  return at === null ? 0 : h.ffi.read.i32(at, 0);
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function addAddress(change: AddressChange): Promise<NetlinkResult> {
  return request("add", change);
}

/** Removes the address whatever prefix it carries; `prefixLength` goes in the header as `ip` would send it. */
export function removeAddress(change: AddressChange): Promise<NetlinkResult> {
  return request("remove", change);
}

async function request(op: "add" | "remove", c: AddressChange): Promise<NetlinkResult> {
  const h = await open();
  if (h instanceof FfiUnavailableError) return { ok: false, kind: "no-ffi", errno: 0, message: h.message };
  const ifindex = h.libc.ifNameToIndex(c.interface);
  if (ifindex === 0) return { ok: false, kind: "no-interface", errno: ENODEV, message: `interface ${c.interface} does not exist (ENODEV)` };
  const mySeq = seq;
  seq = (seq % 0x7fffffff) + 1;
  let bytes: Uint8Array;
  try {
    bytes = encodeAddressRequest({ op, address: c.address, prefixLength: c.prefixLength, ifindex, seq: mySeq, ...(op === "add" && c.label !== undefined ? { label: c.label } : {}) });
  } catch (e) {
    return { ok: false, kind: "failed", errno: 0, message: (e as Error).message };
  }
  let fd: number;
  try {
    fd = h.libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  } catch (e) {
    const errno = e instanceof SyscallError ? e.errno : 0;
    return { ok: false, kind: "failed", errno, message: `cannot open a netlink socket: ${(e as Error).message}` };
  }
  try {
    // sockaddr_nl of the kernel: family, pad, port 0, groups 0.
    const kernel = new Uint8Array(12);
    new DataView(kernel.buffer).setUint16(0, AF_NETLINK, true);
    try {
      h.libc.sendto(fd, bytes, 0, kernel);
    } catch (e) {
      const errno = e instanceof SyscallError ? e.errno : 0;
      return { ok: false, kind: errno === EPERM ? "refused" : "failed", errno, message: `netlink send: ${errnoText(h, errno)}` };
    }
    const buf = new Uint8Array(RECV_BYTES);
    for (let wait = 0; ; wait++) {
      const n = Number(h.libc.symbols.recvfrom(fd, buf, buf.length, MSG_DONTWAIT, null, null));
      if (n < 0) {
        const errno = lastErrno(h);
        if (errno === EAGAIN && wait < ACK_WAITS) {
          await pause(ACK_WAIT_MS);
          continue;
        }
        return { ok: false, kind: "failed", errno, message: `no netlink acknowledgement: ${errnoText(h, errno)}` };
      }
      const ack = decodeAck(buf.subarray(0, n), mySeq);
      if (!ack.ok) {
        // Something else on the socket: read on, a bounded number of times.
        if (wait < ACK_WAITS) continue;
        return { ok: false, kind: "failed", errno: 0, message: ack.message };
      }
      if (ack.errno === 0) return { ok: true };
      return { ok: false, kind: ack.errno === ENODEV ? "no-interface" : "refused", errno: ack.errno, message: errnoText(h, ack.errno) };
    }
  } finally {
    try {
      h.libc.close(fd);
    } catch {
      // The request is answered; a failed close changes nothing for the caller.
    }
  }
}
