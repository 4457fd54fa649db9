/**
 * The PRIM's scan of its folder for a resync (tree-scan.ts's scanTreeSync),
 * with each entry's xattrs read through libc and without, alternating in one
 * process: CPU per whole-tree scan. The SECOND's side is listing-xattrs.ts.
 *
 *   node_modules/.bin/bun bench/scan-xattrs.ts [--dir PATH] [--dirs 16] [--files 512] [--rounds 12] [--with-xattrs]
 *
 * --dir: where the scratch tree lives (default /tmp); --dirs x --files small
 * files (100 bytes), with --with-xattrs each given a user xattr and a POSIX
 * ACL. The first two rounds of each way are left out of the medians (caches,
 * the compiler). Prints one JSON line.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchArgs } from "./lib/args.ts";
import { median } from "./lib/stats.ts";
import { relPath } from "../src/replicator/ops.ts";
import { scanTreeSync } from "../src/replicator/tree-scan.ts";
import { loadFsCalls, type FsCalls } from "../src/sys/ffi/fs-calls.ts";

const { values } = benchArgs({
  options: { dir: { type: "string" }, dirs: { type: "string" }, files: { type: "string" }, rounds: { type: "string" }, "with-xattrs": { type: "boolean" } },
});
const DIRS = Number(values.dirs ?? 16);
const FILES = Number(values.files ?? 512);
const ROUNDS = Number(values.rounds ?? 12);
const ENTRIES = 1 + DIRS + DIRS * FILES;
/** Owner rw, user 1234 r, group r, mask r, other none. */
const ACL = Buffer.from("0200000001000600ffffffff02000400d204000004000400ffffffff10000400ffffffff20000000ffffffff", "hex");

const calls = await loadFsCalls("bench");
const root = mkdtempSync(join(values.dir ?? "/tmp", "scan-xattrs-"));
try {
  for (let d = 0; d < DIRS; d++) {
    mkdirSync(join(root, `d${d}`));
    for (let f = 0; f < FILES; f++) {
      const p = join(root, `d${d}`, `f${f}`);
      writeFileSync(p, "x".repeat(100));
      if (values["with-xattrs"] === true) {
        calls.lsetxattr(p, "user.bench", Buffer.from(`value ${f}`), 0);
        calls.lsetxattr(p, "system.posix_acl_access", ACL, 0);
      }
    }
  }
  const scan = (xattrs: FsCalls | null): number => {
    const t0 = process.cpuUsage();
    let n = 0;
    for (const _ of scanTreeSync(root, relPath(""), true, xattrs)) n++;
    const t = process.cpuUsage(t0);
    if (n !== ENTRIES) throw new Error(`scanned ${n} entries, expected ${ENTRIES}`);
    return (t.user + t.system) / 1000;
  };
  const withX: number[] = [];
  const without: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    withX.push(scan(calls));
    without.push(scan(null));
  }
  const mWith = median(withX.slice(2));
  const mWithout = median(without.slice(2));
  console.log(JSON.stringify({
    entries: ENTRIES,
    filesHaveXattrs: values["with-xattrs"] === true,
    withXattrsMs: withX.map((x) => Math.round(x)),
    withoutXattrsMs: without.map((x) => Math.round(x)),
    medianMs: { withXattrs: Math.round(mWith * 10) / 10, withoutXattrs: Math.round(mWithout * 10) / 10 },
    usPerEntry: { withXattrs: Math.round((mWith * 1000) / ENTRIES * 10) / 10, withoutXattrs: Math.round((mWithout * 1000) / ENTRIES * 10) / 10 },
    withOverWithout: Math.round((mWith / mWithout) * 100) / 100,
  }));
} finally {
  rmSync(root, { recursive: true, force: true });
}
