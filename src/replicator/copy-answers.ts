/**
 * The SECOND's answers to the resync's questions (manifests in batches the
 * PRIM pulls one at a time, single entries, block sums), read from its copy
 * synchronously, one question after the other. They run on the applier's
 * thread (apply-worker.ts), never on the daemon's main thread: a disk that
 * hangs beneath the copy during a resync holds that thread in its call, and
 * the disk's watch (apply-threaded.ts) sees the answer owed and no progress,
 * as it sees an op owed; the main thread goes on with heartbeats, the link
 * and the control socket.
 *
 * The same answers as FolderAnswerer reads by fd (remote-peer-answers.ts),
 * which stays for an applier on the main thread (Node, a binary without the
 * worker): the copy reached through directory fds (copy-scan-at.ts), never
 * through a symlinked parent, each entry's xattrs through libc unless the
 * asker does not compare them. Errors become error answers, never throws.
 */
import { closeSync, constants as C, fstatSync, openSync, readSync } from "node:fs";
import { REPLICATION_MAX_ENTRIES, REPLICATION_MAX_SUMS_BYTES, type ResyncRequest, type ResyncResponse } from "../proto/replication-resync.ts";
import type { DirCalls } from "../sys/ffi/dir-calls.ts";
import type { FsCalls } from "../sys/ffi/fs-calls.ts";
import { UnsafePathError } from "./apply-paths.ts";
import { fileBlockSumsSync } from "./block-sums.ts";
import { CopyScanAt, type PlacedEntry } from "./copy-scan-at.ts";
import { withXattrs } from "./entry-xattrs.ts";
import type { RelPath } from "./ops.ts";
import { BLOCK_SUM_BYTES, type BlockSums, type ManifestEntry } from "./resync-types.ts";

/** A batch of entries stays under this many encoded bytes (about). */
const BATCH_BYTES = 256 * 1024;

export function entryBytes(e: ManifestEntry): number {
  let n = 64 + e.path.length + (e.target?.length ?? 0);
  for (const x of e.xattrs ?? []) n += 5 + x.name.length + x.value.length;
  return n;
}

/** A failure as an error answer: the errno when the call gave one, EOUTSIDE for a path that would leave the copy. */
export function errorAnswer(e: unknown): ResyncResponse {
  if (e instanceof UnsafePathError) return { kind: "error", errno: "EOUTSIDE", message: e.message };
  const code = (e as { code?: unknown }).code;
  return { kind: "error", errno: typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : "EIO", message: e instanceof Error ? e.message : String(e) };
}

interface OpenListing {
  readonly scan: Generator<PlacedEntry>;
  readonly xattrs: boolean;
  /** An entry read past the end of the last batch, kept for the next one. */
  carried: ManifestEntry | null;
}

export class CopyAnswers {
  private readonly at: CopyScanAt;
  private readonly open = new Map<number, OpenListing>();

  /**
   * `root`: the copy (trusted, may be /proc/self/fd/N/.); `fsCalls`: for
   * xattrs, null: entries carry none; `onProgress`: called after each entry
   * read and each MiB summed, so the disk's watch sees a long answer move.
   */
  constructor(
    root: string,
    dirCalls: DirCalls,
    private readonly fsCalls: FsCalls | null,
    private readonly onProgress: () => void = () => {},
  ) {
    this.at = new CopyScanAt(root, dirCalls);
  }

  /** Every answer to request `id` of the current session, in order (none for a cancel). */
  answer(id: number, q: ResyncRequest): ResyncResponse[] {
    switch (q.kind) {
      case "manifest":
        this.drop(id);
        this.open.set(id, { scan: this.at.scan(q.under, q.recursive), xattrs: q.withoutXattrs !== true, carried: null });
        return this.batch(id);
      case "next":
        // After the last batch the asker may still ask once: nothing is open, nothing to say.
        return this.batch(id);
      case "cancel":
        this.drop(id);
        return [];
      case "entry":
        try {
          return [{ kind: "entry", entry: this.entry(q.path) }];
        } catch (e) {
          return [errorAnswer(e)];
        }
      case "sums":
        try {
          return [{ kind: "sums", sums: this.sums(q.path, q.blockSize, q.offset, q.count) }];
        } catch (e) {
          return [errorAnswer(e)];
        }
      default:
        return [{ kind: "error", errno: "ENOTSUP", message: `the copy's reader does not answer ${q.kind} requests` }];
    }
  }

  /** The session ended: every listing still open is dropped (its directory fds closed). */
  reset(): void {
    for (const id of [...this.open.keys()]) this.drop(id);
  }

  close(): void {
    this.reset();
    this.at.close();
  }

  private drop(id: number): void {
    const o = this.open.get(id);
    this.open.delete(id);
    o?.scan.return(undefined);
  }

  private batch(id: number): ResyncResponse[] {
    const o = this.open.get(id);
    if (o === undefined) return [];
    const entries: ManifestEntry[] = [];
    let bytes = 0;
    if (o.carried !== null) {
      entries.push(o.carried);
      bytes += entryBytes(o.carried);
      o.carried = null;
    }
    try {
      while (entries.length < REPLICATION_MAX_ENTRIES && bytes < BATCH_BYTES) {
        const next = o.scan.next();
        if (next.done === true) {
          this.open.delete(id);
          return entries.length > 0 ? [{ kind: "entries", entries }, { kind: "end" }] : [{ kind: "end" }];
        }
        const p = next.value;
        const e = o.xattrs ? this.withXattrs(p.entry, () => CopyScanAt.procPath(p.dir, p.name)) : p.entry;
        this.onProgress();
        if (entries.length > 0 && bytes + entryBytes(e) > BATCH_BYTES) {
          o.carried = e;
          break;
        }
        entries.push(e);
        bytes += entryBytes(e);
      }
    } catch (e) {
      this.drop(id);
      return [errorAnswer(e)];
    }
    return [{ kind: "entries", entries }];
  }

  /** The entry at `path` with its xattrs, or null. */
  private entry(path: RelPath): ManifestEntry | null {
    const e = this.at.entry(path);
    if (e === null) return null;
    const place = this.at.place(path, true);
    if (place === null) return e;
    try {
      return this.withXattrs(e, () => CopyScanAt.procPath(place.dir, place.name));
    } finally {
      this.at.release(place.dir);
    }
  }

  /** `e` with the xattrs of the object `where` names (a path that does not follow its last name). */
  private withXattrs(e: ManifestEntry, where: () => Uint8Array): ManifestEntry {
    if (this.fsCalls === null) return e;
    let abs: Uint8Array;
    try {
      abs = where();
    } catch {
      return e;
    }
    return withXattrs(this.fsCalls, e, abs);
  }

  private sums(path: RelPath, blockSize: number, offset: number, count: number): BlockSums | null {
    if (count * BLOCK_SUM_BYTES > REPLICATION_MAX_SUMS_BYTES) throw Object.assign(new Error(`${count} blocks in one request`), { code: "EINVAL" });
    // The directory opened without following a symlink, the file by one /proc hop from it.
    const place = this.at.place(path, false);
    if (place === null) return null;
    let fd: number;
    try {
      fd = openSync(CopyScanAt.procPath(place.dir, place.name), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    } catch {
      return null;
    } finally {
      this.at.release(place.dir);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) return null;
      return fileBlockSumsSync((buf, position) => readSync(fd, buf, 0, buf.length, position), st.size, blockSize, offset, count, this.onProgress);
    } finally {
      closeSync(fd);
    }
  }
}
