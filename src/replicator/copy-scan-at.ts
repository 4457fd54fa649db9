/**
 * The SECOND's copy listed for the resync's questions (manifests, single
 * entries, where a file to sum is) through directory fds, as the applier
 * reaches it (apply-folder-at.ts): every directory is opened from the
 * folder's own fd one name at a time with O_PATH | O_DIRECTORY | O_NOFOLLOW,
 * so a symlink at any step is refused (UnsafePathError) and the copy is never
 * left; each entry is a statx relative to its directory's fd, never
 * following the last name. Against tree-scan.ts on `/proc/self/fd/N/.`: no
 * walk of /proc and of the whole path per entry, no lstat on the runtime's
 * thread pool (a hop to another thread and back per entry), no Stats object.
 *
 * A directory's names are read once through `/proc/self/fd/<its fd>` (no
 * getdents here), symlink targets by readlinkat. The same order and rules as
 * scanTree: pre-order, siblings in byte order, lstat's view, no descent into
 * another file system, entries that vanish meanwhile skipped.
 */
import { readdirSync } from "node:fs";
import { AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, type DirCalls, type EntryStat, O_CLOEXEC, O_DIRECTORY, O_NOFOLLOW, O_PATH } from "../sys/ffi/dir-calls.ts";
import { SyscallError } from "../sys/ffi/libc.ts";
import { UnsafePathError } from "./apply-paths.ts";
import { checkRelPath, type RelPath } from "./ops.ts";
import type { ManifestEntry } from "./resync-types.ts";
import { entryType, joinRel } from "./tree-scan.ts";

const SLASH = 0x2f;
const ENOENT = 2;
const ENOTDIR = 20;
const DOT = new Uint8Array([0x2e]);
const EMPTY = new Uint8Array(0);

/** An entry and where it is: its directory's fd (open while the entry is handed out) and its name. */
export interface PlacedEntry {
  readonly entry: ManifestEntry;
  readonly dir: number;
  readonly name: Uint8Array;
}

const gone = (e: unknown): boolean => e instanceof SyscallError && (e.errno === ENOENT || e.errno === ENOTDIR);

export class CopyScanAt {
  private readonly rootFd: number;
  private closed = false;

  /** Opens `root` (trusted: it may itself be a link, such as /proc/self/fd/N/.). */
  constructor(
    root: string,
    private readonly calls: DirCalls,
  ) {
    this.rootFd = calls.openat(AT_FDCWD, Buffer.from(root), O_PATH | O_DIRECTORY | O_CLOEXEC);
  }

  /**
   * The directory holding `rel` (the folder's own fd for a top-level name or
   * the folder itself) and `rel`'s last name, "." for the folder. The caller
   * closes `dir` unless it is `rootFd`. Null when a parent is missing or not
   * a directory; UnsafePathError for a symlinked parent or an invalid path.
   */
  place(rel: RelPath, allowRoot: boolean): { dir: number; name: Uint8Array } | null {
    if (this.closed) throw Object.assign(new Error("the copy's scanner was closed"), { code: "EBADF" });
    const why = checkRelPath(rel, allowRoot);
    if (why !== null) throw new UnsafePathError(rel, why);
    if (rel.length === 0) return { dir: this.rootFd, name: DOT };
    const cut = rel.lastIndexOf(SLASH);
    if (cut < 0) return { dir: this.rootFd, name: rel };
    let fd = this.rootFd;
    for (let from = 0; from < cut; ) {
      let end = rel.indexOf(SLASH, from);
      if (end < 0 || end > cut) end = cut;
      let child: number;
      try {
        child = this.openDir(fd, rel, from, end);
      } catch (e) {
        if (gone(e)) {
          this.release(fd);
          return null;
        }
        this.release(fd);
        throw e;
      }
      this.release(fd);
      fd = child;
      from = end + 1;
    }
    return { dir: fd, name: rel.subarray(cut + 1) };
  }

  /** Closes a directory fd `place` or the scan opened (never the folder's own). */
  release(fd: number): void {
    if (fd === this.rootFd) return;
    try {
      this.calls.close(fd);
    } catch {
      /* closed already */
    }
  }

  private openDir(parent: number, path: Uint8Array, from: number, end: number): number {
    const name = path.subarray(from, end);
    try {
      return this.calls.openat(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    } catch (e) {
      if (e instanceof SyscallError && e.errno === ENOTDIR) {
        let symlink = false;
        try {
          symlink = entryType(this.calls.statx(parent, name, AT_SYMLINK_NOFOLLOW).mode) === "symlink";
        } catch {
          // gone meanwhile: the ENOTDIR stands
        }
        if (symlink) throw new UnsafePathError(path.subarray(0, end), "is a symlink; the copy is never left through a symlink");
      }
      throw e;
    }
  }

  /** The entry at `rel`, or null when nothing is there. */
  entry(rel: RelPath): ManifestEntry | null {
    const at = this.place(rel, true);
    if (at === null) return null;
    try {
      return this.entryIn(at.dir, at.name, rel)?.entry ?? null;
    } catch (e) {
      if (gone(e)) return null;
      throw e;
    } finally {
      this.release(at.dir);
    }
  }

  private entryIn(dir: number, name: Uint8Array, rel: RelPath): { entry: ManifestEntry; st: EntryStat } | null {
    const st = name === DOT ? this.calls.statxEntry(dir, EMPTY, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) : this.calls.statxEntry(dir, name, AT_SYMLINK_NOFOLLOW);
    const type = entryType(st.mode);
    if (type === null) return null;
    const entry: ManifestEntry = {
      path: rel,
      type,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      size: type === "file" || type === "symlink" ? st.size : 0,
      mtimeNs: st.mtimeNs,
      rdev: type === "chardev" || type === "blockdev" ? st.rdev : 0,
      ino: BigInt(st.ino),
      nlink: st.nlink,
    };
    if (type !== "symlink") return { entry, st };
    return { entry: { ...entry, target: this.calls.readlinkat(dir, name) }, st };
  }

  /**
   * The entries at and beneath `under` (see the top of this file), each
   * with the directory fd it lies in, valid until the next entry is asked
   * for. Closing the generator early (return()) closes what it opened.
   */
  *scan(under: RelPath, recursive: boolean): Generator<PlacedEntry> {
    const at = this.place(under, true);
    if (at === null) return;
    try {
      let top: { entry: ManifestEntry; st: EntryStat } | null;
      try {
        top = this.entryIn(at.dir, at.name, under);
      } catch (e) {
        if (gone(e)) return;
        throw e;
      }
      if (top === null) return;
      yield { entry: top.entry, dir: at.dir, name: at.name };
      if (top.entry.type !== "dir") return;
      let fd: number;
      try {
        fd = at.name === DOT ? this.calls.openat(at.dir, DOT, O_PATH | O_DIRECTORY | O_CLOEXEC) : this.openDir(at.dir, at.name, 0, at.name.length);
      } catch (e) {
        if (gone(e)) return;
        throw e;
      }
      yield* this.scanDir(fd, under, top.st.dev, recursive);
    } finally {
      this.release(at.dir);
    }
  }

  /** The entries of the directory open as `fd` (closed at the end), depth first. */
  private *scanDir(fd: number, dir: RelPath, dev: number, recursive: boolean): Generator<PlacedEntry> {
    try {
      let names: Buffer[];
      try {
        names = readdirSync(`/proc/self/fd/${fd}`, { encoding: "buffer" });
      } catch (e) {
        if ((e as { code?: string }).code === "ENOENT") return;
        throw e;
      }
      names.sort(Buffer.compare);
      for (const name of names) {
        const rel = joinRel(dir, name);
        let got: { entry: ManifestEntry; st: EntryStat } | null;
        try {
          got = this.entryIn(fd, name, rel);
        } catch (e) {
          if (gone(e)) continue;
          throw e;
        }
        if (got === null) continue;
        yield { entry: got.entry, dir: fd, name };
        if (!recursive || got.entry.type !== "dir" || got.st.dev !== dev) continue;
        let child: number;
        try {
          child = this.openDir(fd, name, 0, name.length);
        } catch (e) {
          // Gone, or replaced by something else since its statx: the live stream covers it.
          if (gone(e) || e instanceof UnsafePathError) continue;
          throw e;
        }
        yield* this.scanDir(child, rel, dev, true);
      }
    } finally {
      this.release(fd);
    }
  }

  /** `/proc/self/fd/<dir>/<name>`: an entry for a path-only call (xattrs), its directory already checked. */
  static procPath(dir: number, name: Uint8Array): Buffer {
    return Buffer.concat([Buffer.from(`/proc/self/fd/${dir}/`), name]);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release(-1);
    try {
      this.calls.close(this.rootFd);
    } catch {
      /* closed already */
    }
  }
}
