/**
 * The ARP owner's responder: answers ARP requests for the VIP with the virtual
 * MAC (frames from our own MAC, see arp-frame.ts), and sends the farm's
 * gratuitous ARP. AF_PACKET through bun:ffi; a Worker blocks in poll/recvfrom
 * (src/sys/ffi/raw-reader.ts) so the event loop never does (RECIPES.md
 * sections 2 and 3).
 *
 * The socket is opened on the physical interface for ETH_P_ARP. It also sees
 * our own outgoing ARP frames; those are replies (operation 2) or carry our
 * MAC, and are skipped.
 */
import { readInterfaceMac, parseMac } from "../garp.ts";
import { FfiUnavailableError, type Libc, loadLibc, startFfiWorker, SyscallError } from "../ffi/libc.ts";
import { RAW_READER_STOP_BYTES, type RawReaderData, rawReceiveLoop } from "../ffi/raw-reader.ts";
import { openWakeFd } from "../ffi/wake-fd.ts";
import { buildArpReply, buildFarmGarp, parseArpRequest, wantsAnswer } from "./arp-frame.ts";

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const ETH_P_ARP = 0x0806;
/** The Worker's poll timeout without a wake fd: it then looks at its stop flag this often. */
const POLL_MS = 100;
/** With a wake fd (wake-fd.ts) close() wakes the Worker: the timeout is only a fallback. */
const POLL_WOKEN_MS = 1000;
const CLOSE_GRACE_MS = 1000;

export interface ArpResponder {
  /** Requests answered so far. */
  readonly answered: () => number;
  /**
   * Answer requests from now on, or stop. The socket stays open either way, so
   * a node that becomes the ARP owner answers at once, without starting a Worker.
   */
  answer(on: boolean): void;
  /** Broadcasts `count` gratuitous ARPs (sha = virtual MAC), 100 ms apart. */
  garp(count?: number): Promise<void>;
  close(): Promise<void>;
}

export interface ArpResponderOptions {
  readonly interface: string;
  readonly vip: string;
  readonly vmac: string;
  readonly onError?: (message: string) => void;
}

function sockaddrLl(ifindex: number, dst?: Uint8Array): Uint8Array {
  const b = new Uint8Array(20);
  const v = new DataView(b.buffer);
  v.setUint16(0, AF_PACKET, true);
  v.setUint16(2, ETH_P_ARP);
  v.setInt32(4, ifindex, true);
  b[11] = 6;
  if (dst !== undefined) b.set(dst, 12);
  return b;
}

/** Opens the responder, not answering yet (see answer()). Rejects with a one-line message (no FFI, no root, no interface). */
export async function openArpResponder(opts: ArpResponderOptions): Promise<ArpResponder> {
  const vmac = parseMac(opts.vmac);
  if (vmac === undefined) throw new Error(`ARP responder: ${JSON.stringify(opts.vmac)} is not a MAC address`);
  const own = readInterfaceMac(opts.interface);
  if (!own.ok) throw new Error(`ARP responder: ${own.message}`);
  const ownMac = own.mac;
  let libc: Libc;
  try {
    libc = await loadLibc("the farm's ARP responder");
  } catch (e) {
    throw new Error(e instanceof FfiUnavailableError ? e.message : String(e));
  }
  const ifindex = libc.ifNameToIndex(opts.interface);
  if (ifindex === 0) throw new Error(`ARP responder: interface ${opts.interface} does not exist`);
  let fd: number;
  try {
    fd = libc.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, ((ETH_P_ARP & 0xff) << 8) | (ETH_P_ARP >> 8));
    libc.bind(fd, sockaddrLl(ifindex));
  } catch (e) {
    const perm = e instanceof SyscallError && (e.code === "EPERM" || e.code === "EACCES");
    throw new Error(`ARP responder on ${opts.interface}: ${e instanceof Error ? e.message : String(e)}${perm ? "; needs root or CAP_NET_RAW" : ""}`);
  }
  const stopFlag = new SharedArrayBuffer(RAW_READER_STOP_BYTES);
  // Before the Worker starts: nothing may be awaited between its start and its handler.
  const wake = await openWakeFd("the farm's ARP responder");
  let worker: Worker;
  try {
    // Only ARP requests (operation 1 at offset 20) matter to the main thread.
    const match = { minLength: 42, bytes: [[20, 0], [21, 1]] as const };
    worker = await startFfiWorker<RawReaderData>("the farm's ARP responder", rawReceiveLoop, wake === undefined
      ? { fd, stop: stopFlag, pollMs: POLL_MS, bufferSize: 2048, match }
      : { fd, stop: stopFlag, pollMs: POLL_WOKEN_MS, bufferSize: 2048, match, wakeFd: wake.fd });
  } catch (e) {
    wake?.close();
    libc.close(fd);
    throw new Error(`ARP responder: cannot start its worker: ${e instanceof Error ? e.message : String(e)}`);
  }
  let answered = 0;
  let answering = false;
  let closed = false;
  let finished: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finished = resolve;
  });
  const send = (frame: Uint8Array, dst: Uint8Array): void => {
    try {
      libc.sendto(fd, frame, 0, sockaddrLl(ifindex, dst));
    } catch (e) {
      opts.onError?.(`ARP responder on ${opts.interface}: send failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  worker.onmessage = (event: MessageEvent) => {
    const m = event.data as { type?: unknown; bytes?: unknown; call?: unknown; errno?: unknown; message?: unknown };
    if (m.type === "packet" && m.bytes instanceof Uint8Array && !closed && answering) {
      const p = parseArpRequest(m.bytes);
      if (!p.ok || !wantsAnswer(p.request, opts.vip, ownMac)) return;
      send(buildArpReply(p.request, ownMac, vmac, opts.vip), p.request.from);
      answered++;
    } else if (m.type === "error") {
      opts.onError?.(`ARP responder on ${opts.interface}: ${String(m.call)} failed (errno ${String(m.errno)})`);
    } else if (m.type === "ffi-worker-exit" || m.type === "ffi-worker-error") {
      finished();
    }
  };
  return {
    answered: () => answered,
    answer(on) {
      answering = on;
    },
    async garp(count = 3) {
      const frame = buildFarmGarp(ownMac, vmac, opts.vip);
      for (let i = 0; i < count && !closed; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100));
        send(frame, new Uint8Array(6).fill(0xff));
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      const flag = new Int32Array(stopFlag);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      wake?.wake();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, CLOSE_GRACE_MS)))]);
      if (timer !== undefined) clearTimeout(timer);
      worker.terminate();
      try {
        libc.close(fd);
      } catch {
        // Gone either way.
      }
      wake?.close();
    },
  };
}
