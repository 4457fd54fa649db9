/**
 * The request handler of the in-place FUSE mount: carries each request out
 * on the backing folder (reached beneath the mount through
 * `/proc/self/fd/N/...`) and turns every successful mutation into the
 * MirrorOps that let the SECOND reach the same state.
 *
 * One call of `handle` per request, synchronously, on the server's Worker;
 * its order is the completion order, so the ops it returns are numbered in
 * that order by the caller. The result says whether the reply may go out at
 * once or must wait until the ops are acknowledged (ops non-empty).
 *
 * Ownership: the server runs as root, so whatever it creates belongs to root
 * until it hands the object to the caller (uid/gid of the request, the
 * directory's group when the directory is setgid). Permission checks are the
 * kernel's (mount option default_permissions).
 *
 * The MirrorOps carry the RESULT (lstat after the operation). Besides the
 * operation itself, namespace changes also emit `utimes` of the directories
 * whose times they changed and of the new object, so the SECOND's tree ends
 * up identical, times included.
 */

import * as fs from "node:fs";
import { constants as osConstants } from "node:os";
import { Errno, FUSE_OPEN_KILL_SUIDGID, READAHEAD_KIB, FUSE_WRITE_KILL_SUIDGID, Fattr, InitFlag, InitFlag2, SIZE, direntType } from "../sys/fuse/abi.ts";
import type { FuseArgs, FuseHeader, FuseRequest, SetattrArgs } from "../sys/fuse/decode.ts";
import {
  DirentWriter,
  type FuseAttr,
  encodeAttr,
  encodeCreate,
  encodeData,
  encodeEmpty,
  encodeEntry,
  encodeError,
  encodeInit,
  encodeLseek,
  encodeOpen,
  encodeStatfs,
  encodeWrite,
  encodeXattrSize,
  trimFrame,
} from "../sys/fuse/encode.ts";
import type { FsCalls } from "../sys/ffi/fs-calls.ts";
import { O_ACCMODE, O_CREAT, O_EXCL, O_TRUNC, type OpenFile, OpenFiles, backingFlags } from "./intercept-files.ts";
import { NodeTable } from "./intercept-nodes.ts";
import { Ownership } from "./intercept-owner.ts";
import type { ExcludeTest } from "./exclude.ts";
import { materializeEntry } from "./intercept-materialize.ts";
import type { MirrorOp } from "./ops.ts";
import type { SplicedReads } from "../sys/fuse/splice-reply.ts";

/**
 * How long the kernel may cache names (found or not) and attributes:
 * everything changes through us, so this only bounds how long a change made
 * beneath the mount (by hand, through /proc/self/fd) stays unseen.
 */
const TTL_NS = 10_000_000_000n;
export const MAX_WRITE = 1 << 20;
/** How much of a write is handed on at a time (see InterceptServer.write). */
export const WRITE_PIECE = 128 << 10;
const MAX_PAGES = 256;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

export interface HandleResult {
  /** The reply to write (null: the request takes none). Without ops it may reuse memory: write it before the next call. */
  readonly reply: Uint8Array | null;
  /** Mutations to acknowledge before the reply may be written. */
  readonly ops: MirrorOp[];
  /** The server should stop reading (DESTROY). */
  readonly stop?: boolean;
  /**
   * An fsync to carry out off the serving thread (a slow flush must not stall
   * other requests); then emit {op:"fsync"} for `path` (unless null: an unlinked
   * file) and reply. `reply` and `ops` are then empty.
   */
  readonly sync?: SyncRequest;
}

export interface SyncRequest {
  readonly fd: number;
  /** The fd was opened for this fsync (a directory) and must be closed after it. */
  readonly closeAfter: boolean;
  readonly dataOnly: boolean;
  readonly path: Uint8Array | null;
}

/** What the handler reports about itself (warnings once per cause). */
export type ServerLog = (level: "info" | "warn" | "error", msg: string) => void;

interface DirEntry {
  readonly name: Uint8Array;
}

interface OpenDir {
  readonly nodeid: bigint;
  readonly entries: DirEntry[];
}

/** The attributes of a negative entry (the kernel ignores them). */
const NO_ATTR: FuseAttr = { ino: 0n, size: 0n, blocks: 0n, atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n, mode: 0, nlink: 0, uid: 0, gid: 0, rdev: 0, blksize: 0 };

const DOT = new Uint8Array([0x2e]);
const DOTDOT = new Uint8Array([0x2e, 0x2e]);
const SLASH = 0x2f;

/** errno (positive) of an error thrown by node:fs or by the FFI calls; null when it carries none (a fault of our own). */
export function osErrnoOf(e: unknown): number | null {
  if (typeof e === "object" && e !== null) {
    const n = (e as { errno?: unknown }).errno;
    if (typeof n === "number" && n !== 0) return Math.abs(n);
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") {
      const byName = (osConstants.errno as Record<string, unknown>)[code];
      if (typeof byName === "number") return byName;
    }
  }
  return null;
}

/** errno (positive) of an error thrown by node:fs or by the FFI calls; EIO when it carries none. */
export function errnoOf(e: unknown): number {
  return osErrnoOf(e) ?? Errno.EIO;
}

function attrOf(st: fs.BigIntStats): FuseAttr {
  return {
    ino: st.ino,
    size: st.size,
    blocks: st.blocks,
    atimeNs: st.atimeNs,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    mode: Number(st.mode),
    nlink: Number(st.nlink),
    uid: Number(st.uid),
    gid: Number(st.gid),
    rdev: Number(st.rdev & 0xffffffffn),
    blksize: Number(st.blksize),
  };
}

class Failure {
  constructor(readonly errno: number) {}
}

export class InterceptServer {
  private readonly nodes: NodeTable;
  /** The folder itself ("." when this thread's current directory is the folder). */
  private readonly base: Buffer;
  private readonly rootPath: Buffer;
  /** Paths are relative to this thread's current directory, which is the folder (see the constructor). */
  private readonly fromCwd: boolean;
  private readonly files: OpenFiles;
  private readonly dirs = new Map<bigint, OpenDir>();
  private nextDh = 1n;
  private readFrame = new Uint8Array(SIZE.outHeader + MAX_WRITE);
  private readonly warned = new Set<string>();
  private readonly owner: Ownership;

  /**
   * `dirFd`: the replicated folder, opened before the mount.
   * `ffi`: the calls node:fs lacks, or null when this runtime cannot provide
   * them (the operations that need them then fail with a logged reason).
   */
  constructor(
    dirFd: number,
    private readonly ffi: FsCalls | null,
    private readonly log: ServerLog,
    /**
     * /dev/fuse, to register backing files for read passthrough; null (the
     * default): no passthrough. The kernel then requires every open of a file
     * that is open read-only to be passthrough too, so an open for writing
     * while a reader has the file open fails with EIO (writes cannot bypass
     * us). Only for folders whose files are never rewritten while read.
     */
    private readonly fuseFd: number | null = null,
    /**
     * The calling thread's current directory is the folder, its own
     * (src/sys/fuse/thread-cwd.ts): paths are given relative to it, which
     * saves the walk through /proc of every call. Default false.
     */
    cwdIsFolder = false,
  ) {
    this.fromCwd = cwdIsFolder;
    this.base = cwdIsFolder ? Buffer.from(".") : Buffer.from(`/proc/self/fd/${dirFd}`);
    this.rootPath = cwdIsFolder ? Buffer.from(".") : Buffer.from(`/proc/self/fd/${dirFd}/`);
    const st = fs.fstatSync(dirFd, { bigint: true });
    this.nodes = new NodeTable(st.dev, st.ino);
    this.owner = new Ownership({ backing: (rel) => this.backing(rel), lstat: (rel) => this.lstat(rel), ffi });
    this.files = new OpenFiles(ffi, fuseFd, (key, msg) => this.reportOnce(key, "warn", msg));
  }

  /** Logs once per key (a cause), so a fault hit by every request does not flood the log. */
  private reportOnce(key: string, level: "warn" | "error", msg: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log(level, msg);
  }

  /** Open backing fds (closed when the server stops). */
  closeAll(): void {
    this.files.closeAll();
    this.dirs.clear();
  }

  /** Ops that create at `as` what the folder holds at `path` (an entry entering the copy from an excluded name). */
  materialize(path: Uint8Array, as: Uint8Array, excluded: ExcludeTest): MirrorOp[] {
    return materializeEntry((rel) => this.backing(rel), path, as, excluded);
  }

  handle(req: FuseRequest): HandleResult {
    try {
      return this.dispatch(req.header, req.args);
    } catch (e) {
      const errno = e instanceof Failure ? e.errno : osErrnoOf(e);
      if (errno !== null) return { reply: encodeError(req.header.unique, errno), ops: [] };
      // Not the file system's answer but a fault in serving the request: the
      // application sees EIO, and the log must say why, or nobody can tell.
      const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      this.reportOnce(`fault:${req.header.opcode}:${e instanceof Error ? e.name : typeof e}`, "error", `FUSE request (opcode ${req.header.opcode}) failed inside vigil, the application got EIO: ${what}${e instanceof Error && e.stack !== undefined ? ` (${e.stack.split("\n").slice(1, 4).map((l) => l.trim()).join("; ")})` : ""}`);
      return { reply: encodeError(req.header.unique, Errno.EIO), ops: [] };
    }
  }

  // ---- paths -------------------------------------------------------------

  private backing(rel: Uint8Array): Buffer {
    // The root as "/proc/self/fd/N/": the trailing slash makes lstat, lchown and
    // utimensat(NOFOLLOW) act on the folder, not on the /proc link.
    if (rel.length === 0) return this.rootPath;
    // A relative path never starts with "/" nor holds "." or ".." (the kernel resolves those itself).
    if (this.fromCwd) return Buffer.from(rel);
    const out = Buffer.allocUnsafe(this.base.length + 1 + rel.length);
    this.base.copy(out, 0);
    out[this.base.length] = SLASH;
    out.set(rel, this.base.length + 1);
    return out;
  }

  /** The node's relative path, or ENOENT/ESTALE when no name leads to it. */
  private rel(nodeid: bigint): Uint8Array {
    const p = this.nodes.path(nodeid);
    if (p === null) throw new Failure(Errno.ENOENT);
    return p;
  }

  private childRel(parent: bigint, name: Uint8Array): Uint8Array {
    if (name.length > 255) throw new Failure(Errno.ENAMETOOLONG);
    if (name.includes(SLASH)) throw new Failure(Errno.EINVAL);
    const p = this.nodes.childPath(parent, name);
    if (p === null) throw new Failure(Errno.ENOENT);
    return p;
  }

  private lstat(rel: Uint8Array): fs.BigIntStats {
    return fs.lstatSync(this.backing(rel), { bigint: true });
  }

  private entry(unique: bigint, parent: bigint, name: Uint8Array, st: fs.BigIntStats): Uint8Array {
    const nodeid = this.nodes.found(parent, name, st.dev, st.ino);
    return encodeEntry(unique, { nodeid, generation: 0n, entryValidNs: TTL_NS, attrValidNs: TTL_NS, attr: attrOf(st) });
  }

  private needFfi(what: string): FsCalls {
    if (this.ffi !== null) return this.ffi;
    this.reportOnce(what, "warn", `${what} is not supported here: it needs the vigil binary (bun:ffi); answered EOPNOTSUPP`);
    throw new Failure(Errno.EOPNOTSUPP);
  }

  private file(fh: bigint): OpenFile {
    const f = this.files.get(fh);
    if (f === undefined) throw new Failure(Errno.EBADF);
    return f;
  }

  // ---- ops helpers -------------------------------------------------------

  /** utimes op carrying the object's current times (after a change of its contents or entries). */
  private timesOp(rel: Uint8Array, st?: fs.BigIntStats): MirrorOp {
    const s = st ?? this.lstat(rel);
    return { op: "utimes", path: rel, atimeNs: s.atimeNs, mtimeNs: s.mtimeNs };
  }

  private parentOf(rel: Uint8Array): Uint8Array {
    const slash = rel.lastIndexOf(SLASH);
    return slash < 0 ? new Uint8Array(0) : rel.subarray(0, slash);
  }

  // ---- dispatch ----------------------------------------------------------

  private dispatch(h: FuseHeader, a: FuseArgs): HandleResult {
    const u = h.unique;
    const done = (reply: Uint8Array | null, ops: MirrorOp[] = []): HandleResult => ({ reply, ops });
    switch (a.op) {
      case "init": {
        const want =
          InitFlag.ASYNC_READ | InitFlag.ATOMIC_O_TRUNC | InitFlag.BIG_WRITES | InitFlag.PARALLEL_DIROPS | InitFlag.MAX_PAGES | InitFlag.HANDLE_KILLPRIV_V2 | InitFlag.DONT_MASK |
          // ACLs are read through GETXATTR, which needs FFI: without it the kernel must not rely on them.
          (this.ffi !== null ? InitFlag.POSIX_ACL : 0) |
          // With cached pages kept across opens (OpenFiles.keepsCache), a change made beneath the
          // mount still shows once the attributes are asked again: the kernel drops the pages when mtime moved.
          InitFlag.AUTO_INVAL_DATA |
          InitFlag.INIT_EXT;
        // Passthrough: reads of files opened read-only go straight to the backing file.
        this.files.passthrough = this.files.canPassthrough && (a.flags & InitFlag.INIT_EXT) !== 0 && (a.flags2 & InitFlag2.PASSTHROUGH) !== 0;
        // Without shared mappings of direct-I/O files, a reader's MAP_SHARED mmap would fail (ENODEV): keep the page cache.
        const directMmap = (a.flags & InitFlag.INIT_EXT) !== 0 && (a.flags2 & InitFlag2.DIRECT_IO_ALLOW_MMAP) !== 0;
        this.files.directReads = this.directReads && directMmap;
        this.readsServed = this.files.directReads ? "direct" : "cache";
        if (this.directReads && !directMmap) {
          this.reportOnce("direct-reads", "warn", "read: direct needs a kernel that maps direct-I/O files shared (FUSE_DIRECT_IO_ALLOW_MMAP, Linux 6.6): reads go through the page cache");
        }
        if (a.major !== 7) return done(encodeError(u, Errno.EPROTO));
        return done(
          encodeInit(u, {
            // The kernel keeps the smaller of this and the mount's window, which intercept.ts widens to READAHEAD_KIB.
            maxReadahead: Math.max(a.maxReadahead, READAHEAD_KIB * 1024),
            flags: a.flags & want,
            maxBackground: 64,
            congestionThreshold: 48,
            maxWrite: MAX_WRITE,
            timeGran: 1,
            maxPages: MAX_PAGES,
            // A shared mapping of an O_DIRECT file goes through the page cache: its dirty pages reach us as
            // WRITEs (writeback, msync), like those of any other open file.
            flags2: (this.files.passthrough ? InitFlag2.PASSTHROUGH : 0) | (a.flags2 & InitFlag2.DIRECT_IO_ALLOW_MMAP),
            // The backing files sit on an ordinary file system: one level below us.
            maxStackDepth: this.files.passthrough ? 1 : 0,
          }),
        );
      }
      case "destroy":
        return { reply: encodeEmpty(u), ops: [], stop: true };
      case "forget":
        this.forget(h.nodeid, a.nlookup);
        return done(null);
      case "batchForget":
        for (const f of a.items) this.forget(f.nodeid, f.nlookup);
        return done(null);
      case "interrupt":
        // Every request is carried out at once; there is nothing to interrupt.
        return done(null);
      case "lookup": {
        const rel = this.childRel(h.nodeid, a.name);
        // Without an exception for a missing name: a thrown one cost ~12 µs more here, and every new name is looked up once.
        const st = fs.lstatSync(this.backing(rel), { bigint: true, throwIfNoEntry: false });
        // A name that does not exist is answered as an entry with nodeid 0: the kernel then
        // remembers the miss (a negative entry) for TTL_NS, and a stat or create of that name
        // that follows costs no LOOKUP. A create through us replaces the negative entry.
        if (st === undefined) return done(encodeEntry(u, { nodeid: 0n, generation: 0n, entryValidNs: TTL_NS, attrValidNs: 0n, attr: NO_ATTR }));
        return done(this.entry(u, h.nodeid, a.name, st));
      }
      case "getattr":
        return done(encodeAttr(u, TTL_NS, attrOf(this.statNode(h.nodeid, a.fh))));
      case "setattr":
        return this.setattr(h, a);
      case "readlink":
        return done(encodeData(u, fs.readlinkSync(this.backing(this.rel(h.nodeid)), { encoding: "buffer" })));
      case "symlink": {
        const parentRel = this.rel(h.nodeid);
        const rel = this.childRel(h.nodeid, a.name);
        const path = this.backing(rel);
        fs.symlinkSync(Buffer.from(a.target), path);
        const parent = this.owner.giveToCaller(h, parentRel, path, { mode: 0o777, acl: false }, false, true);
        const st = this.lstat(rel);
        const ops: MirrorOp[] = [
          { op: "symlink", path: rel, target: a.target.slice(), uid: Number(st.uid), gid: Number(st.gid) },
          this.timesOp(rel, st),
          this.timesOp(parentRel, parent),
        ];
        return done(this.entry(u, h.nodeid, a.name, st), ops);
      }
      case "mknod":
        return this.mknod(h, a.name, a.mode, a.rdev, a.umask);
      case "mkdir": {
        const parentRel = this.rel(h.nodeid);
        const rel = this.childRel(h.nodeid, a.name);
        const path = this.backing(rel);
        const m = this.owner.newMode(h.nodeid, parentRel, a.mode, a.umask);
        fs.mkdirSync(path, { mode: m.mode });
        const parent = this.owner.giveToCaller(h, parentRel, path, m, true, false);
        const st = this.lstat(rel);
        const ops: MirrorOp[] = [
          { op: "mkdir", path: rel, mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid) },
          this.timesOp(rel, st),
          this.timesOp(parentRel, parent),
        ];
        return done(this.entry(u, h.nodeid, a.name, st), ops);
      }
      case "unlink":
      case "rmdir": {
        const parentRel = this.rel(h.nodeid);
        const rel = this.childRel(h.nodeid, a.name);
        if (a.op === "unlink") fs.unlinkSync(this.backing(rel));
        else fs.rmdirSync(this.backing(rel));
        this.nodes.removed(h.nodeid, a.name);
        return done(encodeEmpty(u), [{ op: a.op, path: rel }, this.timesOp(parentRel)]);
      }
      case "rename":
        return this.rename(h, a.newDir, a.oldName, a.newName, a.flags);
      case "link": {
        const existing = this.rel(a.oldNodeid);
        const parentRel = this.rel(h.nodeid);
        const rel = this.childRel(h.nodeid, a.name);
        fs.linkSync(this.backing(existing), this.backing(rel));
        const st = this.lstat(rel);
        const ops: MirrorOp[] = [{ op: "link", existing, path: rel }, this.timesOp(parentRel)];
        return done(this.entry(u, h.nodeid, a.name, st), ops);
      }
      case "open":
        return this.open(h, a.flags, (a.openFlags & FUSE_OPEN_KILL_SUIDGID) !== 0);
      case "create":
        return this.create(h, a.name, a.flags, a.mode, a.umask);
      case "read": {
        const f = this.file(a.fh);
        const size = Math.min(a.size, MAX_WRITE * 2);
        if (this.splicer !== null && this.spliced(u, f.fd, a.offset, size)) return done(null);
        // Read replies are written before the next request is handled: one buffer serves them all.
        if (this.readFrame.length < SIZE.outHeader + size) this.readFrame = new Uint8Array(SIZE.outHeader + size);
        const frame = this.readFrame;
        const n = fs.readSync(f.fd, frame, SIZE.outHeader, size, a.offset);
        const out = trimFrame(frame, n);
        new DataView(frame.buffer).setBigUint64(8, u, true);
        new DataView(frame.buffer).setInt32(4, 0, true);
        return done(out);
      }
      case "write":
        return this.write(h, a.fh, a.offset, a.data, (a.writeFlags & FUSE_WRITE_KILL_SUIDGID) !== 0);
      case "statfs": {
        const s = fs.statfsSync(this.base, { bigint: true });
        return done(
          encodeStatfs(u, {
            blocks: s.blocks,
            bfree: s.bfree,
            bavail: s.bavail,
            files: s.files,
            ffree: s.ffree,
            bsize: Number(s.bsize),
            namelen: 255,
            frsize: Number(s.bsize),
          }),
        );
      }
      case "flush":
        return done(encodeEmpty(u));
      case "release":
        this.files.release(a.fh);
        return done(encodeEmpty(u));
      case "fsync": {
        const f = this.file(a.fh);
        return { reply: null, ops: [], sync: { fd: f.fd, closeAfter: false, dataOnly: a.dataOnly, path: this.nodes.path(f.nodeid) } };
      }
      case "opendir": {
        const rel = this.rel(h.nodeid);
        const names = fs.readdirSync(this.backing(rel), { encoding: "buffer" });
        const fh = this.nextDh++;
        this.dirs.set(fh, { nodeid: h.nodeid, entries: names.map((name) => ({ name })) });
        return done(encodeOpen(u, fh, 0));
      }
      case "readdir":
        return done(this.readdir(h, a.fh, a.offset, a.size));
      case "releasedir":
        this.dirs.delete(a.fh);
        return done(encodeEmpty(u));
      case "fsyncdir": {
        const rel = this.rel(h.nodeid);
        const fd = fs.openSync(this.backing(rel), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
        return { reply: null, ops: [], sync: { fd, closeAfter: true, dataOnly: a.dataOnly, path: rel } };
      }
      case "setxattr": {
        const ffi = this.needFfi("setxattr");
        const rel = this.rel(h.nodeid);
        ffi.lsetxattr(this.backing(rel), a.name, a.value, a.flags);
        return done(encodeEmpty(u), [{ op: "setxattr", path: rel, name: a.name.slice(), value: a.value.slice(), flags: a.flags }, ...this.owner.aclChanged(h.nodeid, rel, a.name)]);
      }
      case "getxattr": {
        // ENOSYS makes the kernel stop asking (and treat every file as having no ACL).
        if (this.ffi === null) throw new Failure(Errno.ENOSYS);
        const ffi = this.ffi;
        const value = ffi.lgetxattr(this.backing(this.rel(h.nodeid)), a.name);
        if (a.size === 0) return done(encodeXattrSize(u, value.length));
        if (value.length > a.size) throw new Failure(Errno.ERANGE);
        return done(encodeData(u, value));
      }
      case "listxattr": {
        if (this.ffi === null) throw new Failure(Errno.ENOSYS);
        const ffi = this.ffi;
        const names = ffi.llistxattr(this.backing(this.rel(h.nodeid)));
        const list = Buffer.concat(names.flatMap((n) => [n, new Uint8Array(1)]));
        if (a.size === 0) return done(encodeXattrSize(u, list.length));
        if (list.length > a.size) throw new Failure(Errno.ERANGE);
        return done(encodeData(u, list));
      }
      case "removexattr": {
        const ffi = this.needFfi("removexattr");
        const rel = this.rel(h.nodeid);
        ffi.lremovexattr(this.backing(rel), a.name);
        return done(encodeEmpty(u), [{ op: "removexattr", path: rel, name: a.name.slice() }, ...this.owner.aclChanged(h.nodeid, rel, a.name)]);
      }
      case "access":
        // With default_permissions the kernel checks itself; answer for completeness.
        this.statNode(h.nodeid, null);
        return done(encodeEmpty(u));
      case "fallocate": {
        const ffi = this.needFfi("fallocate");
        const f = this.file(a.fh);
        ffi.fallocate(f.fd, a.mode, a.offset, a.length);
        const rel = this.nodes.path(f.nodeid);
        if (rel === null) return done(encodeEmpty(u));
        const st = fs.fstatSync(f.fd, { bigint: true });
        return done(encodeEmpty(u), [{ op: "fallocate", path: rel, mode: a.mode, offset: a.offset, length: a.length, mtimeNs: st.mtimeNs }]);
      }
      case "lseek": {
        // Only SEEK_DATA and SEEK_HOLE reach us; the kernel does the others itself.
        const ffi = this.needFfi("lseek SEEK_DATA/SEEK_HOLE");
        return done(encodeLseek(u, ffi.lseek(this.file(a.fh).fd, a.offset, a.whence)));
      }
      case "unsupported":
        return done(encodeError(u, Errno.ENOSYS));
    }
  }

  private forget(nodeid: bigint, count: bigint): void {
    this.nodes.forget(nodeid, count);
    if (this.nodes.has(nodeid)) return;
    this.owner.forgotten(nodeid);
    this.files.forgotten(nodeid);
  }

  /** Attributes of a node: through its open file when the kernel names one (it may be unlinked), else by path. */
  private statNode(nodeid: bigint, fh: bigint | null): fs.BigIntStats {
    const f = fh === null ? undefined : this.files.get(fh);
    if (f !== undefined) return fs.fstatSync(f.fd, { bigint: true });
    const rel = this.nodes.path(nodeid);
    if (rel !== null) return this.lstat(rel);
    const other = this.files.anyOf(nodeid);
    if (other !== undefined) return fs.fstatSync(other.fd, { bigint: true });
    throw new Failure(Errno.ENOENT);
  }

  private setattr(h: FuseHeader, a: SetattrArgs): HandleResult {
    const f = (a.valid & Fattr.FH) !== 0 ? this.files.get(a.fh) : undefined;
    const rel = this.nodes.path(h.nodeid);
    let fd = f?.fd;
    if (fd === undefined && rel === null) fd = this.files.anyOf(h.nodeid)?.fd;
    if (fd === undefined && rel === null) throw new Failure(Errno.ENOENT);
    const path = rel === null ? null : this.backing(rel);
    const ops: MirrorOp[] = [];
    const emit = (op: MirrorOp): void => {
      if (rel !== null) ops.push(op);
    };
    if ((a.valid & (Fattr.UID | Fattr.GID)) !== 0) {
      const uid = (a.valid & Fattr.UID) !== 0 ? a.uid : -1;
      const gid = (a.valid & Fattr.GID) !== 0 ? a.gid : -1;
      if (path !== null) fs.lchownSync(path, uid, gid);
      else if (fd !== undefined) fs.fchownSync(fd, uid, gid);
    }
    if ((a.valid & Fattr.MODE) !== 0) {
      if (fd !== undefined) fs.fchmodSync(fd, a.mode & 0o7777);
      else if (path !== null) fs.chmodSync(path, a.mode & 0o7777);
    }
    if ((a.valid & Fattr.SIZE) !== 0) {
      if (fd !== undefined) fs.ftruncateSync(fd, a.size);
      else if (path !== null) fs.truncateSync(path, a.size);
    }
    const killed = (a.valid & Fattr.KILL_SUIDGID) !== 0 && (a.valid & Fattr.MODE) === 0 && this.owner.killPrivileges(fd, path, rel, []);
    if ((a.valid & (Fattr.ATIME | Fattr.MTIME)) !== 0) this.setTimes(a, path, fd);
    const st = fd !== undefined ? fs.fstatSync(fd, { bigint: true }) : this.lstat(rel ?? new Uint8Array(0));
    if (rel !== null) {
      if ((a.valid & (Fattr.UID | Fattr.GID)) !== 0) emit({ op: "chown", path: rel, uid: Number(st.uid), gid: Number(st.gid) });
      // chown may have cleared setuid/setgid bits: the mode travels after it.
      if ((a.valid & (Fattr.MODE | Fattr.UID | Fattr.GID)) !== 0 || killed) emit({ op: "chmod", path: rel, mode: Number(st.mode) & 0o7777 });
      if ((a.valid & Fattr.SIZE) !== 0) emit({ op: "truncate", path: rel, size: Number(st.size), mtimeNs: st.mtimeNs });
      if ((a.valid & (Fattr.ATIME | Fattr.MTIME)) !== 0) emit(this.timesOp(rel, st));
    }
    return { reply: encodeAttr(h.unique, TTL_NS, attrOf(st)), ops };
  }

  private setTimes(a: SetattrArgs, path: Buffer | null, fd: number | undefined): void {
    const UTIME_NOW = (1n << 30n) - 1n;
    const UTIME_OMIT = (1n << 30n) - 2n;
    const pick = (set: number, now: number, ns: bigint): bigint =>
      (a.valid & set) === 0 ? UTIME_OMIT : (a.valid & now) !== 0 ? UTIME_NOW : ns;
    const at = pick(Fattr.ATIME, Fattr.ATIME_NOW, a.atimeNs);
    const mt = pick(Fattr.MTIME, Fattr.MTIME_NOW, a.mtimeNs);
    if (this.ffi !== null && path !== null) {
      this.ffi.utimens(path, at, mt, true);
      return;
    }
    // Without FFI: node:fs takes seconds as doubles, which keeps about a microsecond.
    const cur = fd !== undefined ? fs.fstatSync(fd, { bigint: true }) : fs.lstatSync(path ?? this.rootPath, { bigint: true });
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const sec = (v: bigint, keep: bigint): number => Number(v === UTIME_OMIT ? keep : v === UTIME_NOW ? nowNs : v) / 1e9;
    const atime = sec(at, cur.atimeNs);
    const mtime = sec(mt, cur.mtimeNs);
    if (fd !== undefined) fs.futimesSync(fd, atime, mtime);
    else if (path !== null) fs.lutimesSync(path, atime, mtime);
  }

  private mknod(h: FuseHeader, name: Uint8Array, mode: number, rdev: number, umask: number): HandleResult {
    const parentRel = this.rel(h.nodeid);
    const rel = this.childRel(h.nodeid, name);
    const path = this.backing(rel);
    const type = mode & S_IFMT;
    const m = this.owner.newMode(h.nodeid, parentRel, mode, umask);
    if (type === S_IFREG || type === 0) {
      fs.closeSync(fs.openSync(path, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, m.mode));
    } else {
      this.needFfi("mknod of special files").mknod(path, type | m.mode, rdev);
    }
    const parent = this.owner.giveToCaller(h, parentRel, path, m, false, false);
    const st = this.lstat(rel);
    const owner = { mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid) };
    const first: MirrorOp =
      type === S_IFREG || type === 0
        ? { op: "create", path: rel, ...owner }
        : { op: "mknod", path: rel, mode: Number(st.mode), rdev: rdev, uid: owner.uid, gid: owner.gid };
    const ops: MirrorOp[] = [first, this.timesOp(rel, st), this.timesOp(parentRel, parent)];
    return { reply: this.entry(h.unique, h.nodeid, name, st), ops };
  }

  private rename(h: FuseHeader, newDir: bigint, oldName: Uint8Array, newName: Uint8Array, flags: number): HandleResult {
    const fromParent = this.rel(h.nodeid);
    const toParent = this.rel(newDir);
    const from = this.childRel(h.nodeid, oldName);
    const to = this.childRel(newDir, newName);
    // RENAME_WHITEOUT (overlayfs) has no meaning on the SECOND: refuse it, as file systems without it do.
    if ((flags & ~3) !== 0 || flags === 3) throw new Failure(Errno.EINVAL);
    if (flags === 0) fs.renameSync(this.backing(from), this.backing(to));
    else this.needFfi("rename with flags (RENAME_NOREPLACE, RENAME_EXCHANGE)").renameat2(this.backing(from), this.backing(to), flags);
    if ((flags & 2) !== 0) this.nodes.exchanged(h.nodeid, oldName, newDir, newName);
    else this.nodes.renamed(h.nodeid, oldName, newDir, newName);
    const ops: MirrorOp[] = [{ op: "rename", from, to, flags }, this.timesOp(fromParent)];
    if (newDir !== h.nodeid) ops.push(this.timesOp(toParent));
    return { reply: encodeEmpty(h.unique), ops };
  }

  private open(h: FuseHeader, flags: number, kill: boolean): HandleResult {
    const rel = this.rel(h.nodeid);
    const fd = fs.openSync(this.backing(rel), backingFlags(flags));
    const ops: MirrorOp[] = [];
    const truncate = (flags & O_TRUNC) !== 0 && (flags & O_ACCMODE) !== 0;
    try {
      if (kill && (flags & O_TRUNC) !== 0) this.owner.killPrivileges(fd, null, rel, ops);
      if (truncate) {
        fs.ftruncateSync(fd, 0);
        ops.push({ op: "truncate", path: rel, size: 0, mtimeNs: fs.fstatSync(fd, { bigint: true }).mtimeNs });
      }
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    const open = this.files.add(h.nodeid, fd, flags, !truncate);
    return { reply: encodeOpen(h.unique, open.fh, open.openFlags, open.backingId), ops };
  }

  private create(h: FuseHeader, name: Uint8Array, flags: number, mode: number, umask: number): HandleResult {
    const parentRel = this.rel(h.nodeid);
    const rel = this.childRel(h.nodeid, name);
    const path = this.backing(rel);
    const m = this.owner.newMode(h.nodeid, parentRel, mode, umask);
    let fd: number;
    let created = true;
    try {
      fd = fs.openSync(path, backingFlags(flags) | O_CREAT | O_EXCL, m.mode);
    } catch (e) {
      // The kernel thought the name free; it is not. Without O_EXCL that is a plain open.
      if (errnoOf(e) !== Errno.EEXIST || (flags & O_EXCL) !== 0) throw e;
      fd = fs.openSync(path, backingFlags(flags));
      created = false;
    }
    const ops: MirrorOp[] = [];
    try {
      if (created) {
        const parent = this.owner.giveToCaller(h, parentRel, path, m, false, false);
        const st = fs.fstatSync(fd, { bigint: true });
        ops.push(
          { op: "create", path: rel, mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid) },
          this.timesOp(rel, st),
          this.timesOp(parentRel, parent),
        );
      } else if ((flags & O_TRUNC) !== 0) {
        fs.ftruncateSync(fd, 0);
        ops.push({ op: "truncate", path: rel, size: 0, mtimeNs: fs.fstatSync(fd, { bigint: true }).mtimeNs });
      }
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    const st = fs.fstatSync(fd, { bigint: true });
    const nodeid = this.nodes.found(h.nodeid, name, st.dev, st.ino);
    // A file being created is being written: never passthrough.
    const open = this.files.add(nodeid, fd, flags, false);
    const entry = { nodeid, generation: 0n, entryValidNs: TTL_NS, attrValidNs: TTL_NS, attr: attrOf(st) };
    return { reply: encodeCreate(h.unique, entry, open.fh, open.openFlags), ops };
  }

  /**
   * A large write is carried out and described piece by piece (WRITE_PIECE
   * bytes): with `onPart` set, each piece but the last is handed on as soon
   * as it is written here, so the SECOND receives and applies it while the
   * next is written, and the request's remaining ops follow in its result.
   * Each piece is a whole write of its own range, done here before it is
   * described. A failure after some pieces answers the bytes written (a
   * short write), so nothing handed on is ever missing here.
   */
  onPart: ((ops: MirrorOp[]) => void) | null = null;

  /** READ replies spliced from the backing file (null: read into a buffer and written back out). */
  splicer: SplicedReads | null = null;

  /** Answer read-only opens with direct I/O (MountInPlaceOptions.read "direct"); set before INIT. */
  directReads = false;

  /** How read-only opens are answered on this kernel, settled by INIT ("cache" when direct fell back); null before. */
  readsServed: "cache" | "direct" | null = null;

  /** Whether the READ was answered (or its answer is no longer wanted) by splice. */
  private spliced(unique: bigint, fd: number, offset: number, size: number): boolean {
    try {
      return this.splicer?.reply(unique, fd, offset, size) !== "not sent";
    } catch (e) {
      // The pipe could not be renewed: every READ goes the ordinary way from now on.
      this.splicer = null;
      this.reportOnce("splice", "warn", `READ replies are no longer spliced: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
  }

  private write(h: FuseHeader, fh: bigint, offset: number, data: Uint8Array, kill: boolean): HandleResult {
    const f = this.file(fh);
    const rel = this.nodes.path(f.nodeid);
    // An unlinked file no longer exists on the SECOND: its writes have nowhere to go.
    let ops: MirrorOp[] = [];
    if (kill) this.owner.killPrivileges(f.fd, null, rel, ops);
    let done = 0;
    while (done < data.length) {
      const end = Math.min(data.length, done + WRITE_PIECE);
      let at = done;
      let failed: unknown = null;
      try {
        while (at < end) {
          const n = fs.writeSync(f.fd, data, at, end - at, offset + at);
          if (n <= 0) break;
          at += n;
        }
      } catch (e) {
        failed = e;
      }
      if (at === 0 && failed !== null) throw failed;
      if (at > done && rel !== null) {
        const st = fs.fstatSync(f.fd, { bigint: true });
        ops.push({ op: "write", path: rel, offset: offset + done, data: data.slice(done, at), mtimeNs: st.mtimeNs });
      }
      const more = at === end && at < data.length && failed === null;
      if (more && this.onPart !== null && ops.length > 0) {
        this.onPart(ops);
        ops = [];
      }
      done = at;
      if (!more) break;
    }
    const reply = encodeWrite(h.unique, done);
    if (rel === null || done === 0) return { reply, ops: [] };
    if (f.sync !== "none") ops.push({ op: "fsync", path: rel, dataOnly: f.sync === "data" });
    return { reply, ops };
  }

  private readdir(h: FuseHeader, fh: bigint, offset: number, size: number): Uint8Array {
    const d = this.dirs.get(fh);
    if (d === undefined) throw new Failure(Errno.EBADF);
    const rel = this.rel(d.nodeid);
    const out = new DirentWriter(h.unique, size);
    const total = d.entries.length + 2;
    for (let i = offset; i < total; i++) {
      let name: Uint8Array;
      let st: fs.BigIntStats;
      try {
        if (i === 0) {
          name = DOT;
          st = this.lstat(rel);
        } else if (i === 1) {
          name = DOTDOT;
          st = this.lstat(rel.length === 0 ? rel : this.parentOf(rel));
        } else {
          const e = d.entries[i - 2];
          if (e === undefined) break;
          name = e.name;
          st = this.lstat(rel.length === 0 ? name : joinRel(rel, name));
        }
      } catch {
        continue; // removed since opendir
      }
      if (!out.add(st.ino, i + 1, direntType(Number(st.mode)), name)) break;
    }
    return out.finish();
  }
}

function joinRel(dir: Uint8Array, name: Uint8Array): Uint8Array {
  const out = new Uint8Array(dir.length + 1 + name.length);
  out.set(dir, 0);
  out[dir.length] = SLASH;
  out.set(name, dir.length + 1);
  return out;
}
