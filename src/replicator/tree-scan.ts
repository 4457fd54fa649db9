/**
 * A folder on this host as manifest entries: lstat only (a symlink is never
 * followed), names as raw bytes, pre-order with siblings in byte order (the
 * manifest order). The scan stays on the folder's filesystem, as a mount
 * point beneath is not part of the replicated copy (its entry is listed, not
 * its contents). Xattrs are read only when the scan is given libc's calls
 * for them (Node has none).
 */

import { constants as C, lstatSync, promises as fsp, readdirSync, readlinkSync, type BigIntStats } from "node:fs";
import type { FsCalls } from "../sys/ffi/fs-calls.ts";
import { Breather } from "./breathe.ts";
import { withXattrs } from "./entry-xattrs.ts";
import type { RelPath } from "./ops.ts";
import type { EntryType, ManifestEntry } from "./resync-types.ts";

const SLASH = Buffer.from("/");

/** The host path of `rel` under `root`, as bytes (any name survives). */
export function hostPath(root: string, rel: RelPath): Buffer {
  const base = Buffer.from(root);
  if (rel.length === 0) return base;
  return Buffer.concat([base, SLASH, rel]);
}

export function joinRel(parent: RelPath, name: Uint8Array): RelPath {
  if (parent.length === 0) return new Uint8Array(name);
  const out = new Uint8Array(parent.length + 1 + name.length);
  out.set(parent, 0);
  out[parent.length] = 0x2f;
  out.set(name, parent.length + 1);
  return out;
}

export function entryType(mode: number): EntryType | null {
  switch (mode & C.S_IFMT) {
    case C.S_IFREG: return "file";
    case C.S_IFDIR: return "dir";
    case C.S_IFLNK: return "symlink";
    case C.S_IFIFO: return "fifo";
    case C.S_IFSOCK: return "socket";
    case C.S_IFCHR: return "chardev";
    case C.S_IFBLK: return "blockdev";
    default: return null;
  }
}

/** The entry for `rel`, given its lstat; reads a symlink's target. */
export async function entryOf(root: string, rel: RelPath, st: BigIntStats): Promise<ManifestEntry | null> {
  const base = baseEntry(rel, st);
  if (base === null || base.type !== "symlink") return base;
  const target = await fsp.readlink(hostPath(root, rel), { encoding: "buffer" });
  return { ...base, target: new Uint8Array(target) };
}

/** The entry for `rel` from its lstat, a symlink's target not read yet; null for a type the copy does not hold. */
function baseEntry(rel: RelPath, st: BigIntStats): ManifestEntry | null {
  const type = entryType(Number(st.mode));
  if (type === null) return null;
  return {
    path: rel,
    type,
    mode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: type === "file" || type === "symlink" ? Number(st.size) : 0,
    mtimeNs: st.mtimeNs,
    rdev: type === "chardev" || type === "blockdev" ? Number(st.rdev) : 0,
    ino: st.ino,
    nlink: Number(st.nlink),
  };
}

/** The entry at `rel`, or null when nothing is there. */
export async function statEntry(root: string, rel: RelPath): Promise<ManifestEntry | null> {
  try {
    const st = await fsp.lstat(hostPath(root, rel), { bigint: true });
    return await entryOf(root, rel, st);
  } catch (e) {
    if (isGone(e)) return null;
    throw e;
  }
}

export function isGone(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/**
 * The entries at and beneath `under` (see the file comment). Entries that
 * vanish while the scan runs are skipped: the live stream covers them.
 *
 * Each entry is read with a synchronous lstat when it is asked for: the
 * runtime's promise lstat hops to its thread pool and back per entry, three
 * to four times the CPU of the call itself (a resync of many small files
 * lists every one of them). Timers run every BREATHE_MS meanwhile, as they
 * did between the pool's answers.
 */
export async function* scanTree(root: string, under: RelPath, recursive: boolean, xattrs: FsCalls | null = null): AsyncGenerator<ManifestEntry> {
  const breather = new Breather();
  for (const e of scanTreeSync(root, under, recursive, xattrs)) {
    await breather.breathe();
    yield e;
  }
}

/** scanTree's walk, one synchronous lstat per entry as it is taken; with `xattrs`, each entry's xattrs too. */
export function* scanTreeSync(root: string, under: RelPath, recursive: boolean, xattrs: FsCalls | null = null): Generator<ManifestEntry> {
  if (xattrs === null) {
    yield* walkSync(root, under, recursive);
    return;
  }
  for (const e of walkSync(root, under, recursive)) yield withXattrs(xattrs, e, hostPath(root, e.path));
}

function* walkSync(root: string, under: RelPath, recursive: boolean): Generator<ManifestEntry> {
  let top: BigIntStats;
  try {
    top = lstatSync(hostPath(root, under), { bigint: true });
  } catch (e) {
    if (isGone(e)) return;
    throw e;
  }
  const first = entryOfSync(root, under, top);
  if (first === null) return;
  yield first;
  if (first.type !== "dir") return;
  yield* scanDirSync(root, under, top.dev, recursive);
}

function* scanDirSync(root: string, dir: RelPath, dev: bigint, recursive: boolean): Generator<ManifestEntry> {
  let names: Buffer[];
  try {
    names = readdirSync(hostPath(root, dir), { encoding: "buffer" });
  } catch (e) {
    if (isGone(e)) return;
    throw e;
  }
  names.sort(Buffer.compare);
  for (const name of names) {
    const rel = joinRel(dir, name);
    let st: BigIntStats;
    let entry: ManifestEntry | null;
    try {
      st = lstatSync(hostPath(root, rel), { bigint: true });
      entry = entryOfSync(root, rel, st);
    } catch (e) {
      if (isGone(e)) continue;
      throw e;
    }
    if (entry === null) continue;
    yield entry;
    if (recursive && entry.type === "dir" && st.dev === dev) yield* scanDirSync(root, rel, dev, true);
  }
}

/** entryOf without the thread pool. */
function entryOfSync(root: string, rel: RelPath, st: BigIntStats): ManifestEntry | null {
  const base = baseEntry(rel, st);
  if (base === null || base.type !== "symlink") return base;
  return { ...base, target: new Uint8Array(readlinkSync(hostPath(root, rel), { encoding: "buffer" })) };
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
