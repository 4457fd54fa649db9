/**
 * The SECOND's cost per op, two source trees side by side: a SECOND process
 * (the replication server with the daemon's applier, on its own thread with
 * quick ops inline, its folder reached as `/proc/self/fd/N/.` as the mirror
 * driver does) fed over the loopback link by a PRIM-side process of the same
 * tree. Two workloads:
 *
 *   - storm: N files created, renamed, deleted in one directory, one op at a
 *     time, each waiting for its acknowledgement (mode sync), with the times
 *     the PRIM folds into each op (bench/mirror-app.ts storm's stream);
 *   - resync: a journal resync of F files of 4 KiB in one directory, every
 *     one rewritten while the copy was away, then the final sync of the copy;
 *   - applier: the applier alone, in the run's process, on the same folder
 *     path (no link, no thread): the storm's ops, then F overwrites of 4 KiB
 *     files, each to a file not open yet (as a resync writes them); CPU time
 *     of the calling thread per op, by kind.
 *
 * Per run: wall time, µs per op (storm), and the CPU time of each of the
 * SECOND's threads (/proc/PID/task/TID/schedstat, ns) and of the PRIM side.
 * Runs alternate between the trees (old, new, old, new...), so a change in
 * the shared machine's load hits both alike; medians and new/old ratios.
 *
 *   node_modules/.bin/bun bench/apply-second.ts --old DIR --new DIR
 *       [--rounds 5] [--storm 3000] [--files 4096] [--work storm,resync]
 *       [--fs ext4|tmpfs|host] [--name RESULTS]
 *
 * DIR is a checkout of the project (a git worktree; its node_modules linked).
 * The folders live on --fs: "ext4" (default) is a fresh 2 GiB ext4 with its
 * journal (mkfs's defaults, as on a real host) on a loop device, "tmpfs" a
 * tmpfs (no disk: the CPU cost alone), "host" /var/tmp as it is (this
 * machine's root has no journal, and ext4 then checks every recently deleted
 * inode when it allocates one: a storm's creates cost O(deleted) there).
 * ext4 and tmpfs are mounted in a private mount namespace of the bench, so
 * they vanish with it. Folders are removed after each run. Root only.
 * --name writes bench/results/RESULTS.{json,md}.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { benchArgs } from "./lib/args.ts";
import { median } from "./lib/stats.ts";

const HERE = import.meta.filename;
/** Where the runs make their folders (the mounted --fs, passed on to the children). */
const folderBase = (): string => process.env["APPLY_BENCH_BASE"] ?? "/var/tmp";
const KEY = new Uint8Array(32).fill(23);
const BUN = process.execPath;

interface ThreadCpu {
  readonly comm: string;
  readonly ns: number;
}

function threadCpu(pid: number): Map<string, ThreadCpu> {
  const out = new Map<string, ThreadCpu>();
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const ns = Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      const comm = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      out.set(tid, { comm, ns });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU ms per thread between two samples, by thread (the main thread first, named "main"). */
function cpuDelta(pid: number, before: Map<string, ThreadCpu>, after: Map<string, ThreadCpu>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [tid, a] of after) {
    const d = (a.ns - (before.get(tid)?.ns ?? 0)) / 1e6;
    if (d < 0.5) continue;
    const name = tid === String(pid) ? "main" : `${a.comm}`;
    out[name] = (out[name] ?? 0) + d;
  }
  return out;
}

// ---- the SECOND -----------------------------------------------------------

async function second(tree: string, dir: string): Promise<void> {
  const { startApplyEndpoint } = (await import(path.join(tree, "src/replicator/apply-endpoint.ts"))) as typeof import("../src/replicator/apply-endpoint.ts");
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  const ep = await startApplyEndpoint({ cluster: "bench", node: "b", peer: "a", key: KEY, root: `/proc/self/fd/${fd}/.`, listen: [{ address: "127.0.0.1", port: 0 }] });
  process.stdout.write(`listening ${ep.server.bound()[0]?.port} ${ep.inlineReason ?? "threaded"}\n`);
  process.stdin.on("end", () => {
    void ep.close().then(() => process.exit(0));
  });
  process.stdin.resume();
}

async function startSecond(tree: string, dir: string): Promise<{ child: ChildProcess; port: number; how: string }> {
  // APPLY_BENCH_PROFILE=DIR: the SECOND writes a CPU profile of its main thread there (bun --cpu-prof).
  const prof = process.env["APPLY_BENCH_PROFILE"];
  const flags = prof === undefined ? [] : ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${prof}`];
  const child = spawn(BUN, [...flags, HERE, "--role", "second", "--tree", tree, "--dir", dir], { stdio: ["pipe", "pipe", "inherit"] });
  const [port, how] = await new Promise<[number, string]>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+) (.*)\n/.exec(out);
      if (m) resolve([Number(m[1]), m[2]!]);
    });
    child.once("exit", (c) => reject(new Error(`the SECOND exited (${c})`)));
  });
  return { child, port, how };
}

async function stopSecond(child: ChildProcess): Promise<void> {
  const gone = new Promise<void>((r) => child.once("exit", () => r()));
  child.stdin!.end();
  await gone;
}

// ---- the PRIM side: one run ---------------------------------------------

interface RunResult {
  tree: string;
  work: string;
  wallMs: number;
  ops: number;
  /** µs per op as the PRIM saw it (round trip), by op kind: median. */
  usPerOp: Record<string, number>;
  secondCpuMs: Record<string, number>;
  secondCpuTotalMs: number;
  primCpuMs: number;
  /** The resync's own phases (ms). */
  phaseMs?: Record<string, number>;
  how: string;
}

async function run(tree: string, work: string, stormFiles: number, resyncFiles: number): Promise<RunResult> {
  const link = (await import(path.join(tree, "src/net/replication-link.ts"))) as typeof import("../src/net/replication-link.ts");
  const ops = (await import(path.join(tree, "src/replicator/ops.ts"))) as typeof import("../src/replicator/ops.ts");
  const base = fs.mkdtempSync(path.join(folderBase(), "vigil-apply-bench-"));
  const dst = path.join(base, "copy");
  const src = path.join(base, "src");
  fs.mkdirSync(dst);
  try {
    const T = 1_700_000_000_000_000_000n;
    let dirty: import("../src/replicator/journal-dirty.ts").DirtySet | null = null;
    if (work === "resync") {
      // The copy had the old data; the source rewrote every file while the copy was away.
      fs.mkdirSync(path.join(src, "d"), { recursive: true });
      fs.mkdirSync(path.join(dst, "d"));
      const buf = Buffer.alloc(4096);
      const paths: import("../src/replicator/journal-dirty.ts").DirtyPath[] = [];
      for (let i = 0; i < resyncFiles; i++) {
        buf.fill(i & 0xff);
        fs.writeFileSync(path.join(dst, "d", `f${i}`), buf);
        buf.writeUInt32LE(i + 1, 0);
        fs.writeFileSync(path.join(src, "d", `f${i}`), buf);
        fs.utimesSync(path.join(src, "d", `f${i}`), 1_700_000_100 + i, 1_700_000_100 + i);
        paths.push({ path: ops.relPath(`d/f${i}`), tree: false, whole: false, ranges: [{ offset: 0, length: 4096 }], suspect: [] });
      }
      dirty = { full: false, fullReason: null, hardLinkRecheck: false, paths };
      // Both trees on disk before timing: the run measures the resync, not an earlier writeback.
      spawnSync("sync", ["-f", base]);
    }
    if (work === "applier") return await applierAlone(tree, dst, stormFiles, resyncFiles);
    const s = await startSecond(tree, dst);
    const client = new link.ReplicationClient({ cluster: "bench", node: "a", peer: "b", key: KEY, addresses: [`127.0.0.1:${s.port}`] });
    client.start();
    while (!client.up) await new Promise((r) => setTimeout(r, 5));
    const pid = s.child.pid!;
    const times: Record<string, number[]> = {};
    let seq = 0;
    let count = 0;
    let phaseMs: Record<string, number> | undefined;
    const send = async (op: import("../src/replicator/ops.ts").MirrorOp): Promise<void> => {
      const t0 = performance.now();
      const o = await client.send(++seq, op);
      const us = (performance.now() - t0) * 1000;
      if (!o.delivered || !o.result.ok) throw new Error(`${op.op} failed: ${JSON.stringify(o, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`);
      (times[op.op] ??= []).push(us);
      count++;
    };
    // Settle: the SECOND's start-up (worker, JIT of the first calls) is not the bench.
    await send({ op: "mkdir", path: ops.relPath("storm"), mode: 0o755, uid: 0, gid: 0 });
    for (let i = 0; i < 50; i++) await send({ op: "create", path: ops.relPath(`storm/w${i}`), mode: 0o644, uid: 0, gid: 0 });
    for (let i = 0; i < 50; i++) await send({ op: "unlink", path: ops.relPath(`storm/w${i}`) });
    for (const k of Object.keys(times)) delete times[k];
    count = 0;
    const cpu0 = threadCpu(pid);
    const prim0 = process.cpuUsage();
    const t0 = performance.now();
    if (work === "storm") {
      const dirT = (k: number) => ({ path: ops.relPath("storm"), atimeNs: T, mtimeNs: T + BigInt(k) });
      for (let i = 0; i < stormFiles; i++) {
        const p = ops.relPath(`storm/f${i}`);
        await send({ op: "create", path: p, mode: 0o644, uid: 0, gid: 0, times: [{ path: p, atimeNs: T, mtimeNs: T }, dirT(i)] });
      }
      for (let i = 0; i < stormFiles; i++) await send({ op: "rename", from: ops.relPath(`storm/f${i}`), to: ops.relPath(`storm/g${i}`), flags: 0, times: [dirT(stormFiles + i)] });
      for (let i = 0; i < stormFiles; i++) await send({ op: "unlink", path: ops.relPath(`storm/g${i}`), times: [dirT(2 * stormFiles + i)] });
    } else {
      const { Resync } = (await import(path.join(tree, "src/replicator/resync.ts"))) as typeof import("../src/replicator/resync.ts");
      const { RemoteResyncPeer } = (await import(path.join(tree, "src/replicator/remote-peer.ts"))) as typeof import("../src/replicator/remote-peer.ts");
      const peer = new RemoteResyncPeer(client, { nextSeq: () => ++seq });
      const r = await new Resync({ root: src, peer, dirty }).run();
      if (!r.completed) throw new Error(`resync incomplete: ${r.error} ${JSON.stringify(r.failures.slice(0, 3))}`);
      count = r.progress.filesDone;
      phaseMs = Object.fromEntries(Object.entries(r.phaseMs).map(([k, v]) => [k, Math.round(v)]));
      await send({ op: "fsync", path: null, dataOnly: false });
    }
    const wallMs = performance.now() - t0;
    const cpu1 = threadCpu(pid);
    const prim1 = process.cpuUsage(prim0);
    await client.close();
    await stopSecond(s.child);
    if (work === "resync") {
      for (const i of [0, resyncFiles >> 1, resyncFiles - 1]) {
        const a = fs.readFileSync(path.join(src, "d", `f${i}`));
        const b = fs.readFileSync(path.join(dst, "d", `f${i}`));
        if (!a.equals(b) || fs.statSync(path.join(dst, "d", `f${i}`)).mtimeMs !== fs.statSync(path.join(src, "d", `f${i}`)).mtimeMs) throw new Error(`d/f${i} differs after the resync`);
      }
    } else if (fs.readdirSync(path.join(dst, "storm")).length !== 0) throw new Error("the storm left files behind");
    const usPerOp: Record<string, number> = {};
    for (const [k, v] of Object.entries(times)) usPerOp[k] = Math.round(median(v));
    const secondCpuMs = cpuDelta(pid, cpu0, cpu1);
    return {
      tree,
      work,
      wallMs: Math.round(wallMs),
      ops: count,
      usPerOp,
      secondCpuMs: Object.fromEntries(Object.entries(secondCpuMs).map(([k, v]) => [k, Math.round(v)])),
      secondCpuTotalMs: Math.round(Object.values(secondCpuMs).reduce((a, b) => a + b, 0)),
      primCpuMs: Math.round((prim1.user + prim1.system) / 1000),
      ...(phaseMs === undefined ? {} : { phaseMs }),
      how: s.how,
    };
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

/** CPU time of this thread so far (ns). */
function threadNs(): number {
  return Number(fs.readFileSync(`/proc/thread-self/schedstat`, "utf8").split(" ")[0]);
}

async function applierAlone(tree: string, dst: string, stormFiles: number, files: number): Promise<RunResult> {
  const { Applier } = (await import(path.join(tree, "src/replicator/apply.ts"))) as typeof import("../src/replicator/apply.ts");
  const ops = (await import(path.join(tree, "src/replicator/ops.ts"))) as typeof import("../src/replicator/ops.ts");
  const fd = fs.openSync(dst, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  const a = await Applier.open(`/proc/self/fd/${fd}/.`);
  const T = 1_700_000_000_000_000_000n;
  const cpu: Record<string, number[]> = {};
  const run = (kind: string, n: number, op: (i: number) => import("../src/replicator/ops.ts").MirrorOp): void => {
    const t0 = threadNs();
    for (let i = 0; i < n; i++) {
      const r = a.apply(op(i));
      if (!r.ok) throw new Error(`${kind} ${i}: ${r.message}`);
    }
    (cpu[kind] ??= []).push((threadNs() - t0) / n / 1000);
  };
  const dirT = (k: number) => ({ path: ops.relPath("storm"), atimeNs: T, mtimeNs: T + BigInt(k) });
  fs.mkdirSync(path.join(dst, "d"));
  for (let i = 0; i < files; i++) fs.writeFileSync(path.join(dst, "d", `f${i}`), Buffer.alloc(4096, 1));
  const data = new Uint8Array(4096).fill(7);
  const t0 = performance.now();
  a.apply({ op: "mkdir", path: ops.relPath("storm"), mode: 0o755, uid: 0, gid: 0 });
  // The first pass warms the runtime's compiler up; the second is measured.
  for (let pass = 0; pass < 2; pass++) {
    if (pass === 1) for (const k of Object.keys(cpu)) delete cpu[k];
    run("create", stormFiles, (i) => {
      const p = ops.relPath(`storm/f${i}`);
      return { op: "create", path: p, mode: 0o644, uid: 0, gid: 0, times: [{ path: p, atimeNs: T, mtimeNs: T }, dirT(i)] };
    });
    run("rename", stormFiles, (i) => ({ op: "rename", from: ops.relPath(`storm/f${i}`), to: ops.relPath(`storm/g${i}`), flags: 0, times: [dirT(i)] }));
    run("unlink", stormFiles, (i) => ({ op: "unlink", path: ops.relPath(`storm/g${i}`), times: [dirT(i)] }));
    run("write", files, (i) => ({ op: "write", path: ops.relPath(`d/f${i}`), offset: 0, data, mtimeNs: T + BigInt(i) }));
  }
  const wallMs = performance.now() - t0;
  a.close();
  fs.closeSync(fd);
  const usPerOp: Record<string, number> = {};
  for (const [k, v] of Object.entries(cpu)) usPerOp[k] = Math.round(median(v) * 10) / 10;
  return { tree, work: "applier", wallMs: Math.round(wallMs), ops: 3 * stormFiles + files, usPerOp, secondCpuMs: {}, secondCpuTotalMs: 0, primCpuMs: 0, how: "in process" };
}

// ---- the orchestrator ---------------------------------------------------

function runChild(tree: string, work: string, stormFiles: number, resyncFiles: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(BUN, [HERE, "--role", "run", "--tree", tree, "--work", work, "--storm", String(stormFiles), "--files", String(resyncFiles)], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", (code) => {
      const line = out.trim().split("\n").pop() ?? "";
      if (code !== 0) reject(new Error(`run ${work} of ${tree} exited ${code}: ${line}`));
      else resolve(JSON.parse(line) as RunResult);
    });
  });
}

function loadNow(): string {
  return os.loadavg().map((x) => x.toFixed(2)).join(" ");
}

async function main(v: Record<string, string | undefined>): Promise<void> {
  const trees = { old: path.resolve(v["old"]!), new: path.resolve(v["new"]!) };
  const rounds = Number(v["rounds"] ?? 5);
  const stormFiles = Number(v["storm"] ?? 3000);
  const resyncFiles = Number(v["files"] ?? 4096);
  const works = (v["work"] ?? "storm,resync").split(",");
  const all: (RunResult & { side: string; round: number; load: string })[] = [];
  const started = new Date().toISOString();
  for (const work of works) {
    for (let round = 0; round < rounds; round++) {
      // Which side goes first alternates too.
      const order = round % 2 === 0 ? (["old", "new"] as const) : (["new", "old"] as const);
      for (const side of order) {
        const r = await runChild(trees[side], work, stormFiles, resyncFiles);
        const row = { ...r, side, round, load: loadNow() };
        all.push(row);
        console.error(`${work} ${side} round ${round}: ${r.wallMs} ms, SECOND cpu ${r.secondCpuTotalMs} ms ${JSON.stringify(r.secondCpuMs)}, PRIM cpu ${r.primCpuMs} ms${r.phaseMs === undefined ? "" : `, phases ${JSON.stringify(r.phaseMs)}`}, µs/op ${JSON.stringify(r.usPerOp)} (load ${row.load}; ${r.how})`);
      }
    }
  }
  const lines: string[] = [];
  lines.push(`# The SECOND's applier, old vs new tree, alternating`, "");
  lines.push(`\`node_modules/.bin/bun bench/apply-second.ts ${process.argv.slice(2).join(" ")}\``, "");
  lines.push(`Started ${started}, ${os.cpus().length} CPUs shared with other work; 1-minute load per run in the JSON. Medians of ${rounds} runs per side. Folders on ${v["fs"] ?? "ext4"}${(v["fs"] ?? "ext4") === "host" ? "" : ` (mounted at ${folderBase()})`}.`, "");
  lines.push("| workload | measure | old | new | new/old |", "|---|---|---:|---:|---:|");
  for (const work of works) {
    const side = (s: string) => all.filter((r) => r.work === work && r.side === s);
    const row = (what: string, f: (r: RunResult) => number | undefined): void => {
      const o = median(side("old").map(f).filter((x): x is number => x !== undefined));
      const n = median(side("new").map(f).filter((x): x is number => x !== undefined));
      if (Number.isNaN(o) && Number.isNaN(n)) return;
      const r1 = (x: number): number => Math.round(x * 10) / 10;
      lines.push(`| ${work} | ${what} | ${r1(o)} | ${r1(n)} | ${(n / o).toFixed(2)} |`);
    };
    row("wall (ms)", (r) => r.wallMs);
    if (work !== "applier") {
      row("SECOND CPU, all threads (ms)", (r) => r.secondCpuTotalMs);
      row("SECOND CPU, main thread (ms)", (r) => r.secondCpuMs["main"] ?? 0);
      row("SECOND CPU, main + applier thread (ms)", (r) => (r.secondCpuMs["main"] ?? 0) + (r.secondCpuMs["Worker"] ?? 0));
      row("PRIM side CPU (ms)", (r) => r.primCpuMs);
    }
    const kinds = new Set(all.filter((r) => r.work === work).flatMap((r) => Object.keys(r.usPerOp)));
    const what = work === "applier" ? "CPU of the applying thread per op (µs)" : "round trip, median (µs)";
    for (const k of kinds) row(`${k}: ${what}`, (r) => r.usPerOp[k]);
  }
  const loads = all.map((r) => Number(r.load.split(" ")[0]));
  lines.push("", `1-minute load during the runs: ${Math.min(...loads).toFixed(2)}-${Math.max(...loads).toFixed(2)} (median ${median(loads).toFixed(2)}).`);
  const md = lines.join("\n") + "\n";
  console.log(md);
  if (v["name"] !== undefined) {
    const dir = path.join(path.dirname(HERE), "results");
    fs.writeFileSync(path.join(dir, `${v["name"]}.json`), JSON.stringify({ started, args: process.argv.slice(2), runs: all }, null, 1) + "\n");
    fs.writeFileSync(path.join(dir, `${v["name"]}.md`), md);
  }
}

const { values } = benchArgs({
  options: {
    role: { type: "string" },
    tree: { type: "string" },
    dir: { type: "string" },
    work: { type: "string" },
    old: { type: "string" },
    new: { type: "string" },
    rounds: { type: "string" },
    storm: { type: "string" },
    files: { type: "string" },
    name: { type: "string" },
    fs: { type: "string" },
  },
});
if (values.role === "second") await second(values.tree!, values.dir!);
else if (values.role === "run") {
  const r = await run(values.tree!, values.work!, Number(values.storm), Number(values.files));
  console.log(JSON.stringify(r));
  process.exit(0);
} else {
  if (values.old === undefined || values.new === undefined) {
    console.error("bench/apply-second.ts: --old DIR and --new DIR are required");
    process.exit(2);
  }
  const kind = values.fs ?? "ext4";
  if (!["ext4", "tmpfs", "host"].includes(kind)) {
    console.error(`bench/apply-second.ts: --fs ${kind}: one of ext4, tmpfs, host`);
    process.exit(2);
  }
  if (kind === "host" || process.env["APPLY_BENCH_BASE"] !== undefined) await main(values);
  else if (process.env["APPLY_BENCH_NS"] === undefined) {
    // Again, in a private mount namespace: the mount below goes when it ends, also on a crash.
    const r = spawnSync("unshare", ["-m", "--propagation", "private", BUN, HERE, ...process.argv.slice(2)], { stdio: "inherit", env: { ...process.env, APPLY_BENCH_NS: "1" } });
    process.exit(r.status ?? 1);
  } else {
    const work = fs.mkdtempSync(path.join("/var/tmp", "vigil-apply-bench-fs-"));
    const mnt = path.join(work, "mnt");
    fs.mkdirSync(mnt);
    const must = (cmd: string, args: string[]): void => {
      const r = spawnSync(cmd, args, { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.error?.message}`);
    };
    try {
      if (kind === "ext4") {
        const img = path.join(work, "fs.img");
        fs.writeFileSync(img, "");
        fs.truncateSync(img, 2 * 1024 * 1024 * 1024);
        must("mkfs.ext4", ["-q", "-F", img]);
        must("mount", ["-o", "loop", img, mnt]);
      } else must("mount", ["-t", "tmpfs", "-o", "size=1g", "vigil-apply-bench", mnt]);
      process.env["APPLY_BENCH_BASE"] = mnt;
      await main(values);
    } finally {
      spawnSync("umount", [mnt]);
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
}
