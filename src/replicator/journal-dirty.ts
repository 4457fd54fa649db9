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
}

interface Marks {
  tree: boolean;
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
  | { readonly kind: "full"; readonly reason: string };

export class DirtyTracker {
  private readonly marks = new Map<string, Marks>();
  /** How many marked paths lie strictly beneath each key: renames move subtrees only where needed. */
  private readonly beneath = new Map<string, number>();
  private blockCount = 0;
  private fullReason: string | null = null;
  private hardLinkRecheck = false;

  constructor(private readonly limits: DirtyLimits = DEFAULT_DIRTY_LIMITS) {}

  get full(): boolean {
    return this.fullReason !== null;
  }

  get pathCount(): number {
    return this.marks.size;
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
        return m !== undefined && !hasData(m);
      }
      case "rename":
        return false;
      case "full":
        return false;
    }
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
        this.dropBlocks(m);
        return null;
      }
      case "trunc": {
        const m = this.touch(r.path);
        if (m === null) return this.capped();
        m.truncFrom = m.truncFrom === null ? r.size : Math.min(m.truncFrom, r.size);
        return null;
      }
      case "blocks": {
        const m = this.touch(r.path);
        if (m === null) return this.capped();
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
        if (hasData(m)) this.hardLinkRecheck = true;
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
    for (const [k, m] of this.marks) {
      paths.push({ path: keyPath(k), tree: m.tree, whole: m.whole, ranges: rangesOf(m), suspect: suspectOf(m) });
    }
    return { full: this.full, fullReason: this.fullReason, hardLinkRecheck: this.hardLinkRecheck, paths };
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
    const m: Marks = { tree: false, whole: false, blocks: null, extents: null, suspect: null, truncFrom: null };
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
      // Whatever `to` named before is gone; its marks with it.
      for (const m of this.detach(t).values()) this.blockCount -= m.blocks?.size ?? 0;
    }
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
    if (exchange) {
      const mf = this.marks.get(f);
      if (mf !== undefined) {
        mf.tree = true;
        this.dropBlocks(mf);
      }
    }
  }
}

function hasData(m: Marks): boolean {
  return m.whole || m.tree || (m.blocks !== null && m.blocks.size > 0) || (m.suspect !== null && m.suspect.size > 0);
}

function extentsOf(firstBlock: number, count: number): { first: number; last: number } {
  return { first: Math.floor(firstBlock / EXTENT_BLOCKS), last: Math.floor((firstBlock + Math.max(count, 1) - 1) / EXTENT_BLOCKS) };
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
