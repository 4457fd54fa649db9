/**
 * The resync driver: makes the other copy (a ResyncPeer, the SECOND)
 * identical to the local folder (the PRIM's real files), sending only what
 * differs, while the service keeps writing and those writes keep being
 * replicated live.
 *
 * THE RULE that keeps a live op and a resync op on the same file from leaving
 * the copy stale: every op the resync sends is built from the local folder's
 * state read SYNCHRONOUSLY, in the same turn of the event loop as the
 * `peer.apply` call that gives the op its place in the one ordered stream to
 * the SECOND (see ResyncPeer's ordering contract), never from the earlier
 * scan or checksums. A live op enters that stream only after its local effect
 * is complete. So any local change the resync's read did not see is behind
 * the resync's op in the stream, and the SECOND ends with the newest data.
 * Data ops also check, in that same turn, that the path still names the
 * inode being read (a file replaced by a rename is the live stream's).
 * Scans and checksums only decide WHAT to look at; being stale costs bytes,
 * never correctness. A live op the SECOND could not apply during the resync
 * (its name was still in the old state there) is reported through
 * `markDirty`: the resync compares that path again before it finishes.
 *
 * Data (resync-file.ts): files whose size or mtime differ (all files with
 * checksumAll) are compared by block checksums: 64 KiB blocks, then 4 KiB
 * blocks inside each differing one, and only differing 4 KiB blocks are
 * sent. New files are sent whole, except all-zero blocks of a sparse source
 * (holes stay holes: the file is first sized by a truncate). Zero blocks of
 * a sparse source that are not zero on the copy are punched (fallocate).
 * Ops in flight are bounded by a window (resync-window.ts).
 *
 * Live ops and the quick check: a live write sets the copy's mtime to the
 * source's, but on a copy that is not in sync the file's older bytes may
 * still be stale (a hole where the ALONE node appended, say): equal size and
 * mtime then prove nothing. In full mode, a file that live ops touched since
 * the link came up (`liveTouched`), or whose source mtime is that recent
 * (`liveSinceNs`: it catches names the ops did not spell, like another hard
 * link to the file), is compared by blocks whatever its size and mtime.
 *
 * Journal-driven mode: only the paths the ALONE journal marked are looked
 * at (a changed directory's listing for existence and type only); data
 * ranges it knows exactly are sent without comparing, extents it knows only
 * from its file (after a restart) are compared.
 *
 * Resumable: in full mode a checkpoint (the last file done, in manifest
 * order) is persisted; a resync started again with the same checkpoint file
 * and the journal of what changed since skips the files done, except those
 * the journal names (see ResyncOptions.checkpointFile). Without a usable
 * checkpoint a resumed resync still sends nothing twice: files already made
 * right agree in size and mtime (unless checksumAll).
 */

import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from "node:fs";
import {
  compareKeys, keyPath, parentKey, pathKey, planResyncSlices,
  type DataHint, type ResyncStep,
} from "../core/mirror/resync-plan.ts";
import { Breather } from "./breathe.ts";
import type { DirtySet } from "./journal-dirty.ts";
import { RENAME_NOREPLACE, relPathText, type MirrorOp, type RelPath } from "./ops.ts";
import { expandDirMarks } from "./resync-dirs.ts";
import { checkpointKey, loadCheckpoint, removeCheckpoint, saveCheckpoint, type ResyncCheckpoint } from "./resync-checkpoint.ts";
import { withRate, type ProgressCounts, type ResyncPhase, type ResyncProgress } from "./resync-progress.ts";
import { RateLimit, realClock, type Clock } from "./resync-rate.ts";
import { SendWindow } from "./resync-window.ts";
import { bytesToLook, FileSync, MAX_WRITE, type FileStep } from "./resync-file.ts";
import type { ApplyResult, EntryType, ManifestEntry, ResyncPeer } from "./resync-types.ts";
import { collect, entryType, hostPath, scanTree } from "./tree-scan.ts";
import { loadFsCalls, type FsCalls } from "../sys/ffi/fs-calls.ts";

export const RESYNC_BLOCK = 64 * 1024;
export const RESYNC_FINE_BLOCK = 4096;
const MAX_OPS_IN_FLIGHT = 1024;
const GATHER_AT_ONCE = 8;
/** Marked entries of one directory from which it is listed instead (see listedWithParents)... */
const LIST_PARENT_FROM = 16;
/** ...when they are at least this share (1/n) of its entries. */
const LIST_PARENT_SHARE = 4;
const REVISIT_ROUNDS = 3;
/** Files made right at once: enough to keep the link and the SECOND busy while each file waits for its acknowledgements (the window still bounds the bytes in flight). */
const FILES_AT_ONCE = 8;
/**
 * Within a file, progress is given at most this often as its bytes are looked at
 * (besides at each file done and each phase): a large file (a VM image, a day's
 * recording) would otherwise show 0 % for the whole of its data.
 */
const PROGRESS_EVERY_MS = 250;
const defaultBreather = new Breather();

export interface ResyncOptions {
  /** The local copy (on the PRIM: the real files beneath the FUSE mount). */
  readonly root: string;
  readonly peer: ResyncPeer;
  /**
   * What the ALONE journal marked. Null, or a set that is `full`: compare
   * everything. In full mode a set still tells which files changed since a
   * checkpoint.
   */
  readonly dirty?: DirtySet | null;
  /** Compare everything even when a journal set is given (`vigil resync`). */
  readonly full?: boolean;
  /** Compare every file's blocks, even when size and mtime agree. */
  readonly checksumAll?: boolean;
  /** Full mode: compare the blocks of files with a source mtime at or after this (ns since the epoch). */
  readonly liveSinceNs?: bigint;
  /** Full mode: compare the blocks of files live ops named (a pathKey). */
  readonly liveTouched?: (key: string) => boolean;
  /**
   * Where the resume point of a full resync is kept. It is written always,
   * and honoured only with `full` and a journal set that is not `full`: that
   * set must name every change made since the checkpoint was written (the
   * journal kept while the resync was interrupted); without it the resync
   * starts over, which files already right make cheap.
   */
  readonly checkpointFile?: string;
  /** Cap on data bytes sent per second; absent: none. */
  readonly rateLimitBytesPerSec?: number;
  readonly blockSize?: number;
  readonly fineBlockSize?: number;
  /** Bytes of ops sent and not yet acknowledged, at most. */
  readonly windowBytes?: number;
  /**
   * Files made right at once (default FILES_AT_ONCE). A file's turn ends
   * only once all its ops are acknowledged, so with few at once a resync of
   * many files with a few small changes each waits a round trip per file.
   */
  readonly concurrency?: number;
  readonly detectRenames?: boolean;
  /**
   * Paths left out of the copy (`exclude:` globs): neither sent nor deleted on
   * the other side. Asked for every path, so it must also say yes for
   * everything beneath an excluded directory.
   */
  readonly exclude?: (path: RelPath) => boolean;
  readonly clock?: Clock;
  /** How the long synchronous steps let the thread's timers run (default: the main thread's shared turn). */
  readonly breather?: Breather;
  readonly signal?: AbortSignal;
  /** Called after each file and phase change. */
  readonly onProgress?: (p: ResyncProgress) => void;
  /**
   * libc's xattr calls: with them the scan reads each entry's xattrs, the
   * peer's listings are asked with theirs, and what differs is set or
   * removed there. Absent: loaded where the runtime has them (Bun); null, or
   * not loadable (Node): xattrs are neither compared nor sent.
   */
  readonly xattrs?: FsCalls | null;
  /** How often the checkpoint is written (ms). */
  readonly checkpointEveryMs?: number;
}

export interface ResyncFailure {
  readonly path: string;
  readonly op: string;
  readonly errno: string;
  readonly message: string;
}

export interface ResyncResult {
  /** The copy is identical (as of the ops sent; live ops continue). */
  readonly completed: boolean;
  readonly progress: ResyncProgress;
  /** Ops that still failed after the last revisit. */
  readonly failures: readonly ResyncFailure[];
  /** Why the whole tree was compared, when it was. */
  readonly fullReason: string | null;
  /** What stopped an incomplete resync. */
  readonly error: string | null;
  /** Milliseconds spent in each phase (where the time of a resync goes). */
  readonly phaseMs: Readonly<Record<string, number>>;
}


interface Scope {
  readonly path: RelPath;
  readonly recursive: boolean;
}

class Interrupted extends Error {}


/** planResync, letting the daemon's timers (heartbeats) run between slices of a large tree. */
async function planSliced(...args: Parameters<typeof planResyncSlices>): Promise<ResyncStep[]> {
  const slices = planResyncSlices(...args);
  for (;;) {
    const r = slices.next();
    if (r.done === true) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

export class Resync {
  private readonly peer: ResyncPeer;
  private readonly root: string;
  private readonly clock: Clock;
  private readonly block: number;
  private readonly fine: number;
  private readonly rate: RateLimit | null;
  private readonly window: SendWindow;
  private readonly files: FileSync;
  private readonly revisit = new Map<string, RelPath>();
  private failures: ResyncFailure[] = [];
  private counts: { -readonly [K in keyof ProgressCounts]: ProgressCounts[K] };
  private readonly mode: "full" | "journal";
  private readonly fullReason: string | null;
  private linkDown: string | null = null;
  /** Set by run (see ResyncOptions.xattrs); the peer's listings carry xattrs exactly when this side reads its own. */
  private xattrs: FsCalls | null = null;

  constructor(private readonly o: ResyncOptions) {
    this.peer = o.peer;
    this.root = o.root;
    this.clock = o.clock ?? realClock;
    this.block = o.blockSize ?? RESYNC_BLOCK;
    this.fine = Math.min(o.fineBlockSize ?? RESYNC_FINE_BLOCK, this.block);
    this.window = new SendWindow(o.peer, o.windowBytes ?? 8 * MAX_WRITE, MAX_OPS_IN_FLIGHT, (op, r) => this.settled(op, r));
    this.files = new FileSync({
      root: this.root, peer: this.peer, block: this.block, fine: this.fine,
      send: (op, bytes, track) => this.send(op, bytes, track),
      budget: (bytes) => this.budget(bytes),
      checkAbort: () => this.checkAbort(),
      markDirty: (path) => this.markDirty(path),
      looked: (n) => {
        this.counts.bytesDone += n;
        this.progressInFile();
      },
      sumsReceived: (n) => { this.counts.sumBytesReceived += n; },
    });
    this.rate = o.rateLimitBytesPerSec !== undefined && o.rateLimitBytesPerSec > 0 ? new RateLimit(o.rateLimitBytesPerSec, this.clock) : null;
    const dirty = o.dirty ?? null;
    this.mode = o.full === true || dirty === null || dirty.full ? "full" : "journal";
    this.fullReason =
      this.mode === "journal" ? null
      : o.full === true ? "a full resync was asked for"
      : dirty === null ? "no journal of the changes"
      : `the journal gave up: ${dirty.fullReason ?? "unknown reason"}`;
    this.counts = {
      phase: "scanning", mode: this.mode, filesTotal: 0, filesDone: 0, bytesTotal: 0, bytesDone: 0,
      bytesSent: 0, sumBytesReceived: 0, opsSent: 0, startedAtMs: this.clock.now(),
    };
  }

  /** A path changed in a way the live stream may not have carried (a live op failed on the SECOND). */
  markDirty(path: RelPath): void {
    this.revisit.set(pathKey(path), path);
  }

  progress(): ResyncProgress {
    return withRate(this.counts, this.clock.now());
  }

  private progressGivenAt = -Infinity;

  /** Progress as a file's bytes are looked at, at most every PROGRESS_EVERY_MS. */
  private progressInFile(): void {
    if (this.o.onProgress === undefined) return;
    const now = this.clock.now();
    if (now - this.progressGivenAt < PROGRESS_EVERY_MS) return;
    this.progressGivenAt = now;
    this.o.onProgress(this.progress());
  }

  async run(): Promise<ResyncResult> {
    try {
      this.xattrs = this.o.xattrs !== undefined ? this.o.xattrs : await loadFsCalls("resync xattrs").catch(() => null);
      await this.main();
      this.setPhase("done");
      return this.result(true, null);
    } catch (e) {
      await this.drain().catch(() => undefined);
      this.setPhase("interrupted");
      return this.result(false, e instanceof Interrupted ? "interrupted" : (e as Error).message);
    }
  }

  private result(completed: boolean, error: string | null): ResyncResult {
    this.setPhase(this.counts.phase);
    return { completed, progress: this.progress(), failures: [...this.failures], fullReason: this.fullReason, error, phaseMs: { ...this.phaseMs } };
  }

  private readonly phaseMs: Record<string, number> = {};
  private phaseSince = 0;

  private setPhase(phase: ResyncPhase): void {
    const now = this.clock.now();
    const was = this.counts.phase;
    this.phaseMs[was] = (this.phaseMs[was] ?? 0) + (now - (this.phaseSince || this.counts.startedAtMs));
    this.phaseSince = now;
    this.counts.phase = phase;
    this.o.onProgress?.(this.progress());
  }

  private checkAbort(): void {
    if (this.o.signal?.aborted === true) throw new Interrupted("interrupted");
    if (this.linkDown !== null) throw new Error(`the other copy cannot be reached: ${this.linkDown}`);
  }

  private async main(): Promise<void> {
    const checksumAll = this.o.checksumAll === true;
    let checkpoint: ResyncCheckpoint | null = null;
    // Directories the journal knows only as "something beneath changed" become marks of their recent children.
    const given = this.o.dirty ?? null;
    const dirty = given === null ? null : await expandDirMarks(this.root, given, () => this.breathe());
    // A checkpoint is only as good as the knowledge of what changed after it was written.
    const changesKnown = dirty !== null && !dirty.full;
    if (this.o.checkpointFile !== undefined && this.mode === "full" && changesKnown) {
      const c = await loadCheckpoint(this.o.checkpointFile);
      if (c !== null && c.mode === "full" && c.checksumAll === checksumAll) checkpoint = c;
    }
    // The marked paths' keys, made once: every step below asks them (thousands of marks, ~10 ms a build on a loaded host).
    const keys: string[] = [];
    if (changesKnown) {
      for (const p of dirty.paths) {
        await this.breathe();
        keys.push(pathKey(p.path));
      }
    }
    const marked = new Set<string>(keys);

    let scopes: Scope[];
    let hints = new Map<string, DataHint>();
    if (this.mode === "full") {
      scopes = [{ path: new Uint8Array(), recursive: true }];
    } else {
      const d = dirty!;
      // A marked path whose parent is marked too is listed with the parent: it needs a request of
      // its own only to list its children (a directory here) or everything beneath (a tree mark).
      // An lstat per marked path, here and in listedWithParents: timers run meanwhile. In one stretch, the
      // marks of 6000 files kept the thread from the link for longer than its deadtime on a loaded host,
      // and the SECOND dropped the link at the resync's start (it started over up to 6 times).
      const own: Scope[] = [];
      for (const [i, p] of d.paths.entries()) {
        await this.breathe();
        if (p.tree || p.path.length === 0 || !marked.has(parentKey(keys[i]!)) || this.localType(p.path) === "dir") own.push({ path: p.path, recursive: p.tree });
      }
      scopes = await this.listedWithParents(own);
      for (const [i, p] of d.paths.entries()) {
        await this.breathe();
        if (p.whole || p.tree) hints.set(keys[i]!, { kind: "compare" });
        else if (p.ranges.length > 0 || p.suspect.length > 0) hints.set(keys[i]!, { kind: "ranges", ranges: p.ranges, compare: p.suspect });
      }
      if (d.hardLinkRecheck) {
        // Data written under a name since removed lives on under names the journal does not know
        // (with nlink 1 now, maybe): every file is checked by size and mtime, the marks still say what to send.
        scopes = [{ path: new Uint8Array(), recursive: true }];
      }
    }

    // In journal mode, what a changed directory's listing brings in is only checked for existence and type.
    let deep: ((k: string) => boolean) | null = null;
    if (this.mode === "journal" && !dirty!.hardLinkRecheck) {
      const trees = new Set(scopes.filter((s) => s.recursive).map((s) => pathKey(s.path)));
      deep = (k) => {
        if (marked.has(k)) return true;
        for (let a = k; a !== ""; ) {
          a = parentKey(a);
          if (trees.has(a)) return true;
        }
        return false;
      };
    }
    this.setPhase("scanning");
    await this.pass(scopes, hints, checksumAll, checkpoint, marked, deep);

    for (let round = 1; this.revisit.size > 0; round++) {
      this.checkAbort();
      const paths = [...this.revisit.values()];
      if (round > REVISIT_ROUNDS) {
        throw new Error(`${paths.length} path(s) still differ after ${REVISIT_ROUNDS} more attempts, such as ${relPathText(paths[0]!)}`);
      }
      this.revisit.clear();
      this.failures = [];
      this.setPhase("revisit");
      // The parent too (one level): its listing and times change with the entry. Listed once
      // however many of its entries are revisited (a directory of 1000 files, 1000 failed ops).
      const parents = new Set(paths.map((p) => parentKey(pathKey(p))));
      const scopes = [...paths.map((p) => ({ path: p, recursive: true })), ...[...parents].map((k) => ({ path: keyPath(k), recursive: false }))];
      await this.pass(scopes, new Map(), true, null, new Set(), null);
    }
    this.checkAbort();
    const syncStart = this.clock.now();
    const synced = await this.peer.apply({ op: "fsync", path: null, dataOnly: false });
    this.phaseMs["final sync"] = this.clock.now() - syncStart;
    if (!synced.ok) throw new Error(`the copy could not be synced: ${synced.message}`);
    if (this.o.checkpointFile !== undefined) await removeCheckpoint(this.o.checkpointFile);
  }

  /** Scans the scopes on both sides, plans, and carries the plan out. */
  private async pass(scopes: readonly Scope[], hints: Map<string, DataHint>, checksumAll: boolean, checkpoint: ResyncCheckpoint | null, changedSince: Set<string>, deep: ((k: string) => boolean) | null): Promise<void> {
    // A time sent by an earlier pass may not have been applied (that is why it is revisited).
    this.files.realMtimeSent.clear();
    // Both sides at once: the SECOND lists its copy while this side lists the folder.
    const listed = await Promise.all([this.gather(scopes, (s) => scanTree(this.root, s.path, s.recursive, this.xattrs)), this.gather(scopes, (s) => this.peer.manifest(s.path, s.recursive, this.xattrs !== null))]);
    const source = listed[0];
    let target = listed[1];
    this.checkAbort();
    const since = this.o.liveSinceNs;
    const touched = this.o.liveTouched;
    const live = this.mode === "full" && (since !== undefined || touched !== undefined);
    const options = {
      mtimeWindowNs: this.peer.mtimeWindowNs, checksumAll, detectRenames: this.o.detectRenames !== false,
      dataHint: (k: string) => hints.get(k),
      ...(live ? { compareAnyway: (k: string, e: ManifestEntry) => (since !== undefined && e.mtimeNs >= since) || touched?.(k) === true } : {}),
      ...(deep === null ? {} : { shallow: (k: string) => !deep(k) }),
    };
    let steps = await planSliced(source, target, options);
    const renames = steps.filter((s) => s.kind === "rename");
    if (renames.length > 0) {
      this.setPhase("renames");
      await this.doRenames(renames, source);
      target = await this.gather(scopes, (s) => this.peer.manifest(s.path, s.recursive, this.xattrs !== null));
      steps = await planSliced(source, target, { ...options, detectRenames: false });
    }
    const sourceByKey = new Map(source.map((e) => [pathKey(e.path), e]));

    this.setPhase("namespace");
    for (const s of steps) {
      await this.breathe();
      this.checkAbort();
      if (s.kind === "delete") await this.doDelete(s.path, s.type, sourceByKey.get(pathKey(s.path))?.type ?? null);
      else if (s.kind === "mkdir" || s.kind === "mknod" || s.kind === "symlink") await this.doCreate(s.kind, s.entry);
    }

    const files = steps.filter((s): s is FileStep => s.kind === "file");
    const skip = checkpoint === null ? null : checkpointKey(checkpoint);
    const todo: FileStep[] = [];
    for (const f of files) {
      const k = pathKey(f.entry.path);
      const size = bytesToLook(f);
      this.counts.filesTotal++;
      this.counts.bytesTotal += size;
      if (skip !== null && compareKeys(k, skip) <= 0 && !changedSince.has(k)) {
        this.counts.filesDone++;
        this.counts.bytesDone += size;
      } else {
        todo.push(f);
      }
    }
    this.setPhase("data");
    await this.doFiles(todo, skip);
    for (const s of steps) {
      await this.breathe();
      this.checkAbort();
      if (s.kind === "link") await this.doLink(s.existing, s.path);
    }
    await this.drain();

    this.setPhase("metadata");
    for (const s of steps) {
      await this.breathe();
      this.checkAbort();
      if (s.kind === "meta") await this.doMeta(s);
    }
    await this.drain();
  }

  /**
   * Journal scopes of single entries, grouped: where many entries of one
   * directory are marked, the directory is listed once (one level) instead of
   * each entry asked for alone, a round trip each. Only where the marked
   * entries are a good part of the listing, so a large directory with a few
   * changes is not listed whole. Its other entries come in shallow (existence
   * and type only, see `deep`), as when the directory itself is marked.
   */
  private async listedWithParents(scopes: readonly Scope[]): Promise<Scope[]> {
    const single = new Map<string, Scope[]>();
    const out: Scope[] = [];
    for (const s of scopes) {
      await this.breathe();
      // A directory's scope stands for its own entries, which the parent's listing does not bring.
      if (s.recursive || s.path.length === 0 || this.localType(s.path) === "dir") {
        out.push(s);
        continue;
      }
      const parent = parentKey(pathKey(s.path));
      const group = single.get(parent);
      if (group === undefined) single.set(parent, [s]);
      else group.push(s);
    }
    for (const [parent, group] of single) {
      await this.breathe();
      if (group.length >= LIST_PARENT_FROM && group.length * LIST_PARENT_SHARE >= this.localEntries(keyPath(parent))) out.push({ path: keyPath(parent), recursive: false });
      else out.push(...group);
    }
    return out;
  }

  /** How many entries the local directory `path` holds; Infinity when it cannot be listed. */
  private localEntries(path: RelPath): number {
    try {
      return readdirSync(hostPath(this.root, path)).length;
    } catch {
      return Infinity;
    }
  }

  private async gather(scopes: readonly Scope[], list: (s: Scope) => AsyncIterable<ManifestEntry>): Promise<ManifestEntry[]> {
    const byKey = new Map<string, ManifestEntry>();
    const exclude = this.o.exclude;
    // A few listings at once: over the link each one is a round trip.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < scopes.length) {
        this.checkAbort();
        const s = scopes[next++]!;
        for (const e of await collect(list(s))) {
          await this.breathe();
          if (exclude !== undefined && e.path.length > 0 && exclude(e.path)) continue;
          byKey.set(pathKey(e.path), e);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(GATHER_AT_ONCE, scopes.length) }, worker));
    return [...byKey.values()];
  }

  // ---- sending ----------------------------------------------------------

  /** Hands `op` to the peer now (its place in the stream is taken here). */
  private send(op: MirrorOp, bytes: number, track?: Promise<void>[]): void {
    this.counts.opsSent++;
    if (op.op === "write") this.counts.bytesSent += op.data.length;
    this.window.send(op, bytes, track);
  }

  private settled(op: MirrorOp, r: ApplyResult): void {
    if (r.ok) return;
    // The link is gone: nothing more can be sent; stop soon instead of reading the rest for nothing.
    if (r.errno === "ENOTCONN" && this.linkDown === null) this.linkDown = r.message;
    const path = op.op === "rename" ? op.to : op.op === "link" ? op.path : op.path;
    if (path === null) return;
    this.files.realMtimeSent.delete(pathKey(path));
    this.revisit.set(pathKey(path), path);
    this.failures.push({ path: relPathText(path), op: op.op, errno: r.errno, message: r.message });
  }

  private breathe(): Promise<void> {
    return (this.o.breather ?? defaultBreather).breathe();
  }

  /** Waits for the rate limit and for room in the window before sending `bytes`. */
  private async budget(bytes: number): Promise<void> {
    await this.breathe();
    this.checkAbort();
    if (this.rate !== null) await this.rate.take(bytes);
    await this.window.room(bytes);
  }

  private drain(): Promise<void> {
    return this.window.drain();
  }

  private localStat(path: RelPath): BigIntStats | null {
    try {
      return lstatSync(hostPath(this.root, path), { bigint: true });
    } catch {
      return null;
    }
  }

  private localType(path: RelPath): EntryType | null {
    const st = this.localStat(path);
    return st === null ? null : entryType(Number(st.mode));
  }

  /**
   * Sends `op` once everything before it is acknowledged, and waits for its
   * answer; null when `valid` (checked in the same turn as the send, see THE
   * RULE) says the local state no longer calls for it.
   */
  private async sendAndWait(op: MirrorOp, valid: () => boolean): Promise<ApplyResult | null> {
    await this.drain();
    this.checkAbort();
    if (!valid()) return null;
    const p = this.peer.apply(op);
    this.counts.opsSent++;
    return p;
  }

  // ---- namespace --------------------------------------------------------

  private async doRenames(renames: readonly ResyncStep[], source: readonly ManifestEntry[]): Promise<void> {
    const types = new Map(source.map((e) => [pathKey(e.path), e.type]));
    for (const r of renames) {
      if (r.kind !== "rename") continue;
      // The local state must still be what the plan saw: the old name gone, the new one of the same type.
      const valid = (): boolean => this.localType(r.from) === null && this.localType(r.to) === types.get(pathKey(r.to));
      // A failed rename is no error: the re-plan sees where things are.
      await this.sendAndWait({ op: "rename", from: r.from, to: r.to, flags: RENAME_NOREPLACE }, valid);
    }
  }

  private async doDelete(path: RelPath, type: EntryType, sourceType: EntryType | null): Promise<void> {
    // Changed locally since the scan: the live stream carries it.
    const valid = (): boolean => this.localType(path) === sourceType;
    if (type !== "dir") {
      await this.budget(0);
      if (valid()) this.send({ op: "unlink", path }, 0);
      return;
    }
    const r = await this.sendAndWait({ op: "rmdir", path }, valid);
    if (r === null || r.ok || r.errno === "ENOENT") return;
    if (r.errno !== "ENOTEMPTY" && r.errno !== "EEXIST") {
      this.settled({ op: "rmdir", path }, r);
      return;
    }
    // Contents the plan did not list (a journal-driven pass lists one level).
    const beneath = (await collect(this.peer.manifest(path, true, false))).filter((e) => e.path.length > path.length);
    beneath.sort((a, b) => compareKeys(pathKey(b.path), pathKey(a.path)));
    await this.drain();
    if (!valid()) return;
    for (const e of beneath) this.send(e.type === "dir" ? { op: "rmdir", path: e.path } : { op: "unlink", path: e.path }, 0);
    this.send({ op: "rmdir", path }, 0);
    await this.drain();
  }

  private async doCreate(kind: "mkdir" | "mknod" | "symlink", entry: ManifestEntry): Promise<void> {
    await this.budget(0);
    const st = this.localStat(entry.path);
    if (st === null || entryType(Number(st.mode)) !== entry.type) return;
    const owner = { uid: Number(st.uid), gid: Number(st.gid) };
    if (kind === "mkdir") {
      this.send({ op: "mkdir", path: entry.path, mode: Number(st.mode) & 0o7777, ...owner }, 0);
    } else if (kind === "mknod") {
      this.send({ op: "mknod", path: entry.path, mode: Number(st.mode), rdev: Number(st.rdev), ...owner }, 0);
    } else {
      let target: Buffer;
      try {
        target = readlinkSync(hostPath(this.root, entry.path), { encoding: "buffer" });
      } catch {
        return;
      }
      this.send({ op: "symlink", path: entry.path, target: new Uint8Array(target), ...owner }, 0);
    }
  }

  private async doLink(existing: RelPath, path: RelPath): Promise<void> {
    await this.budget(0);
    const a = this.localStat(existing);
    const b = this.localStat(path);
    if (a === null || b === null || a.ino !== b.ino || a.dev !== b.dev) return;
    this.send({ op: "link", existing, path }, 0);
  }

  private async doMeta(step: Extract<ResyncStep, { kind: "meta" }>): Promise<void> {
    const { entry, fix } = step;
    const path = entry.path;
    const key = pathKey(path);
    // The file's last data op set this very mtime; a later change to the file is behind it in the stream with its own.
    // (The plan asks for utimes only for the mtime: atimes are not compared.) After a chown, chmod or xattr op the
    // mtime is still right, as those change only the ctime.
    const timesSent = (st: BigIntStats): boolean => this.files.realMtimeSent.get(key) === st.mtimeNs;
    const others = fix.chown || fix.chmod || fix.removeXattrs.length > 0 || fix.setXattrs.length > 0;
    if (!others) {
      // Nothing but a time that may already be there: no wait for the window when it is (most files of a resync of small files).
      const first = this.localStat(path);
      if (first === null || entryType(Number(first.mode)) !== entry.type || !fix.utimes || timesSent(first)) return;
    }
    await this.budget(0);
    const st = this.localStat(path);
    if (st === null || entryType(Number(st.mode)) !== entry.type) return;
    // chown clears set-id bits: the mode goes after it.
    if (fix.chown) this.send({ op: "chown", path, uid: Number(st.uid), gid: Number(st.gid) }, 0);
    if (fix.chmod) this.send({ op: "chmod", path, mode: Number(st.mode) & 0o7777 }, 0);
    for (const x of fix.removeXattrs) this.send({ op: "removexattr", path, name: x }, 0);
    for (const x of fix.setXattrs) this.send({ op: "setxattr", path, name: x.name, value: x.value, flags: 0 }, x.value.length);
    if (fix.utimes && !timesSent(st)) this.send({ op: "utimes", path, atimeNs: st.atimeNs, mtimeNs: st.mtimeNs }, 0);
  }

  // ---- data -------------------------------------------------------------

  private async doFiles(files: readonly FileStep[], skipThrough: string | null): Promise<void> {
    const done = new Array<boolean>(files.length).fill(false);
    let contiguous = 0;
    let lastSave = this.clock.now();
    let saving: Promise<void> = Promise.resolve();
    let next = 0;
    const saveEvery = this.o.checkpointEveryMs ?? 1000;
    const checkpointFile = this.mode === "full" ? this.o.checkpointFile : undefined;
    const save = (force: boolean): void => {
      if (checkpointFile === undefined || contiguous === 0) return;
      if (!force && this.clock.now() - lastSave < saveEvery) return;
      lastSave = this.clock.now();
      const doneThrough = files[contiguous - 1]!.entry.path;
      if (skipThrough !== null && compareKeys(pathKey(doneThrough), skipThrough) < 0) return;
      saving = saving.then(() => saveCheckpoint(checkpointFile, { mode: "full", checksumAll: this.o.checksumAll === true, doneThrough })).catch(() => undefined);
    };
    const acks: Promise<void>[] = [];
    const worker = async (): Promise<void> => {
      while (next < files.length) {
        this.checkAbort();
        await this.breathe();
        const i = next++;
        if (i >= files.length) break;
        const f = files[i]!;
        // The next file starts once this one's ops are sent; it is done (for the checkpoint) once they are acknowledged.
        const { acked } = await this.files.sync(f);
        acks.push(acked.then(() => {
          done[i] = true;
          this.counts.filesDone++;
          while (contiguous < files.length && done[contiguous] === true) contiguous++;
          save(false);
          this.o.onProgress?.(this.progress());
        }));
      }
    };
    try {
      const workers = Array.from({ length: Math.max(1, this.o.concurrency ?? FILES_AT_ONCE) }, worker);
      const results = await Promise.allSettled(workers);
      await Promise.all(acks);
      const failed = results.find((r) => r.status === "rejected");
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    } finally {
      save(true);
      await saving;
    }
  }
}
