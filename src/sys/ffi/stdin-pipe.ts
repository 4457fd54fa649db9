/**
 * A pipe for a child's stdin that the parent writes synchronously: a line is
 * in the kernel when write() returns, so a child that must hear something
 * before the parent acts (the fencing watchdog before a VIP is added or a
 * service started) has heard it even if the parent is killed right after.
 * A stream to a child's stdin does not give that under Bun: the bytes leave
 * only when the event loop turns, and the write's callback comes before.
 *
 * - The write end is O_NONBLOCK: a child that stopped reading (SIGSTOP, stuck)
 *   never blocks the parent. What the pipe (64 KiB) cannot take waits here,
 *   in order, and is retried every RETRY_MS; past `limit` bytes the child is
 *   declared stuck (onStuck) and the caller replaces it. While lines wait,
 *   they have not been heard: onBacklog says so when it starts and ends.
 * - The write end is O_CLOEXEC: no other child (a module's script) inherits
 *   it, so the reader sees end-of-file as soon as the parent dies.
 * - The read end is blocking, as a child's stdin must be (bash's `read`); it
 *   is handed to spawn and then closed here (spawned()).
 * - EPIPE (the child died) closes the writer and drops what waits: the caller
 *   starts another child and tells it everything anew. The runtime ignores
 *   SIGPIPE, so the failed write is all that happens.
 *
 * Through `bun:ffi` (pipe2, fcntl), loaded synchronously because children are
 * spawned from synchronous code; null where there is no FFI (Node), and the
 * caller then writes to a stream as before.
 */
import { closeSync, writeSync } from "node:fs";

const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const F_GETFL = 3;
const F_SETFL = 4;
const RETRY_MS = 50;
/** Far beyond what a reading child is ever owed (lines of tens of bytes). */
const DEFAULT_LIMIT = 1 << 20;

const SYMBOLS = {
  pipe2: { args: ["ptr", "i32"], returns: "i32" },
  fcntl: { args: ["i32", "i32", "i32"], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
} as const;

interface PipeCalls {
  pipe2(fds: Int32Array, flags: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
}

let calls: PipeCalls | null | undefined;

/** libc's pipe2 and fcntl, or null without bun:ffi. */
function pipeCalls(): PipeCalls | null {
  if (calls !== undefined) return calls;
  calls = null;
  const req = (import.meta as { require?: (id: string) => unknown }).require;
  if (typeof (globalThis as { Bun?: unknown }).Bun === "undefined" || typeof req !== "function") return calls;
  try {
    // Computed so that bundlers and type checkers for other runtimes leave it alone.
    const ffi = req(["bun", "ffi"].join(":")) as { dlopen(path: string, t: unknown): { symbols: unknown } };
    calls = ffi.dlopen("libc.so.6", SYMBOLS).symbols as PipeCalls;
  } catch {
    calls = null;
  }
  return calls;
}

export interface StdinPipeOptions {
  /** Bytes waiting (not yet in the pipe): called when a backlog starts and with 0 once it is gone. */
  onBacklog?(waiting: number): void;
  /** More than `limit` bytes wait: the child does not read. The writer is closed. */
  onStuck?(): void;
  limit?: number;
}

export class StdinPipe {
  private readonly queue: Buffer[] = [];
  private waitingBytes = 0;
  private retry: ReturnType<typeof setInterval> | undefined;
  private writeFd: number | null;
  private readFd: number | null;

  constructor(readFd: number, writeFd: number, private readonly o: StdinPipeOptions) {
    this.readFd = readFd;
    this.writeFd = writeFd;
  }

  /** The read end, for spawn's stdio[0]. */
  get childEnd(): number {
    return this.readFd ?? -1;
  }

  /** Bytes written but not yet in the pipe. */
  get waiting(): number {
    return this.waitingBytes;
  }

  get closed(): boolean {
    return this.writeFd === null;
  }

  /** After spawn (or its failure): the child has its copy of the read end; ours would keep the pipe open. */
  spawned(): void {
    if (this.readFd === null) return;
    closeSync(this.readFd);
    this.readFd = null;
  }

  /** In the pipe when this returns, unless a backlog waits (then after it, in order). */
  write(text: string): void {
    if (this.writeFd === null) return;
    const buf = Buffer.from(text);
    if (this.queue.length > 0) {
      this.enqueue(buf);
      return;
    }
    const left = this.put(buf);
    if (left !== null && left.length > 0) {
      this.enqueue(left);
      this.o.onBacklog?.(this.waitingBytes);
      this.retry = setInterval(() => this.flush(), RETRY_MS);
      (this.retry as { unref?: () => void }).unref?.();
    }
  }

  /** Closes the write end: the child reads end-of-file after what is in the pipe. What waits is tried once more. */
  end(): void {
    if (this.writeFd === null) return;
    this.flush();
    this.close();
  }

  /** Writes what it can; returns the unwritten rest, or null once the writer closed (EPIPE and the like). */
  private put(buf: Buffer): Buffer | null {
    let off = 0;
    while (off < buf.length && this.writeFd !== null) {
      try {
        off += writeSync(this.writeFd, buf, off, buf.length - off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EAGAIN" || code === "EWOULDBLOCK") return buf.subarray(off);
        if (code === "EINTR") continue;
        this.close(); // EPIPE: the child is gone; its exit is handled by the caller.
        return null;
      }
    }
    return this.writeFd === null ? null : buf.subarray(off);
  }

  private enqueue(buf: Buffer): void {
    this.queue.push(buf);
    this.waitingBytes += buf.length;
    if (this.waitingBytes > (this.o.limit ?? DEFAULT_LIMIT)) {
      this.close();
      this.o.onStuck?.();
    }
  }

  private flush(): void {
    while (this.queue.length > 0 && this.writeFd !== null) {
      const head = this.queue[0]!;
      const left = this.put(head);
      if (left === null) return;
      this.waitingBytes -= head.length - left.length;
      if (left.length > 0) {
        this.queue[0] = left;
        return;
      }
      this.queue.shift();
    }
    if (this.queue.length === 0 && this.retry !== undefined) {
      clearInterval(this.retry);
      this.retry = undefined;
      this.o.onBacklog?.(0);
    }
  }

  private close(): void {
    clearInterval(this.retry);
    this.retry = undefined;
    this.queue.length = 0;
    this.waitingBytes = 0;
    if (this.writeFd !== null) closeSync(this.writeFd);
    this.writeFd = null;
    this.spawned();
  }
}

/** A new pipe (read end blocking, write end non-blocking, both close-on-exec), or null without bun:ffi. */
export function openStdinPipe(o: StdinPipeOptions = {}): StdinPipe | null {
  const c = pipeCalls();
  if (c === null) return null;
  const fds = new Int32Array(2);
  if (c.pipe2(fds, O_CLOEXEC) !== 0) return null;
  const [readFd, writeFd] = [fds[0]!, fds[1]!];
  const flags = c.fcntl(writeFd, F_GETFL, 0);
  if (flags < 0 || c.fcntl(writeFd, F_SETFL, flags | O_NONBLOCK) !== 0) {
    closeSync(readFd);
    closeSync(writeFd);
    return null;
  }
  return new StdinPipe(readFd, writeFd, o);
}
