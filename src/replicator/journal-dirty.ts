/**
 * The ALONE journal's memory: which paths changed, and which 4 KiB blocks of
 * their data, since the SECOND last had everything. Bounded: a file with
 * more dirty blocks than `maxBlocksPerFile` (or when the set as a whole holds
 * more than `maxBlocks`) becomes a whole-file mark, compared by checksums;
 * past `maxPaths` paths the set gives up and says a full compare is needed.
 *
 * Marks are kept under the path's CURRENT name: a rename moves the marks of
 * the renamed entry and everything beneath it, so data dirtied before a
 * rename is sent under the new name.
 *
 * Data is tracked twice, as DRBD's activity log does: in memory by 4 KiB
 * block, and on disk by 1 MiB extent. A write into an extent already on disk
 * needs no journal write (and no fdatasync), so a recorder appending to a
 * file pays one sync per MiB, not one per write. After a crash only the
 * extents are known: they are compared by checksums (`suspect`), not sent.
 *
 * Namespace and metadata changes get the same treatment per directory: the
 * first such change among a directory's children stores one "dir" record
 * (the directory, and a wall-clock time a little before now); the children's
 * later creates, renames, unlinks and attribute changes need no record of
 * their own (see `dirCover`). The memory still learns each one exactly, so a
 * resync without a restart looks only at them. After a restart the file
 * knows only the directory: the resync then lists it and compares in depth
 * every child whose ctime is at or after that time (resync.ts). A ctime
 * cannot be set by hand, and every covered change sets its entry's ctime to
 * the time of the change, which the stored time precedes (a clock that went
 * back is caught before the change is acknowledged: a new, earlier record).
 * Data ("blocks") records stay exact, and so do the changes that would move
 * or orphan data marks (a rename of something with marks beneath or dirty
 * data, an unlink of a file with dirty data, an exchange).
 */

import { keyPath, pathKey, parentKey, isWithin } from "../core/mirror/resync-plan.ts";
import type { ByteRange } from "../core/mirror/resync-plan.ts";
import type { RelPath } from "./ops.ts";

export const JOURNAL_BLOCK = 4096;
/** Blocks per extent: the journal file's data granularity (1 MiB). */
export const EXTENT_BLOCKS = 256;

export interface DirtyLimits {
  readonly maxPaths: number;
  readonly maxBlocksPerFile: number;
  readonly maxBlocks: number;
}

export const DEFAULT_DIRTY_LIMITS: DirtyLimits = { maxPaths: 200_000, maxBlocksPerFile: 4096, maxBlocks: 1_000_000 };

/** One changed path, as the resync consumes it. */
export interface DirtyPath {
  readonly path: RelPath;
  /** Compare everything beneath too (the entry was renamed here). */
  readonly tree: boolean;
  /** Compare the whole file's data by checksums. */
  readonly whole: boolean;
  /** Changed data, 4 KiB aligned, sorted, merged: send it. */
  readonly ranges: readonly ByteRange[];
  /** Data that may have changed (extents known from the file after a restart): compare it. */
  readonly suspect: readonly ByteRange[];
}

export interface DirtySet {
  /** The journal could not keep up (cap, or a lost record): compare everything. */
  readonly full: boolean;
  readonly fullReason: string | null;
  /**
   * A path with dirty data was removed while the data may live on under
   * another hard link; the resync then checks every file by size and mtime.
   */
  readonly hardLinkRecheck: boolean;
  readonly paths: readonly DirtyPath[];
  /**
   * Directories known only from "dir" records read back from the file (after
   * a restart): every child with a ctime at or after `sinceNs` may have
   * changed in any way, the listing too.
   */
  readonly dirs?: readonly DirtyDir[];
}

export interface DirtyDir {
  readonly path: RelPath;
  readonly sinceNs: bigint;
}

interface Marks {
  tree: boolean;
  /** Data was written under this entry (or under a name it had before a rename). */
  data: boolean;
  whole: boolean;
  blocks: Set<number> | null;
  /** Extents whose records are written (or on their way): writes inside need no record. */
  extents: Set<number> | null;
  /** Extents known only from the file (replayed after a restart). */
  suspect: Set<number> | null;
  /** Every block from here to the end of the file (a truncate). */
  truncFrom: number | null;
}

/** A change to the set; the journal file stores exactly these, in order. */
export type DirtyRecord =
  | { readonly kind: "path"; readonly path: RelPath }
  | { readonly kind: "tree"; readonly path: RelPath }
  | { readonly kind: "blocks"; readonly path: RelPath; readonly first: number; readonly count: number }
  | { readonly kind: "whole"; readonly path: RelPath }
  | { readonly kind: "trunc"; readonly path: RelPath; readonly size: number }
  | { readonly kind: "rename"; readonly from: RelPath; readonly to: RelPath; readonly exchange: boolean }
  | { readonly kind: "unlink"; readonly path: RelPath }
  | { readonly kind: "dir"; readonly path: RelPath; readonly sinceNs: bigint }
  | { readonly kind: "full"; readonly reason: string };

/** How far before the clock a "dir" record's time is set: more than an op may wait between being done and being marked, and the kernel's coarse tick for ctime. */
export const DIR_SLACK_NS = 60_000_000_000n;

export class DirtyTracker {
  private readonly marks = new Map<string, Marks>();
  /** How many marked paths lie strictly beneath each key: renames move subtrees only where needed. */
  private readonly beneath = new Map<string, number>();
  private blockCount = 0;
  private fullReason: string | null = null;
  private hardLinkRecheck = false;
  /** Directories with a "dir" record (by key): the time it holds, and whether it came from the file. */
  private readonly dirMarks = new Map<string, { sinceNs: bigint; replayed: boolean }>();

  constructor(private readonly limits: DirtyLimits = DEFAULT_DIRTY_LIMITS) {}

  get full(): boolean {
    return this.fullReason !== null;
  }

  /** Why every path counts as changed, or null. */
  get whyFull(): string | null {
    return this.fullReason;
  }

  get pathCount(): number {
    return this.marks.size;
  }

  /** Whether anything is marked at or beneath `path` (a "dir" record's directory is marked too). */
  holdsAt(path: RelPath): boolean {
    const k = pathKey(path);
    return this.marks.has(k) || (this.beneath.get(k) ?? 0) > 0;
  }

  /** Whether the record would change nothing (so it needs no write). */
  covers(r: DirtyRecord): boolean {
    if (this.full) return true;
    switch (r.kind) {
      case "path":
        return this.marks.has(pathKey(r.path));
      case "tree":
        return this.marks.get(pathKey(r.path))?.tree === true;
      case "whole": {
        const m = this.marks.get(pathKey(r.path));
        return m !== undefined && (m.whole || m.tree);
      }
      case "blocks": {
        // Covered on disk: every extent the blocks fall in is recorded.
        const m = this.marks.get(pathKey(r.path));
        if (m === undefined) return false;
        if (m.whole || m.tree) return true;
        const { first, last } = extentsOf(r.first, r.count);
        for (let x = first; x <= last; x++) if (m.extents?.has(x) !== true) return false;
        return true;
      }
      case "trunc": {
        const m = this.marks.get(pathKey(r.path));
        return m !== undefined && (m.whole || m.tree || (m.truncFrom !== null && m.truncFrom <= r.size));
      }
      case "unlink": {
        const m = this.marks.get(pathKey(r.path));
        // Removing a name without dirty data changes nothing the file must know beyond its mark.
        return m !== undefined && !m.data;
      }
      case "dir": {
        const d = this.dirMarks.get(pathKey(r.path));
        return d !== undefined && d.sinceNs <= r.sinceNs;
      }
      case "rename":
        return false;
      case "full":
        return false;
    }
  }

  /**
   * Whether `names` (the entries a namespace or metadata change touches) may
   * go unrecorded under their parents' "dir" records: null when the change
   * needs exact records; else the parents whose "dir" record must be stored
   * first (none when all have one whose time is not after `nowNs` less the
   * slack). `move`: a rename's source (nothing may be marked beneath it, nor
   * dirty data on it: those marks must move with it); `gone`: a name whose
   * entry is removed or replaced (no dirty data, which may live on under
   * another hard link).
   */
  dirCover(names: readonly RelPath[], nowNs: bigint, move: RelPath | null, gone: readonly RelPath[]): RelPath[] | null {
    if (this.full) return [];
    for (const p of move === null ? gone : [move, ...gone]) {
      const k = pathKey(p);
      const m = this.marks.get(k);
      if (m?.data === true) return null;
      if ((this.beneath.get(k) ?? 0) > 0) return null;
    }
    if (move !== null && this.dirMarks.size > 0) {
      // A directory whose own changes a "dir" record stands for: the record must move with it.
      const k = pathKey(move);
      for (const d of this.dirMarks.keys()) if (rekeyWithin(d, k, k) !== null) return null;
    }
    const need: RelPath[] = [];
    const seen = new Set<string>();
    for (const p of names) {
      if (p.length === 0) return null;
      const parent = parentKey(pathKey(p));
      if (seen.has(parent)) continue;
      seen.add(parent);
      const d = this.dirMarks.get(parent);
      if (d === undefined || d.sinceNs > nowNs - DIR_SLACK_NS) need.push(keyPath(parent));
    }
    return need;
  }

  /**
   * Applies one record. Returns the record that must be stored instead when
   * a limit turned it into something coarser (whole file, full), else null.
   */
  apply(r: DirtyRecord): DirtyRecord | null {
    if (this.full) return null;
    switch (r.kind) {
      case "full":
        this.giveUp(r.reason);
        return null;
      case "dir": {
        if (this.touch(r.path) === null) return this.capped();
        const k = pathKey(r.path);
        const d = this.dirMarks.get(k);
        this.dirMarks.set(k, { sinceNs: d === undefined || r.sinceNs < d.sinceNs ? r.sinceNs : d.sinceNs, replayed: d?.replayed === true });
        return null;
      }
      case "path":
        return this.touch(r.path) === null ? this.capped() : null;
      case "tree": {
        const m = this.touch(r.path);
        if (m === null) return this.capped();
        m.tree = true;
        this.dropBlocks(m);
        return null;
      }
      case "whole": {
        const m = this.touch(r.path);
        if (m === null) return this.capped();
        m.whole = true;
        m.data = true;
        this.dropBlocks(m);
        return null;
      }
      case "trunc": {
        const m = this.touch(r.path);
        if (m === null) return this.capped();
        m.data = true;
        m.truncFrom = m.truncFrom === null ? r.size : Math.min(m.truncFrom, r.size);
        return null;
      }
      case "blocks": {
        const m = this.touch(r.path);
        if (m === null) return this.capped();
        m.data = true;
        if (m.whole || m.tree) return null;
        const { first, last } = extentsOf(r.first, r.count);
        m.extents ??= new Set();
        for (let x = first; x <= last; x++) m.extents.add(x);
        m.blocks ??= new Set();
        for (let b = r.first; b < r.first + r.count; b++) {
          if (m.blocks.has(b)) continue;
          m.blocks.add(b);
          this.blockCount++;
        }
        if (m.blocks.size > this.limits.maxBlocksPerFile || this.blockCount > this.limits.maxBlocks) {
          m.whole = true;
          this.dropBlocks(m);
          return { kind: "whole", path: r.path };
        }
        return null;
      }
      case "unlink": {
        const m = this.touch(r.path);
        if (m === null) return this.capped();
        if (m.data) this.hardLinkRecheck = true;
        // A file made again under this name is a new inode: the copy's old bytes are no guide to what it
        // holds where it was not written (holes of a re-created file): its data is compared whole.
        m.whole = true;
        this.dropBlocks(m);
        return null;
      }
      case "rename":
        this.rename(r.from, r.to, r.exchange);
        return this.marks.size > this.limits.maxPaths ? this.capped() : null;
    }
  }

  /** What the journal file stores for a record (blocks widen to whole extents). */
  storeFor(r: DirtyRecord): DirtyRecord {
    if (r.kind !== "blocks") return r;
    const { first, last } = extentsOf(r.first, r.count);
    return { kind: "blocks", path: r.path, first: first * EXTENT_BLOCKS, count: (last - first + 1) * EXTENT_BLOCKS };
  }

  /** Applies a record read back from the journal file: its data is only suspected to differ. */
  replay(r: DirtyRecord): void {
    if (r.kind === "dir") {
      this.apply(r);
      const d = this.dirMarks.get(pathKey(r.path));
      if (d !== undefined) d.replayed = true;
      return;
    }
    if (r.kind !== "blocks") {
      this.apply(r);
      return;
    }
    if (this.full) return;
    const m = this.touch(r.path);
    if (m === null) {
      this.capped();
      return;
    }
    m.data = true;
    if (m.whole || m.tree) return;
    const { first, last } = extentsOf(r.first, r.count);
    m.extents ??= new Set();
    m.suspect ??= new Set();
    for (let x = first; x <= last; x++) {
      m.extents.add(x);
      m.suspect.add(x);
    }
  }

  snapshot(): DirtySet {
    const paths: DirtyPath[] = [];
    for (const [k, m] of this.marks) paths.push(dirtyPathOf(k, m));
    return this.setOf(paths);
  }

  /**
   * The set as `snapshot`, built while the thread's timers run: the marks of
   * thousands of files took 12-45 ms of the PRIM's main thread in one
   * stretch at a resync's start, beside the heartbeats of a 500 ms deadtime.
   *
   * A mark is read as it is when reached, so the set is that of the end,
   * plus names changed meanwhile. What changes marks while the link is up
   * is the journal following a live rename or unlink (Journal.follow): a
   * rename takes the marks out and puts them in again under the new name
   * (and marks both names, and their parents), which Map iteration reaches
   * after what it has read, so the moved marks come under their new name
   * and the new name in depth, as a rename during a pass would have the
   * pass compare it (live-follow.ts). A name left behind is looked at for
   * nothing: a marked path only says where to look. Only a limit reached
   * meanwhile (`full`) empties the marks; the set then says so.
   */
  async snapshotBreathing(breathe: () => Promise<void>): Promise<DirtySet> {
    const byKey = new Map<string, DirtyPath>();
    for (const [k, m] of this.marks) {
      await breathe();
      byKey.set(k, dirtyPathOf(k, m));
    }
    return this.setOf(this.full ? [] : [...byKey.values()]);
  }

  private setOf(paths: DirtyPath[]): DirtySet {
    const dirs: DirtyDir[] = [];
    if (!this.full) for (const [k, d] of this.dirMarks) if (d.replayed) dirs.push({ path: keyPath(k), sinceNs: d.sinceNs });
    return { full: this.full, fullReason: this.fullReason, hardLinkRecheck: this.hardLinkRecheck, paths: this.full ? [] : paths, dirs };
  }

  private capped(): DirtyRecord {
    const reason = `more than ${this.limits.maxPaths} changed paths`;
    this.giveUp(reason);
    return { kind: "full", reason };
  }

  private giveUp(reason: string): void {
    this.fullReason = reason;
    this.marks.clear();
    this.beneath.clear();
    this.dirMarks.clear();
    this.blockCount = 0;
  }

  private dropBlocks(m: Marks): void {
    if (m.blocks !== null) this.blockCount -= m.blocks.size;
    m.blocks = null;
    m.extents = null;
    m.suspect = null;
    m.truncFrom = null;
  }

  /** The marks of `path`, created (with its parent's) when new; null past the cap. */
  private touch(path: RelPath): Marks | null {
    const k = pathKey(path);
    const parent = parentKey(k);
    if (k !== "" && !this.marks.has(parent) && this.insert(parent) === null) return null;
    return this.marks.get(k) ?? this.insert(k);
  }

  private insert(k: string): Marks | null {
    const existing = this.marks.get(k);
    if (existing !== undefined) return existing;
    if (this.marks.size >= this.limits.maxPaths) return null;
    const m: Marks = { tree: false, data: false, whole: false, blocks: null, extents: null, suspect: null, truncFrom: null };
    this.marks.set(k, m);
    for (let a = k; a !== ""; ) {
      a = parentKey(a);
      this.beneath.set(a, (this.beneath.get(a) ?? 0) + 1);
    }
    return m;
  }

  private remove(k: string): Marks | undefined {
    const m = this.marks.get(k);
    if (m === undefined) return undefined;
    this.marks.delete(k);
    for (let a = k; a !== ""; ) {
      a = parentKey(a);
      const n = (this.beneath.get(a) ?? 0) - 1;
      if (n <= 0) this.beneath.delete(a);
      else this.beneath.set(a, n);
    }
    return m;
  }

  /** Takes the marks at and beneath `from`, keyed relative to it. */
  private detach(from: string): Map<string, Marks> {
    const out = new Map<string, Marks>();
    const own = this.remove(from);
    if (own !== undefined) out.set("", own);
    if ((this.beneath.get(from) ?? 0) > 0) {
      for (const k of [...this.marks.keys()]) {
        if (k !== from && isWithin(k, from)) out.set(k.slice(from.length), this.remove(k)!);
      }
    }
    return out;
  }

  /** "dir" records follow their directory (or an ancestor) through a rename, as the other marks do. */
  private moveDirMarks(f: string, t: string, exchange: boolean): void {
    if (this.dirMarks.size === 0) return;
    const moved: [string, { sinceNs: bigint; replayed: boolean }][] = [];
    for (const [k, d] of this.dirMarks) {
      const a = rekeyWithin(k, f, t);
      const b = exchange ? rekeyWithin(k, t, f) : null;
      if (a !== null) moved.push([a, d]);
      else if (b !== null) moved.push([b, d]);
      else continue;
      this.dirMarks.delete(k);
    }
    // A directory replaced by the rename: its record is moot (nothing lives beneath the old one).
    if (!exchange) for (const k of [...this.dirMarks.keys()]) if (rekeyWithin(k, t, t) !== null) this.dirMarks.delete(k);
    for (const [k, d] of moved) {
      const had = this.dirMarks.get(k);
      this.dirMarks.set(k, had === undefined || d.sinceNs < had.sinceNs ? d : had);
    }
  }

  private attach(to: string, moved: Map<string, Marks>): void {
    for (const [suffix, m] of moved) {
      const k = to + suffix;
      const prev = this.remove(k);
      if (prev !== undefined) this.blockCount -= prev.blocks?.size ?? 0;
      this.insert(k);
      this.marks.set(k, m);
    }
  }

  private rename(from: RelPath, to: RelPath, exchange: boolean): void {
    const f = pathKey(from);
    const t = pathKey(to);
    const movedFrom = this.detach(f);
    const movedTo = exchange ? this.detach(t) : new Map<string, Marks>();
    if (!exchange) {
      // Whatever `to` named before is gone; its marks with it (dirty data may live on under another hard link).
      for (const m of this.detach(t).values()) {
        this.blockCount -= m.blocks?.size ?? 0;
        if (m.data) this.hardLinkRecheck = true;
      }
    }
    this.moveDirMarks(f, t, exchange);
    this.attach(t, movedFrom);
    this.attach(f, movedTo);
    // Both names changed, both parents too; the new name is compared in depth,
    // as the SECOND holds its content under the old one.
    for (const p of [from, to]) this.touch(p);
    const mt = this.marks.get(t);
    if (mt !== undefined) {
      mt.tree = true;
      this.dropBlocks(mt);
    }
    const mf = this.marks.get(f);
    if (exchange) {
      if (mf !== undefined) {
        mf.tree = true;
        this.dropBlocks(mf);
      }
    } else if (mf !== undefined) {
      // As after an unlink: a file made again under the old name is a new inode, and the copy holds
      // the renamed file's bytes there until the resync; where the new file was not written they
      // would stay (holes, a pass cut after its truncate), so its data is compared whole.
      mf.whole = true;
      this.dropBlocks(mf);
    }
  }
}

function rekeyWithin(k: string, from: string, to: string): string | null {
  return k === from || (k.startsWith(from) && k.charCodeAt(from.length) === 0x2f) ? to + k.slice(from.length) : null;
}

function extentsOf(firstBlock: number, count: number): { first: number; last: number } {
  return { first: Math.floor(firstBlock / EXTENT_BLOCKS), last: Math.floor((firstBlock + Math.max(count, 1) - 1) / EXTENT_BLOCKS) };
}

function dirtyPathOf(k: string, m: Marks): DirtyPath {
  return { path: keyPath(k), tree: m.tree, whole: m.whole, ranges: rangesOf(m), suspect: suspectOf(m) };
}

function suspectOf(m: Marks): ByteRange[] {
  if (m.suspect === null) return [];
  const size = EXTENT_BLOCKS * JOURNAL_BLOCK;
  return [...m.suspect].sort((a, b) => a - b).map((x) => ({ offset: x * size, length: size }));
}

function rangesOf(m: Marks): ByteRange[] {
  const out: ByteRange[] = [];
  if (m.blocks !== null && m.blocks.size > 0) {
    const sorted = [...m.blocks].sort((a, b) => a - b);
    let start = sorted[0]!;
    let prev = start;
    for (let i = 1; i <= sorted.length; i++) {
      const b = sorted[i];
      if (b === prev + 1) {
        prev = b;
        continue;
      }
      out.push({ offset: start * JOURNAL_BLOCK, length: (prev - start + 1) * JOURNAL_BLOCK });
      if (b !== undefined) start = prev = b;
    }
  }
  if (m.truncFrom !== null) {
    const from = Math.floor(m.truncFrom / JOURNAL_BLOCK) * JOURNAL_BLOCK;
    out.push({ offset: from, length: Number.MAX_SAFE_INTEGER - from });
  }
  return out;
}

/** The 4 KiB blocks a byte range touches (at least one, for a zero-length change). */
export function blocksOf(offset: number, length: number): { first: number; count: number } {
  const first = Math.floor(offset / JOURNAL_BLOCK);
  const end = Math.ceil((offset + Math.max(length, 1)) / JOURNAL_BLOCK);
  return { first, count: end - first };
}
