/**
 * The FUSE server's thread: read one request from /dev/fuse, carry it out
 * (InterceptServer), then either write the reply at once or, for a
 * mutation, hand the reply and its MirrorOps to the main thread, which
 * writes the reply once the ops are acknowledged. Reading goes on meanwhile,
 * so other requests are served while replies are held.
 *
 * Started by intercept.ts with workerData (WorkerInput). Messages to the
 * main thread: WorkerMessage.
 */

import * as fs from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { Errno, MAX_READ } from "../sys/fuse/abi.ts";
import { FuseDecodeError, decodeRequest, expectsReply } from "../sys/fuse/decode.ts";
import { encodeError } from "../sys/fuse/encode.ts";
import { enterDirOnThisThread } from "../sys/fuse/thread-cwd.ts";
import { type FsCalls, loadFsCalls } from "../sys/ffi/fs-calls.ts";
import { openSplicedReads, type SplicedReads } from "../sys/fuse/splice-reply.ts";
import { InterceptServer, MAX_WRITE, type SyncRequest, errnoOf } from "./intercept-server.ts";
import { compileExclude, excludeOps } from "./exclude.ts";
import { foldTimes, type MirrorOp } from "./ops.ts";

export interface WorkerInput {
  readonly fuseFd: number;
  readonly dirFd: number;
  /** Serve reads of read-only opens by kernel passthrough (see MountInPlaceOptions.readPassthrough). */
  readonly readPassthrough: boolean;
  /** Answer read-only opens with direct I/O (see MountInPlaceOptions.read). */
  readonly readDirect: boolean;
  /** Float64 counters shared with the main thread; see STAT (requests and bytes counted here, the rest there). */
  readonly stats: SharedArrayBuffer;
  /** `exclude:` name patterns (exclude.ts): their ops are not replicated. */
  readonly exclude: readonly string[];
}

export const STAT = { requests: 0, opsEmitted: 1, bytesWritten: 2, repliesHeld: 3 } as const;
/** Requests by opcode follow the counters above: slot STAT_OPCODES + opcode, opcodes below OPCODE_SLOTS. */
export const STAT_OPCODES = 4;
export const OPCODE_SLOTS = 64;
export const STAT_COUNT = STAT_OPCODES + OPCODE_SLOTS;

export type WorkerMessage =
  | { readonly t: "ready"; readonly ffi: string | null }
  /**
   * Ops to acknowledge (numbered by the main thread, in this order) before `reply` may be written,
   * together with those of the request's "part" messages before it.
   */
  | { readonly t: "held"; readonly unique: bigint; readonly reply: Uint8Array; readonly ops: readonly MirrorOp[] }
  /** The first ops of the request being handled (the pieces of a large write), handed on ahead of its "held". */
  | { readonly t: "part"; readonly ops: readonly MirrorOp[] }
  /** An fsync for the main thread to carry out, then acknowledge and answer (see HandleResult.sync). */
  | { readonly t: "sync"; readonly unique: bigint; readonly sync: SyncRequest }
  | { readonly t: "log"; readonly level: "info" | "warn" | "error"; readonly msg: string }
  /** The kernel's INIT was answered: how read-only opens are served on it (InterceptServer.readsServed). */
  | { readonly t: "reads"; readonly served: "cache" | "direct" }
  | { readonly t: "exit"; readonly reason: string };

const EINTR = 4;
const ENODEV = 19;

function post(m: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(m, transfer);
}

/** The buffers of the ops' payloads: handed over, not copied (each op owns its payload's buffer). */
function payloads(ops: readonly MirrorOp[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const op of ops) if (op.op === "write" || op.op === "setxattr") out.push((op.op === "write" ? op.data.buffer : op.value.buffer) as ArrayBuffer);
  return out;
}

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function serve(input: WorkerInput, ffi: FsCalls | null, splicer: SplicedReads | null, cwdIsFolder: boolean): string {
  const stats = new Float64Array(input.stats);
  const excluded = compileExclude(input.exclude);
  // Staging names on the SECOND: random per mount, so one left by an interrupted rebuild is never reused.
  let staged = Math.floor(Math.random() * 2 ** 40);
  const stagingSeq = (): number => ++staged;
  const server = new InterceptServer(input.dirFd, ffi, (level, msg) => post({ t: "log", level, msg }), input.readPassthrough ? input.fuseFd : null, cwdIsFolder);
  server.splicer = splicer;
  server.directReads = input.readDirect;
  const filter = (ops: MirrorOp[]): MirrorOp[] =>
    excluded === null || ops.length === 0 ? ops : excludeOps(ops, excluded, (p, as) => server.materialize(p, as, excluded), stagingSeq);
  /** The request being handled handed ops on ahead of its result: its reply waits for them too. */
  let parted = false;
  server.onPart = (ops) => {
    const kept = filter(ops);
    if (kept.length === 0) return;
    parted = true;
    post({ t: "part", ops: kept }, payloads(kept));
  };
  // A plain Uint8Array (not a Buffer): views of it are copied by slice(), which the handler relies on.
  const buf = new Uint8Array(MAX_WRITE + 64 * 1024);
  const reply = (bytes: Uint8Array): void => {
    try {
      fs.writeSync(input.fuseFd, bytes);
    } catch (e) {
      // ENOENT: the request was interrupted meanwhile; the kernel no longer wants the answer.
      if (errnoOf(e) !== Errno.ENOENT) post({ t: "log", level: "warn", msg: `FUSE reply failed: ${String(e)}` });
    }
  };
  try {
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(input.fuseFd, buf, 0, buf.length, null);
      } catch (e) {
        const errno = errnoOf(e);
        if (errno === ENODEV) return "connection ended (ENODEV)";
        if (errno === EINTR || errno === Errno.EAGAIN || errno === Errno.ENOENT) continue;
        // EPERM until the mount is complete.
        if (errno === Errno.EPERM) {
          pause(5);
          continue;
        }
        return `read from /dev/fuse failed: ${String(e)}`;
      }
      if (n === 0) return "connection ended (end of file)";
      stats[STAT.requests] = (stats[STAT.requests] ?? 0) + 1;
      if (n >= 8) {
        const opcode = buf[4]! | (buf[5]! << 8) | (buf[6]! << 16) | (buf[7]! << 24);
        if (opcode >= 0 && opcode < OPCODE_SLOTS) stats[STAT_OPCODES + opcode] = (stats[STAT_OPCODES + opcode] ?? 0) + 1;
      }
      let req;
      try {
        req = decodeRequest(buf, n);
      } catch (e) {
        if (!(e instanceof FuseDecodeError)) throw e;
        post({ t: "log", level: "warn", msg: `malformed FUSE request: ${e.message}` });
        if (e.unique !== null && (e.opcode === null || expectsReply(e.opcode))) reply(encodeError(e.unique, Errno.EIO));
        continue;
      }
      parted = false;
      const handled = server.handle(req);
      if (req.args.op === "init" && server.readsServed !== null) post({ t: "reads", served: server.readsServed });
      // A namespace op travels with the times it left on the entry and its directories (ops.ts).
      const kept = foldTimes(filter(handled.ops));
      const result = kept === handled.ops ? handled : { ...handled, ops: kept };
      if (req.args.op === "write" && result.reply !== null && (result.ops.length > 0 || parted)) {
        stats[STAT.bytesWritten] = (stats[STAT.bytesWritten] ?? 0) + req.args.data.length;
      }
      if (result.sync !== undefined) {
        post({ t: "sync", unique: req.header.unique, sync: result.sync });
        continue;
      }
      if (result.ops.length === 0 && !parted) {
        if (result.reply !== null) reply(result.reply);
        continue;
      }
      const reply0 = result.reply ?? new Uint8Array(0);
      post({ t: "held", unique: req.header.unique, reply: reply0, ops: result.ops }, payloads(result.ops));
    }
  } finally {
    server.closeAll();
    splicer?.close();
  }
}

async function main(): Promise<void> {
  const input = workerData as WorkerInput;
  let ffi: FsCalls | null = null;
  let ffiProblem: string | null = null;
  try {
    ffi = await loadFsCalls("xattrs, fallocate, special files and rename flags in a mirrored folder");
  } catch (e) {
    ffiProblem = e instanceof Error ? e.message : String(e);
  }
  let splicer: SplicedReads | null = null;
  try {
    splicer = await openSplicedReads(input.fuseFd, MAX_READ);
  } catch (e) {
    // Reads are then copied through a buffer: slower, the same answers.
    if (ffiProblem === null) post({ t: "log", level: "info", msg: `READ replies are not spliced: ${e instanceof Error ? e.message : String(e)}` });
  }
  // This thread's own current directory, the folder: cheaper paths than /proc/self/fd/N/... (thread-cwd.ts).
  const cwdProblem = await enterDirOnThisThread(input.dirFd);
  if (cwdProblem !== null) post({ t: "log", level: "info", msg: `paths go through /proc/self/fd (slower): ${cwdProblem}` });
  post({ t: "ready", ffi: ffiProblem });
  let reason: string;
  try {
    reason = serve(input, ffi, splicer, cwdProblem === null);
  } catch (e) {
    reason = `FUSE server failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
  }
  post({ t: "exit", reason });
}

if (parentPort !== null && workerData !== null && typeof workerData === "object" && "fuseFd" in workerData) void main();
