/**
 * A keeping resync's keeper on the applier's thread (apply-threaded.ts,
 * apply-worker.ts, keep-aside.ts), under bun (a real Worker): run by
 * apply-thread-keep.test.ts. Prints one JSON line:
 * { checks: [{ name, pass, detail }] }.
 *
 * 1. A real thread: ops that change nothing of this copy keep nothing and
 *    make no record; the first path kept waits for the record (made on the
 *    main thread before anything is in the conflicts folder), is kept with
 *    its bytes before the op changes it, and the count comes back.
 * 2. The thread played by a fake that serves with apply-worker.ts's own
 *    serveRequest and can be made to hang (as in apply-thread-answers): an
 *    op whose keeper waits on the hung disk is owed work for the disk's
 *    watch, fails with the reason at the bound, and is neither kept nor
 *    applied once the disk answers; a large file's copy moves the progress
 *    count a MiB at a time.
 */
import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Worker } from "node:worker_threads";
import { Applier } from "../../src/replicator/apply.ts";
import type { ApplyResult } from "../../src/replicator/apply-result.ts";
import { type DiskWatch, startApplier, ThreadedApplier } from "../../src/replicator/apply-threaded.ts";
import * as worker from "../../src/replicator/apply-worker.ts";
import { type ApplyWorkerMessage, type ApplyWorkerRequest, PROGRESS, PROGRESS_SLOTS, serveRequest } from "../../src/replicator/apply-worker.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";

const checks: { name: string; pass: boolean; detail: string }[] = [];
const check = (name: string, pass: boolean, detail: unknown = ""): void => {
  checks.push({ name, pass, detail: typeof detail === "string" ? detail : JSON.stringify(detail) });
};
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const write = (name: string, text: string): MirrorOp => ({ op: "write", path: relPath(name), offset: 0, data: new Uint8Array(Buffer.from(text)), mtimeNs: 0n });
const create = (name: string): MirrorOp => ({ op: "create", path: relPath(name), mode: 0o644, uid: 0, gid: 0 });

const base = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-thread-keep-"));
try {
  const root = path.join(base, "copy");
  fs.mkdirSync(root);
  fs.writeFileSync(path.join(root, "ours"), "ours");
  fs.writeFileSync(path.join(root, "ours2"), "ours2");

  // 1. A real thread.
  const started = await startApplier(root);
  const a1 = started.applier;
  check("the applier runs on a thread that keeps aside", started.threaded && a1.keepAside !== undefined, started.threaded ? "" : started.why);
  if (a1.keepAside !== undefined) {
    const dest = path.join(base, "conflicts", "t1");
    const records: boolean[] = [];
    a1.keepAside({ root, dest, onFirstKeep: () => records.push(fs.existsSync(dest)) });
    const fresh = await Promise.all([a1.apply(create("new")), a1.apply(write("new", "theirs"))]);
    check("ops on paths this copy does not hold keep nothing and make no record", fresh.every((r) => r.ok) && records.length === 0 && !fs.existsSync(dest) && a1.keptCount === 0, { fresh, records });
    const r = await a1.apply(write("ours", "THEIRS"));
    check("the first path kept waits for the record, made before the conflicts folder holds anything", r.ok && records.length === 1 && records[0] === false, { r, records });
    check("the path is kept with its bytes before the op changed it", fs.readFileSync(path.join(dest, "ours"), "utf8") === "ours" && fs.readFileSync(path.join(root, "ours"), "utf8") === "THEIRS");
    const again = await a1.apply(write("ours", "THEIRS again"));
    check("a path is kept once, the record made once, and the count comes back", again.ok && records.length === 1 && a1.keptCount === 1 && fs.readFileSync(path.join(dest, "ours"), "utf8") === "ours", { records, kept: a1.keptCount });
    a1.keepAside(null);
    const after = await a1.apply(write("ours2", "THEIRS2"));
    check("once the keeper is gone nothing is kept", after.ok && !fs.existsSync(path.join(dest, "ours2")));
    fs.writeFileSync(path.join(root, "ours2"), "ours2");
  }
  await a1.close();

  // 2. A fake thread that can hang, serving with the worker's own code.
  class HangingThread extends EventEmitter {
    hung = false;
    readonly kept: Exclude<ApplyWorkerRequest, { t: "close" }>[] = [];
    readonly keeping = new worker.ThreadKeeping();
    constructor(
      private readonly applier: Applier,
      private readonly progress: Int32Array,
    ) {
      super();
    }
    postMessage(m: ApplyWorkerRequest): void {
      if (m.t === "close") {
        setImmediate(() => this.emit("exit", 0));
        return;
      }
      this.kept.push(m);
      if (!this.hung) this.serveKept();
    }
    serveKept(): void {
      for (const m of this.kept.splice(0)) serveRequest(this.applier, this.progress, m, (r: ApplyWorkerMessage) => void setImmediate(() => this.emit("message", r)), null, this.keeping);
    }
    terminate(): Promise<number> {
      return Promise.resolve(0);
    }
  }
  const progress = new SharedArrayBuffer(4 * PROGRESS_SLOTS);
  const slots = new Int32Array(progress);
  const applier = new Applier(root, { fsCalls: null });
  const thread = new HangingThread(applier, slots);
  let now = 0;
  const told: string[] = [];
  const watch: DiskWatch = { timeoutMs: 5_000, folder: "/srv/copy", onHung: (why) => told.push(`hung: ${why}`), onAnswering: () => told.push("answering") };
  const a = new ThreadedApplier(thread as unknown as Worker, applier.mtimeWindowNs, progress, watch, () => now, null, false);
  const dest = path.join(base, "conflicts", "t2");
  let recorded = 0;
  a.keepAside({ root, dest, onFirstKeep: () => recorded++ });
  await turn();
  check("the keeper is handed to the thread", thread.keeping.keeper !== null && thread.keeping.keeper.dest === dest);
  // The disk hangs: the op's keeper (its lstat of ours2, its copy) waits on the thread.
  thread.hung = true;
  let result: ApplyResult | null = null;
  void Promise.resolve(a.apply(write("ours2", "THEIRS2"))).then((r) => (result = r));
  await turn();
  now = 4_999;
  a.check();
  check("within the bound the keeper's op is owed, not done", result === null && told.length === 0 && thread.kept.some((m) => m.t === "ops"), { result, told });
  now = 5_000;
  a.check();
  await turn();
  const why = told[0]?.replace(/^hung: /, "") ?? "";
  check("at the bound the disk is hung for the keeper's op", told.length === 1 && why.startsWith("the disk beneath /srv/copy has not finished an op for 5.0 s"), told);
  const failed = result as ApplyResult | null;
  check("the op fails with the reason", failed !== null && !failed.ok && failed.errno === "ETIMEDOUT" && failed.message === why, failed);
  // The disk answers: the abandoned op is neither kept nor applied, and no record was made for it.
  thread.hung = false;
  thread.serveKept();
  for (let i = 0; i < 5; i++) await turn();
  check("the abandoned op is neither kept nor applied late, and nothing was recorded", !fs.existsSync(path.join(dest, "ours2")) && fs.readFileSync(path.join(root, "ours2"), "utf8") === "ours2" && recorded === 0, { recorded });
  check("the disk answers again", told.length === 2 && told[1] === "answering" && a.hung === null, told);
  check("the thread's progress moved for no abandoned op", Atomics.load(slots, PROGRESS.done) === 0, Atomics.load(slots, PROGRESS.done));
  // A large file kept on the thread moves the progress count a MiB at a time: a long copy is not a hung disk.
  const big = Buffer.alloc((3 << 20) + 5, 7);
  fs.writeFileSync(path.join(root, "big"), big);
  fs.chmodSync(path.join(root, "big"), 0o640);
  fs.utimesSync(path.join(root, "big"), 1_000_000, 1_000_000);
  const dest3 = path.join(base, "conflicts", "t3");
  a.keepAside({ root, dest: dest3, onFirstKeep: null });
  const moves = Atomics.load(slots, PROGRESS.done);
  const bigDone = await a.apply(write("big", "THEIRS"));
  const keptBig = path.join(dest3, "big");
  const st = fs.existsSync(keptBig) ? fs.statSync(keptBig) : null;
  check("a large file is kept whole, with its mode and times, before the op", bigDone.ok && st !== null && fs.readFileSync(keptBig).equals(big) && (st.mode & 0o7777) === 0o640 && st.mtimeMs === 1_000_000_000, { bigDone, mode: st?.mode, mtime: st?.mtimeMs });
  check("its copy moved the progress count once per MiB, besides the op", Atomics.load(slots, PROGRESS.done) - moves === 4 + 1, Atomics.load(slots, PROGRESS.done) - moves);
  // The verdict falls while the thread waits for the record: none is made, and the op it held is skipped.
  fs.writeFileSync(path.join(root, "ours3"), "ours3");
  const dest4 = path.join(base, "conflicts", "t4");
  let recorded4 = 0;
  a.keepAside({ root, dest: dest4, onFirstKeep: () => recorded4++ });
  now = 10_000;
  let held: ApplyResult | null = null;
  void Promise.resolve(a.apply(write("ours3", "THEIRS3"))).then((r) => (held = r));
  await Promise.resolve();
  await Promise.resolve();
  const asked = thread.keeping.held !== null;
  now = 15_000;
  a.check();
  for (let i = 0; i < 5; i++) await turn();
  const heldResult = held as ApplyResult | null;
  check("a verdict while the record is asked: no record, the held op fails with the reason and is neither kept nor applied", asked && recorded4 === 0 && heldResult !== null && !heldResult.ok && heldResult.errno === "ETIMEDOUT" && !fs.existsSync(dest4) && fs.readFileSync(path.join(root, "ours3"), "utf8") === "ours3", { asked, recorded4, heldResult });
  check("and the disk answers again", told.length === 4 && told[3] === "answering" && a.hung === null, told);
  await a.close();
  applier.close();
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify({ checks }) + "\n");
