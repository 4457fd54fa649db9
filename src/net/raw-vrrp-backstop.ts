/**
 * The advert backstop of a VRRP master at a tight advert_int: a thread of
 * its own that sends the master's last advert again when the main thread
 * has not sent it on time.
 *
 * Why: the main thread runs at real-time priority, but a real-time thread
 * does not always get a CPU when its timer fires. On a kernel built with
 * the preemption model "none" (common in VMs and distribution kernels), a
 * normal-priority task inside a long system call keeps its CPU until it
 * returns to user space; a real-time thread woken on that CPU waits, and
 * the scheduler does not move it to the other CPU (it only moves a woken
 * real-time thread away from a CPU running another real-time task). A
 * scheduler trace of a master at a 20 ms advert under `stress-ng --cpu 2`
 * showed exactly that: woken on time, run 47 ms later, after another
 * process's kernel section ended. Once the gap passes Master_Down_Interval
 * (72 ms at 20 ms), the backup takes over for a moment. The same holds for
 * the main thread's own stalls (a synchronous compilation or collection).
 *
 * The backstop thread sleeps on a CPU other than the one the main thread
 * last sent from (its timer then fires there), so one CPU held by a kernel
 * section or a busy task delays at most one of the two. It sends only:
 * - while the instance is armed (MASTER, its addresses' advert known), and
 *   the main thread disarms it synchronously when it stops being MASTER;
 * - when the main thread is late by more than a quarter of an interval;
 * - for at most `leaseMs` after the main thread's own last advert: a main
 *   thread that stopped for good (a hang) must not keep its VIPs held, so
 *   then the adverts stop and the backup takes over as if the node died.
 *
 * Shared memory layout (SharedArrayBuffer): a header (stop flag, wake word,
 * the main thread's CPU, adverts sent by the backstop) and SLOTS slots, one
 * per armed instance, each with its packets (sockaddr + advert, up to
 * MAX_DESTINATIONS) guarded by a sequence number (odd while written).
 */
import { availableParallelism } from "node:os";
import { openLibcTable, startFfiWorker, type FfiWorkerEnv, type WorkerPost } from "../sys/ffi/libc.ts";

/** Instances one socket's backstop can cover. */
export const BACKSTOP_SLOTS = 8;
/** Destinations per instance (multicast: 1; unicast peers beyond this are not covered). */
export const MAX_DESTINATIONS = 4;
/** An advert with 255 IPv4 addresses is 1028 bytes. */
export const MAX_ADVERT_BYTES = 1040;
const SOCKADDR_BYTES = 16;
/** How long the thread may take to start before the socket's opening fails. */
const START_TIMEOUT_MS = 10_000;
const HEADER_BYTES = 64;
const SLOT_INTS_BYTES = 64;
const SLOT_FLOATS_BYTES = 64;
const PACKET_BYTES = SOCKADDR_BYTES + MAX_ADVERT_BYTES;
const SLOT_BYTES = SLOT_INTS_BYTES + SLOT_FLOATS_BYTES + MAX_DESTINATIONS * PACKET_BYTES;

export interface BackstopLayout {
  readonly headerBytes: number;
  readonly slotBytes: number;
  readonly slots: number;
  readonly slotIntsBytes: number;
  readonly slotFloatsBytes: number;
  readonly packetBytes: number;
  readonly sockaddrBytes: number;
  readonly maxDestinations: number;
}

export const BACKSTOP_LAYOUT: BackstopLayout = {
  headerBytes: HEADER_BYTES,
  slotBytes: SLOT_BYTES,
  slots: BACKSTOP_SLOTS,
  slotIntsBytes: SLOT_INTS_BYTES,
  slotFloatsBytes: SLOT_FLOATS_BYTES,
  packetBytes: PACKET_BYTES,
  sockaddrBytes: SOCKADDR_BYTES,
  maxDestinations: MAX_DESTINATIONS,
};

// Header Int32 indexes.
const H_STOP = 0;
const H_WAKE = 1;
const H_MAIN_CPU = 2;
const H_SENT = 3;
// Slot Int32 indexes.
const S_ARMED = 0;
const S_SEQ = 1;
const S_COUNT = 2;
const S_LEN = 3;
// Slot Float64 indexes.
const F_INTERVAL = 0;
const F_MAIN_AT = 1;
const F_LAST_AT = 2;
const F_LEASE = 3;

export interface BackstopPacket {
  /** struct sockaddr_in of the destination. */
  readonly sockaddr: Uint8Array;
  /** The advert as sent (no IP header). */
  readonly bytes: Uint8Array;
}

export interface AdvertBackstop {
  /**
   * The main thread has just sent `packets` for `slot` (an instance) and
   * sends the next ones every `intervalMs`: keep them going if it does not,
   * for at most `leaseMs` after now. Returns false when they cannot be
   * covered (too many destinations, an advert too long, slot out of range).
   */
  sent(slot: number, packets: readonly BackstopPacket[], intervalMs: number, leaseMs: number): boolean;
  /** The instance stopped being MASTER: nothing more is sent for it, from now on. */
  disarm(slot: number): void;
  /** Adverts the backstop has sent so far (all slots). */
  sentByBackstop(): number;
  close(): Promise<void>;
}

export interface BackstopData {
  readonly fd: number;
  readonly shared: SharedArrayBuffer;
  readonly layout: BackstopLayout;
  readonly cpus: number;
}


/**
 * The backstop thread's loop (run from its source text in a Worker: it names
 * nothing outside itself). Sleeps until the earliest armed slot is overdue,
 * away from the main thread's CPU, then sends that slot's packets.
 */
export function advertBackstopLoop(env: FfiWorkerEnv, data: BackstopData, post: WorkerPost): void {
  // Indexes as in H_*, S_* and F_* above: this source runs alone, so it cannot name them.
  const L = data.layout;
  const head = new Int32Array(data.shared, 0, L.headerBytes / 4);
  const ints = (s: number): Int32Array => new Int32Array(data.shared, L.headerBytes + s * L.slotBytes, L.slotIntsBytes / 4);
  const floats = (s: number): Float64Array => new Float64Array(data.shared, L.headerBytes + s * L.slotBytes + L.slotIntsBytes, L.slotFloatsBytes / 8);
  const slotInts: Int32Array[] = [];
  const slotFloats: Float64Array[] = [];
  for (let s = 0; s < L.slots; s++) {
    slotInts.push(ints(s));
    slotFloats.push(floats(s));
  }
  const packetAt = (s: number, p: number): number => L.headerBytes + s * L.slotBytes + L.slotIntsBytes + L.slotFloatsBytes + p * L.packetBytes;
  const scratch = new Uint8Array(L.maxDestinations * L.packetBytes);
  const all = new Uint8Array(data.shared);
  // Without these the thread fails to start (the socket's opening says why).
  const lib = (env.ffi as unknown as {
    dlopen(p: string, t: unknown): { symbols: { sched_setaffinity(pid: number, size: number, mask: Uint8Array): number; clock_gettime(id: number, ts: Int32Array): number } };
  }).dlopen("libc.so.6", {
    sched_setaffinity: { args: ["i32", "u64", "ptr"], returns: "i32" },
    clock_gettime: { args: ["i32", "ptr"], returns: "i32" },
  });
  // CLOCK_MONOTONIC, as the main thread reads it: the runtime's own clocks start at each thread's start.
  const ts = new Int32Array(4);
  const clock = (): number => {
    lib.symbols.clock_gettime(1, ts);
    return ((ts[1] as number) * 4294967296 + ((ts[0] as number) >>> 0)) * 1000 + (ts[2] as number) / 1e6;
  };
  // A host may refuse affinity (a cpuset): the thread then still sends, from whichever CPU it wakes on.
  let setAffinity: ((mask: Uint8Array) => number) | undefined = (mask) => lib.symbols.sched_setaffinity(0, mask.length, mask);
  const mask = new Uint8Array(128);
  let awayFrom = -2;
  const keepAwayFrom = (cpu: number): void => {
    if (setAffinity === undefined || data.cpus < 2 || cpu === awayFrom) return;
    mask.fill(0);
    for (let c = 0; c < data.cpus && c < 1024; c++) if (c !== cpu) mask[c >> 3] = (mask[c >> 3] ?? 0) | (1 << (c & 7));
    if (setAffinity(mask) !== 0) setAffinity = undefined;
    awayFrom = cpu;
  };
  post({ type: "backstop-running" });
  while (Atomics.load(head, 0) === 0) {
    // Read before the slots are looked at: an arm that comes after this changes it, and the wait below returns at once.
    const wake = Atomics.load(head, 1);
    const t = clock();
    let earliest = Infinity;
    for (let s = 0; s < L.slots; s++) {
      const si = slotInts[s] as Int32Array;
      const sf = slotFloats[s] as Float64Array;
      if (Atomics.load(si, 0) !== 1) continue;
      const interval = sf[0] as number;
      const mainAt = sf[1] as number;
      const lastAt = sf[2] as number;
      const lease = sf[3] as number;
      // Late by a quarter of an interval: the main thread's own send is not just running behind a little.
      const due = Math.max(mainAt, lastAt) + interval + interval / 4;
      if (t < due) {
        earliest = Math.min(earliest, due);
        continue;
      }
      if (t - mainAt > lease) continue;
      // Copy under the slot's sequence number: the main thread may be writing a new advert.
      const seq = Atomics.load(si, 1);
      if ((seq & 1) === 1) {
        earliest = Math.min(earliest, t + 0.2);
        continue;
      }
      const count = Atomics.load(si, 2);
      const base = packetAt(s, 0);
      scratch.set(all.subarray(base, base + count * L.packetBytes));
      if (Atomics.load(si, 1) !== seq) {
        earliest = Math.min(earliest, t + 0.2);
        continue;
      }
      for (let p = 0; p < count; p++) {
        if (Atomics.load(si, 0) !== 1) break;
        const len = si[3 + p] as number;
        const at = p * L.packetBytes;
        const addr = scratch.subarray(at, at + L.sockaddrBytes);
        const advert = scratch.subarray(at + L.sockaddrBytes, at + L.sockaddrBytes + len);
        env.libc.sendto(data.fd, advert, len, 0, addr, L.sockaddrBytes);
      }
      sf[2] = t;
      Atomics.add(head, 3, 1);
      earliest = Math.min(earliest, t + interval + interval / 4);
    }
    keepAwayFrom(Atomics.load(head, 2));
    const wait = earliest === Infinity ? 1000 : Math.max(0, earliest - clock());
    if (wait > 0) Atomics.wait(head, 1, wake, wait);
  }
}

/**
 * The calling thread's CPU (sched_getcpu) and CLOCK_MONOTONIC in ms, through
 * FFI: the clock both threads share (the runtime's clocks, performance.now()
 * and Bun.nanoseconds(), start at each thread's own start).
 */
async function mainThreadCalls(): Promise<{ cpu(): number; now(): number }> {
  const t = await openLibcTable("VRRP advert backstop", {
    sched_getcpu: { args: [], returns: "i32" },
    clock_gettime: { args: ["i32", "ptr"], returns: "i32" },
    __errno_location: { args: [], returns: "ptr" },
  });
  const s = t.symbols as { sched_getcpu(): number; clock_gettime(id: number, ts: Int32Array): number };
  const ts = new Int32Array(4);
  return {
    cpu: () => s.sched_getcpu(),
    now: () => {
      s.clock_gettime(1, ts);
      return ((ts[1] as number) * 4294967296 + ((ts[0] as number) >>> 0)) * 1000 + (ts[2] as number) / 1e6;
    },
  };
}

/** Starts the backstop thread for a raw socket's fd (Bun only; rejects elsewhere). */
export async function startAdvertBackstop(fd: number): Promise<AdvertBackstop> {
  const shared = new SharedArrayBuffer(HEADER_BYTES + BACKSTOP_SLOTS * SLOT_BYTES);
  const head = new Int32Array(shared, 0, HEADER_BYTES / 4);
  const all = new Uint8Array(shared);
  const slotInts = (s: number): Int32Array => new Int32Array(shared, HEADER_BYTES + s * SLOT_BYTES, SLOT_INTS_BYTES / 4);
  const slotFloats = (s: number): Float64Array => new Float64Array(shared, HEADER_BYTES + s * SLOT_BYTES + SLOT_INTS_BYTES, 8);
  const packetAt = (s: number, p: number): number => HEADER_BYTES + s * SLOT_BYTES + SLOT_INTS_BYTES + SLOT_FLOATS_BYTES + p * PACKET_BYTES;
  const { cpu, now } = await mainThreadCalls();
  const worker = await startFfiWorker<BackstopData>("VRRP advert backstop", advertBackstopLoop, {
    fd,
    shared,
    layout: BACKSTOP_LAYOUT,
    cpus: Math.max(1, availableParallelism()),
  });
  let finished: () => void = () => {};
  const done = new Promise<void>((r) => (finished = r));
  // Its loop runs, or why not: a backstop that silently does nothing would hide the very stalls it is for.
  let started: (problem?: string) => void = () => {};
  const running = new Promise<string | undefined>((r) => (started = r));
  const startTimer = setTimeout(() => started(`the thread did not start within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
  worker.addEventListener("message", (e: MessageEvent) => {
    const m = e.data as { type?: unknown; message?: unknown };
    if (m.type === "backstop-running") started();
    if (m.type === "ffi-worker-error") started(String(m.message));
    if (m.type === "ffi-worker-exit" || m.type === "ffi-worker-error") finished();
  });
  worker.addEventListener("error", (e: ErrorEvent) => {
    started(e.message);
    finished();
  });
  const problem = await running;
  clearTimeout(startTimer);
  if (problem !== undefined) {
    worker.terminate();
    throw new Error(`advert backstop thread: ${problem}`);
  }
  /** What each slot holds now, so an unchanged advert is not written again. */
  const held: (readonly BackstopPacket[] | undefined)[] = new Array<readonly BackstopPacket[] | undefined>(BACKSTOP_SLOTS).fill(undefined);
  const same = (a: readonly BackstopPacket[] | undefined, b: readonly BackstopPacket[]): boolean =>
    a !== undefined && a.length === b.length && a.every((p, i) => {
      const q = b[i] as BackstopPacket;
      return equalBytes(p.bytes, q.bytes) && equalBytes(p.sockaddr, q.sockaddr);
    });
  let closing: Promise<void> | undefined;
  return {
    sent(slot, packets, intervalMs, leaseMs) {
      if (closing !== undefined || !Number.isInteger(slot) || slot < 0 || slot >= BACKSTOP_SLOTS) return false;
      const si = slotInts(slot);
      const sf = slotFloats(slot);
      const ok = packets.length > 0 && packets.length <= MAX_DESTINATIONS && packets.every((p) => p.bytes.length <= MAX_ADVERT_BYTES && p.sockaddr.length === SOCKADDR_BYTES);
      if (!ok) {
        Atomics.store(si, S_ARMED, 0);
        held[slot] = undefined;
        return false;
      }
      const t = now();
      if (!same(held[slot], packets)) {
        Atomics.add(si, S_SEQ, 1);
        packets.forEach((p, i) => {
          const at = packetAt(slot, i);
          all.set(p.sockaddr, at);
          all.set(p.bytes, at + SOCKADDR_BYTES);
          si[S_LEN + i] = p.bytes.length;
        });
        Atomics.store(si, S_COUNT, packets.length);
        Atomics.add(si, S_SEQ, 1);
        held[slot] = packets.map((p) => ({ sockaddr: p.sockaddr.slice(), bytes: p.bytes.slice() }));
      }
      sf[F_INTERVAL] = intervalMs;
      sf[F_LEASE] = leaseMs;
      sf[F_MAIN_AT] = t;
      Atomics.store(head, H_MAIN_CPU, cpu());
      if (Atomics.exchange(si, S_ARMED, 1) !== 1) {
        sf[F_LAST_AT] = t;
        // A newly armed slot may be due before whatever the thread sleeps for.
        Atomics.add(head, H_WAKE, 1);
        Atomics.notify(head, H_WAKE);
      }
      return true;
    },
    disarm(slot) {
      if (!Number.isInteger(slot) || slot < 0 || slot >= BACKSTOP_SLOTS) return;
      Atomics.store(slotInts(slot), S_ARMED, 0);
    },
    sentByBackstop: () => Atomics.load(head, H_SENT),
    close() {
      closing ??= (async () => {
        for (let s = 0; s < BACKSTOP_SLOTS; s++) Atomics.store(slotInts(s), S_ARMED, 0);
        Atomics.store(head, H_STOP, 1);
        Atomics.add(head, H_WAKE, 1);
        Atomics.notify(head, H_WAKE);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, 2_000)))]);
        if (timer !== undefined) clearTimeout(timer);
        worker.terminate();
      })();
      return closing;
    },
  };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
