/**
 * `exclude:` of a mirror module: name patterns whose files and folders are
 * not part of the copy. A pattern is a shell glob over one name (`*`, `?`,
 * `[abc]`, `[!a-z]`, `\` escapes the next character), never a path: it
 * matches an entry at any depth, and an excluded folder takes everything
 * beneath it along. So whether a path is excluded depends only on its own
 * components, and a rename moves an entry in or out of the copy only through
 * the names it passes.
 *
 * What crosses the boundary (the usual case: a recorder writes `x.tmp`, then
 * renames it to `x`) is turned into operations the SECOND can carry out
 * without the excluded source it never had: the entry is rebuilt under a
 * temporary name beside its target and renamed into place, so the rename
 * stays atomic on the SECOND too (see excludeOps).
 */
import type { MirrorOp, RelPath } from "./ops.ts";
import { RENAME_EXCHANGE } from "./ops.ts";
import { globToRegExp } from "../config/exclude-pattern.ts";

/** A predicate over paths: true when a component of the path matches a pattern. Null: nothing excluded. */
export type ExcludeTest = (path: RelPath) => boolean;

export function compileExclude(patterns: readonly string[]): ExcludeTest | null {
  if (patterns.length === 0) return null;
  // Names are raw bytes (not always UTF-8); latin1 maps each byte to one character, so "?" matches one byte.
  const latin1 = new TextDecoder("latin1");
  const res = patterns.map((p) => globToRegExp(latin1.decode(new TextEncoder().encode(p))));
  return (path) => {
    if (path.length === 0) return false;
    for (const name of latin1.decode(path).split("/")) if (res.some((r) => r.test(name))) return true;
    return false;
  };
}

/** Rebuilds the entry now at `path` (beneath included folders) as ops, its excluded descendants left out. */
export type Materialize = (path: RelPath, as: RelPath) => MirrorOp[];

const SLASH = 0x2f;

/** The temporary name an entry is rebuilt under on the SECOND, beside `to`. */
export function stagingPath(to: RelPath, seq: number): RelPath {
  const slash = to.lastIndexOf(SLASH);
  const dir = slash < 0 ? new Uint8Array(0) : to.subarray(0, slash + 1);
  const name = new TextEncoder().encode(`.vigil-staging-${seq}`);
  const out = new Uint8Array(dir.length + name.length);
  out.set(dir, 0);
  out.set(name, dir.length);
  return out;
}

function pathsOf(op: MirrorOp): RelPath[] {
  if (op.op === "rename") return [op.from, op.to];
  if (op.op === "link") return [op.existing, op.path];
  if (op.op === "fsync") return op.path === null ? [] : [op.path];
  return [op.path];
}

/**
 * The ops the SECOND gets for `ops` the PRIM carried out: those on excluded
 * paths dropped, and a rename or link that brings an entry into the copy
 * from an excluded name turned into a rebuild (under a staging name, then
 * renamed into place). An entry renamed out of the copy is renamed on the
 * SECOND too: what an excluded name holds there is nobody's business.
 */
export function excludeOps(ops: readonly MirrorOp[], excluded: ExcludeTest, materialize: Materialize, nextSeq: () => number): MirrorOp[] {
  const out: MirrorOp[] = [];
  for (const op of ops) {
    if (op.op === "rename") {
      const [exFrom, exTo] = [excluded(op.from), excluded(op.to)];
      if (exFrom && exTo) continue;
      if (!exFrom && (!exTo || op.flags !== RENAME_EXCHANGE)) {
        out.push(op);
        continue;
      }
      // From an excluded name into the copy (or swapped with one): rebuild what now sits at the included name.
      const target = exFrom ? op.to : op.from;
      const staging = stagingPath(target, nextSeq());
      out.push(...materialize(target, staging), { op: "rename", from: staging, to: target, flags: 0 });
      continue;
    }
    if (op.op === "link") {
      if (excluded(op.path)) continue;
      if (!excluded(op.existing)) {
        out.push(op);
        continue;
      }
      const staging = stagingPath(op.path, nextSeq());
      out.push(...materialize(op.path, staging), { op: "rename", from: staging, to: op.path, flags: 0 });
      continue;
    }
    if (pathsOf(op).some(excluded)) continue;
    out.push(op);
  }
  return out;
}
