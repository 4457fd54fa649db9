/**
 * Turns the journal's "dir" records read back after a restart into the
 * marks the resync consumes: the directory's listing is compared, and each
 * child whose ctime is at or after the record's time is compared in depth
 * (a file by checksums, a directory with everything beneath). A child with
 * an older ctime has not been created, renamed, linked, unlinked or changed
 * in its attributes since: only its existence and type are checked, by the
 * listing. See journal-dirty.ts for why the ctime bound holds.
 */

import { lstatSync, readdirSync } from "node:fs";
import { keyPath, pathKey } from "../core/mirror/resync-plan.ts";
import type { DirtyPath, DirtySet } from "./journal-dirty.ts";
import { entryType, hostPath, joinRel } from "./tree-scan.ts";

/** Yields to the event loop now and then (heartbeats): large directories are long to list. */
export type Breathe = () => Promise<void>;

export async function expandDirMarks(root: string, dirty: DirtySet, breathe: Breathe): Promise<DirtySet> {
  const dirs = dirty.dirs ?? [];
  if (dirty.full || dirs.length === 0) return dirty;
  const byKey = new Map<string, DirtyPath>(dirty.paths.map((p) => [pathKey(p.path), p]));
  const add = (k: string, tree: boolean, whole: boolean): void => {
    const had = byKey.get(k);
    if (had === undefined) {
      byKey.set(k, { path: keyPath(k), tree, whole, ranges: [], suspect: [] });
      return;
    }
    const t = had.tree || tree;
    const w = had.whole || whole;
    if (t === had.tree && w === had.whole) return;
    byKey.set(k, { ...had, tree: t, whole: w, ...(t || w ? { ranges: [], suspect: [] } : {}) });
  };
  for (const d of dirs) {
    add(pathKey(d.path), false, false);
    let names: Buffer[];
    try {
      names = readdirSync(hostPath(root, d.path), { encoding: "buffer" });
    } catch {
      continue; // gone (or no longer a directory): the listing of its parent tells
    }
    let n = 0;
    for (const name of names) {
      if ((++n & 1023) === 0) await breathe();
      const rel = joinRel(d.path, name);
      let st;
      try {
        st = lstatSync(hostPath(root, rel), { bigint: true });
      } catch {
        continue;
      }
      if (st.ctimeNs < d.sinceNs) continue;
      const type = entryType(Number(st.mode));
      add(pathKey(rel), type === "dir", type === "file");
    }
  }
  return { ...dirty, paths: [...byKey.values()], dirs: [] };
}
