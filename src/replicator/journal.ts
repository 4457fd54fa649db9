/**
 * The ALONE journal: while the SECOND is away the PRIM records what changed,
 * so that the resync sends only that, even after the PRIM crashed.
 *
 * Rule: an op is marked BEFORE the application is told it succeeded:
 * `mark(op)` resolves only once the records it needed are on disk (written
 * and fdatasync'ed). Group commit: marks that arrive while a sync runs are
 * written together by the next one, so many writers share one fdatasync.
 * A mark the file already covers (a write in a 1 MiB extent already
 * recorded, see journal-dirty.ts) costs no write; it still waits until the
 * covering record is durable.
 *
 * If the journal file cannot be written (full or failing disk), the journal
 * is "lost": that fact is made durable first by an in-place overwrite of the
 * file's magic (bytes it already holds: no new block on ext4, xfs or tmpfs),
 * then every mark, pending or new, resolves without a record (the dirty set
 * is `full`: the resync compares every file by checksums), so no write made
 * alone fails for a full state dir. Only when that overwrite fails too (a
 * failing disk; on a copy-on-write filesystem an overwrite may need a new
 * block) does `mark` reject with a JournalError, and keep doing so until
 * `clear()`: the caller then treats the SECOND as needing a full compare.
 *
 * `clear()` only after a resync completed: the marks made while the resync
 * ran must survive it, as the SECOND may vanish again before the end.
 */

import { promises as fsp, constants as C } from "node:fs";
import { join } from "node:path";
import type { MirrorOp, RelPath } from "./ops.ts";
import { RENAME_EXCHANGE, timesOf, unfoldTimes } from "./ops.ts";
import { DirtyTracker, blocksOf, DEFAULT_DIRTY_LIMITS, DIR_SLACK_NS, type DirtyLimits, type DirtyRecord, type DirtySet } from "./journal-dirty.ts";
import { JOURNAL_LOST_MAGIC, JOURNAL_MAGIC, decodeJournal, encodeRecord } from "./journal-records.ts";

export const JOURNAL_FILE = "alone.journal";

export class JournalError extends Error {
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
  }
}

/** The calls the journal makes on its file (a fake one in tests). */
export interface JournalFile {
  read(): Promise<Uint8Array>;
  write(data: Uint8Array, position: number): Promise<void>;
  truncate(length: number): Promise<void>;
  datasync(): Promise<void>;
  close(): Promise<void>;
}

export async function openJournalFile(path: string): Promise<JournalFile> {
  const fh = await fsp.open(path, C.O_RDWR | C.O_CREAT, 0o600);
  return {
    read: async () => new Uint8Array(await fh.readFile()),
    write: async (data, position) => {
      let done = 0;
      while (done < data.length) done += (await fh.write(data, done, data.length - done, position + done)).bytesWritten;
    },
    truncate: (length) => fh.truncate(length),
    datasync: () => fh.datasync(),
    close: () => fh.close(),
  };
}

/** The records that mark one op. */
export function recordsFor(op: MirrorOp): DirtyRecord[] {
  switch (op.op) {
    case "write": {
      const b = blocksOf(op.offset, op.data.length);
      return [{ kind: "blocks", path: op.path, first: b.first, count: b.count }];
    }
    case "fallocate": {
      const b = blocksOf(op.offset, op.length);
      return [{ kind: "path", path: op.path }, { kind: "blocks", path: op.path, first: b.first, count: b.count }];
    }
    case "truncate":
      return [{ kind: "trunc", path: op.path, size: op.size }];
    case "create":
    case "mknod":
    case "mkdir":
    case "symlink":
    case "rmdir":
    case "chmod":
    case "chown":
    case "utimes":
    case "setxattr":
    case "removexattr":
      return [{ kind: "path", path: op.path }];
    case "link":
      return [{ kind: "path", path: op.existing }, { kind: "path", path: op.path }];
    case "unlink":
      return [{ kind: "unlink", path: op.path }];
    case "rename":
      return [{ kind: "rename", from: op.from, to: op.to, exchange: (op.flags & RENAME_EXCHANGE) !== 0 }];
    case "fsync":
      return [];
  }
}

/**
 * The entries a namespace or metadata op touches, when a "dir" record of
 * their parents may stand for it (see journal-dirty.ts); null for data ops
 * and exchanges, which are always recorded exactly.
 */
export function dirCoverOf(op: MirrorOp): { names: RelPath[]; move: RelPath | null; gone: RelPath[] } | null {
  switch (op.op) {
    case "create":
    case "mknod":
    case "mkdir":
    case "symlink":
    case "chmod":
    case "chown":
    case "utimes":
    case "setxattr":
    case "removexattr":
      return { names: [op.path], move: null, gone: [] };
    case "rmdir":
    case "unlink":
      return { names: [op.path], move: null, gone: [op.path] };
    case "link":
      return { names: [op.existing, op.path], move: null, gone: [] };
    case "rename":
      return (op.flags & RENAME_EXCHANGE) !== 0 ? null : { names: [op.from, op.to], move: op.from, gone: [op.to] };
    case "write":
    case "fallocate":
    case "truncate":
    case "fsync":
      return null;
  }
}

const wallClockNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

interface Waiter {
  readonly seq: number;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export interface JournalOptions {
  readonly limits?: DirtyLimits;
  /** The file to use instead of DIR/alone.journal (tests). */
  readonly file?: JournalFile;
  /** Wall clock, ns since the epoch (tests); it must be the clock the filesystem sets ctimes from. */
  readonly nowNs?: () => bigint;
  /** The journal became lost (see the file comment): `why` the file could not grow. */
  readonly onLost?: (why: string) => void;
}

export class Journal {
  private tracker: DirtyTracker;
  private pending: DirtyRecord[] = [];
  private appendedSeq = 0;
  private durableSeq = 0;
  private waiters: Waiter[] = [];
  private flushing: Promise<void> | null = null;
  private size: number;
  private truncateFirst = false;
  private broken: JournalError | null = null;
  /** The file holds JOURNAL_LOST_MAGIC: durable "compare everything" until clear(). */
  private lost = false;
  private readonly onLost: ((why: string) => void) | undefined;
  /** fdatasync calls made so far (metrics, tests). */
  syncs = 0;
  private readonly nowNs: () => bigint;

  private constructor(private readonly file: JournalFile, private readonly limits: DirtyLimits, tracker: DirtyTracker, size: number, nowNs?: () => bigint, onLost?: (why: string) => void) {
    this.onLost = onLost;
    this.nowNs = nowNs ?? wallClockNs;
    this.tracker = tracker;
    this.size = size;
  }

  /**
   * Opens (or creates) the journal in `dir`; after a crash its dirty set holds
   * every complete record, and a torn tail is cut off.
   */
  static async open(dir: string, options: JournalOptions = {}): Promise<Journal> {
    const limits = options.limits ?? DEFAULT_DIRTY_LIMITS;
    let file = options.file;
    if (file === undefined) {
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      file = await openJournalFile(join(dir, JOURNAL_FILE));
    }
    try {
      return await Journal.openFile(file, limits, options);
    } catch (e) {
      // Not opened (a full state dir, mirror rule 9): the caller tries again, with a file of its own.
      await file.close().catch(() => undefined);
      throw e;
    }
  }

  private static async openFile(file: JournalFile, limits: DirtyLimits, options: JournalOptions): Promise<Journal> {
    const bytes = await file.read();
    const decoded = decodeJournal(bytes);
    const tracker = new DirtyTracker(limits);
    if (decoded.lost) {
      // Nothing is written: the flag stays until clear(), and the state dir may still be full.
      tracker.apply({ kind: "full", reason: "the journal was marked lost (its file could not grow, or was unreadable)" });
      const j = new Journal(file, limits, tracker, bytes.length, options.nowNs, options.onLost);
      j.lost = true;
      return j;
    }
    for (const r of decoded.records) tracker.replay(r);
    if (!decoded.magicOk && bytes.length >= JOURNAL_MAGIC.length) {
      // Unreadable (damaged, or another release's): to any reader it already means "compare every
      // file". It becomes a lost journal in place, in bytes the file holds, so a full state dir
      // takes it; never truncated first, which would leave an empty journal (nothing changed) on a
      // crash or a failed write. If even that overwrite fails, the file as it is still says as much.
      try {
        await file.write(JOURNAL_LOST_MAGIC, 0);
        await file.datasync();
      } catch {
        // Left unreadable: read again, it is a full compare once more.
      }
      tracker.apply({ kind: "full", reason: "the journal file was unreadable" });
      const j = new Journal(file, limits, tracker, bytes.length, options.nowNs, options.onLost);
      j.lost = true;
      return j;
    }
    if (!decoded.magicOk) {
      // Empty, or shorter than its magic: nothing was ever marked in it. Without its magic on disk
      // nothing would tell a restarted node that writes were made alone, so this one must be written
      // (on a full state dir it fails: the caller waits and tries again, mirror rule 9).
      await file.truncate(0);
      await file.write(JOURNAL_MAGIC, 0);
      await file.datasync();
      return new Journal(file, limits, tracker, JOURNAL_MAGIC.length, options.nowNs, options.onLost);
    }
    if (decoded.validLength < bytes.length) {
      await file.truncate(decoded.validLength);
      await file.datasync();
    }
    return new Journal(file, limits, tracker, decoded.validLength, options.nowNs, options.onLost);
  }

  /**
   * A live op, replicated while the copy is not in sync yet (the marks wait
   * for a resync, or a pass of it is under way): the marks follow names, so
   * a rename or unlink that the live stream carries must move or drop them
   * here too, or the data they stand for would be looked for under the old
   * name (now another file, or none) and never sent (a recorder's rec.log
   * renamed into its segment). Recorded before the op is acknowledged, as
   * any mark. Null when the op touches no mark.
   */
  follow(op: MirrorOp): Promise<void> | null {
    if (this.tracker.full) return null;
    const names = op.op === "rename" ? [op.from, op.to] : op.op === "unlink" ? [op.path] : [];
    if (!names.some((p) => this.tracker.holdsAt(p))) return null;
    return this.mark(op);
  }

  /**
   * Why the journal no longer holds the changes one by one (the next resync
   * compares every file), or null while it does: lost, unreadable, over its
   * limits, or broken.
   */
  get givenUp(): string | null {
    return this.broken?.message ?? this.tracker.whyFull;
  }

  /** What changed since the journal was last cleared. */
  dirty(): DirtySet {
    return this.tracker.snapshot();
  }

  /** The same, letting the thread's timers run while it is built (see DirtyTracker.snapshotBreathing). */
  dirtyBreathing(breathe: () => Promise<void>): Promise<DirtySet> {
    return this.tracker.snapshotBreathing(breathe);
  }

  /** Resolves once `op` is durably marked (see the file comment). */
  mark(op: MirrorOp): Promise<void> {
    if (timesOf(op) === undefined) return this.markOne(op);
    // Marked as the ops it stands for, in their order.
    return Promise.all(unfoldTimes(op).map((part) => this.markOne(part))).then(() => undefined);
  }

  private markOne(op: MirrorOp): Promise<void> {
    const exact = recordsFor(op);
    const cover = this.broken === null ? dirCoverOf(op) : null;
    if (cover !== null) {
      const now = this.nowNs();
      const need = this.tracker.dirCover(cover.names, now, cover.move, cover.gone);
      if (need !== null) {
        // The parents' "dir" records stand for the op in the file; the memory still learns it exactly.
        const dirs: DirtyRecord[] = need.map((path) => ({ kind: "dir", path, sinceNs: now - DIR_SLACK_NS }));
        return this.markRecords(dirs, exact);
      }
    }
    return this.markRecords(exact);
  }

  /**
   * Marks `length` bytes at `offset` of `path` before they are written (write
   * ahead, as DRBD's activity log): then even the writes a crash interrupted
   * are in the journal, and a restarted PRIM needs no full compare.
   */
  markRange(path: RelPath, offset: number, length: number): Promise<void> {
    const b = blocksOf(offset, length);
    return this.markRecords([{ kind: "blocks", path, first: b.first, count: b.count }]);
  }

  /** From now on the resync must compare everything (`reason` says why). */
  markFull(reason: string): Promise<void> {
    return this.markRecords([{ kind: "full", reason }]);
  }

  /** `memoryOnly`: records the file need not hold (a "dir" record among `records` covers them). */
  private markRecords(records: readonly DirtyRecord[], memoryOnly: readonly DirtyRecord[] = []): Promise<void> {
    if (this.broken !== null) return Promise.reject(this.broken);
    for (const r of records) {
      // The memory always learns the exact blocks; the file only what it does not cover yet.
      const stored = this.tracker.covers(r) ? null : this.tracker.storeFor(r);
      const coarser = this.tracker.apply(r);
      if (stored !== null && coarser?.kind !== "full") this.append(stored);
      if (coarser !== null) this.append(coarser);
    }
    for (const r of memoryOnly) {
      const coarser = this.tracker.apply(r);
      if (coarser !== null) this.append(coarser);
    }
    if (this.durableSeq >= this.appendedSeq) return Promise.resolve();
    const seq = this.appendedSeq;
    return new Promise((resolve, reject) => {
      this.waiters.push({ seq, resolve, reject });
      this.kick();
    });
  }

  private append(r: DirtyRecord): void {
    this.pending.push(r);
    this.appendedSeq++;
  }

  private kick(): void {
    if (this.flushing !== null) return;
    // With nothing to do the loop would end before `flushing` is set.
    if (this.pending.length === 0 && !this.truncateFirst) return;
    this.flushing = this.flushLoop();
  }

  private async flushNow(): Promise<void> {
    this.kick();
    while (this.flushing !== null) await this.flushing;
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0 || this.truncateFirst) {
        const batch = this.pending;
        this.pending = [];
        const upto = this.appendedSeq;
        if (this.truncateFirst) {
          this.truncateFirst = false;
          await this.file.truncate(JOURNAL_MAGIC.length);
          this.size = JOURNAL_MAGIC.length;
          // A crash before this write finds the lost magic still: a full compare, never too little.
          if (this.lost) await this.file.write(JOURNAL_MAGIC, 0);
          this.lost = false;
        }
        if (batch.length > 0) {
          const parts = batch.map(encodeRecord);
          const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
          let at = 0;
          for (const p of parts) {
            bytes.set(p, at);
            at += p.length;
          }
          await this.file.write(bytes, this.size);
          this.size += bytes.length;
        }
        await this.file.datasync();
        this.syncs++;
        this.durableSeq = upto;
        const ready = this.waiters.filter((w) => w.seq <= upto);
        this.waiters = this.waiters.filter((w) => w.seq > upto);
        for (const w of ready) w.resolve();
      }
    } catch (e) {
      const why = `the journal could not be written: ${(e as Error).message}`;
      if (await this.loseDurably()) {
        // Every mark made so far is covered by the flag on disk; new ones need no record.
        this.tracker.apply({ kind: "full", reason: why });
        this.pending = [];
        this.durableSeq = this.appendedSeq;
        const all = this.waiters;
        this.waiters = [];
        for (const w of all) w.resolve();
        this.onLost?.(why);
      } else {
        this.broken = new JournalError(why, e);
        const all = this.waiters;
        this.waiters = [];
        for (const w of all) w.reject(this.broken);
      }
    } finally {
      // In the same turn as the loop's last check: a mark arriving later starts a new loop.
      this.flushing = null;
    }
  }

  /**
   * Overwrites the magic in place with the lost one and syncs it: true once
   * that is durable. Written where the file already has its block, so a
   * full filesystem takes it (one that copies on write may not).
   */
  private async loseDurably(): Promise<boolean> {
    try {
      await this.file.write(JOURNAL_LOST_MAGIC, 0);
      await this.file.datasync();
      this.syncs++;
      this.lost = true;
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Forgets every mark: the resync completed and the SECOND is in sync, so
   * nothing is being marked. Also the way out of a broken journal.
   */
  async clear(): Promise<void> {
    while (this.flushing !== null) await this.flushing;
    this.tracker = new DirtyTracker(this.limits);
    this.pending = [];
    this.broken = null;
    this.truncateFirst = true;
    await this.flushNow();
    if (this.broken !== null) throw this.broken;
  }

  async close(): Promise<void> {
    while (this.flushing !== null) await this.flushing;
    await this.file.close();
  }
}
