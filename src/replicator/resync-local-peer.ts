/**
 * A ResyncPeer over a folder on this host: the second copy for tests and
 * benchmarks, and `vigil verify` between two local folders. The network
 * peer towards the SECOND goes through the replication link instead.
 *
 * Ops run one at a time in call order (the ordering contract of
 * ResyncPeer.apply). What Node cannot do is answered ENOSYS: renameat2's
 * RENAME_EXCHANGE, xattrs (unless given libc's calls for them); fallocate only punches holes, by writing zeros;
 * special files are made with mkfifo(1)/mknod(1) for names that are text.
 * Times are set through utimes with a double in seconds, so they land within
 * about a microsecond: mtimeWindowNs says so.
 */

import { spawnSync } from "node:child_process";
import { promises as fsp, constants as C } from "node:fs";
import type { FsCalls } from "../sys/ffi/fs-calls.ts";
import { fileBlockSums } from "./block-sums.ts";
import { RENAME_EXCHANGE, RENAME_NOREPLACE, relPathText, type MirrorOp, type RelPath } from "./ops.ts";
import type { ApplyResult, BlockSums, ManifestEntry, ResyncPeer } from "./resync-types.ts";
import { hostPath, scanTree, statEntry } from "./tree-scan.ts";

const FALLOC_FL_KEEP_SIZE = 1;
const FALLOC_FL_PUNCH_HOLE = 2;

export interface LocalPeerCounters {
  ops: number;
  /** Payload bytes of write ops: what the link would carry as data. */
  writeBytes: number;
  /** Bytes of block sums handed out. */
  sumBytes: number;
  failures: number;
}

class OpError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Deno's mkdir takes no Buffer path: text where the bytes are UTF-8 exactly. */
function textIfExact(p: Buffer): Buffer | string {
  const text = p.toString("utf8");
  return Buffer.from(text).equals(p) ? text : p;
}

export function nsToSeconds(ns: bigint): number {
  return Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
}

export class LocalResyncPeer implements ResyncPeer {
  readonly mtimeWindowNs = 2000;
  readonly counters: LocalPeerCounters = { ops: 0, writeBytes: 0, sumBytes: 0, failures: 0 };
  private tail: Promise<unknown> = Promise.resolve();

  /** `xattrs`: libc's xattr calls (Bun), with which listings carry xattrs and xattr ops are applied; null: ENOSYS. */
  constructor(readonly root: string, private readonly xattrs: FsCalls | null = null) {}

  manifest(under: RelPath, recursive: boolean, xattrs = true): AsyncIterable<ManifestEntry> {
    return scanTree(this.root, under, recursive, xattrs ? this.xattrs : null);
  }

  entry(path: RelPath): Promise<ManifestEntry | null> {
    return statEntry(this.root, path);
  }

  async blockSums(path: RelPath, blockSize: number, offset: number, count: number): Promise<BlockSums | null> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(hostPath(this.root, path), C.O_RDONLY | C.O_NOFOLLOW);
    } catch {
      return null;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) return null;
      const sums = await fileBlockSums(fh, st.size, blockSize, offset, count);
      this.counters.sumBytes += sums.sums.length;
      return sums;
    } finally {
      await fh.close();
    }
  }

  apply(op: MirrorOp): Promise<ApplyResult> {
    const run = this.tail.then(() => this.carryOut(op));
    this.tail = run;
    return run;
  }

  private async carryOut(op: MirrorOp): Promise<ApplyResult> {
    this.counters.ops++;
    try {
      await this.perform(op);
      return { ok: true };
    } catch (e) {
      this.counters.failures++;
      const code = e instanceof OpError ? e.code : ((e as { code?: string }).code ?? "EIO");
      return { ok: false, errno: code, message: `${op.op}: ${(e as Error).message}` };
    }
  }

  private p(path: RelPath): Buffer {
    return hostPath(this.root, path);
  }

  private async perform(op: MirrorOp): Promise<void> {
    switch (op.op) {
      case "write": {
        const fh = await fsp.open(this.p(op.path), C.O_WRONLY | C.O_NOFOLLOW);
        try {
          let done = 0;
          while (done < op.data.length) done += (await fh.write(op.data, done, op.data.length - done, op.offset + done)).bytesWritten;
          await setMtime(fh, op.mtimeNs);
        } finally {
          await fh.close();
        }
        this.counters.writeBytes += op.data.length;
        return;
      }
      case "truncate": {
        const fh = await fsp.open(this.p(op.path), C.O_WRONLY | C.O_NOFOLLOW);
        try {
          await fh.truncate(op.size);
          await setMtime(fh, op.mtimeNs);
        } finally {
          await fh.close();
        }
        return;
      }
      case "create": {
        const fh = await fsp.open(this.p(op.path), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
        try {
          await fh.chown(op.uid, op.gid);
          await fh.chmod(op.mode & 0o7777);
        } finally {
          await fh.close();
        }
        return;
      }
      case "mkdir":
        await fsp.mkdir(textIfExact(this.p(op.path)), 0o700);
        await fsp.lchown(this.p(op.path), op.uid, op.gid);
        return fsp.chmod(this.p(op.path), op.mode & 0o7777);
      case "mknod":
        return this.mknod(op.path, op.mode, op.rdev, op.uid, op.gid);
      case "symlink":
        await fsp.symlink(Buffer.from(op.target), this.p(op.path));
        return fsp.lchown(this.p(op.path), op.uid, op.gid);
      case "link":
        return fsp.link(this.p(op.existing), this.p(op.path));
      case "unlink":
        return fsp.unlink(this.p(op.path));
      case "rmdir":
        return fsp.rmdir(this.p(op.path));
      case "rename":
        if (op.flags & RENAME_EXCHANGE) throw new OpError("ENOSYS", "RENAME_EXCHANGE is not available to Node");
        if (op.flags & RENAME_NOREPLACE && (await statEntry(this.root, op.to)) !== null) throw new OpError("EEXIST", `${relPathText(op.to)} exists`);
        return fsp.rename(this.p(op.from), this.p(op.to));
      case "chmod":
        return fsp.chmod(this.p(op.path), op.mode & 0o7777);
      case "chown":
        return fsp.lchown(this.p(op.path), op.uid, op.gid);
      case "utimes": {
        const st = await fsp.lstat(this.p(op.path));
        const at = nsToSeconds(op.atimeNs);
        const mt = nsToSeconds(op.mtimeNs);
        return st.isSymbolicLink() ? fsp.lutimes(this.p(op.path), at, mt) : fsp.utimes(this.p(op.path), at, mt);
      }
      case "fallocate":
        if (op.mode !== (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) throw new OpError("ENOSYS", `fallocate mode ${op.mode}`);
        return this.zeroRange(op.path, op.offset, op.length, op.mtimeNs);
      case "setxattr":
        if (this.xattrs === null) throw new OpError("ENOSYS", "xattrs are not available to Node");
        return this.xattrs.lsetxattr(this.p(op.path), op.name, op.value, op.flags);
      case "removexattr":
        if (this.xattrs === null) throw new OpError("ENOSYS", "xattrs are not available to Node");
        return this.xattrs.lremovexattr(this.p(op.path), op.name);
      case "fsync": {
        const fh = await fsp.open(this.p(op.path ?? new Uint8Array()), C.O_RDONLY | C.O_NOFOLLOW);
        try {
          await (op.dataOnly ? fh.datasync() : fh.sync());
        } finally {
          await fh.close();
        }
        return;
      }
    }
  }

  private async zeroRange(path: RelPath, offset: number, length: number, mtimeNs: bigint): Promise<void> {
    const fh = await fsp.open(this.p(path), C.O_WRONLY | C.O_NOFOLLOW);
    try {
      const size = (await fh.stat()).size;
      const end = Math.min(size, offset + length);
      const zeros = new Uint8Array(Math.min(1 << 20, Math.max(0, end - offset)));
      for (let at = offset; at < end; at += zeros.length) await fh.write(zeros, 0, Math.min(zeros.length, end - at), at);
      await setMtime(fh, mtimeNs);
    } finally {
      await fh.close();
    }
  }

  private async mknod(path: RelPath, mode: number, rdev: number, uid: number, gid: number): Promise<void> {
    const name = this.p(path).toString();
    if (!Buffer.from(name).equals(this.p(path))) throw new OpError("ENOSYS", "special file with a name that is not text");
    const perm = (mode & 0o7777).toString(8);
    const type = mode & C.S_IFMT;
    const args =
      type === C.S_IFIFO ? ["mkfifo", "-m", perm, name]
      : type === C.S_IFCHR || type === C.S_IFBLK ? ["mknod", "-m", perm, name, type === C.S_IFCHR ? "c" : "b", String(Math.floor(rdev / 256) & 0xfff), String((rdev & 0xff) | ((rdev >> 12) & 0xfff00))]
      : null;
    if (args === null) throw new OpError("ENOSYS", "sockets are made by bind(2), not by Node");
    const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
    if (r.status !== 0) throw new OpError("EIO", `${args[0]} failed: ${(r.stderr ?? "").trim()}`);
    await fsp.lchown(this.p(path), uid, gid);
  }
}

/** As the applier: a data op leaves the mtime it carries, and the atime as it was. */
async function setMtime(fh: fsp.FileHandle, mtimeNs: bigint): Promise<void> {
  const st = await fh.stat({ bigint: true });
  await fh.utimes(nsToSeconds(st.atimeNs), nsToSeconds(mtimeNs));
}
