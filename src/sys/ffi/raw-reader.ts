/**
 * The receive loop of a raw socket (AF_PACKET or raw IP), run in a Worker by
 * startFfiWorker (libc.ts): blocks in poll() + recvfrom() so the event loop
 * never does, and posts what it reads to the main thread. VRRP's socket
 * (src/net/raw-vrrp.ts) and the farm's ARP responder
 * (src/sys/farm/arp-responder.ts) both read through it.
 *
 * The function runs from its source text in the Worker, so it names nothing
 * outside itself.
 *
 * Messages: { type: "receiving" } once, before the first read; then
 * { type: "packet", bytes } per datagram that passes `match`, and
 * { type: "error", call, errno } on failures (the loop pauses 200 ms, or ends
 * on EBADF). The stop flag: stop[0] = 1 ends the loop (close() also notifies
 * it to cut a pause short); stop[1] counts the packets posted, raised before
 * each post, so a reader comparing it with what it received never believes
 * nothing is on its way.
 *
 * With `wakeFd` (an eventfd, wake-fd.ts) the loop polls it beside the socket
 * and close() makes it readable after setting the flag, so the loop needs no
 * short timeout to notice a stop: it wakes only for datagrams, and `pollMs`
 * can be long (a fallback should the wake-up not come).
 */
import type { FfiWorkerEnv, WorkerPost } from "./libc.ts";

export interface RawReaderData {
  readonly fd: number;
  /** Two Int32 slots (8 bytes): stop flag and posted count. */
  readonly stop: SharedArrayBuffer;
  /** How often the loop looks at the stop flag; bounds close() latency where there is no wakeFd. */
  readonly pollMs: number;
  /** Readable once the stop flag is set (an eventfd): polled beside `fd`. */
  readonly wakeFd?: number;
  readonly bufferSize: number;
  /** Post only datagrams at least this long whose bytes at these offsets have these values. */
  readonly match?: { readonly minLength: number; readonly bytes: readonly (readonly [offset: number, value: number])[] };
}

/** Bytes of the SharedArrayBuffer `stop` must have. */
export const RAW_READER_STOP_BYTES = 8;

export function rawReceiveLoop(env: FfiWorkerEnv, data: RawReaderData, post: WorkerPost): void {
  const POLLIN = 0x1;
  const POLLNVAL = 0x20;
  const MSG_DONTWAIT = 0x40;
  const EINTR = 4;
  const EAGAIN = 11;
  const EBADF = 9;
  const stop = new Int32Array(data.stop);
  // struct pollfd { int fd; short events; short revents; }, little-endian hosts only; the wake fd second.
  const nfds = data.wakeFd === undefined ? 1 : 2;
  const pfd = new Uint8Array(8 * nfds);
  const view = new DataView(pfd.buffer);
  view.setInt32(0, data.fd, true);
  view.setInt16(4, POLLIN, true);
  if (data.wakeFd !== undefined) {
    view.setInt32(8, data.wakeFd, true);
    view.setInt16(12, POLLIN, true);
  }
  const buf = new Uint8Array(data.bufferSize);
  const match = data.match;
  const wanted = (n: number): boolean => match === undefined || (n >= match.minLength && match.bytes.every(([at, value]) => buf[at] === value));
  post({ type: "receiving" });
  const pause = (): void => {
    // Sleeps, but wakes at once when close() sets the flag.
    Atomics.wait(stop, 0, 0, 200);
  };
  while (Atomics.load(stop, 0) === 0) {
    view.setInt16(6, 0, true);
    if (nfds === 2) view.setInt16(14, 0, true);
    const ready = env.libc.poll(pfd, nfds, data.pollMs);
    if (ready < 0) {
      const e = env.errno();
      if (e === EINTR) continue;
      post({ type: "error", call: "poll", errno: e });
      pause();
      continue;
    }
    if (ready === 0) continue;
    // Only close() makes the wake fd readable, after setting the flag; should it be so otherwise, never spin on it.
    if (nfds === 2 && view.getInt16(14, true) !== 0) {
      if (Atomics.load(stop, 0) !== 0) break;
      pause();
    }
    if ((view.getInt16(6, true) & POLLNVAL) !== 0) {
      post({ type: "error", call: "poll", errno: EBADF });
      return;
    }
    for (;;) {
      const n = Number(env.libc.recvfrom(data.fd, buf, buf.length, MSG_DONTWAIT, null, null));
      if (n >= 0) {
        if (!wanted(n)) continue;
        const packet = buf.slice(0, n);
        Atomics.add(stop, 1, 1);
        post({ type: "packet", bytes: packet }, [packet.buffer]);
        continue;
      }
      const e = env.errno();
      if (e === EAGAIN || e === EINTR) break;
      post({ type: "error", call: "recvfrom", errno: e });
      if (e === EBADF) return;
      pause();
      break;
    }
  }
}
