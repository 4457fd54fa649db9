/**
 * Synchronous interception of a replicated folder, in place: the folder is
 * mounted over itself with FUSE (type fuse.vigil), so the service keeps its
 * paths, and vigil reaches the real files beneath through a directory fd
 * opened before the mount (`/proc/self/fd/N/<path>`).
 *
 *   const m = await mountInPlace({ dir, name, onMutation, log });
 *   ...
 *   await m.unmount();
 *
 * Every mutation (write, create, mknod, mkdir, unlink, rmdir, rename, link,
 * symlink, setattr, fallocate, setxattr, removexattr, and fsync/fdatasync/
 * fsyncdir) is first carried out on the folder, then described by MirrorOps
 * carrying its result, numbered 1, 2, 3... in completion order, and passed
 * to `onMutation(seq, op)` in that order. The application's system call
 * returns only after every promise of its ops has resolved (the kernel's
 * reply is held until then); if one rejects, the call fails with EIO (the
 * local change stays). A local failure is answered at once and emits
 * nothing; except for fsync/fdatasync/fsyncdir, which is handed on when it
 * arrives and carried out here meanwhile (the call waits for both syncs).
 * A large write is handed on in pieces (InterceptServer.write). Reads are
 * served locally. Requests keep being served while
 * replies are held.
 *
 * Rules for `onMutation` (it runs on the thread that writes held replies):
 * it must never touch the mounted folder itself, synchronously or by
 * waiting for something that does: that access would wait for a reply only
 * it can release. While a write is held, the kernel keeps the written pages
 * locked, so a read of those very pages waits too; other files and other
 * pages are served.
 *
 * POSIX ACLs are enforced by the kernel (FUSE_POSIX_ACL) and replicated as
 * the system.posix_acl_* xattrs; a default ACL decides new objects' modes.
 * Read passthrough is opt-in (readPassthrough, with its limit). Not done on
 * purpose: FUSE_WRITEBACK_CACHE (write() must not return before the SECOND
 * has the data).
 *
 * The server runs on a worker_threads Worker (blocking reads of /dev/fuse
 * must not stall the event loop). Works under Bun, `bun run` and the
 * compiled binary; Node cannot start the Worker from TypeScript source and
 * Deno's numeric fds are per isolate: both get InterceptUnavailableError.
 *
 * A mount left on the folder by a crashed daemon would hang every access:
 * cleanStaleMount(dir) removes it (call it at start, before mountInPlace).
 */

import * as fs from "node:fs";
import { isAbsolute } from "node:path";
import { Worker } from "node:worker_threads";
import { Errno, READAHEAD_KIB } from "../sys/fuse/abi.ts";
import { encodeEmpty, encodeError } from "../sys/fuse/encode.ts";
import { abortConnection, fuseMountsOn, holdConnectionControl, mountFuse, setReadahead, umount } from "../sys/fuse/mount.ts";
import type { MountEntry } from "../sys/fuse/mountinfo.ts";
import type { SyncRequest } from "./intercept-server.ts";
import { OPCODE_SLOTS, STAT, STAT_COUNT, STAT_OPCODES, type WorkerInput, type WorkerMessage } from "./intercept-worker.ts";
import { compileExclude } from "./exclude.ts";
import type { MirrorOp } from "./ops.ts";

export const FUSE_TYPE = "fuse.vigil";

export type InterceptLog = (level: "info" | "warn" | "error", msg: string) => void;

export interface MountInPlaceOptions {
  /** The replicated folder: absolute, an existing directory. */
  readonly dir: string;
  /** The module's name: shown as the mount's source (`vigil:<name>`) and in messages. */
  readonly name: string;
  /**
   * Called once per operation, in `seq` order (1, 2, 3...), from the main
   * thread. The application's call returns once the promise resolves.
   */
  onMutation(seq: number, op: MirrorOp): Promise<void>;
  readonly log: InterceptLog;
  /**
   * Serve reads of files opened read-only straight from the folder beneath
   * (kernel FUSE passthrough): reads at the speed of the bare folder. The
   * kernel then refuses (EIO) to open for writing a file that someone has
   * open read-only, so only for folders whose files are never rewritten while
   * they are read (finished recordings, archives). Default false.
   */
  readonly readPassthrough?: boolean;
  /**
   * How reads of files opened read-only are served. "cache" (default): through
   * the mount's page cache, with the kernel's read-ahead and pages kept for
   * re-reads. "direct": direct I/O (FOPEN_DIRECT_IO), each read spliced from
   * the file beneath and nothing kept in the mount's page cache, as for a
   * reader's O_DIRECT; shared mmaps still go through the page cache (with a
   * kernel that lacks FUSE_DIRECT_IO_ALLOW_MMAP, a warning and "cache"). Opens
   * for writing are served alike in both. With "direct" no read-only open goes
   * passthrough (readPassthrough).
   */
  readonly read?: "cache" | "direct";
  /** `exclude:` name patterns (exclude.ts): what they match is served but not replicated. */
  readonly exclude?: readonly string[];
}

export interface InterceptStats {
  /** Requests read from the kernel. */
  readonly requests: number;
  readonly opsEmitted: number;
  /** Replies held until their ops were acknowledged, in total and right now. */
  readonly repliesHeld: number;
  readonly repliesHeldNow: number;
  /** Bytes written by applications (WRITE payloads carried out). */
  readonly bytesWritten: number;
  /** Requests read from the kernel by FUSE opcode (linux/fuse.h numbers; those seen only). */
  readonly byOpcode: Readonly<Record<number, number>>;
}

export interface MountedFolder {
  readonly dir: string;
  /**
   * The folder beneath the mount, for this process only (`/proc/self/fd/N`,
   * valid until unmounted): resync and verify read the real files here,
   * never through `dir`, which would go through the mount (and could wait
   * on a held reply). Read only: a change made here is not replicated, and
   * readers of the mount may keep seeing cached data.
   */
  readonly backing: string;
  /** Unmounts (lazily if busy), then ends the connection through fusectl; resolves once the server has stopped. */
  unmount(): Promise<void>;
  stats(): InterceptStats;
  /**
   * How reads of files opened read-only are served on this kernel, once its
   * FUSE INIT was answered (null before): "direct" asked falls back to
   * "cache" on a kernel without FUSE_DIRECT_IO_ALLOW_MMAP (see `read`).
   */
  reads(): "cache" | "direct" | null;
  /** Resolves when the server stops (unmount, or the connection ended otherwise), with the reason. */
  readonly closed: Promise<string>;
}

/** The folder cannot be intercepted here: the message says why and what would help. */
export class InterceptUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InterceptUnavailableError";
  }
}

function runtimeProblem(): string | null {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno !== undefined) return "Deno cannot serve FUSE from a Worker (its file descriptors are per isolate); use the vigil binary";
  if (g.Bun === undefined) return `Node ${process.versions.node} cannot start the FUSE Worker from TypeScript sources; use the vigil binary or bun`;
  return null;
}

/** Where the Worker's module is: beside this file, or inside the compiled binary's bundle. */
function workerLocation(): URL | string {
  const here = import.meta.url;
  if (!here.includes("$bunfs")) return new URL("./intercept-worker.ts", here);
  // In the compiled binary every module's URL is the bundle's; the Worker is an extra
  // entry point of the build (scripts/build.mjs), stored as .js under the bundle's root,
  // which is the entry points' common folder: src/ for vigil, the repository for test builds.
  for (const rel of ["replicator/intercept-worker.js", "src/replicator/intercept-worker.js"]) {
    const candidate = `/$bunfs/root/${rel}`;
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new InterceptUnavailableError("this vigil binary was built without the FUSE server (src/replicator/intercept-worker.ts is not among its entry points)");
}

function opcodeCounts(counters: Float64Array): Record<number, number> {
  const out: Record<number, number> = {};
  for (let op = 0; op < OPCODE_SLOTS; op++) {
    const n = counters[STAT_OPCODES + op] ?? 0;
    if (n > 0) out[op] = n;
  }
  return out;
}

function checkFolder(dir: string): string | null {
  if (!isAbsolute(dir)) return `${dir}: not an absolute path`;
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch (e) {
    return `${dir}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such folder" : String(e)}`;
  }
  if (!st.isDirectory()) return `${dir}: not a directory${st.isSymbolicLink() ? " (a symbolic link; give the real path)" : ""}`;
  return null;
}

/**
 * Removes fuse.vigil mounts left on `dir` by a daemon that is gone: ends
 * each connection through fusectl, then unmounts lazily. Returns how many
 * were removed. Only for start-up: it would also remove a live mount.
 */
export async function cleanStaleMount(dir: string, log?: InterceptLog): Promise<number> {
  let removed = 0;
  for (let round = 0; round < 16; round++) {
    const mounts = fuseMountsOn(dir, FUSE_TYPE);
    const top = mounts[mounts.length - 1];
    if (top === undefined) break;
    await abortConnection(top);
    const err = await umount(dir, true);
    if (err !== null) throw new InterceptUnavailableError(`cannot remove the stale ${FUSE_TYPE} mount on ${dir}: ${err}`);
    log?.("warn", `removed a stale ${FUSE_TYPE} mount on ${dir} (${top.source}), left by an earlier run`);
    removed++;
  }
  return removed;
}

export async function mountInPlace(o: MountInPlaceOptions): Promise<MountedFolder> {
  const runtime = runtimeProblem();
  if (runtime !== null) throw new InterceptUnavailableError(`cannot mirror ${o.dir}: ${runtime}`);
  if (typeof process.getuid === "function" && process.getuid() !== 0) throw new InterceptUnavailableError(`cannot mirror ${o.dir}: FUSE mounts need root`);
  if (!fs.existsSync("/dev/fuse")) throw new InterceptUnavailableError(`cannot mirror ${o.dir}: /dev/fuse is missing (load the fuse module)`);
  const bad = checkFolder(o.dir);
  if (bad !== null) throw new InterceptUnavailableError(`cannot mirror ${bad}`);
  if (fuseMountsOn(o.dir, FUSE_TYPE).length > 0) throw new InterceptUnavailableError(`cannot mirror ${o.dir}: a ${FUSE_TYPE} mount is already there`);
  const workerAt = workerLocation();

  const dirFd = fs.openSync(o.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  let fuseFd: number;
  try {
    fuseFd = fs.openSync("/dev/fuse", "r+");
  } catch (e) {
    fs.closeSync(dirFd);
    throw new InterceptUnavailableError(`cannot mirror ${o.dir}: cannot open /dev/fuse: ${String(e)}`);
  }
  const closeFds = (): void => {
    for (const fd of [fuseFd, dirFd]) {
      try {
        fs.closeSync(fd);
      } catch {
        // Already closed.
      }
    }
  };
  try {
    await mountFuse(fuseFd, o.dir, FUSE_TYPE, `vigil:${o.name}`);
  } catch (e) {
    closeFds();
    throw new InterceptUnavailableError(`cannot mirror ${o.dir}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const ours = fuseMountsOn(o.dir, FUSE_TYPE).at(-1);
  if (ours === undefined) {
    closeFds();
    throw new InterceptUnavailableError(`cannot mirror ${o.dir}: the mount does not show in /proc/self/mountinfo`);
  }
  const ra = setReadahead(ours, READAHEAD_KIB);
  if (ra !== null) o.log("warn", `${o.dir}: cannot widen the read-ahead window (sequential reads take more requests): ${ra}`);
  return serveMount(o, workerAt, fuseFd, dirFd, ours, closeFds);
}

async function serveMount(o: MountInPlaceOptions, workerAt: URL | string, fuseFd: number, dirFd: number, entry: MountEntry, closeMountFds: () => void): Promise<MountedFolder> {
  // Held from now, while the mount is ours: an abort after our unmount must not reach a newer mount given our number.
  const control = await holdConnectionControl(entry);
  const closeFds = (): void => {
    closeMountFds();
    control?.close();
  };
  const stats = new SharedArrayBuffer(8 * STAT_COUNT);
  const counters = new Float64Array(stats);
  let heldNow = 0;
  let readsServed: "cache" | "direct" | null = null;
  let stopped = false;
  /** unmount() was called: the end of the connection is expected. */
  let stopping = false;
  const input: WorkerInput = { fuseFd, dirFd, stats, readPassthrough: o.readPassthrough === true, readDirect: o.read === "direct", exclude: o.exclude ?? [] };
  const excluded = compileExclude(input.exclude);
  let worker: Worker;
  try {
    worker = new Worker(workerAt, { workerData: input });
  } catch (e) {
    control?.abort();
    await umount(o.dir, true);
    closeFds();
    throw new InterceptUnavailableError(`cannot mirror ${o.dir}: cannot start the FUSE server: ${e instanceof Error ? e.message : String(e)}`);
  }

  const writeReply = (bytes: Uint8Array): void => {
    if (stopped) return;
    try {
      fs.writeSync(fuseFd, bytes);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOENT: interrupted request; ENODEV/ECONNABORTED: the connection is gone.
      if (code !== "ENOENT" && code !== "ENODEV" && code !== "ECONNABORTED") o.log("warn", `${o.dir}: FUSE reply failed: ${String(e)}`);
    }
  };

  let nextSeq = 0;
  /** Numbers the ops and hands them over in order; their acknowledgements. */
  const handOn = (ops: readonly MirrorOp[]): Promise<void>[] => {
    counters[STAT.opsEmitted] = (counters[STAT.opsEmitted] ?? 0) + ops.length;
    return ops.map((op) => {
      const seq = ++nextSeq;
      try {
        return o.onMutation(seq, op);
      } catch (e) {
        return Promise.reject(e);
      }
    });
  };
  /** Ops the request being served handed on ahead of its reply ("part"), and the first one's number. */
  let parts: Promise<void>[] = [];
  let partsFrom = 0;
  /** Hands the ops over (after the request's parts) and writes the reply once all are acknowledged. */
  const release = (unique: bigint, reply: Uint8Array, ops: readonly MirrorOp[]): void => {
    heldNow++;
    counters[STAT.repliesHeld] = (counters[STAT.repliesHeld] ?? 0) + 1;
    const first = parts.length > 0 ? partsFrom : nextSeq + 1;
    const acks = [...parts, ...handOn(ops)];
    parts = [];
    Promise.all(acks).then(
      () => {
        heldNow--;
        writeReply(reply);
      },
      (e: unknown) => {
        heldNow--;
        o.log("error", `${o.dir}: replication of operations ${first}..${nextSeq} failed, the application gets EIO: ${e instanceof Error ? e.message : String(e)}`);
        writeReply(encodeError(unique, Errno.EIO));
      },
    );
  };

  /** fsync off the serving thread (libuv's pool), then the fsync op, then the reply. */
  const syncThenRelease = (unique: bigint, s: SyncRequest): void => {
    heldNow++;
    // The SECOND syncs while this node does: the call waits for both, not for one after the other.
    // Every op before the fsync is handed on already, so the SECOND's sync covers them.
    const replicated = s.path !== null && excluded?.(s.path) !== true;
    const first = nextSeq + 1;
    const acks = replicated && s.path !== null ? handOn([{ op: "fsync", path: s.path, dataOnly: s.dataOnly }]) : [];
    if (replicated) counters[STAT.repliesHeld] = (counters[STAT.repliesHeld] ?? 0) + 1;
    const flush = s.dataOnly ? fs.fdatasync : fs.fsync;
    const local = new Promise<NodeJS.ErrnoException | null>((resolve) =>
      flush(s.fd, (err) => {
        if (s.closeAfter) fs.close(s.fd, () => {});
        resolve(err);
      }),
    );
    Promise.all([local, Promise.all(acks)]).then(
      ([err]) => {
        heldNow--;
        writeReply(err === null ? encodeEmpty(unique) : encodeError(unique, typeof err.errno === "number" ? Math.abs(err.errno) : Errno.EIO));
      },
      (e: unknown) => {
        heldNow--;
        o.log("error", `${o.dir}: replication of operation ${first} (fsync) failed, the application gets EIO: ${e instanceof Error ? e.message : String(e)}`);
        writeReply(encodeError(unique, Errno.EIO));
      },
    );
  };

  let resolveClosed!: (reason: string) => void;
  const closed = new Promise<string>((r) => (resolveClosed = r));
  let readyResolve!: (problem: Error | null) => void;
  const ready = new Promise<Error | null>((r) => (readyResolve = r));
  let finished = false;
  const finish = (reason: string): void => {
    if (finished) return;
    finished = true;
    // Before the fds close: a late acknowledgement must not write to a reused fd number.
    stopped = true;
    readyResolve(new Error(reason));
    void worker.terminate();
    closeFds();
    resolveClosed(reason);
  };

  worker.on("message", (m: WorkerMessage) => {
    switch (m.t) {
      case "ready":
        if (m.ffi !== null) o.log("warn", `${o.dir}: ${m.ffi}; those operations fail with EOPNOTSUPP`);
        readyResolve(null);
        break;
      case "part":
        if (parts.length === 0) partsFrom = nextSeq + 1;
        for (const ack of handOn(m.ops)) {
          // Looked at with the request's "held": a failure before it is not an unhandled one.
          ack.catch(() => undefined);
          parts.push(ack);
        }
        break;
      case "held":
        release(m.unique, m.reply, m.ops);
        break;
      case "sync":
        syncThenRelease(m.unique, m.sync);
        break;
      case "log":
        o.log(m.level, `${o.dir}: ${m.msg}`);
        break;
      case "reads":
        readsServed = m.served;
        break;
      case "exit":
        if (!stopping) {
          // Nobody serves the mount any more: end it, so accesses fail instead of hanging.
          o.log("error", `${o.dir}: FUSE server stopped: ${m.reason}`);
          control?.abort();
        }
        finish(m.reason);
        break;
    }
  });
  worker.on("error", (e) => {
    o.log("error", `${o.dir}: FUSE server failed: ${e instanceof Error ? e.message : String(e)}`);
    if (!stopping) control?.abort();
    finish(`worker error: ${e instanceof Error ? e.message : String(e)}`);
  });
  worker.on("exit", () => finish("worker exited"));

  const problem = await ready;
  if (problem !== null) {
    control?.abort();
    await umount(o.dir, true);
    throw new InterceptUnavailableError(`cannot mirror ${o.dir}: the FUSE server did not start: ${problem.message}`);
  }

  let unmounting: Promise<void> | null = null;
  return {
    dir: o.dir,
    backing: `/proc/self/fd/${dirFd}`,
    closed,
    stats: () => ({
      requests: counters[STAT.requests] ?? 0,
      opsEmitted: counters[STAT.opsEmitted] ?? 0,
      repliesHeld: counters[STAT.repliesHeld] ?? 0,
      repliesHeldNow: heldNow,
      bytesWritten: counters[STAT.bytesWritten] ?? 0,
      byOpcode: opcodeCounts(counters),
    }),
    reads: () => readsServed,
    unmount: () => {
      unmounting ??= (async () => {
        stopping = true;
        const err = await umount(o.dir, false);
        if (err !== null) {
          o.log("warn", `${o.dir}: busy (${err}); unmounting lazily`);
          const lazyErr = await umount(o.dir, true);
          if (lazyErr !== null) o.log("error", `${o.dir}: lazy unmount failed: ${lazyErr}`);
        }
        stopped = true;
        // A copy of the mount in another namespace would keep the connection (and our read) alive.
        control?.abort();
        await closed;
      })();
      return unmounting;
    },
  };
}
