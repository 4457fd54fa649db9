/**
 * `vigil verify`: compares the local copy with the other one (a ResyncPeer)
 * by manifest and by block checksums of every file, changing nothing, and
 * lists what differs. While the service writes, differences can be
 * transient: the caller says so, or verifies with the service stopped.
 */

import { constants as C, promises as fsp } from "node:fs";
import { compareKeys, pathKey } from "../core/mirror/resync-plan.ts";
import { fileBlockSums, sumsEqual } from "./block-sums.ts";
import { relPathText, type RelPath } from "./ops.ts";
import { RESYNC_BLOCK } from "./resync.ts";
import { Breather } from "./breathe.ts";
import type { ManifestEntry, ResyncPeer } from "./resync-types.ts";
import { hostPath, scanTree } from "./tree-scan.ts";
import { loadFsCalls, type FsCalls } from "../sys/ffi/fs-calls.ts";

export type DifferenceKind =
  | "missing" | "extra" | "type" | "mode" | "owner" | "mtime" | "size" | "target" | "rdev" | "content" | "hardlink" | "xattrs";

export interface TreeDifference {
  /** The path as text (\xNN for bytes that are not UTF-8); "" is the folder itself. */
  readonly path: string;
  readonly rawPath: RelPath;
  readonly kind: DifferenceKind;
  /** Local value, then the other copy's. */
  readonly detail: string;
}

export interface VerifyOptions {
  readonly blockSize?: number;
  /** Stop listing after this many (the result says it stopped). */
  readonly maxDifferences?: number;
  readonly signal?: AbortSignal;
  /** As ResyncOptions.exclude: paths that are not part of the copy. */
  readonly exclude?: (path: RelPath) => boolean;
  /** As ResyncOptions.xattrs: without libc's calls the local xattrs are not read, and not compared. */
  readonly xattrs?: FsCalls | null;
}

export interface VerifyResult {
  readonly differences: readonly TreeDifference[];
  readonly truncated: boolean;
  readonly entriesCompared: number;
  readonly filesCompared: number;
  readonly bytesCompared: number;
}

class Full extends Error {}

export async function verifyTrees(root: string, peer: ResyncPeer, options: VerifyOptions = {}): Promise<VerifyResult> {
  const max = options.maxDifferences ?? 1000;
  const blockSize = options.blockSize ?? RESYNC_BLOCK;
  const differences: TreeDifference[] = [];
  let filesCompared = 0;
  let bytesCompared = 0;
  const add = (path: RelPath, kind: DifferenceKind, detail: string): void => {
    differences.push({ path: relPathText(path), rawPath: path, kind, detail });
    if (differences.length >= max) throw new Full();
  };
  const root0 = new Uint8Array();
  const kept = (e: ManifestEntry): boolean => e.path.length === 0 || options.exclude?.(e.path) !== true;
  // A daemon runs this on its main thread: it lets the heartbeat's timers run between steps.
  const breather = new Breather();
  const index = async (list: AsyncIterable<ManifestEntry>): Promise<Map<string, ManifestEntry>> => {
    const out = new Map<string, ManifestEntry>();
    for await (const e of list) {
      await breather.breathe();
      if (kept(e)) out.set(pathKey(e.path), e);
    }
    return out;
  };
  const xattrs = options.xattrs !== undefined ? options.xattrs : await loadFsCalls("verify xattrs").catch(() => null);
  const ours = await index(scanTree(root, root0, true, xattrs));
  const theirs = await index(peer.manifest(root0, true));
  const keys = [...new Set([...ours.keys(), ...theirs.keys()])].sort(compareKeys);
  await breather.breathe();
  try {
    compareLinks(ours, theirs, add);
    for (const k of keys) {
      await breather.breathe();
      if (options.signal?.aborted === true) break;
      const a = ours.get(k);
      const b = theirs.get(k);
      if (b === undefined) {
        add(a!.path, "missing", `${a!.type} only in the local copy`);
        continue;
      }
      if (a === undefined) {
        add(b.path, "extra", `${b.type} only in the other copy`);
        continue;
      }
      if (a.type !== b.type) {
        add(a.path, "type", `${a.type} vs ${b.type}`);
        continue;
      }
      if (a.type !== "symlink" && a.mode !== b.mode) add(a.path, "mode", `${oct(a.mode)} vs ${oct(b.mode)}`);
      if (a.uid !== b.uid || a.gid !== b.gid) add(a.path, "owner", `${a.uid}:${a.gid} vs ${b.uid}:${b.gid}`);
      const dt = a.mtimeNs > b.mtimeNs ? a.mtimeNs - b.mtimeNs : b.mtimeNs - a.mtimeNs;
      if (dt >= BigInt(Math.max(1, peer.mtimeWindowNs))) add(a.path, "mtime", `${a.mtimeNs} vs ${b.mtimeNs} ns`);
      if (a.rdev !== b.rdev) add(a.path, "rdev", `${a.rdev} vs ${b.rdev}`);
      if (a.type === "symlink" && !same(a.target, b.target)) add(a.path, "target", `${relPathText(a.target ?? root0)} vs ${relPathText(b.target ?? root0)}`);
      if (a.xattrs !== undefined && b.xattrs !== undefined && !sameXattrs(a, b)) add(a.path, "xattrs", xattrsText(a, b));
      if (a.type === "file") {
        if (a.size !== b.size) add(a.path, "size", `${a.size} vs ${b.size} bytes`);
        const ranges = await differingBlocks(root, peer, a.path, blockSize);
        filesCompared++;
        bytesCompared += a.size;
        if (ranges.length > 0) add(a.path, "content", `${ranges.length} block(s) of ${blockSize} bytes differ, first at byte ${ranges[0]}`);
      }
    }
  } catch (e) {
    if (!(e instanceof Full)) throw e;
    return { differences, truncated: true, entriesCompared: keys.length, filesCompared, bytesCompared };
  }
  return { differences, truncated: false, entriesCompared: keys.length, filesCompared, bytesCompared };
}

function oct(mode: number): string {
  return `0${mode.toString(8)}`;
}

function same(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The names whose values differ or that only one side has, local first. */
function xattrsText(a: ManifestEntry, b: ManifestEntry): string {
  const names = (e: ManifestEntry): string => (e.xattrs ?? []).map((x) => relPathText(x.name)).sort().join(",") || "none";
  return `extended attributes differ: ${names(a)} vs ${names(b)}`;
}

function sameXattrs(a: ManifestEntry, b: ManifestEntry): boolean {
  const key = (e: ManifestEntry): string => (e.xattrs ?? []).map((x) => `${pathKey(x.name)}=${pathKey(x.value)}`).sort().join("\0");
  return key(a) === key(b);
}

/** Hard-link groups must match: same local inode <=> same other inode, among names in both copies. */
function compareLinks(ours: Map<string, ManifestEntry>, theirs: Map<string, ManifestEntry>, add: (p: RelPath, k: DifferenceKind, d: string) => void): void {
  const theirFor = new Map<bigint, bigint>();
  const ourFor = new Map<bigint, bigint>();
  for (const [k, a] of ours) {
    const b = theirs.get(k);
    if (a.type !== "file" || b?.type !== "file" || (a.nlink <= 1 && b.nlink <= 1)) continue;
    const t = theirFor.get(a.ino);
    const o = ourFor.get(b.ino);
    if ((t !== undefined && t !== b.ino) || (o !== undefined && o !== a.ino)) {
      add(a.path, "hardlink", "hard-link groups differ");
      continue;
    }
    theirFor.set(a.ino, b.ino);
    ourFor.set(b.ino, a.ino);
  }
}

/** Offsets of the blocks that differ (the other copy's sums against ours). */
async function differingBlocks(root: string, peer: ResyncPeer, path: RelPath, blockSize: number): Promise<number[]> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(hostPath(root, path), C.O_RDONLY | C.O_NOFOLLOW);
  } catch {
    return [];
  }
  const out: number[] = [];
  try {
    const size = (await fh.stat()).size;
    const blocks = Math.ceil(size / blockSize);
    for (let first = 0; first < Math.max(1, blocks); first += 512) {
      const count = Math.min(512, blocks - first);
      const [a, b] = await Promise.all([fileBlockSums(fh, size, blockSize, first * blockSize, count), peer.blockSums(path, blockSize, first * blockSize, count)]);
      if (b === null) return [0];
      for (let i = 0; i < count; i++) if (!sumsEqual(a.sums, i, b.sums, i)) out.push((first + i) * blockSize);
      // Their file may be longer: that shows as a size difference.
    }
  } finally {
    await fh.close();
  }
  return out;
}
