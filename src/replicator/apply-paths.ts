/**
 * Where a RelPath lives on the SECOND, and the guarantee that an op never
 * reaches outside the copy: every parent component of a path must be a real
 * directory, not a symlink (the last component is never followed: the
 * applier uses O_NOFOLLOW, l* calls and AT_SYMLINK_NOFOLLOW). ".." cannot
 * appear, checkRelPath rejects it.
 *
 * Checking parents costs one lstat per component, so directories already
 * checked are remembered until an op that can turn a directory into
 * something else (rename, rmdir, symlink) forgets those at or beneath the
 * paths it changed (forgetUnder). Nothing but the
 * applier writes to the copy on the SECOND (the service is stopped there),
 * so nothing else can swap a checked directory for a symlink in between.
 */
import * as fs from "node:fs";
import { checkRelPath, type RelPath, relPathText } from "./ops.ts";

const SLASH = 0x2f;

/** A path that would leave the copy (a parent is a symlink or not a directory), or is invalid. */
export class UnsafePathError extends Error {
  constructor(
    readonly path: RelPath,
    reason: string,
  ) {
    super(`${relPathText(path)}: ${reason}`);
    this.name = "UnsafePathError";
  }
}

export class CopyPaths {
  private readonly root: Buffer;
  private readonly checked = new Set<string>();

  constructor(root: string) {
    this.root = Buffer.from(root.endsWith("/") && root.length > 1 ? root.slice(0, -1) : root);
  }

  get rootPath(): Buffer {
    return this.root;
  }

  /** The absolute path of `rel`, without any check. */
  abs(rel: RelPath): Buffer {
    if (rel.length === 0) return this.root;
    const out = Buffer.allocUnsafe(this.root.length + 1 + rel.length);
    this.root.copy(out, 0);
    out[this.root.length] = SLASH;
    out.set(rel, this.root.length + 1);
    return out;
  }

  /** The absolute path of `rel` after checking its parents; throws UnsafePathError. */
  resolve(rel: RelPath, allowRoot: boolean): Buffer {
    const why = checkRelPath(rel, allowRoot);
    if (why !== null) throw new UnsafePathError(rel, why);
    for (let i = 0; i < rel.length; i++) {
      if (rel[i] === SLASH) this.checkDir(rel.subarray(0, i));
    }
    return this.abs(rel);
  }

  /** The parent directory of `rel` (the root for a top-level name). */
  parentOf(rel: RelPath): RelPath {
    const i = rel.lastIndexOf(SLASH);
    return i < 0 ? new Uint8Array(0) : rel.subarray(0, i);
  }

  /**
   * Forget checked directories (after an op that may have changed one): all
   * of them, or those at or beneath `under` (the paths a rename, rmdir or
   * symlink changed: no other directory's path changes with them).
   */
  forget(under?: readonly RelPath[]): void {
    if (under === undefined) this.checked.clear();
    else forgetUnder(this.checked, under);
  }

  private checkDir(prefix: Uint8Array): void {
    const key = Buffer.from(prefix.buffer, prefix.byteOffset, prefix.length).toString("latin1");
    if (this.checked.has(key)) return;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(this.abs(prefix));
    } catch (e) {
      // A missing parent is the op's own failure (ENOENT), reported by the call itself.
      if ((e as { code?: string }).code === "ENOENT") return;
      throw e;
    }
    if (st.isSymbolicLink()) throw new UnsafePathError(prefix, "is a symlink; the copy is never left through a symlink");
    if (!st.isDirectory()) return; // the call fails with ENOTDIR
    this.checked.add(key);
  }
}

/** Past this many keys, forgetUnder forgets them all. */
const FORGET_SCAN_MAX = 256;

/**
 * Removes from `keys` (RelPaths as latin1 strings) every path at or beneath
 * one of `under`, calling `dropped` for each: what an op that moved or
 * removed those paths made stale. Other paths keep naming what they named.
 */
export function forgetUnder<V>(keys: Set<string> | Map<string, V>, under: readonly RelPath[], dropped?: (key: string, value: V | undefined) => void): void {
  if (keys.size === 0) return;
  if (keys.size > FORGET_SCAN_MAX) {
    // Cheaper to check everything again than to look at every key for each op.
    for (const [key, value] of keys.entries()) dropped?.(key, keys instanceof Map ? (value as V) : undefined);
    keys.clear();
    return;
  }
  for (const p of under) {
    const k = Buffer.from(p.buffer, p.byteOffset, p.length).toString("latin1");
    const inside = k + "/";
    for (const key of keys.keys()) {
      if (key !== k && !key.startsWith(inside)) continue;
      dropped?.(key, keys instanceof Map ? keys.get(key) : undefined);
      keys.delete(key);
    }
  }
}
