/**
 * The vocabulary of the mirror's data path: one operation the PRIM carried
 * out on a replicated folder, which the SECOND applies to its copy in the
 * same order. The FUSE interceptor produces these (src/replicator/intercept),
 * the replication protocol carries them (src/proto/replication.ts), and the
 * applier carries them out on the SECOND (src/replicator/apply.ts).
 *
 * - Paths are relative to the replicated folder's root, as raw bytes
 *   ("names with any bytes" keep their meaning): components joined by "/",
 *   never empty, never "." or "..", no leading or trailing "/". The root
 *   itself is the empty path (only for chmod, chown, utimes, xattrs, fsync).
 * - Every field is the RESULT the PRIM observed after carrying the operation
 *   out (the mode after umask, the owner the kernel gave, the times after
 *   UTIME_NOW was resolved), so applying it on the SECOND gives the same
 *   file, whatever the SECOND's clock, umask or user.
 * - Times are nanoseconds since the epoch.
 * - A namespace op (create, mknod, mkdir, symlink, link, unlink, rmdir,
 *   rename) may carry `times`: the utimes ops that followed it, folded in
 *   (the new entry's times, its directory's or directories' new times), so
 *   one op travels, is applied and acknowledged instead of two to four. It
 *   means exactly what the op followed by those utimes, in that order, means
 *   (unfoldTimes gives them back).
 */

/** A relative path as raw bytes; see the rules above and checkRelPath. */
export type RelPath = Uint8Array;

export type MirrorOp =
  /** Write `data` at `offset`; `mtimeNs` is the file's mtime after the write. */
  | { readonly op: "write"; readonly path: RelPath; readonly offset: number; readonly data: Uint8Array; readonly mtimeNs: bigint }
  /** Set the size (truncate or extend with a hole). */
  | { readonly op: "truncate"; readonly path: RelPath; readonly size: number; readonly mtimeNs: bigint }
  /** Create an empty regular file (replaces nothing: the PRIM's create succeeded, so the name was free). */
  | { readonly op: "create"; readonly path: RelPath; readonly mode: number; readonly uid: number; readonly gid: number; readonly times?: readonly OpTimes[] }
  /** A special file: FIFO, socket, character or block device (mode carries the type bits). */
  | { readonly op: "mknod"; readonly path: RelPath; readonly mode: number; readonly rdev: number; readonly uid: number; readonly gid: number; readonly times?: readonly OpTimes[] }
  | { readonly op: "mkdir"; readonly path: RelPath; readonly mode: number; readonly uid: number; readonly gid: number; readonly times?: readonly OpTimes[] }
  | { readonly op: "symlink"; readonly path: RelPath; readonly target: Uint8Array; readonly uid: number; readonly gid: number; readonly times?: readonly OpTimes[] }
  /** A new hard link `path` to the file at `existing`. */
  | { readonly op: "link"; readonly existing: RelPath; readonly path: RelPath; readonly times?: readonly OpTimes[] }
  | { readonly op: "unlink"; readonly path: RelPath; readonly times?: readonly OpTimes[] }
  | { readonly op: "rmdir"; readonly path: RelPath; readonly times?: readonly OpTimes[] }
  /** renameat2 semantics; flags: 0, RENAME_NOREPLACE (1) or RENAME_EXCHANGE (2). */
  | { readonly op: "rename"; readonly from: RelPath; readonly to: RelPath; readonly flags: number; readonly times?: readonly OpTimes[] }
  /** Permission bits (07777) only. */
  | { readonly op: "chmod"; readonly path: RelPath; readonly mode: number }
  | { readonly op: "chown"; readonly path: RelPath; readonly uid: number; readonly gid: number }
  /** Of the object itself (a symlink's own times for a symlink). */
  | { readonly op: "utimes"; readonly path: RelPath; readonly atimeNs: bigint; readonly mtimeNs: bigint }
  /** fallocate(2) with its mode flags (KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE...). */
  | { readonly op: "fallocate"; readonly path: RelPath; readonly mode: number; readonly offset: number; readonly length: number; readonly mtimeNs: bigint }
  /** flags: 0, XATTR_CREATE (1) or XATTR_REPLACE (2). Names are raw bytes ("user.x", "system.posix_acl_access"). */
  | { readonly op: "setxattr"; readonly path: RelPath; readonly name: Uint8Array; readonly value: Uint8Array; readonly flags: number }
  | { readonly op: "removexattr"; readonly path: RelPath; readonly name: Uint8Array }
  /**
   * Make everything applied so far durable on the SECOND (fsync of `path`,
   * or of the whole copy when path is null: syncfs). The PRIM acknowledges
   * an application's fsync/fdatasync/fsyncdir only after this is acknowledged.
   */
  | { readonly op: "fsync"; readonly path: RelPath | null; readonly dataOnly: boolean };

export type MirrorOpName = MirrorOp["op"];

/** Times an op leaves on an object (a utimes folded into it, see above); the object may be the root (empty path). */
export interface OpTimes {
  readonly path: RelPath;
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
}

/** The namespace ops, which may carry `times`. */
export type TimedOp = Extract<MirrorOp, { readonly op: "create" | "mknod" | "mkdir" | "symlink" | "link" | "unlink" | "rmdir" | "rename" }>;
export const TIMED_OP_NAMES: ReadonlySet<MirrorOpName> = new Set<TimedOp["op"]>(["create", "mknod", "mkdir", "symlink", "link", "unlink", "rmdir", "rename"]);
/** At most this many times travel in one op (a rename between directories needs three: never more than the emitter folds). */
export const MAX_OP_TIMES = 4;

function isTimed(op: MirrorOp): op is TimedOp {
  return TIMED_OP_NAMES.has(op.op);
}

/** The times folded into `op`, or undefined. */
export function timesOf(op: MirrorOp): readonly OpTimes[] | undefined {
  return isTimed(op) ? op.times : undefined;
}

/**
 * Folds every utimes that directly follows a namespace op into it (at most
 * MAX_OP_TIMES each). Returns `ops` itself when there is nothing to fold.
 */
export function foldTimes(ops: MirrorOp[]): MirrorOp[] {
  let out: MirrorOp[] | null = null;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (!isTimed(op) || op.times !== undefined) {
      out?.push(op);
      continue;
    }
    const times: OpTimes[] = [];
    let j = i + 1;
    for (let next = ops[j]; next?.op === "utimes" && times.length < MAX_OP_TIMES; next = ops[++j]) times.push({ path: next.path, atimeNs: next.atimeNs, mtimeNs: next.mtimeNs });
    if (times.length === 0) {
      out?.push(op);
      continue;
    }
    out ??= ops.slice(0, i);
    out.push({ ...op, times });
    i = j - 1;
  }
  return out ?? ops;
}

/** `op` as the ops it stands for: itself without times, then one utimes per folded times, in order. */
export function unfoldTimes(op: MirrorOp): MirrorOp[] {
  if (!isTimed(op) || op.times === undefined) return [op];
  const { times, ...bare } = op;
  return [bare as MirrorOp, ...times.map((t): MirrorOp => ({ op: "utimes", path: t.path, atimeNs: t.atimeNs, mtimeNs: t.mtimeNs }))];
}

export const MIRROR_OP_NAMES: readonly MirrorOpName[] = [
  "write", "truncate", "create", "mknod", "mkdir", "symlink", "link", "unlink", "rmdir",
  "rename", "chmod", "chown", "utimes", "fallocate", "setxattr", "removexattr", "fsync",
];

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;

/** Longest path we accept anywhere (Linux PATH_MAX, terminating NUL included). */
export const MAX_REL_PATH = 4095;
/** Longest single name (Linux NAME_MAX). */
export const MAX_NAME = 255;

const SLASH = 0x2f;
const DOT = 0x2e;

/**
 * Why `path` is not a valid RelPath, or null when it is. `allowRoot`: the
 * empty path (the folder itself) is allowed.
 */
export function checkRelPath(path: RelPath, allowRoot: boolean): string | null {
  if (path.length === 0) return allowRoot ? null : "empty path";
  if (path.length > MAX_REL_PATH) return `path of ${path.length} bytes (at most ${MAX_REL_PATH})`;
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i < path.length && path[i] !== SLASH) {
      if (path[i] === 0) return "NUL byte in path";
      continue;
    }
    const len = i - start;
    if (len === 0) return "empty path component";
    if (len > MAX_NAME) return `path component of ${len} bytes (at most ${MAX_NAME})`;
    if (path[start] === DOT && (len === 1 || (len === 2 && path[start + 1] === DOT))) return "'.' or '..' in path";
    start = i + 1;
  }
  return null;
}

/** For logs and messages: the path as text, bytes that are not UTF-8 escaped as \xNN. */
export function relPathText(path: RelPath): string {
  let out = "";
  const dec = new TextDecoder("utf-8", { fatal: true });
  try {
    out = dec.decode(path);
  } catch {
    for (const b of path) out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`;
    return out;
  }
  return out;
}

/** The RelPath of a text path (tests, config): UTF-8 bytes. */
export function relPath(text: string): RelPath {
  return new TextEncoder().encode(text);
}
