/**
 * READ replies spliced from the backing file to /dev/fuse through a pipe:
 * the reply's header is written into the pipe, the data is spliced in
 * after it (the pipe takes references to the backing file's cached pages,
 * no copy), and the whole reply is spliced on to /dev/fuse, where the kernel
 * copies it once into the reader's pages. Read into our buffer and written
 * back out, every byte was copied twice on the server's thread.
 *
 * Through `bun:ffi` (pipe2, fcntl, splice, read); unavailable elsewhere
 * (openSplicedReads rejects). A reply the pipe cannot carry whole (the file
 * shrank under us, a call failed) is not sent: `reply` says so, the pipe is
 * replaced, and the caller answers the ordinary way.
 */

import * as fs from "node:fs";
import { openLibcTable } from "../ffi/libc.ts";
import { SIZE } from "./abi.ts";

const SYMBOLS = {
  pipe2: { args: ["ptr", "i32"], returns: "i32" },
  fcntl: { args: ["i32", "i32", "i32"], returns: "i32" },
  splice: { args: ["i32", "ptr", "i32", "ptr", "u64", "u32"], returns: "i64" },
  write: { args: ["i32", "ptr", "u64"], returns: "i64" },
  close: { args: ["i32"], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
} as const;

interface Symbols {
  pipe2(fds: Int32Array, flags: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
  splice(fdIn: number, offIn: BigInt64Array | null, fdOut: number, offOut: BigInt64Array | null, len: number, flags: number): number | bigint;
  write(fd: number, buf: Uint8Array, len: number): number | bigint;
  close(fd: number): number;
}

const O_CLOEXEC = 0o2000000;
/** Never block on the pipe: it is empty or holds exactly one reply. */
const O_NONBLOCK = 0o4000;
const F_SETPIPE_SZ = 1031;
const ENOENT = 2;
const PAGE = 4096;
const EINTR = 4;
const EINVAL = 22;

/** What came of one spliced reply. */
export type SpliceOutcome = "sent" | "not sent" | "gone";

export interface SplicedReads {
  /**
   * Answers READ `unique` with up to `size` bytes of `fd` at `offset`:
   * "sent"; "gone" (the kernel no longer wants the answer: the request was
   * interrupted); or "not sent" (nothing went out: answer the ordinary way).
   * Throws when no READ can be spliced any more (the pipe cannot be renewed,
   * the folder's file system cannot splice); nothing went out then either.
   */
  reply(unique: bigint, fd: number, offset: number, size: number): SpliceOutcome;
  close(): void;
}

/** `maxData`: the largest READ the kernel sends (max_read); larger ones, or ones the pipe cannot hold, are "not sent". */
export async function openSplicedReads(fuseFd: number, maxData: number): Promise<SplicedReads> {
  const libc = await openLibcTable("READ replies spliced from the backing file", SYMBOLS);
  const s = libc.symbols as Symbols;
  const fds = new Int32Array(2);
  if (s.pipe2(fds, O_CLOEXEC | O_NONBLOCK) !== 0) throw new Error(`pipe2 failed (errno ${libc.errno()})`);
  let [rd, wr] = [fds[0] ?? -1, fds[1] ?? -1];
  const closePipe = (): void => {
    s.close(rd);
    s.close(wr);
  };
  // The whole reply must sit in the pipe before it is spliced on: room for the largest READ and its header.
  const pipeSize = 1 << Math.ceil(Math.log2(maxData + SIZE.outHeader));
  if (s.fcntl(wr, F_SETPIPE_SZ, pipeSize) < pipeSize) {
    const errno = libc.errno();
    closePipe();
    throw new Error(`cannot make a pipe of ${pipeSize} bytes (errno ${errno})`);
  }
  const head = new Uint8Array(SIZE.outHeader);
  const headView = new DataView(head.buffer);
  const at = new BigInt64Array(1);
  /** Drops whatever a reply that could not be completed left in the pipe: a new pipe (a rare path). */
  const renew = (): void => {
    closePipe();
    if (s.pipe2(fds, O_CLOEXEC | O_NONBLOCK) !== 0) throw new Error(`cannot renew the splice pipe (errno ${libc.errno()})`);
    [rd, wr] = [fds[0] ?? -1, fds[1] ?? -1];
    if (s.fcntl(wr, F_SETPIPE_SZ, pipeSize) < pipeSize) throw new Error(`cannot renew the splice pipe (errno ${libc.errno()})`);
  };
  return {
    reply(unique, fd, offset, size) {
      // The header carries the length, so it must be known before the data: the file's size says it.
      let fileSize: number;
      try {
        fileSize = Number(fs.fstatSync(fd, { bigint: true }).size);
      } catch {
        return "not sent";
      }
      const want = Math.max(0, Math.min(size, fileSize - offset));
      // One pipe buffer per page the data touches, one for the header.
      if (want === 0 || Math.ceil(((offset % PAGE) + want) / PAGE) + 1 > pipeSize / PAGE) return "not sent";
      headView.setUint32(0, SIZE.outHeader + want, true);
      headView.setInt32(4, 0, true);
      headView.setBigUint64(8, unique, true);
      if (Number(s.write(wr, head, head.length)) !== head.length) {
        renew();
        return "not sent";
      }
      let got = 0;
      at[0] = BigInt(offset);
      while (got < want) {
        const n = Number(s.splice(fd, at, wr, null, want - got, 0));
        if (n > 0) {
          got += n;
          continue;
        }
        const errno = n < 0 ? libc.errno() : 0;
        if (errno === EINTR) continue;
        if (errno === EINVAL) {
          renew();
          // Thrown, not "not sent": no READ of this folder could be spliced.
          throw new Error("the folder's file system cannot splice (EINVAL)");
        }
        break; // the file ended early (it shrank): answer the ordinary way
      }
      if (got < want) {
        renew();
        return "not sent";
      }
      const total = SIZE.outHeader + want;
      for (;;) {
        const n = Number(s.splice(rd, null, fuseFd, null, total, 0));
        if (n === total) return "sent";
        const errno = n < 0 ? libc.errno() : 0;
        if (n < 0 && errno === EINTR) continue;
        renew();
        return n < 0 && errno === ENOENT ? "gone" : "not sent";
      }
    },
    close: closePipe,
  };
}
