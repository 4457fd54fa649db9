/**
 * startApplier under bun: the applier on its own thread, with ops posted
 * ahead of their results. Prints one JSON line with what it saw.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startApplier } from "../../src/replicator/apply-threaded.ts";
import type { ApplyResult } from "../../src/replicator/apply-result.ts";
import { relPath } from "../../src/replicator/ops.ts";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-apply-threaded-"));
try {
  const started = await startApplier(root);
  const a = started.applier;
  const results: (ApplyResult | Promise<ApplyResult>)[] = [a.apply({ op: "create", path: relPath("f"), mode: 0o640, uid: 0, gid: 0 })];
  for (let i = 0; i < 100; i++) results.push(a.apply({ op: "write", path: relPath("f"), offset: i * 4096, data: new Uint8Array(4096).fill(i), mtimeNs: 1_700_000_000_000_000_001n }));
  results.push(a.apply({ op: "rmdir", path: relPath("f") }));
  const all = await Promise.all(results);
  // The main thread keeps running while the thread applies: a timer fires during a burst of big writes.
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const big = new Uint8Array(1024 * 1024);
  const burst: (ApplyResult | Promise<ApplyResult>)[] = [];
  for (let i = 0; i < 64; i++) burst.push(a.apply({ op: "write", path: relPath("f"), offset: i * big.length, data: big.slice(), mtimeNs: 1n }));
  await Promise.all(burst);
  burst.push(a.apply({ op: "fsync", path: relPath("f"), dataOnly: false }));
  await Promise.all(burst);
  clearInterval(timer);
  const st = fs.statSync(path.join(root, "f"), { bigint: true });
  const data = fs.readFileSync(path.join(root, "f"));
  await a.close();
  process.stdout.write(
    JSON.stringify({
      threaded: started.threaded,
      why: started.threaded ? null : started.why,
      mtimeWindowNs: a.mtimeWindowNs,
      oks: all.filter((r) => r.ok).length,
      last: all[all.length - 1],
      mode: Number(st.mode & 0o7777n),
      size: Number(st.size),
      byte50: data[50 * 4096],
      ticks,
    }) + "\n",
  );
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
