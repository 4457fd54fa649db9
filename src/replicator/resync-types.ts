/**
 * What the resync (and `vigil verify`) needs from the other copy: its tree,
 * checksums of its files' blocks, and a way to change it. The replication
 * link implements this over the network towards the SECOND; a local folder
 * implements it for tests and benchmarks (resync-local-peer.ts).
 *
 * The SECOND has ONE write path: `apply` hands the op to the same applier
 * that carries out live replication (src/replicator/apply.ts).
 *
 * Ordering contract of `apply` (the resync's correctness rests on it, see
 * resync.ts): the op takes its place in the single ordered stream of ops to
 * the SECOND synchronously, during the call, before the returned promise is
 * created; live ops and resync ops share that one order. A live op is put in
 * that stream only after its effect on the PRIM's folder is complete.
 */

import type { MirrorOp, RelPath } from "./ops.ts";

/** What kind of object a manifest entry is (lstat's view: a symlink is never followed). */
export type EntryType = "file" | "dir" | "symlink" | "fifo" | "socket" | "chardev" | "blockdev";

export const ENTRY_TYPES: readonly EntryType[] = ["file", "dir", "symlink", "fifo", "socket", "chardev", "blockdev"];

/** One extended attribute; names and values are raw bytes ("user.x", "system.posix_acl_access"). */
export interface Xattr {
  readonly name: Uint8Array;
  readonly value: Uint8Array;
}

/** One object of a copy, as lstat(2) sees it. */
export interface ManifestEntry {
  /** Relative to the replicated folder; the empty path is the folder itself. */
  readonly path: RelPath;
  readonly type: EntryType;
  /** Permission bits only (07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Bytes for a file, the target's length for a symlink, 0 otherwise. */
  readonly size: number;
  readonly mtimeNs: bigint;
  /** Device number for chardev/blockdev, 0 otherwise. */
  readonly rdev: number;
  /** A symlink's target bytes; absent for other types. */
  readonly target?: Uint8Array;
  /**
   * Inode number on the side that produced the entry; entries of the same
   * copy with equal `ino` and `nlink > 1` are one hard-link group. Never
   * compared across copies.
   */
  readonly ino: bigint;
  readonly nlink: number;
  /** Absent when the side does not read xattrs (then they are not compared). */
  readonly xattrs?: readonly Xattr[];
}

/**
 * Checksums of consecutive blocks of one file: `sums` holds BLOCK_SUM_BYTES
 * per block, for the blocks from `offset` on (the last one may be short, and
 * there are fewer than asked when the file ends first).
 */
export interface BlockSums {
  /** The file's size when the sums were taken. */
  readonly size: number;
  readonly blockSize: number;
  readonly offset: number;
  readonly sums: Uint8Array;
}

/** SHA-256 of the block's bytes, truncated to this many bytes. */
export const BLOCK_SUM_BYTES = 16;

/** How the SECOND answered one op. `errno` is the code name ("ENOENT"), for logs and decisions. */
export type ApplyResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly errno: string; readonly message: string };

export interface ResyncPeer {
  /**
   * The entries of the copy at and beneath `under` (the empty path: the whole
   * copy; a missing `under`: nothing), in pre-order with siblings in byte order
   * of their names (see compareRelPaths). `recursive: false` yields `under` and
   * its direct children only. `xattrs: false`: the asker does not compare
   * the copy's xattrs, and the peer may leave them out (default true).
   */
  manifest(under: RelPath, recursive: boolean, xattrs?: boolean): AsyncIterable<ManifestEntry>;
  /** One entry, or null when nothing is at `path`. */
  entry(path: RelPath): Promise<ManifestEntry | null>;
  /**
   * Sums of `count` blocks of `blockSize` bytes starting at `offset` (a
   * multiple of blockSize), of the regular file at `path`; null when
   * `path` is not a regular file.
   */
  blockSums(path: RelPath, blockSize: number, offset: number, count: number): Promise<BlockSums | null>;
  /** Carry out one op on the copy; see the ordering contract above. */
  apply(op: MirrorOp): Promise<ApplyResult>;
  /**
   * How far apart two mtimes may be and still count as equal (1 when the side
   * sets times to the nanosecond; larger when it cannot, as Node's utimes).
   */
  readonly mtimeWindowNs: number;
}

/**
 * The order of manifests: component by component, each compared as bytes;
 * so a directory comes right before its contents (pre-order).
 */
export function compareRelPaths(a: RelPath, b: RelPath): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    // "/" ends a component, so it sorts before every other byte.
    if (x === 0x2f) return -1;
    if (y === 0x2f) return 1;
    return x - y;
  }
  return a.length - b.length;
}
