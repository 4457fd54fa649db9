/**
 * The ARP owner's responder: answers ARP requests for the VIP with the virtual
 * MAC (frames from our own MAC, see arp-frame.ts), and sends the farm's
 * gratuitous ARP. AF_PACKET through bun:ffi; a Worker blocks in poll/recvfrom
 * so the event loop never does (RECIPES.md sections 2 and 3).
 *
 * The socket is opened on the physical interface for ETH_P_ARP. It also sees
 * our own outgoing ARP frames; those are replies (operation 2) or carry our
 * MAC, and are skipped.
 */
import { readInterfaceMac, parseMac } from "../garp.ts";
import { type FfiWorkerEnv, FfiUnavailableError, type Libc, loadLibc, startFfiWorker, SyscallError, type WorkerPost } from "../ffi/libc.ts";
import { buildArpReply, buildFarmGarp, parseArpRequest, wantsAnswer } from "./arp-frame.ts";

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const ETH_P_ARP = 0x0806;
const POLL_MS = 100;
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

interface LoopData {
  fd: number;
  stop: SharedArrayBuffer;
  pollMs: number;
}

/** Runs in the Worker; self-contained (see startFfiWorker). */
function arpLoop(env: FfiWorkerEnv, data: LoopData, post: WorkerPost): void {
  const POLLIN = 0x1;
  const MSG_DONTWAIT = 0x40;
  const EINTR = 4;
  const EAGAIN = 11;
  const EBADF = 9;
  const stop = new Int32Array(data.stop);
  const pfd = new Uint8Array(8);
  const view = new DataView(pfd.buffer);
  view.setInt32(0, data.fd, true);
  view.setInt16(4, POLLIN, true);
  const buf = new Uint8Array(2048);
  while (Atomics.load(stop, 0) === 0) {
    view.setInt16(6, 0, true);
    const ready = env.libc.poll(pfd, 1, data.pollMs);
    if (ready <= 0) {
      if (ready < 0 && env.errno() !== EINTR) {
        post({ type: "error", call: "poll", errno: env.errno() });
        Atomics.wait(stop, 0, 0, 200);
      }
      continue;
    }
    for (;;) {
      const n = Number(env.libc.recvfrom(data.fd, buf, buf.length, MSG_DONTWAIT, null, null));
      if (n >= 0) {
        // Only ARP requests (operation 1 at offset 20) matter to the main thread.
        if (n >= 42 && buf[20] === 0 && buf[21] === 1) {
          const frame = buf.slice(0, n);
          post({ type: "frame", bytes: frame }, [frame.buffer]);
        }
        continue;
      }
      const e = env.errno();
      if (e === EAGAIN || e === EINTR) break;
      post({ type: "error", call: "recvfrom", errno: e });
      if (e === EBADF) return;
      Atomics.wait(stop, 0, 0, 200);
      break;
    }
  }
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
  const stopFlag = new SharedArrayBuffer(4);
  let worker: Worker;
  try {
    worker = await startFfiWorker<LoopData>("the farm's ARP responder", arpLoop, { fd, stop: stopFlag, pollMs: POLL_MS });
  } catch (e) {
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
    if (m.type === "frame" && m.bytes instanceof Uint8Array && !closed && answering) {
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
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, CLOSE_GRACE_MS)))]);
      if (timer !== undefined) clearTimeout(timer);
      worker.terminate();
      try {
        libc.close(fd);
      } catch {
        // Gone either way.
      }
    },
  };
}
