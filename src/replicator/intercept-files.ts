/**
 * The FUSE server's open files: the backing fd behind each file handle, how
 * the kernel does I/O on it (page cache, direct I/O or read passthrough),
 * and which flags a backing open takes.
 */

import * as fs from "node:fs";
import { FUSE_DEV_IOC_BACKING_CLOSE, FUSE_DEV_IOC_BACKING_OPEN, FopenFlag } from "../sys/fuse/abi.ts";
import type { FsCalls } from "../sys/ffi/fs-calls.ts";

export const O_ACCMODE = 0o3;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;
const O_DSYNC = 0o10000;
const O_DIRECT = 0o40000;
const O_NOFOLLOW = 0o400000;
const O_SYNC = 0o4010000;

/**
 * How the kernel does I/O on an open file. An inode with cached or direct
 * opens gets no passthrough; once an inode has passthrough readers the
 * kernel refuses (EIO) any open that is not passthrough, and writers never
 * get passthrough (their writes would bypass interception).
 */
export type IoMode = "cached" | "passthrough" | "direct";

export interface OpenFile {
  readonly fd: number;
  readonly nodeid: bigint;
  readonly io: IoMode;
  /** FUSE_DEV_IOC_BACKING_OPEN's id for a passthrough open, dropped at release. */
  readonly backingId: number | null;
  /** O_SYNC / O_DSYNC: each write is followed by an fsync op. */
  readonly sync: "none" | "data" | "full";
}

/** Flags for the backing open: the caller's, less those the kernel or we handle. */
export function backingFlags(flags: number): number {
  // O_APPEND: the kernel already turned each append into a write at EOF,
  // and page-cache writeback (mmap) may use this fd at other offsets.
  // O_DIRECT: our buffers are not aligned; the reply asks the kernel for direct I/O instead.
  return (flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_DIRECT)) | O_NOFOLLOW;
}

export class OpenFiles {
  private readonly files = new Map<bigint, OpenFile>();
  /** Per node: opens the kernel counts as page-cached, passthrough ones, and direct-I/O ones. */
  private readonly counts = new Map<bigint, { cached: number; passthrough: number; direct: number }>();
  /**
   * Nodes that a direct-I/O open may have written since the kernel last
   * dropped their cached pages: their next cached open must not keep them.
   */
  private readonly uncachedWrites = new Set<bigint>();
  /**
   * Per node with passthrough opens: its backing file's id and how many opens
   * use it. The kernel takes one backing file per inode and refuses (EIO) an
   * open that names another while the first is in use: a second reader of a
   * file must get the first one's id.
   */
  private readonly backings = new Map<bigint, { id: number; opens: number }>();
  private nextFh = 1n;
  /** The kernel agreed to passthrough; turned off for good if registering a backing file fails. */
  passthrough = false;
  /**
   * Read-only opens get direct I/O (the mount's `read: direct`): each read is
   * spliced from the file beneath, none is kept in the mount's page cache.
   * Set only when the kernel lets such files be mapped shared.
   */
  directReads = false;

  /**
   * `fuseFd`: /dev/fuse, to register backing files for passthrough (null: never).
   * `warnOnce(key, msg)`: reports a problem once per key.
   */
  constructor(
    private readonly ffi: FsCalls | null,
    private readonly fuseFd: number | null,
    private readonly warnOnce: (key: string, msg: string) => void,
  ) {}

  /** Whether passthrough can be offered to the kernel at all. */
  get canPassthrough(): boolean {
    return this.ffi !== null && this.fuseFd !== null;
  }

  get(fh: bigint): OpenFile | undefined {
    return this.files.get(fh);
  }

  /** Some open file of `nodeid`: the way to an unlinked file. */
  anyOf(nodeid: bigint): OpenFile | undefined {
    for (const f of this.files.values()) if (f.nodeid === nodeid) return f;
    return undefined;
  }

  /**
   * Registers the backing `fd` opened for `nodeid` with the caller's `flags`;
   * returns the handle and the fuse_open_out flags and backing id.
   * Read-only opens may go passthrough (`mayPassthrough`, and no cached opens).
   */
  add(nodeid: bigint, fd: number, flags: number, mayPassthrough: boolean): { fh: bigint; openFlags: number; backingId: number } {
    const { io, backingId } = this.chooseIo(nodeid, fd, flags, mayPassthrough);
    const fh = this.nextFh++;
    const sync = (flags & O_SYNC) === O_SYNC ? "full" : (flags & O_DSYNC) !== 0 ? "data" : "none";
    this.files.set(fh, { fd, nodeid, sync, io, backingId });
    // NOFLUSH: our FLUSH does nothing (every write is carried out before it returns), so each close() was a
    // round trip through this thread for nothing.
    const openFlags =
      io === "direct" ? FopenFlag.DIRECT_IO : io === "passthrough" ? FopenFlag.PASSTHROUGH : FopenFlag.NOFLUSH | (this.keepsCache(nodeid, flags) ? FopenFlag.KEEP_CACHE : 0);
    return { fh, openFlags, backingId: backingId ?? 0 };
  }

  /**
   * Whether a cached open may keep the pages the kernel holds for the file
   * (a file read again is then served from memory, not through this thread).
   * Every change to a file's data on this node goes through this mount, and
   * cached writes (also mmap's, written back) update those pages as they go;
   * only a direct-I/O writer changes the file past them, so after one the
   * next cached open lets the kernel drop them. O_TRUNC: the kernel
   * truncates its pages itself; kept out all the same.
   */
  private keepsCache(nodeid: bigint, flags: number): boolean {
    if ((flags & O_TRUNC) !== 0) return false;
    if (!this.uncachedWrites.has(nodeid)) return true;
    // This open drops the pages: fresh again unless a direct writer is still open.
    if (this.countsOf(nodeid).direct === 0) this.uncachedWrites.delete(nodeid);
    return false;
  }

  /** The kernel forgot the node (its pages went with it). */
  forgotten(nodeid: bigint): void {
    this.uncachedWrites.delete(nodeid);
  }

  /** RELEASE: drops the handle and closes its backing fd. */
  release(fh: bigint): void {
    const f = this.files.get(fh);
    if (f === undefined) return;
    this.files.delete(fh);
    const c = this.countsOf(f.nodeid);
    if (f.io === "cached") c.cached--;
    if (f.io === "passthrough") c.passthrough--;
    if (f.io === "direct") c.direct--;
    if (c.cached <= 0 && c.passthrough <= 0 && c.direct <= 0) this.counts.delete(f.nodeid);
    const shared = f.backingId === null ? undefined : this.backings.get(f.nodeid);
    if (shared !== undefined && --shared.opens > 0) {
      fs.closeSync(f.fd);
      return;
    }
    this.backings.delete(f.nodeid);
    if (f.backingId !== null && this.ffi !== null && this.fuseFd !== null) {
      const id = new Uint8Array(4);
      new DataView(id.buffer).setUint32(0, f.backingId, true);
      try {
        this.ffi.ioctl(this.fuseFd, FUSE_DEV_IOC_BACKING_CLOSE, id);
      } catch {
        // The connection is going away; the kernel drops its backing files with it.
      }
    }
    fs.closeSync(f.fd);
  }

  /** Closes every backing fd (the server stops). */
  closeAll(): void {
    for (const f of this.files.values()) {
      try {
        fs.closeSync(f.fd);
      } catch {
        // Already gone; nothing to release.
      }
    }
    this.files.clear();
    this.counts.clear();
    this.uncachedWrites.clear();
    this.backings.clear();
  }

  private countsOf(nodeid: bigint): { cached: number; passthrough: number; direct: number } {
    let c = this.counts.get(nodeid);
    if (c === undefined) {
      c = { cached: 0, passthrough: 0, direct: 0 };
      this.counts.set(nodeid, c);
    }
    return c;
  }

  private chooseIo(nodeid: bigint, fd: number, flags: number, mayPassthrough: boolean): { io: IoMode; backingId: number | null } {
    const c = this.countsOf(nodeid);
    if ((flags & O_DIRECT) !== 0) {
      c.direct++;
      if ((flags & O_ACCMODE) !== 0) this.uncachedWrites.add(nodeid);
      return { io: "direct", backingId: null };
    }
    if (this.directReads && (flags & O_ACCMODE) === 0) {
      c.direct++;
      return { io: "direct", backingId: null };
    }
    if (mayPassthrough && this.passthrough && this.ffi !== null && this.fuseFd !== null && (flags & O_ACCMODE) === 0 && c.cached === 0) {
      const shared = this.backings.get(nodeid);
      if (shared !== undefined) {
        shared.opens++;
        c.passthrough++;
        return { io: "passthrough", backingId: shared.id };
      }
      const map = new Uint8Array(16);
      new DataView(map.buffer).setInt32(0, fd, true);
      try {
        const id = this.ffi.ioctl(this.fuseFd, FUSE_DEV_IOC_BACKING_OPEN, map);
        this.backings.set(nodeid, { id, opens: 1 });
        c.passthrough++;
        return { io: "passthrough", backingId: id };
      } catch (e) {
        this.warnOnce("passthrough", `read passthrough unavailable, reads go through the server: ${e instanceof Error ? e.message : String(e)}`);
        this.passthrough = false;
      }
    }
    // The kernel will answer this open with EIO (see MountInPlaceOptions.readPassthrough): say why once.
    if (c.passthrough > 0) this.warnOnce("passthrough-writer", "a file open for reading with passthrough was opened for writing: the kernel refuses that (EIO)");
    c.cached++;
    return { io: "cached", backingId: null };
  }
}
