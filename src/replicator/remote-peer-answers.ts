/**
 * The SECOND's answers to the PRIM's resync questions, read from its copy of
 * the folder: manifests (in batches the PRIM pulls one at a time), single
 * entries, block sums. Requests it does not know (mirror control) go to
 * `other` when given. Like the applier it never reads through a symlinked
 * parent, and with libc at hand it adds each entry's xattrs, so the resync
 * can compare them too; a listing asked without them reads none.
 */
import { constants as C, promises as fsp } from "node:fs";
import type { RequestAnswerer } from "../net/replication-link.ts";
import { REPLICATION_MAX_ENTRIES, REPLICATION_MAX_SUMS_BYTES, type ResyncRequest, type ResyncResponse } from "../proto/replication-resync.ts";
import type { DirCalls } from "../sys/ffi/dir-calls.ts";
import type { FsCalls } from "../sys/ffi/fs-calls.ts";
import { CopyPaths, UnsafePathError } from "./apply-paths.ts";
import { fileBlockSums } from "./block-sums.ts";
import { Breather } from "./breathe.ts";
import { CopyScanAt } from "./copy-scan-at.ts";
import type { RelPath } from "./ops.ts";
import { withXattrs } from "./entry-xattrs.ts";
import { BLOCK_SUM_BYTES, type ManifestEntry } from "./resync-types.ts";
import { scanTree, statEntry } from "./tree-scan.ts";

/** A batch of entries stays under this many encoded bytes (about). */
const BATCH_BYTES = 256 * 1024;

export interface FolderAnswererOptions {
  /** libc calls for xattrs; null: entries carry no xattrs. */
  readonly fsCalls: FsCalls | null;
  /** The `*at` calls: the copy is read through directory fds (see the top of this file); absent or null: by path. */
  readonly dirCalls?: DirCalls | null;
  /** Answers requests that are not about the folder (mirror control). */
  readonly other?: RequestAnswerer;
}

function estimate(e: ManifestEntry): number {
  let n = 64 + e.path.length + (e.target?.length ?? 0);
  for (const x of e.xattrs ?? []) n += 5 + x.name.length + x.value.length;
  return n;
}

function errorOf(e: unknown): ResyncResponse {
  if (e instanceof UnsafePathError) return { kind: "error", errno: "EOUTSIDE", message: e.message };
  const code = (e as { code?: unknown }).code;
  return { kind: "error", errno: typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : "EIO", message: e instanceof Error ? e.message : String(e) };
}

export class FolderAnswerer implements RequestAnswerer {
  private readonly paths: CopyPaths;
  private readonly at: CopyScanAt | null;
  private readonly breather = new Breather();
  private readonly open = new Map<number, AsyncIterator<ManifestEntry> | Iterator<ManifestEntry>>();
  /** An entry read past the end of the last batch, kept for the next one. */
  private readonly carried = new Map<number, ManifestEntry>();

  constructor(
    private readonly root: string,
    private readonly opts: FolderAnswererOptions,
  ) {
    this.paths = new CopyPaths(root);
    this.at = opts.dirCalls === undefined || opts.dirCalls === null ? null : new CopyScanAt(root, opts.dirCalls);
  }

  /** The entries at and beneath `under`, with their xattrs unless the asker does not compare them. */
  private entries(under: RelPath, recursive: boolean, xattrs: boolean): AsyncIterator<ManifestEntry> | Iterator<ManifestEntry> {
    const at = this.at;
    if (at !== null) {
      const placed = at.scan(under, recursive);
      const self = this;
      return (function* () {
        for (const p of placed) yield xattrs ? self.withXattrs(p.entry, () => CopyScanAt.procPath(p.dir, p.name)) : p.entry;
      })();
    }
    const paths = this.paths;
    const root = this.root;
    const self = this;
    return (async function* () {
      for await (const e of scanTree(root, under, recursive)) yield xattrs ? self.withXattrs(e, () => paths.abs(e.path)) : e;
    })();
  }

  /** The entry at `path` with its xattrs, or null. */
  private async entry(path: RelPath): Promise<ManifestEntry | null> {
    const at = this.at;
    if (at !== null) {
      const e = at.entry(path);
      if (e === null) return null;
      const place = at.place(path, true);
      if (place === null) return e;
      try {
        return this.withXattrs(e, () => CopyScanAt.procPath(place.dir, place.name));
      } finally {
        at.release(place.dir);
      }
    }
    this.paths.forget();
    this.paths.resolve(path, true);
    const e = await statEntry(this.root, path);
    return e === null ? null : this.withXattrs(e, () => this.paths.abs(e.path));
  }

  /** Closes the directory fds it holds. */
  close(): void {
    this.reset();
    this.at?.close();
  }

  async request(id: number, q: ResyncRequest, reply: (r: ResyncResponse) => boolean): Promise<void> {
    switch (q.kind) {
      case "manifest": {
        this.drop(id);
        if (this.at === null) {
          try {
            this.paths.forget();
            this.paths.resolve(q.under, true);
          } catch (e) {
            reply(errorOf(e));
            return;
          }
        }
        // By fd, a symlinked parent fails the first batch with the same error.
        this.open.set(id, this.entries(q.under, q.recursive, q.withoutXattrs !== true));
        await this.batch(id, reply);
        return;
      }
      case "next":
        // After the last batch the asker may still ask once: nothing is open, nothing to say.
        await this.batch(id, reply);
        return;
      case "cancel":
        this.drop(id);
        return;
      case "entry":
        try {
          reply({ kind: "entry", entry: await this.entry(q.path) });
        } catch (e) {
          reply(errorOf(e));
        }
        return;
      case "sums":
        try {
          reply({ kind: "sums", sums: await this.sums(q.path, q.blockSize, q.offset, q.count) });
        } catch (e) {
          reply(errorOf(e));
        }
        return;
      default:
        if (this.opts.other !== undefined) await this.opts.other.request(id, q, reply);
        else reply({ kind: "error", errno: "ENOTSUP", message: `this node does not answer ${q.kind} requests` });
    }
  }

  reset(): void {
    for (const id of [...this.open.keys()]) this.drop(id);
    this.opts.other?.reset();
  }

  private drop(id: number): void {
    const it = this.open.get(id);
    this.open.delete(id);
    this.carried.delete(id);
    void it?.return?.();
  }

  private async batch(id: number, reply: (r: ResyncResponse) => boolean): Promise<void> {
    const it = this.open.get(id);
    if (it === undefined) return;
    const entries: ManifestEntry[] = [];
    let bytes = 0;
    const first = this.carried.get(id);
    this.carried.delete(id);
    if (first !== undefined) {
      entries.push(first);
      bytes += estimate(first);
    }
    try {
      while (entries.length < REPLICATION_MAX_ENTRIES && bytes < BATCH_BYTES) {
        // Read by fd, a batch is work on this thread without a wait: timers (heartbeats) get their turns.
        if (this.at !== null) await this.breather.breathe();
        if (this.open.get(id) !== it) return; // cancelled meanwhile
        const next = await it.next();
        if (this.open.get(id) !== it) return; // cancelled meanwhile
        if (next.done === true) {
          this.open.delete(id);
          if (entries.length > 0) reply({ kind: "entries", entries });
          reply({ kind: "end" });
          return;
        }
        const e = next.value;
        if (entries.length > 0 && bytes + estimate(e) > BATCH_BYTES) {
          this.carried.set(id, e);
          break;
        }
        entries.push(e);
        bytes += estimate(e);
      }
    } catch (e) {
      this.drop(id);
      reply(errorOf(e));
      return;
    }
    if (!reply({ kind: "entries", entries })) this.drop(id);
  }

  /** `e` with the xattrs of the object `where` names (a path that does not follow its last name). */
  private withXattrs(e: ManifestEntry, where: () => Uint8Array): ManifestEntry {
    const calls = this.opts.fsCalls;
    if (calls === null) return e;
    let abs: Uint8Array;
    try {
      abs = where();
    } catch {
      return e;
    }
    return withXattrs(calls, e, abs);
  }

  private async sums(path: RelPath, blockSize: number, offset: number, count: number) {
    if (count * BLOCK_SUM_BYTES > REPLICATION_MAX_SUMS_BYTES) throw Object.assign(new Error(`${count} blocks in one request`), { code: "EINVAL" });
    let fh: fsp.FileHandle;
    const at = this.at;
    if (at !== null) {
      // The directory opened without following a symlink, the file by one /proc hop from it.
      const place = at.place(path, false);
      if (place === null) return null;
      try {
        fh = await fsp.open(CopyScanAt.procPath(place.dir, place.name), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
      } catch {
        return null;
      } finally {
        at.release(place.dir);
      }
    } else {
      this.paths.forget();
      const abs = this.paths.resolve(path, false);
      try {
        fh = await fsp.open(abs, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
      } catch {
        return null;
      }
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) return null;
      return await fileBlockSums(fh, st.size, blockSize, offset, count);
    } finally {
      await fh.close();
    }
  }
}
