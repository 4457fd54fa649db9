/**
 * The raw socket receive loop (src/sys/ffi/raw-reader.ts) on a scripted libc:
 * with a wake fd it sleeps in poll() on the socket and that fd, with the long
 * timeout it is given, and leaves when close() sets the flag and wakes it;
 * without one it keeps the short timeout that bounds close().
 */
import { describe, expect, it } from "vitest";
import { RAW_READER_STOP_BYTES, type RawReaderData, rawReceiveLoop } from "../../src/sys/ffi/raw-reader.ts";
import type { FfiWorkerEnv, LibcSymbols } from "../../src/sys/ffi/libc.ts";

const SOCKET_FD = 7;
const WAKE_FD = 9;
const EAGAIN = 11;

interface PollCall {
  fds: number[];
  timeoutMs: number;
}

/**
 * A libc whose poll() runs `script` one step per call: a step says which fds
 * are ready (by index in the poll set) and may set the stop flag first, as
 * close() would. recvfrom() hands out `datagrams` once the socket was ready.
 */
function scripted(stop: Int32Array, script: readonly { ready: readonly number[]; stop?: boolean }[], datagrams: Uint8Array[] = []) {
  const polls: PollCall[] = [];
  let errno = 0;
  let step = 0;
  const libc = {
    poll(pfd: Uint8Array, count: number, timeoutMs: number): number {
      const view = new DataView(pfd.buffer, pfd.byteOffset, pfd.byteLength);
      polls.push({ fds: Array.from({ length: count }, (_, i) => view.getInt32(i * 8, true)), timeoutMs });
      const s = script[step++];
      if (s === undefined) {
        // Off the end of the script: stop, so a loop that never leaves fails the test instead of hanging.
        Atomics.store(stop, 0, 1);
        return 0;
      }
      if (s.stop === true) Atomics.store(stop, 0, 1);
      for (const i of s.ready) view.setInt16(i * 8 + 6, 0x1, true);
      return s.ready.length;
    },
    recvfrom(_fd: number, buf: Uint8Array): number {
      const d = datagrams.shift();
      if (d === undefined) {
        errno = EAGAIN;
        return -1;
      }
      buf.set(d);
      return d.length;
    },
  } as unknown as LibcSymbols;
  const env = { ffi: undefined as never, libc, errno: () => errno } satisfies FfiWorkerEnv;
  return { env, polls, steps: () => step };
}

function run(data: Omit<RawReaderData, "stop" | "fd" | "bufferSize">, script: Parameters<typeof scripted>[1], datagrams?: Uint8Array[]) {
  const stopBuf = new SharedArrayBuffer(RAW_READER_STOP_BYTES);
  const stop = new Int32Array(stopBuf);
  const s = scripted(stop, script, datagrams);
  const posted: { type: string; bytes?: Uint8Array }[] = [];
  rawReceiveLoop(s.env, { fd: SOCKET_FD, stop: stopBuf, bufferSize: 64, ...data }, (m) => posted.push(m as { type: string; bytes?: Uint8Array }));
  return { polls: s.polls, steps: s.steps(), posted };
}

describe("raw receive loop", () => {
  it("with a wake fd, sleeps on the socket and that fd with its long timeout, and leaves when woken after the flag", () => {
    const r = run({ pollMs: 1000, wakeFd: WAKE_FD }, [{ ready: [] }, { ready: [] }, { ready: [1], stop: true }]);
    expect(r.polls).toEqual([
      { fds: [SOCKET_FD, WAKE_FD], timeoutMs: 1000 },
      { fds: [SOCKET_FD, WAKE_FD], timeoutMs: 1000 },
      { fds: [SOCKET_FD, WAKE_FD], timeoutMs: 1000 },
    ]);
    // Left at the wake-up: the script was not run past it.
    expect(r.steps).toBe(3);
    expect(r.posted.map((m) => m.type)).toEqual(["receiving"]);
  });

  it("with a wake fd, still posts each datagram the socket holds", () => {
    const r = run({ pollMs: 1000, wakeFd: WAKE_FD }, [{ ready: [0] }, { ready: [1], stop: true }], [new Uint8Array([1, 2, 3]), new Uint8Array([4])]);
    expect(r.posted.filter((m) => m.type === "packet").map((m) => [...(m.bytes ?? [])])).toEqual([[1, 2, 3], [4]]);
    expect(r.steps).toBe(2);
  });

  it("a wake fd readable without the flag (never written so) does not end the loop, and the socket is still read", () => {
    const r = run({ pollMs: 1000, wakeFd: WAKE_FD }, [{ ready: [0, 1] }, { ready: [1], stop: true }], [new Uint8Array([5])]);
    expect(r.posted.filter((m) => m.type === "packet").map((m) => [...(m.bytes ?? [])])).toEqual([[5]]);
    expect(r.steps).toBe(2);
  });

  it("without a wake fd, polls the socket alone with the short timeout", () => {
    const r = run({ pollMs: 100 }, [{ ready: [] }, { ready: [], stop: true }]);
    expect(r.polls).toEqual([
      { fds: [SOCKET_FD], timeoutMs: 100 },
      { fds: [SOCKET_FD], timeoutMs: 100 },
    ]);
  });
});
