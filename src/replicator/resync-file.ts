/**
 * One regular file's size and data made right on the other copy, for the
 * resync (resync.ts, whose header states THE RULE this code keeps: every
 * byte sent is read in the same turn as the send, and only while the path
 * still names the inode being read).
 *
 * New files are sent whole except the holes of a sparse source; files that
 * differ are compared by 64 KiB block sums, then 4 KiB sums inside each
 * differing block, and only differing 4 KiB blocks are sent; journal ranges
 * are sent as they are, journal extents known only from the file compared.
 */

import { closeSync, constants as C, fstatSync, lstatSync, openSync, readSync } from "node:fs";
import { pathKey } from "../core/mirror/resync-plan.ts";
import { promises as fsp } from "node:fs";
import type { ByteRange, ResyncStep } from "../core/mirror/resync-plan.ts";
import { fileBlockSums, isAllZero, sumsEqual } from "./block-sums.ts";
import type { MirrorOp, RelPath } from "./ops.ts";
import type { ResyncPeer } from "./resync-types.ts";
import { hostPath } from "./tree-scan.ts";

export type FileStep = Extract<ResyncStep, { kind: "file" }>;

/** Largest write op. */
export const MAX_WRITE = 1 << 20;
const SUMS_PER_REQUEST = 512;
const FALLOC_PUNCH_KEEP_SIZE = 3;
/**
 * How far from the source's the mtime that a file's data ops leave on the
 * copy is, until its last op sets the real one: far past any mtime window.
 */
const PROVISIONAL_MTIME_NS = 1_000_000_000n;

/** What the per-file work needs from the resync driving it. */
export interface FileSyncHost {
  readonly root: string;
  readonly peer: ResyncPeer;
  /** Coarse and fine block sizes of the comparison. */
  readonly block: number;
  readonly fine: number;
  /** Hands the op to the peer now (see SendWindow). */
  send(op: MirrorOp, dataBytes: number, track?: Promise<void>[]): void;
  /** Waits for the rate limit and room in the window; throws when the resync must stop. */
  budget(bytes: number): Promise<void>;
  checkAbort(): void;
  markDirty(path: RelPath): void;
  /** Progress: bytes compared or sent, and bytes of sums received. */
  looked(bytes: number): void;
  sumsReceived(bytes: number): void;
}

/**
 * Read buffers of MAX_WRITE bytes, each taken back once every op carrying a
 * part of it is acknowledged: by then the link has sealed the op's bytes and
 * dropped it. A fresh megabyte costs its page faults on every read (a tenth
 * of the PRIM's time in a full sync). A buffer that the peer took away
 * (transferred to a thread, so now empty) is not kept.
 */
class ReadBuffers {
  private readonly free: Buffer[] = [];
  private slab: Buffer | null = null;
  private slabUsed = 0;

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(MAX_WRITE);
  }

  /**
   * A buffer for a small read (SMALL_READ bytes at most), cut from a slab
   * shared with the reads before it and never taken back: a resync of many
   * small files would otherwise take a megabyte per file, and the pool runs
   * dry while thousands of them are in flight.
   */
  takeSmall(n: number): Buffer {
    if (this.slab === null || this.slabUsed + n > SLAB_BYTES) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.slabUsed = 0;
    }
    const out = this.slab.subarray(this.slabUsed, this.slabUsed + n);
    this.slabUsed += (n + 7) & ~7;
    return out;
  }

  giveBack(buf: Buffer): void {
    if (buf.byteLength === MAX_WRITE && this.free.length < KEPT_READ_BUFFERS) this.free.push(buf);
  }
}

/** Enough for the send window's worth of reads (8 MiB by default) and a few more. */
const KEPT_READ_BUFFERS = 16;
/** Reads up to this size are cut from a slab (ReadBuffers.takeSmall). */
const SMALL_READ = 64 * 1024;
const SLAB_BYTES = 1 << 20;

export class FileSync {
  private readonly buffers = new ReadBuffers();
  /**
   * Files (pathKey) whose last data op carried the source's real mtime, as
   * read in that op's turn: their metadata step needs no utimes while the
   * source still has that mtime (see Resync.doMeta).
   */
  readonly realMtimeSent = new Map<string, bigint>();

  constructor(private readonly host: FileSyncHost) {}

  /**
   * Makes one regular file's size and data right. Returns once every op is
   * sent (the window bounds what is in flight), with `acked`, settled once
   * they are all acknowledged: the next file need not wait a round trip.
   */
  async sync(step: FileStep): Promise<{ readonly acked: Promise<void> }> {
    const path = step.entry.path;
    const planned = bytesToLook(step);
    let looked = 0;
    const look = (n: number): void => {
      const add = Math.min(n, planned - looked);
      looked += add;
      this.host.looked(add);
    };
    const host = hostPath(this.host.root, path);
    let fd: number;
    try {
      fd = openSync(host, C.O_RDONLY | C.O_NOFOLLOW);
    } catch {
      look(planned);
      return { acked: Promise.resolve() };
    }
    const track: Promise<void>[] = [];
    try {
      const st = fstatSync(fd, { bigint: true });
      const same = (): boolean => {
        try {
          const now = lstatSync(host, { bigint: true });
          return now.ino === st.ino && now.dev === st.dev;
        } catch {
          return false;
        }
      };
      // Whether the path still names this file is checked in the turn of each op sent.
      if (!st.isFile()) return { acked: Promise.resolve() };
      const size = Number(st.size);
      const sparse = Number(st.blocks) * 512 < size;
      // The data ops leave a provisional mtime; the real one comes with the file's metadata step,
      // which the plan gives every file with data and the pass takes after all the data steps, so
      // the stream carries it after the file's last data op. A pass stopped between a file's ops
      // (the link went down) must not leave the right size and mtime over missing data: the next
      // pass's quick check (size and mtime) would take the copy as right.
      const provisional = st.mtimeNs >= PROVISIONAL_MTIME_NS ? st.mtimeNs - PROVISIONAL_MTIME_NS : st.mtimeNs + PROVISIONAL_MTIME_NS;
      // Unless the file's data goes in ops whose last one is known before it is sent: that one
      // carries the real mtime, read in its own turn, as it completes the file's data (the ops
      // before it are applied before it). A metadata step per small file is then saved.
      const lastKnown = !sparse && (step.data.kind === "all" || (step.data.kind === "ranges" && clipRanges(step.data.compare, size).length === 0));
      // A new file whose data all goes in writes from offset 0 (not sparse) needs no truncate: the writes
      // give it its size, and its create goes in the turn of its first write (one op and one turn less
      // per file; a resync of many small files is mostly these). Stopped before its last write, the copy
      // is short, or carries the provisional mtime: the next pass's quick check still sees it differ.
      const createWithData = step.create && step.data.kind === "all" && lastKnown && size > 0;
      const createOp: MirrorOp = { op: "create", path, mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid) };
      const file: OpenFile = { path, fd, same, sparse, mtimeNs: provisional, track, realMtimeLast: lastKnown, createFirst: createWithData ? createOp : null };
      this.realMtimeSent.delete(pathKey(path));
      const truncate = step.create ? size > 0 && !createWithData : step.targetSize !== size;
      if ((step.create && !createWithData) || truncate) {
        await this.host.budget(0);
        if (!same()) return { acked: Promise.resolve() };
        // The size as it is NOW (THE RULE): a live write that grew the file while this turn waited
        // is ahead of the truncate in the stream, and a truncate to the size read before would cut it off the copy.
        const sizeNow = Number(fstatSync(fd, { bigint: true }).size);
        if (step.create) this.host.send(createOp, 0, track);
        if (truncate || sizeNow !== size) this.host.send({ op: "truncate", path, size: sizeNow, mtimeNs: provisional }, 0, track);
      }
      switch (step.data.kind) {
        case "all":
          await this.sendAll(file, size, look);
          break;
        case "compare":
          await this.compareAndSend(file, size, look, [{ offset: 0, length: size }]);
          break;
        case "ranges": {
          const suspect = clipRanges(step.data.compare, size);
          if (suspect.length > 0) await this.compareAndSend(file, size, look, suspect);
          const ranges = clipRanges(step.data.ranges, size);
          for (let i = 0; i < ranges.length; i++) {
            const r = ranges[i]!;
            // Looked at as each write goes (a journaled range may be a whole large file's data).
            await this.sendRange(file, r.offset, r.length, false, i === ranges.length - 1, look);
          }
          break;
        }
        case "none":
          break;
      }
      return { acked: Promise.all(track).then(() => undefined) };
    } finally {
      closeSync(fd);
      look(planned);
    }
  }

  private async sendAll(f: OpenFile, size: number, look: (n: number) => void): Promise<void> {
    for (let off = 0; off < size; off += MAX_WRITE) {
      const len = Math.min(MAX_WRITE, size - off);
      await this.sendRange(f, off, len, true, off + len >= size);
      look(len);
    }
  }

  /**
   * Sends [offset, offset+length) as read NOW (see THE RULE), in writes of
   * at most MAX_WRITE. `holesFree`: the copy reads zeros there already (a new
   * or extended file), so zero blocks of a sparse source are skipped;
   * otherwise they are punched. `last`: no data op of the file follows this
   * range's (see realMtimeSent). `sent`: told the bytes of each write as it goes.
   */
  private async sendRange(f: OpenFile, offset: number, length: number, holesFree: boolean, last = false, sent?: (n: number) => void): Promise<void> {
    const end = offset + length;
    for (let at = offset; at < end; ) {
      const len = Math.min(MAX_WRITE, end - at);
      await this.host.budget(len);
      // From here to send(): no await.
      if (!f.same()) return;
      if (f.createFirst !== null) {
        this.host.send(f.createFirst, 0, f.track);
        f.createFirst = null;
      }
      // Not zeroed: the read overwrites it, and only the bytes read are sent.
      const small = len <= SMALL_READ;
      const buf = small ? this.buffers.takeSmall(len) : this.buffers.take();
      const n = readFully(f.fd, buf.subarray(0, len), at);
      if (n === 0) {
        if (!small) this.buffers.giveBack(buf);
        return;
      }
      const data = buf.subarray(0, n);
      const carriers: Promise<void>[] = [];
      if (f.sparse) {
        this.sendSparse(f, at, data, holesFree, carriers);
      } else {
        let mtimeNs = f.mtimeNs;
        if (last && f.realMtimeLast && at + len >= end) {
          mtimeNs = fstatSync(f.fd, { bigint: true }).mtimeNs;
          this.realMtimeSent.set(pathKey(f.path), mtimeNs);
        }
        this.host.send({ op: "write", path: f.path, offset: at, data, mtimeNs }, n, carriers);
      }
      f.track.push(...carriers);
      if (!small) void Promise.allSettled(carriers).then(() => this.buffers.giveBack(buf));
      at += n;
      sent?.(n);
    }
  }

  /** A piece of a sparse file: zero fine blocks become holes, the rest writes. */
  private sendSparse(f: OpenFile, offset: number, data: Uint8Array, holesFree: boolean, track: Promise<void>[]): void {
    let runStart = -1;
    let runZero = false;
    const flush = (to: number): void => {
      if (runStart < 0) return;
      const len = to - runStart;
      if (runZero) {
        if (!holesFree) this.host.send({ op: "fallocate", path: f.path, mode: FALLOC_PUNCH_KEEP_SIZE, offset: offset + runStart, length: len, mtimeNs: f.mtimeNs }, 0, track);
      } else {
        this.host.send({ op: "write", path: f.path, offset: offset + runStart, data: data.subarray(runStart, to), mtimeNs: f.mtimeNs }, len, track);
      }
    };
    for (let i = 0; i < data.length; i += this.host.fine) {
      const piece = data.subarray(i, Math.min(data.length, i + this.host.fine));
      const zero = isAllZero(piece);
      if (runStart >= 0 && zero === runZero) continue;
      flush(i);
      runStart = i;
      runZero = zero;
    }
    flush(data.length);
  }

  /** Compares the blocks that overlap `ranges` (sorted, within the size) and sends those that differ. */
  private async compareAndSend(f: OpenFile, size: number, look: (n: number) => void, ranges: readonly ByteRange[]): Promise<void> {
    const fh = await fsp.open(hostPath(this.host.root, f.path), C.O_RDONLY | C.O_NOFOLLOW);
    try {
      for (const { first, count } of this.blockRequests(ranges, size)) {
        this.host.checkAbort();
        const offset = first * this.host.block;
        const [theirs, ours] = await Promise.all([this.host.peer.blockSums(f.path, this.host.block, offset, count), fileBlockSums(fh, size, this.host.block, offset, count)]);
        if (theirs === null) {
          // No longer a regular file there: someone else's change; look again at the end.
          this.host.markDirty(f.path);
          return;
        }
        this.host.sumsReceived(theirs.sums.length);
        const differing: number[] = [];
        for (let i = 0; i < count; i++) if (!sumsEqual(ours.sums, i, theirs.sums, i)) differing.push(first + i);
        look(count * this.host.block - differing.length * this.host.block);
        await this.refine(f, fh, size, differing, theirs.size, look);
      }
    } finally {
      await fh.close();
    }
  }

  /** The blocks overlapping `ranges`, as requests of at most SUMS_PER_REQUEST consecutive blocks. */
  private blockRequests(ranges: readonly ByteRange[], size: number): { first: number; count: number }[] {
    const out: { first: number; count: number }[] = [];
    let next = 0;
    for (const r of ranges) {
      const from = Math.max(next, Math.floor(r.offset / this.host.block));
      const to = Math.min(Math.ceil(size / this.host.block), Math.ceil((r.offset + r.length) / this.host.block));
      for (let b = from; b < to; b += SUMS_PER_REQUEST) out.push({ first: b, count: Math.min(SUMS_PER_REQUEST, to - b) });
      next = Math.max(next, to);
    }
    return out;
  }

  /** Within each differing block, finds the differing fine blocks and sends those. */
  private async refine(f: OpenFile, fh: fsp.FileHandle, size: number, blocks: readonly number[], theirSize: number, look: (n: number) => void): Promise<void> {
    const perBlock = this.host.block / this.host.fine;
    for (let i = 0; i < blocks.length; i += 16) {
      const group = blocks.slice(i, i + 16);
      const runs = await Promise.all(group.map(async (b) => {
        const offset = b * this.host.block;
        const len = Math.min(this.host.block, size - offset);
        if (offset >= theirSize) return [{ offset, length: len, holesFree: true }];
        const [theirs, ours] = await Promise.all([this.host.peer.blockSums(f.path, this.host.fine, offset, perBlock), fileBlockSums(fh, size, this.host.fine, offset, perBlock)]);
        if (theirs === null) return [{ offset, length: len, holesFree: false }];
        this.host.sumsReceived(theirs.sums.length);
        const out: { offset: number; length: number; holesFree: boolean }[] = [];
        const n = Math.ceil(len / this.host.fine);
        for (let j = 0; j < n; j++) {
          if (sumsEqual(ours.sums, j, theirs.sums, j)) continue;
          const o = offset + j * this.host.fine;
          const l = Math.min(this.host.fine, size - o);
          const last = out[out.length - 1];
          // Beyond the copy's old end it reads zeros once the truncate is applied.
          const holesFree = o >= theirSize;
          if (last !== undefined && last.offset + last.length === o && last.holesFree === holesFree) out[out.length - 1] = { ...last, length: last.length + l };
          else out.push({ offset: o, length: l, holesFree });
        }
        return out;
      }));
      for (let k = 0; k < group.length; k++) {
        for (const r of runs[k]!) await this.sendRange(f, r.offset, r.length, r.holesFree);
        look(Math.min(this.host.block, size - group[k]! * this.host.block));
      }
    }
  }
}

interface OpenFile {
  readonly path: RelPath;
  readonly fd: number;
  /** Whether the path still names the inode being read. */
  readonly same: () => boolean;
  readonly sparse: boolean;
  readonly mtimeNs: bigint;
  readonly track: Promise<void>[];
  /** The file's data ops are known ahead: the last one carries the real mtime. */
  readonly realMtimeLast: boolean;
  /** The create of a new file, not sent yet: it goes in the turn of the first write (see sync). */
  createFirst: MirrorOp | null;
}

function readFully(fd: number, buf: Uint8Array, position: number): number {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** Bytes a file step looks at (for progress). */
export function bytesToLook(f: FileStep): number {
  switch (f.data.kind) {
    case "all":
    case "compare":
      return f.entry.size;
    case "ranges":
      return [...clipRanges(f.data.ranges, f.entry.size), ...clipRanges(f.data.compare, f.entry.size)].reduce((n, r) => n + r.length, 0);
    case "none":
      return 0;
  }
}

/** Sorted, merged, and cut at `size`. */
export function clipRanges(ranges: readonly ByteRange[], size: number): ByteRange[] {
  const sorted = ranges.map((r) => ({ offset: r.offset, end: Math.min(size, r.offset + r.length) })).filter((r) => r.end > r.offset).sort((a, b) => a.offset - b.offset);
  const out: { offset: number; end: number }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.offset <= last.end) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out.map((r) => ({ offset: r.offset, length: r.end - r.offset }));
}

