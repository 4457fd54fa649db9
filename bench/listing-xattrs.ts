/**
 * The SECOND's answer to a whole-tree listing (FolderAnswerer, the way the
 * daemon reads its copy: `*at` calls and libc's xattr calls), asked with the
 * entries' xattrs and without them (a listing the link's feature exchange
 * lets the PRIM ask without), alternating in one process: CPU per listing.
 *
 *   node_modules/.bin/bun bench/listing-xattrs.ts [--dir PATH] [--dirs 16] [--files 512] [--rounds 12]
 *
 * --dir: where the scratch tree lives (default /tmp); --dirs x --files small
 * files (100 bytes, no xattrs). The first two rounds of each way are left out
 * of the medians (caches, the compiler). Prints one JSON line.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchArgs } from "./lib/args.ts";
import { median } from "./lib/stats.ts";
import type { ResyncResponse } from "../src/proto/replication-resync.ts";
import { relPath } from "../src/replicator/ops.ts";
import { FolderAnswerer } from "../src/replicator/remote-peer-answers.ts";
import { loadDirCalls } from "../src/sys/ffi/dir-calls.ts";
import { loadFsCalls } from "../src/sys/ffi/fs-calls.ts";

const { values } = benchArgs({
  options: { dir: { type: "string" }, dirs: { type: "string" }, files: { type: "string" }, rounds: { type: "string" } },
});
const DIRS = Number(values.dirs ?? 16);
const FILES = Number(values.files ?? 512);
const ROUNDS = Number(values.rounds ?? 12);
const ENTRIES = 1 + DIRS + DIRS * FILES;

const root = mkdtempSync(join(values.dir ?? "/tmp", "listing-xattrs-"));
try {
  for (let d = 0; d < DIRS; d++) {
    mkdirSync(join(root, `d${d}`));
    for (let f = 0; f < FILES; f++) writeFileSync(join(root, `d${d}`, `f${f}`), "x".repeat(100));
  }
  const answerer = new FolderAnswerer(root, { fsCalls: await loadFsCalls("bench"), dirCalls: await loadDirCalls("bench") });
  let nextId = 1;
  /** CPU ms of one listing of the whole tree, batch by batch as the PRIM pulls them. */
  const list = async (withoutXattrs: boolean): Promise<number> => {
    const id = nextId++;
    let n = 0;
    const t0 = process.cpuUsage();
    await new Promise<void>((resolve, reject) => {
      const reply = (r: ResyncResponse): boolean => {
        if (r.kind === "entries") {
          n += r.entries.length;
          queueMicrotask(() => void answerer.request(id, { kind: "next" }, reply));
        } else if (r.kind === "end") resolve();
        else reject(new Error(`listing answered ${r.kind}`));
        return true;
      };
      const under = relPath("");
      void answerer.request(id, withoutXattrs ? { kind: "manifest", under, recursive: true, withoutXattrs } : { kind: "manifest", under, recursive: true }, reply);
    });
    const t = process.cpuUsage(t0);
    if (n !== ENTRIES) throw new Error(`listed ${n} entries, expected ${ENTRIES}`);
    return (t.user + t.system) / 1000;
  };
  const withX: number[] = [];
  const without: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    withX.push(await list(false));
    without.push(await list(true));
  }
  answerer.close();
  const mWith = median(withX.slice(2));
  const mWithout = median(without.slice(2));
  console.log(JSON.stringify({
    entries: ENTRIES,
    withXattrsMs: withX.map((x) => Math.round(x)),
    withoutXattrsMs: without.map((x) => Math.round(x)),
    medianMs: { withXattrs: Math.round(mWith * 10) / 10, withoutXattrs: Math.round(mWithout * 10) / 10 },
    usPerEntry: { withXattrs: Math.round((mWith * 1000) / ENTRIES * 10) / 10, withoutXattrs: Math.round((mWithout * 1000) / ENTRIES * 10) / 10 },
    withoutOverWith: Math.round((mWithout / mWith) * 100) / 100,
  }));
} finally {
  rmSync(root, { recursive: true, force: true });
}
