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
 */
import { constants as C, lstatSync } from "node:fs";
import { chown, copyFile, lstat, mkdir, readdir, readlink, symlink, utimes, chmod } from "node:fs/promises";
import type { MirrorOp, RelPath } from "../../replicator/ops.ts";

const SLASH = Buffer.from("/");

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
   * use; `onFirstKeep`: called once, synchronously, before the first path is copied there.
   */
  constructor(
    private readonly root: string,
    readonly dest: string,
    private onFirstKeep: (() => void) | null = null,
  ) {}

  /**
   * Whether `op` has nothing to keep, answered at once: every path it changes
   * is kept already or is not on this copy (remembered as such, as `before`
   * would). False when a path is there to be kept, or cannot be looked at:
   * `before` then keeps it or says why not. Most ops of a first sync (an
   * empty copy) need nothing kept; answering those here lets the driver
   * hand them to the applier in the same turn, in runs, instead of one op
   * per turn after an lstat on the runtime's thread pool.
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
    for (const rel of pathsChangedBy(op)) {
      const key = Buffer.from(rel).toString("latin1");
      if (this.kept.has(key) || this.beneathWhole(key)) continue;
      const whole = op.op === "rename" && rel === op.from;
      try {
        await this.keep(rel, whole);
      } catch (e) {
        return `cannot keep ${Buffer.from(rel).toString("utf8")} aside in ${this.dest}: ${e instanceof Error ? e.message : String(e)}`;
      }
      this.kept.add(key);
      if (whole) this.keptWhole.add(key);
    }
    return null;
  }

  private beneathWhole(key: string): boolean {
    if (this.keptWhole.size === 0) return false;
    for (let at = key.indexOf("/"); at > 0; at = key.indexOf("/", at + 1)) if (this.keptWhole.has(key.slice(0, at))) return true;
    return false;
  }

  private async keep(rel: RelPath, whole: boolean): Promise<void> {
    const from = Buffer.concat([Buffer.from(this.root), SLASH, rel]);
    const st = await lstat(from).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT" || e.code === "ENOTDIR") return null;
      throw e;
    });
    if (st === null) return;
    const to = Buffer.concat([Buffer.from(this.dest), SLASH, rel]);
    // Kept by an earlier, interrupted run of the same resync: that copy is the older one.
    if ((await lstat(to).catch(() => null)) !== null) return;
    const first = this.onFirstKeep;
    this.onFirstKeep = null;
    first?.();
    await mkdir(parentOf(to), { recursive: true, mode: 0o700 });
    await this.copy(from, to, whole);
  }

  private async copy(from: Buffer, to: Buffer, whole: boolean): Promise<void> {
    const st = await lstat(from);
    if (st.isDirectory()) {
      await mkdir(to, { recursive: true, mode: 0o700 });
      if (whole) {
        for (const name of await readdir(from, { encoding: "buffer" })) {
          await this.copy(Buffer.concat([from, SLASH, name]), Buffer.concat([to, SLASH, name]), true);
        }
      }
    } else if (st.isFile()) {
      await copyFile(from, to, C.COPYFILE_FICLONE);
    } else if (st.isSymbolicLink()) {
      await symlink(await readlink(from, { encoding: "buffer" }), to);
      this.count++;
      return;
    } else {
      return;
    }
    await chown(to, st.uid, st.gid);
    await chmod(to, st.mode & 0o7777);
    await utimes(to, st.atime, st.mtime);
    this.count++;
  }
}

function parentOf(p: Buffer): Buffer {
  const at = p.lastIndexOf(SLASH[0]!);
  return at <= 0 ? SLASH : p.subarray(0, at);
}
