/**
 * What a resync must do to make a target copy identical to a source copy,
 * from the two manifests alone (pure: no I/O, no clock).
 *
 * Step order, and why:
 *  1. renames: entries the target already holds under another name (found
 *     by type, size, mode, owner and mtime, unique on both sides) are moved
 *     instead of being deleted and sent again; before deletions, so a moved
 *     entry's old parent can then be removed;
 *  2. deletions, deepest first (a directory empties before its rmdir):
 *     extras, type changes, changed symlinks and device numbers, and names
 *     whose hard-link group on the target is not the source's;
 *  3. directories, shallowest first; 4. special files and symlinks;
 *  5. regular files (create and/or data); 6. hard links to their group's
 *     leader (which step 5 made right);
 *  7. metadata: non-directories, then directories deepest first, because
 *     every namespace step above changes its parent's mtime.
 *
 * The manifests may cover only part of the copies (journal-driven resync):
 * then both must list the same scopes, and a deleted directory's contents
 * that are not listed are the driver's to remove.
 */

import type { RelPath } from "../../replicator/ops.ts";
import type { EntryType, ManifestEntry, Xattr } from "../../replicator/resync-types.ts";

/** A byte range [offset, offset + length). */
export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/** How the data of one regular file is made right. */
export type DataPlan =
  /** The target file is new: send every block that is not a hole. */
  | { readonly kind: "all" }
  /** Compare block checksums, send the blocks that differ. */
  | { readonly kind: "compare" }
  /**
   * Send exactly `ranges` (the journal knows they changed); compare the
   * blocks of `compare` (the journal only knows they may have).
   */
  | { readonly kind: "ranges"; readonly ranges: readonly ByteRange[]; readonly compare: readonly ByteRange[] }
  /** Data is right; at most the size and metadata need fixing. */
  | { readonly kind: "none" };

/** What the journal knows about one path (journal-driven resync). */
export type DataHint = { readonly kind: "compare" } | { readonly kind: "ranges"; readonly ranges: readonly ByteRange[]; readonly compare: readonly ByteRange[] };

export interface MetaFix {
  readonly chown: boolean;
  readonly chmod: boolean;
  readonly utimes: boolean;
  readonly setXattrs: readonly Xattr[];
  readonly removeXattrs: readonly Uint8Array[];
}

export type ResyncStep =
  | { readonly kind: "rename"; readonly from: RelPath; readonly to: RelPath }
  /** Remove the target's entry (and, for a directory, whatever is left beneath). */
  | { readonly kind: "delete"; readonly path: RelPath; readonly type: EntryType }
  | { readonly kind: "mkdir"; readonly entry: ManifestEntry }
  | { readonly kind: "mknod"; readonly entry: ManifestEntry }
  | { readonly kind: "symlink"; readonly entry: ManifestEntry }
  /** `create`: the target has no regular file there (any old entry is deleted by step 2). */
  | { readonly kind: "file"; readonly entry: ManifestEntry; readonly create: boolean; readonly targetSize: number; readonly data: DataPlan }
  | { readonly kind: "link"; readonly existing: RelPath; readonly path: RelPath }
  | { readonly kind: "meta"; readonly entry: ManifestEntry; readonly fix: MetaFix };

export interface PlanOptions {
  /** Two mtimes this close count as equal (1: exact). */
  readonly mtimeWindowNs: number;
  /** Compare every file's blocks, even when size and mtime agree (`vigil resync`, verify). */
  readonly checksumAll: boolean;
  /** Look for entries moved on the source since the target last saw them. */
  readonly detectRenames: boolean;
  /** Journal knowledge per path key (see pathKey); absent: size and mtime decide. */
  readonly dataHint?: (key: string) => DataHint | undefined;
  /**
   * Files whose blocks are compared even when size and mtime agree: the
   * target's copy got live writes that set its mtime to the source's while
   * its older bytes may still be stale (see resync.ts, "live ops").
   */
  readonly compareAnyway?: (key: string, source: ManifestEntry) => boolean;
  /**
   * Entries listed only because their directory changed (journal-driven):
   * their existence and type are made right, not their data or metadata.
   */
  readonly shallow?: (key: string) => boolean;
}

export const DEFAULT_PLAN_OPTIONS: PlanOptions = { mtimeWindowNs: 1, checksumAll: false, detectRenames: true };

/** A Map key for a path: one char per byte, so any bytes round-trip. */
export function pathKey(path: RelPath): string {
  let out = "";
  // apply() over a chunk, not a spread: several times faster on 100k paths.
  for (let i = 0; i < path.length; i += 4096) out += String.fromCharCode.apply(null, path.subarray(i, i + 4096) as unknown as number[]);
  return out;
}

export function keyPath(key: string): RelPath {
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) out[i] = key.charCodeAt(i);
  return out;
}

/** The parent's key; the root's parent is itself. */
export function parentKey(key: string): string {
  const i = key.lastIndexOf("/");
  return i < 0 ? "" : key.slice(0, i);
}

export function depthOfKey(key: string): number {
  if (key === "") return 0;
  let d = 1;
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) === 0x2f) d++;
  return d;
}

/** Whether `key` is `ancestor` or lies beneath it. */
export function isWithin(key: string, ancestor: string): boolean {
  if (ancestor === "") return true;
  return key === ancestor || (key.startsWith(ancestor) && key.charCodeAt(ancestor.length) === 0x2f);
}

/** Manifest order (pre-order, siblings by bytes) on keys. */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === 0x2f) return -1;
    if (y === 0x2f) return 1;
    return x - y;
  }
  return a.length - b.length;
}

function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function mtimeEqual(a: bigint, b: bigint, windowNs: number): boolean {
  const d = a > b ? a - b : b - a;
  return d < BigInt(Math.max(1, windowNs));
}

function isLinked(e: ManifestEntry): boolean {
  return e.type === "file" && e.nlink > 1;
}

/** Entries that may be one moved entry share this key (and an mtime within the window). */
function renameKey(e: ManifestEntry): string | null {
  const owner = `${e.mode}:${e.uid}:${e.gid}`;
  if (e.type === "file") return e.nlink === 1 && e.size > 0 ? `f:${e.size}:${owner}` : null;
  if (e.type === "dir") return `d:${owner}`;
  return null;
}

/** What differs between two entries' xattrs; null when either side did not read them. */
function xattrDiff(src: ManifestEntry, dst: ManifestEntry | null): { set: Xattr[]; remove: Uint8Array[] } {
  const set: Xattr[] = [];
  const remove: Uint8Array[] = [];
  if (src.xattrs === undefined) return { set, remove };
  if (dst === null) return { set: [...src.xattrs], remove };
  if (dst.xattrs === undefined) return { set, remove };
  const theirs = new Map(dst.xattrs.map((x) => [pathKey(x.name), x.value]));
  const ours = new Set<string>();
  for (const x of src.xattrs) {
    const k = pathKey(x.name);
    ours.add(k);
    if (!bytesEqual(theirs.get(k), x.value)) set.push(x);
  }
  for (const x of dst.xattrs) if (!ours.has(pathKey(x.name))) remove.push(x.name);
  return { set, remove };
}

/** Whether the target's entry can stay (possibly with metadata fixes) as the source's. */
function sameKind(src: ManifestEntry, dst: ManifestEntry): boolean {
  if (src.type !== dst.type) return false;
  if (src.type === "symlink") return bytesEqual(src.target, dst.target);
  if (src.type === "chardev" || src.type === "blockdev") return src.rdev === dst.rdev;
  return true;
}

function rekeyed(e: ManifestEntry, key: string): ManifestEntry {
  return { ...e, path: keyPath(key) };
}

/** Entries alike (same rename key) beyond which no rename is looked for among them. */
const RENAME_GROUP_MAX = 256;

function push(m: Map<string, string[]>, k: string, v: string): void {
  const list = m.get(k);
  if (list === undefined) m.set(k, [v]);
  else list.push(v);
}

/**
 * Moves that step 1 can do: pairs (target's extra entry, source's missing
 * entry) with the same rename key, unique on both sides, whose destination
 * parent is a directory on the target that stays. Applied to `target` in place.
 */
function* findRenames(source: Map<string, ManifestEntry>, target: Map<string, ManifestEntry>, order: readonly string[], windowNs: number): Generator<void, ResyncStep[]> {
  const missingByKey = new Map<string, string[]>();
  let n = 0;
  for (const k of order) {
    if ((++n & SLICE) === 0) yield;
    if (target.has(k)) continue;
    const rk = renameKey(source.get(k)!);
    if (rk !== null) push(missingByKey, rk, k);
  }
  const extraByKey = new Map<string, string[]>();
  for (const [k, e] of target) {
    if ((++n & SLICE) === 0) yield;
    if (source.has(k)) continue;
    const rk = renameKey(e);
    if (rk !== null) push(extraByKey, rk, k);
  }
  const steps: ResyncStep[] = [];
  const dirMoves: [string, string][] = [];
  /** Where an extra entry is now, after the directory moves made so far. */
  const whereNow = (k: string): string => {
    for (const [from, to] of dirMoves) if (isWithin(k, from)) k = to + k.slice(from.length);
    return k;
  };
  for (const k of order) {
    if ((++n & SLICE) === 0) yield;
    if (target.has(k)) continue;
    const s = source.get(k)!;
    const rk = renameKey(s);
    if (rk === null) continue;
    const missing = missingByKey.get(rk);
    const extras = extraByKey.get(rk);
    // Nothing alike on the target (a first sync), or too many alike entries to tell a move from
    // a copy (100k small files of one size): no rename; looking closer would cost n² here.
    if (extras === undefined || missing === undefined || extras.length > RENAME_GROUP_MAX || missing.length > RENAME_GROUP_MAX) continue;
    // Unique on both sides among entries of that key and about that mtime.
    const near = (e: ManifestEntry): boolean => mtimeEqual(e.mtimeNs, s.mtimeNs, windowNs);
    const missingNear = missing.filter((m) => near(source.get(m)!));
    const extrasNear = extras.filter((x) => { const e = target.get(whereNow(x)); return e !== undefined && near(e); });
    if (missingNear.length !== 1 || extrasNear.length !== 1) continue;
    const from = whereNow(extrasNear[0]!);
    const moved = target.get(from);
    if (moved === undefined || source.has(from)) continue;
    const pk = parentKey(k);
    const tParent = target.get(pk);
    const sParent = source.get(pk);
    if (tParent?.type !== "dir" || sParent?.type !== "dir") continue;
    if (isWithin(k, from)) continue;
    const movedKeys = moved.type === "dir" ? [...target.keys()].filter((t) => isWithin(t, from)) : [from];
    const entries = movedKeys.map((t) => [t, target.get(t)!] as const);
    for (const [t] of entries) target.delete(t);
    for (const [t, e] of entries) {
      const nk = k + t.slice(from.length);
      target.set(nk, rekeyed(e, nk));
    }
    if (moved.type === "dir") dirMoves.push([from, k]);
    steps.push({ kind: "rename", from: keyPath(from), to: s.path });
  }
  return steps;
}

/**
 * The steps that make `target` identical to `source`. Both lists are
 * manifests (any order; duplicates: the last wins).
 */
export function planResync(sourceList: Iterable<ManifestEntry>, targetList: Iterable<ManifestEntry>, options: PlanOptions = DEFAULT_PLAN_OPTIONS): ResyncStep[] {
  const slices = planResyncSlices(sourceList, targetList, options);
  for (;;) {
    const r = slices.next();
    if (r.done === true) return r.value;
  }
}

/** Entries handled between two yields of planResyncSlices, minus one (a mask). */
const SLICE = 4095;

/**
 * planResync in slices: it yields every few thousand entries, so a driver
 * planning a tree of a million files lets its timers (heartbeats) run in
 * between; the result is the same.
 */
export function* planResyncSlices(sourceList: Iterable<ManifestEntry>, targetList: Iterable<ManifestEntry>, options: PlanOptions = DEFAULT_PLAN_OPTIONS): Generator<void, ResyncStep[]> {
  let n = 0;
  const source = new Map<string, ManifestEntry>();
  for (const e of sourceList) {
    if ((++n & SLICE) === 0) yield;
    source.set(pathKey(e.path), e);
  }
  const target = new Map<string, ManifestEntry>();
  for (const e of targetList) {
    if ((++n & SLICE) === 0) yield;
    target.set(pathKey(e.path), e);
  }
  const order = [...source.keys()].sort(compareKeys);
  yield;

  const renames = options.detectRenames ? yield* findRenames(source, target, order, options.mtimeWindowNs) : [];

  // Hard-link groups of the source: the leader carries data and metadata.
  const groups = new Map<bigint, string[]>();
  for (const k of order) {
    if ((++n & SLICE) === 0) yield;
    const s = source.get(k)!;
    if (isLinked(s)) {
      const members = groups.get(s.ino);
      if (members === undefined) groups.set(s.ino, [k]);
      else members.push(k);
    }
  }
  // A target name whose target inode is shared with names of another source inode must be recreated.
  const targetInoOwner = new Map<bigint, bigint>();
  const brokenLink = new Set<string>();
  for (const k of order) {
    if ((++n & SLICE) === 0) yield;
    const s = source.get(k)!;
    const t = target.get(k);
    if (s.type !== "file" || t?.type !== "file" || t.nlink <= 1) continue;
    const owner = targetInoOwner.get(t.ino);
    if (owner === undefined) targetInoOwner.set(t.ino, s.ino);
    else if (owner !== s.ino || !isLinked(s)) brokenLink.add(k);
  }
  const leaderOf = new Map<bigint, string>();
  for (const [ino, members] of groups) {
    const usable = members.find((k) => {
      const t = target.get(k);
      return t?.type === "file" && !brokenLink.has(k);
    });
    leaderOf.set(ino, usable ?? members[0]!);
  }

  const deletes = new Set<string>();
  for (const [k, t] of target) {
    if ((++n & SLICE) === 0) yield;
    const s = source.get(k);
    if (s === undefined || !sameKind(s, t) || brokenLink.has(k)) deletes.add(k);
  }
  for (const k of order) {
    if ((++n & SLICE) === 0) yield;
    const s = source.get(k)!;
    if (!isLinked(s)) continue;
    const leader = leaderOf.get(s.ino)!;
    if (leader === k) continue;
    const t = target.get(k);
    const lt = target.get(leader);
    const linked = t?.type === "file" && lt?.type === "file" && !deletes.has(leader) && t.ino === lt.ino;
    if (!linked && t !== undefined) deletes.add(k);
  }
  const present = (k: string): ManifestEntry | null => (deletes.has(k) ? null : target.get(k) ?? null);

  const steps: ResyncStep[] = [...renames];
  const changedDirs = new Set<string>(renames.flatMap((r) => r.kind === "rename" ? [parentKey(pathKey(r.from)), parentKey(pathKey(r.to))] : []));

  const deleteOrder = [...deletes].sort((a, b) => depthOfKey(b) - depthOfKey(a) || compareKeys(b, a));
  for (const k of deleteOrder) {
    if ((++n & SLICE) === 0) yield;
    steps.push({ kind: "delete", path: keyPath(k), type: target.get(k)!.type });
    changedDirs.add(parentKey(k));
  }

  const creates: ResyncStep[] = [];
  const files: ResyncStep[] = [];
  const links: ResyncStep[] = [];
  const withData = new Set<string>();
  for (const k of order) {
    if ((++n & SLICE) === 0) yield;
    if (k === "") continue;
    const s = source.get(k)!;
    const t = present(k);
    if (t === null) changedDirs.add(parentKey(k));
    if (s.type === "dir") {
      if (t === null) creates.push({ kind: "mkdir", entry: s });
    } else if (s.type === "symlink") {
      if (t === null) creates.push({ kind: "symlink", entry: s });
    } else if (s.type === "file") {
      const leader = isLinked(s) ? leaderOf.get(s.ino)! : k;
      if (leader !== k) {
        if (t === null) links.push({ kind: "link", existing: keyPath(leader), path: s.path });
        continue;
      }
      if (t !== null && options.shallow?.(k) === true) continue;
      const data = fileData(s, t, k, options);
      if (t === null || data.kind !== "none" || t.size !== s.size) {
        files.push({ kind: "file", entry: s, create: t === null, targetSize: t?.size ?? 0, data });
        withData.add(k);
      }
    } else if (t === null) {
      creates.push({ kind: "mknod", entry: s });
    }
  }
  // Directories first (shallowest first by manifest order), then the rest in order.
  for (const list of [creates.filter((c) => c.kind === "mkdir"), creates.filter((c) => c.kind !== "mkdir"), files, links]) for (const x of list) steps.push(x);

  const metaFiles: ResyncStep[] = [];
  const metaDirs: { key: string; step: ResyncStep }[] = [];
  for (const k of order) {
    if ((++n & SLICE) === 0) yield;
    const s = source.get(k)!;
    if (isLinked(s) && leaderOf.get(s.ino) !== k) continue;
    const t = present(k);
    if (t !== null && options.shallow?.(k) === true && !changedDirs.has(k)) continue;
    const fix = metaFix(s, t, withData.has(k) || changedDirs.has(k), withData.has(k), options);
    if (fix === null) continue;
    const step: ResyncStep = { kind: "meta", entry: s, fix };
    if (s.type === "dir") metaDirs.push({ key: k, step });
    else metaFiles.push(step);
  }
  metaDirs.sort((a, b) => depthOfKey(b.key) - depthOfKey(a.key) || compareKeys(a.key, b.key));
  for (const x of metaFiles) steps.push(x);
  for (const x of metaDirs) steps.push(x.step);
  return steps;
}

function fileData(s: ManifestEntry, t: ManifestEntry | null, key: string, options: PlanOptions): DataPlan {
  if (t === null) return { kind: "all" };
  const hint = options.dataHint?.(key);
  if (hint !== undefined) return hint.kind === "ranges" ? { kind: "ranges", ranges: hint.ranges, compare: hint.compare } : { kind: "compare" };
  if (options.checksumAll || options.compareAnyway?.(key, s) === true) return { kind: "compare" };
  if (t.size !== s.size || !mtimeEqual(t.mtimeNs, s.mtimeNs, options.mtimeWindowNs)) return { kind: "compare" };
  return { kind: "none" };
}

/** The file capability xattr, which the kernel drops from a file that is written or chowned. */
const CAPABILITY = new TextEncoder().encode("security.capability");

/**
 * Metadata to fix on an entry that exists (or will) on the target; null when nothing. `written`: the plan
 * writes the file's data, which drops its capability on the target as the chown does: it is set again after.
 */
function metaFix(s: ManifestEntry, t: ManifestEntry | null, touched: boolean, written: boolean, options: PlanOptions): MetaFix | null {
  const created = t === null;
  const chown = !created && (s.uid !== t.uid || s.gid !== t.gid);
  const chmod = !created && s.type !== "symlink" && s.mode !== t.mode;
  const utimes = created || touched || !mtimeEqual(s.mtimeNs, t.mtimeNs, options.mtimeWindowNs);
  const x = xattrDiff(s, t);
  const cap = (written || chown) && t !== null ? s.xattrs?.find((a) => bytesEqual(a.name, CAPABILITY)) : undefined;
  if (cap !== undefined && !x.set.includes(cap)) x.set.push(cap);
  if (!chown && !chmod && !utimes && x.set.length === 0 && x.remove.length === 0) return null;
  return { chown, chmod, utimes, setXattrs: x.set, removeXattrs: x.remove };
}
