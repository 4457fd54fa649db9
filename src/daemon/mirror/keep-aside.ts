/**
 * A copy that gives way after both sides wrote (a split brain, a peer with
 * newer data, a new SECOND whose folder already held files) keeps what the
 * resync is about to change: before an op of the peer first touches a path
 * of this copy, the path's current content is copied to the conflicts
 * folder under the same relative path. Only what the resync changes or
 * deletes is kept, so a resync of a large folder where a few files diverged
 * costs a few files' room in the state dir, not a second copy of the folder.
 *
 * - Files keep their bytes (a reflink where the filesystem can), mode,
 *   owner and times; symlinks their target; a directory that is renamed is
 *   kept whole (its files are about to move), any other directory as an
 *   empty one with its mode. Extended attributes and special files are not
 *   kept: a FIFO or device has no content to lose.
 * - A path is kept once per resync, at the first op that changes its
 *   content, before that op: the copy shows the bytes as they were when the
 *   resync began (its times may already be the peer's). A path that did not exist is remembered as such, so a file the
 *   resync creates is not kept later.
 * - A hard link's other names are not kept separately: their content is
 *   the kept name's.
 * - A resync that resumes after an interruption keeps into the same folder:
 *   a path kept there already stays as it was.
 * - Nothing is created before the first path is kept, and `onFirstKeep`
 *   runs (the driver records where the copy goes) just before it: a resync
 *   that replaces nothing of this copy, such as the first sync of an empty
 *   new copy, leaves no folder and no banner.
 * - Paths are raw bytes (any name the PRIM accepted).
 *
 * Where it runs: on the applier's thread (apply-worker.ts, `beforeSync` just
 * before each op), so the daemon's main thread makes no call on the copy's
 * disk during such a resync and a disk that hangs there is caught by the
 * disk's watch as any op is. The record of where the copy goes is the main
 * thread's (the state dir): the thread asks for it before the first path
 * (onFirstKeep "ask", KEEP_ASK). Where the applier has no thread (Node, a
 * binary without its entry point) the driver keeps here, before handing each
 * op over (`before`, `nothingToKeep`).
 */
import { chmodSync, chownSync, closeSync, constants as C, copyFileSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync, type Stats, symlinkSync, utimesSync, writeSync } from "node:fs";
import type { MirrorOp, RelPath } from "../../replicator/ops.ts";

const SLASH = Buffer.from("/");

/** beforeSync's answer when a path is to be kept and the record must be made first (see KeepAside's onFirstKeep). */
export const KEEP_ASK = "ask-first-keep" as const;

/**
 * The paths whose content (or whose very existence) an op changes, before it
 * is applied. Ops that change only metadata (mode, owner, times, extended
 * attributes) lose no data: a full resync sends them for files whose bytes
 * agree, and keeping those would copy what both sides already hold.
 */
export function pathsChangedBy(op: MirrorOp): RelPath[] {
  switch (op.op) {
    case "fsync":
    case "chmod":
    case "chown":
    case "utimes":
    case "setxattr":
    case "removexattr":
      return [];
    case "rename":
      return [op.from, op.to];
    default:
      return [op.path];
  }
}

export class KeepAside {
  private readonly kept = new Set<string>();
  /** Directories kept whole (renamed): everything beneath them is kept already. */
  private readonly keptWhole = new Set<string>();
  /** Paths kept (files, links and directories), for the log. */
  count = 0;

  /**
   * `root`: the copy (the folder beneath any mount); `dest`: where the kept paths go, created on first
   * use; `onFirstKeep`: called once, synchronously, before the first path is copied there; "ask" (on the
   * applier's thread, whose record is made by the main thread): beforeSync answers KEEP_ASK instead, until
   * `recorded()`.
   */
  constructor(
    private readonly root: string,
    readonly dest: string,
    private onFirstKeep: (() => void) | "ask" | null = null,
    /** Told at each MiB a file's copy moves (the disk's watch on the applier's thread); null: a file goes in one call. */
    private readonly moved: (() => void) | null = null,
  ) {}

  /**
   * Whether `op` has nothing to keep, answered at once: every path it changes
   * is kept already or is not on this copy (remembered as such, as `before`
   * would). False when a path is there to be kept, or cannot be looked at:
   * `before` then keeps it or says why not. Most ops of a first sync (an
   * empty copy) need nothing kept; answering those here lets the driver
   * hand them to the applier in the same turn, in runs, instead of one op
   * per turn. Only where the keeper runs on the main thread (no applier's
   * thread, whose ops are applied there too).
   */
  nothingToKeep(op: MirrorOp): boolean {
    for (const rel of pathsChangedBy(op)) {
      const key = Buffer.from(rel).toString("latin1");
      if (this.kept.has(key) || this.beneathWhole(key)) continue;
      try {
        lstatSync(Buffer.concat([Buffer.from(this.root), SLASH, rel]));
        return false;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== "ENOENT" && code !== "ENOTDIR") return false;
      }
      this.kept.add(key);
      if (op.op === "rename" && rel === op.from) this.keptWhole.add(key);
    }
    return true;
  }

  /** Keeps every path `op` is about to change; null when done, else why not (the op must then not be applied). */
  async before(op: MirrorOp): Promise<string | null> {
    const r = this.beforeSync(op);
    // Only the applier's thread asks for the record (onFirstKeep "ask"); this keeper records it itself.
    return r === KEEP_ASK ? `cannot keep ${this.dest}: its record is not made` : r;
  }

  /**
   * `before`, synchronously: on the applier's thread (apply-worker.ts), where
   * every call on the copy's disk is made, one op after the other. KEEP_ASK:
   * a path is to be kept first and the record is not made yet (onFirstKeep
   * "ask"): nothing was copied for this op; once `recorded()`, ask again.
   */
  beforeSync(op: MirrorOp): string | null | typeof KEEP_ASK {
    for (const rel of pathsChangedBy(op)) {
      const key = Buffer.from(rel).toString("latin1");
      if (this.kept.has(key) || this.beneathWhole(key)) continue;
      const whole = op.op === "rename" && rel === op.from;
      try {
        if (this.keep(rel, whole) === KEEP_ASK) return KEEP_ASK;
      } catch (e) {
        return `cannot keep ${Buffer.from(rel).toString("utf8")} aside in ${this.dest}: ${e instanceof Error ? e.message : String(e)}`;
      }
      this.kept.add(key);
      if (whole) this.keptWhole.add(key);
    }
    return null;
  }

  /** The record asked for (KEEP_ASK) is made: paths are copied from now on. */
  recorded(): void {
    this.onFirstKeep = null;
  }

  private beneathWhole(key: string): boolean {
    if (this.keptWhole.size === 0) return false;
    for (let at = key.indexOf("/"); at > 0; at = key.indexOf("/", at + 1)) if (this.keptWhole.has(key.slice(0, at))) return true;
    return false;
  }

  private keep(rel: RelPath, whole: boolean): typeof KEEP_ASK | void {
    const from = Buffer.concat([Buffer.from(this.root), SLASH, rel]);
    const st = lstatOrNull(from);
    if (st === null) return;
    const to = Buffer.concat([Buffer.from(this.dest), SLASH, rel]);
    // Kept by an earlier, interrupted run of the same resync: that copy is the older one.
    if (lstatOrNull(to, true) !== null) return;
    const first = this.onFirstKeep;
    if (first === "ask") return KEEP_ASK;
    this.onFirstKeep = null;
    first?.();
    mkdirSync(parentOf(to), { recursive: true, mode: 0o700 });
    this.copy(from, to, whole);
  }

  private copy(from: Buffer, to: Buffer, whole: boolean): void {
    const st = lstatSync(from);
    if (st.isDirectory()) {
      mkdirSync(to, { recursive: true, mode: 0o700 });
      if (whole) {
        for (const name of readdirSync(from, { encoding: "buffer" })) {
          this.copy(Buffer.concat([from, SLASH, name]), Buffer.concat([to, SLASH, name]), true);
        }
      }
    } else if (st.isFile()) {
      copyBytes(from, to, this.moved);
    } else if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(from, { encoding: "buffer" }), to);
      this.count++;
      return;
    } else {
      return;
    }
    chownSync(to, st.uid, st.gid);
    chmodSync(to, st.mode & 0o7777);
    utimesSync(to, st.atime, st.mtime);
    this.count++;
  }
}

const CHUNK = 1 << 20;

/**
 * A file's bytes from `from` to `to` (made, or emptied): a reflink where the
 * filesystem can. `moved`: a copy that cannot be a reflink (the state dir is
 * usually another filesystem) goes a MiB at a time and says so at each, so
 * the disk's watch sees a long copy move, as it sees ops finish: a large file
 * read from the page cache into a slow state dir completes no I/O on the
 * copy's device, and would read as a hung disk.
 */
function copyBytes(from: Buffer, to: Buffer, moved: (() => void) | null): void {
  if (moved === null) {
    copyFileSync(from, to, C.COPYFILE_FICLONE);
    return;
  }
  try {
    copyFileSync(from, to, C.COPYFILE_FICLONE_FORCE);
    return;
  } catch {
    // No reflink here: byte by byte (an error of the source's says so again below).
  }
  const src = openSync(from, C.O_RDONLY | C.O_NOFOLLOW);
  try {
    const dst = openSync(to, C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW, 0o600);
    try {
      const buf = Buffer.allocUnsafe(CHUNK);
      for (;;) {
        const n = readSync(src, buf, 0, CHUNK, null);
        if (n === 0) break;
        for (let at = 0; at < n; ) at += writeSync(dst, buf, at, n - at);
        moved();
      }
    } finally {
      closeSync(dst);
    }
  } finally {
    closeSync(src);
  }
}

/** A path's lstat; null when it is not there (any error at all for `anyError`, as the check of what an earlier run kept). */
function lstatOrNull(p: Buffer, anyError = false): Stats | null {
  try {
    return lstatSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (anyError || code === "ENOENT" || code === "ENOTDIR") return null;
    throw e;
  }
}

function parentOf(p: Buffer): Buffer {
  const at = p.lastIndexOf(SLASH[0]!);
  return at <= 0 ? SLASH : p.subarray(0, at);
}
