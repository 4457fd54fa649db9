/**
 * The resync's questions answered on the applier's thread (apply-threaded.ts,
 * copy-answers.ts), under bun (bun:ffi, a real Worker): run by
 * apply-thread-answers.test.ts. Prints one JSON line:
 * { checks: [{ name, pass, detail }] }.
 *
 * 1. A real thread (startApplier): its answers are those the main thread
 *    gave by fd (FolderAnswerer), and a question sees the ops handed over
 *    before it.
 * 2. The thread played by a fake that serves with apply-worker.ts's own
 *    serveRequest and a real CopyAnswers, and can be made to hang (as in
 *    apply-disk-watch.test.ts): a question owed is owed work for the disk's
 *    watch, fails with the reason at the bound, later ones fail at once, the
 *    one kept is not answered late, and questions are answered again once
 *    the disk answers; a long listing moves the progress count per entry; a
 *    session's end drops the listing left open.
 */
import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Worker } from "node:worker_threads";
import type { ResyncRequest, ResyncResponse } from "../../src/proto/replication-resync.ts";
import { Applier } from "../../src/replicator/apply.ts";
import { type DiskWatch, startApplier, ThreadedApplier } from "../../src/replicator/apply-threaded.ts";
import { type ApplyWorkerMessage, type ApplyWorkerRequest, PROGRESS, PROGRESS_SLOTS, serveRequest } from "../../src/replicator/apply-worker.ts";
import { CopyAnswers } from "../../src/replicator/copy-answers.ts";
import { relPath } from "../../src/replicator/ops.ts";
import { FolderAnswerer } from "../../src/replicator/remote-peer-answers.ts";
import { loadDirCalls } from "../../src/sys/ffi/dir-calls.ts";
import { loadFsCalls } from "../../src/sys/ffi/fs-calls.ts";
import type { RequestAnswerer } from "../../src/net/replication-link.ts";

const checks: { name: string; pass: boolean; detail: string }[] = [];
const text = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? String(x) : x instanceof Uint8Array ? Buffer.from(x).toString("hex") : x));
const check = (name: string, pass: boolean, detail: unknown = ""): void => {
  checks.push({ name, pass, detail: typeof detail === "string" ? detail : text(detail) });
};
const dirCalls = await loadDirCalls("answers test");
const fsCalls = await loadFsCalls("answers test");
const openFds = (): number => fs.readdirSync("/proc/self/fd").length;
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Every answer to question `q` (and the `next`s a manifest needs), as the PRIM pulls them. */
async function ask(a: RequestAnswerer, id: number, q: ResyncRequest): Promise<ResyncResponse[]> {
  const got: ResyncResponse[] = [];
  const reply = (r: ResyncResponse): boolean => {
    got.push(r);
    return true;
  };
  await a.request(id, q, reply);
  if (q.kind !== "manifest") return got;
  for (let i = 0; i < 100 && got.at(-1)?.kind === "entries"; i++) await a.request(id, { kind: "next" }, reply);
  return got;
}

const base = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-thread-answers-"));
try {
  const root = path.join(base, "copy");
  fs.mkdirSync(path.join(root, "d", "e"), { recursive: true });
  for (let i = 0; i < 30; i++) fs.writeFileSync(path.join(root, "d", `f${i}`), Buffer.alloc(5000 + i, i));
  fs.writeFileSync(path.join(root, "d", "e", "big"), Buffer.alloc(3 << 20, 7));
  fs.symlinkSync("d/f1", path.join(root, "link"));
  fsCalls.lsetxattr(Buffer.from(path.join(root, "d", "f2")), relPath("user.k"), new Uint8Array([1, 2, 3]), 0);

  // 1. A real thread.
  const started = await startApplier(root);
  const onThread = started.applier.answerer ?? null;
  check("the applier runs on a thread that answers questions", started.threaded && onThread !== null, started.threaded ? "" : started.why);
  if (onThread !== null) {
    const main = new FolderAnswerer(root, { fsCalls, dirCalls });
    const questions: [string, ResyncRequest][] = [
      ["the whole tree with xattrs", { kind: "manifest", under: relPath(""), recursive: true }],
      ["one directory without xattrs", { kind: "manifest", under: relPath("d"), recursive: false, withoutXattrs: true }],
      ["a missing path", { kind: "manifest", under: relPath("none/x"), recursive: true }],
      ["a path through a symlink", { kind: "manifest", under: relPath("link/x"), recursive: true }],
      ["an entry with xattrs", { kind: "entry", path: relPath("d/f2") }],
      ["the entry of a symlink", { kind: "entry", path: relPath("link") }],
      ["a missing entry", { kind: "entry", path: relPath("d/none") }],
      ["sums of a large file", { kind: "sums", path: relPath("d/e/big"), blockSize: 65536, offset: 1, count: 40 }],
      ["sums of a directory", { kind: "sums", path: relPath("d"), blockSize: 4096, offset: 0, count: 1 }],
      ["sums past the end", { kind: "sums", path: relPath("d/f3"), blockSize: 4096, offset: 9, count: 4 }],
    ];
    for (const [name, q] of questions) {
      const there = await ask(onThread, 7, q);
      const here = await ask(main, 7, q);
      check(`${name}: the thread's answers are the main thread's`, text(there) === text(here) && there.length > 0, { there: text(there).slice(0, 300), here: text(here).slice(0, 300) });
    }
    main.close();
    // The ops handed over before a question are applied before it is answered.
    const made = started.applier.apply({ op: "create", path: relPath("d/new"), mode: 0o600, uid: 0, gid: 0 });
    const seen = await ask(onThread, 8, { kind: "entry", path: relPath("d/new") });
    check("a question sees the op handed over before it", seen[0]?.kind === "entry" && seen[0].entry !== null && seen[0].entry.mode === 0o600, seen);
    check("that op succeeded", (await made).ok, await made);
  }
  await started.applier.close();

  // 2. A fake thread that can hang, serving with the worker's own code.
  class HangingThread extends EventEmitter {
    hung = false;
    readonly kept: Exclude<ApplyWorkerRequest, { t: "close" }>[] = [];
    asks = 0;
    constructor(
      private readonly applier: Applier,
      private readonly progress: Int32Array,
      private readonly answers: CopyAnswers,
    ) {
      super();
    }
    postMessage(m: ApplyWorkerRequest): void {
      if (m.t === "close") {
        setImmediate(() => this.emit("exit", 0));
        return;
      }
      if (m.t === "ask") this.asks++;
      this.kept.push(m);
      if (!this.hung) this.serveKept();
    }
    serveKept(): void {
      for (const m of this.kept.splice(0)) serveRequest(this.applier, this.progress, m, (r: ApplyWorkerMessage) => void setImmediate(() => this.emit("message", r)), this.answers);
    }
    terminate(): Promise<number> {
      return Promise.resolve(0);
    }
  }
  const progress = new SharedArrayBuffer(4 * PROGRESS_SLOTS);
  const slots = new Int32Array(progress);
  const answers = new CopyAnswers(root, dirCalls, fsCalls, () => void Atomics.add(slots, PROGRESS.done, 1));
  const applier = new Applier(root, { fsCalls: null });
  const thread = new HangingThread(applier, slots, answers);
  let now = 0;
  const told: string[] = [];
  const watch: DiskWatch = { timeoutMs: 5_000, folder: "/srv/copy", onHung: (why) => told.push(`hung: ${why}`), onAnswering: () => told.push("answering") };
  const a = new ThreadedApplier(thread as unknown as Worker, applier.mtimeWindowNs, progress, watch, () => now, null, true);
  const q = a.answerer!;

  const before = Atomics.load(slots, PROGRESS.done);
  const listed = await ask(q, 1, { kind: "manifest", under: relPath(""), recursive: true });
  const entries = listed.flatMap((r) => (r.kind === "entries" ? r.entries : []));
  check("a listing moves the progress count once per entry, and once for the answer", Atomics.load(slots, PROGRESS.done) - before === entries.length + 1, { entries: entries.length, moved: Atomics.load(slots, PROGRESS.done) - before });

  // A listing left open (more than one batch) is dropped at the session's end, its fds closed.
  fs.mkdirSync(path.join(root, "many"));
  for (let i = 0; i < 5000; i++) fs.writeFileSync(path.join(root, "many", `m${i}`), "");
  const fds = openFds();
  const first: ResyncResponse[] = [];
  await q.request(2, { kind: "manifest", under: relPath("many"), recursive: true }, (r) => first.push(r) > 0);
  const heldOpen = openFds() > fds;
  q.reset();
  await turn();
  const after: ResyncResponse[] = [];
  await q.request(2, { kind: "next" }, (r) => after.push(r) > 0);
  check("a listing of more than one batch stays open between batches", first.length === 1 && first[0]?.kind === "entries" && heldOpen, { first: first.map((r) => r.kind), heldOpen });
  check("the session's end drops it: nothing more to say, its fds closed", after.length === 0 && openFds() === fds, { after, fds, now: openFds() });

  // The disk hangs with a question owed and no op: the watch counts it.
  thread.hung = true;
  const got: ResyncResponse[] = [];
  let answered = false;
  void Promise.resolve(q.request(3, { kind: "manifest", under: relPath("d"), recursive: true }, (r) => got.push(r) > 0)).then(() => (answered = true));
  await turn();
  now = 4_999;
  a.check();
  check("within the bound the question is owed, unanswered", got.length === 0 && !answered && told.length === 0, { got, told });
  now = 5_000;
  a.check();
  await turn();
  const why = told[0]?.replace(/^hung: /, "") ?? "";
  check("at the bound the disk is hung for a question owed alone", told.length === 1 && why.startsWith("the disk beneath /srv/copy has not finished an op for 5.0 s"), told);
  check("the question owed fails with the reason", answered && got.length === 1 && got[0]?.kind === "error" && got[0].errno === "ETIMEDOUT" && got[0].message === why, got);
  const asksBefore = thread.asks;
  const later: ResyncResponse[] = [];
  await q.request(4, { kind: "entry", path: relPath("d/f1") }, (r) => later.push(r) > 0);
  check("a question meanwhile fails at once, without reaching the thread", later.length === 1 && later[0]?.kind === "error" && later[0].errno === "ETIMEDOUT" && thread.asks === asksBefore, { later, asks: thread.asks - asksBefore });
  // The disk answers: the question kept is not answered late; the thread says so, and questions are answered again.
  thread.hung = false;
  thread.serveKept();
  await turn();
  await turn();
  check("the kept question is not answered late", got.length === 1, got);
  check("the disk answers again", told.length === 2 && told[1] === "answering" && a.hung === null, told);
  const again = await ask(q, 5, { kind: "entry", path: relPath("d/f1") });
  check("questions are answered again", again.length === 1 && again[0]?.kind === "entry" && again[0].entry !== null, again);
  await a.close();
  answers.close();
  applier.close();
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify({ checks }) + "\n");
