/**
 * How long the start of a journal resync holds the PRIM's main thread: the
 * ALONE journal's set of marks, then the resync's scope step and both
 * sides' listings, up to the end of the scan. Two source trees (two builds'
 * src/) take turns, each run in a fresh process.
 *
 *   node_modules/.bin/bun bench/journal-resync-start.ts --old TREE --new TREE
 *       [--dir PATH] [--files 8192] [--changed 6144] [--dirs 16] [--runs 4]
 *
 * A run marks the changed files in a DirtyTracker as the journal does for an
 * 8 KiB rewrite while ALONE, takes its set (snapshotBreathing where the tree
 * has it, as the driver does; else snapshot) and runs a Resync of it against
 * a LocalResyncPeer of the old copy until the scan ends (the first phase
 * after "scanning"), then stops it: nothing is sent, so the trees stay as
 * they are for the next run. An interval timer of 1 ms measures the longest
 * gap of the event loop, per step: the set, the start (up to "scanning"),
 * the scan, and over all three. The peer lists its copy on the same thread, as the SECOND would
 * on its own. --dir: where the two trees are made (default /tmp; a
 * journaled ext4 is what a real host has); they are kept for the next
 * invocation with the same sizes.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { benchArgs } from "./lib/args.ts";

const { values } = benchArgs({ options: {
  old: { type: "string" }, new: { type: "string" }, dir: { type: "string" },
  files: { type: "string" }, changed: { type: "string" }, dirs: { type: "string" }, runs: { type: "string" },
  child: { type: "string" }, code: { type: "string" },
} });
const FILES = Number(values.files ?? "8192");
const CHANGED = Number(values.changed ?? "6144");
const DIRS = Number(values.dirs ?? "16");
const FILE_BYTES = 8192;
const base = join(values.dir ?? "/tmp", `journal-resync-start-${FILES}-${CHANGED}-${DIRS}`);
const name = (i: number): string => `d${i % DIRS}/f${i}`;
/** Which files the ALONE period rewrote: spread over every directory. */
const changed = (i: number): boolean => Math.floor((i * CHANGED) / FILES) !== Math.floor(((i + 1) * CHANGED) / FILES);

interface RunFigures {
  marks: number;
  /** Longest event-loop gap (ms) that overlaps the building of the set of marks, the resync's start, its scan, any of them (a stretch across two steps counts in both). */
  gapSetMs: number;
  gapStartMs: number;
  gapScanMs: number;
  gapAllMs: number;
  /** Wall time of each step (ms). */
  setMs: number;
  startMs: number;
  scanMs: number;
}

async function child(code: string, src: string, dst: string): Promise<void> {
  const { DirtyTracker } = await import(join(code, "src/replicator/journal-dirty.ts"));
  const { recordsFor } = await import(join(code, "src/replicator/journal.ts"));
  const { Resync } = await import(join(code, "src/replicator/resync.ts"));
  const { LocalResyncPeer } = await import(join(code, "src/replicator/resync-local-peer.ts"));
  const { Breather } = await import(join(code, "src/replicator/breathe.ts"));
  const { relPath } = await import(join(code, "src/replicator/ops.ts"));
  const tracker = new DirtyTracker();
  for (let i = 0; i < FILES; i++) {
    if (!changed(i)) continue;
    for (const r of recordsFor({ op: "write", path: relPath(name(i)), offset: 0, data: new Uint8Array(FILE_BYTES), mtimeNs: 1n })) tracker.apply(r);
  }
  let step: "set" | "start" | "scan" | "after" = "set";
  // Each stretch the timer waited for, as [from, to]: afterwards counted in every step it overlaps.
  const gaps: [number, number][] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - last > 2) gaps.push([last, now]);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 50));
  const t0 = performance.now();
  const breather = new Breather();
  const dirty = typeof tracker.snapshotBreathing === "function" ? await tracker.snapshotBreathing(() => breather.breathe()) : tracker.snapshot();
  const t1 = performance.now();
  step = "start";
  let t2 = 0;
  let t3 = 0;
  const stop = new AbortController();
  const r = await new Resync({
    root: src, peer: new LocalResyncPeer(dst), dirty, signal: stop.signal,
    onProgress: (p: { phase: string }) => {
      if (step === "start" && p.phase === "scanning") {
        t2 = performance.now();
        step = "scan";
      } else if (step === "scan" && p.phase !== "scanning") {
        t3 = performance.now();
        step = "after";
        stop.abort();
      }
    },
  }).run();
  // The stretch that holds the scan's end is measured once the timer runs again.
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(timer);
  if (r.completed || t3 === 0) throw new Error(`the resync did not stop after its scan: ${r.error ?? "completed"}`);
  const longest = (from: number, to: number): number => Math.max(0, ...gaps.filter(([a, b]) => b > from && a < to).map(([a, b]) => b - a));
  const out: RunFigures = {
    marks: dirty.paths.length, gapSetMs: longest(t0, t1), gapStartMs: longest(t1, t2), gapScanMs: longest(t2, t3), gapAllMs: longest(t0, t3),
    setMs: t1 - t0, startMs: t2 - t1, scanMs: t3 - t2,
  };
  console.log(JSON.stringify(out));
}

function prepare(): { src: string; dst: string } {
  const src = join(base, "src");
  const dst = join(base, "dst");
  if (existsSync(join(base, "ready"))) return { src, dst };
  rmSync(base, { recursive: true, force: true });
  for (let d = 0; d < DIRS; d++) mkdirSync(join(src, `d${d}`), { recursive: true });
  const old = Buffer.alloc(FILE_BYTES, 1);
  for (let i = 0; i < FILES; i++) writeFileSync(join(src, name(i)), old);
  cpSync(src, dst, { recursive: true, preserveTimestamps: true });
  spawnSync("sync");
  const now = Buffer.alloc(FILE_BYTES, 2);
  for (let i = 0; i < FILES; i++) if (changed(i)) writeFileSync(join(src, name(i)), now);
  spawnSync("sync");
  writeFileSync(join(base, "ready"), "");
  return { src, dst };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

function main(): void {
  if (values.child !== undefined) return void child(resolve(values.code ?? "."), join(values.child, "src"), join(values.child, "dst")).catch((e: unknown) => {
    console.error((e as Error).message);
    process.exit(1);
  });
  if (values.old === undefined || values.new === undefined) throw new Error("--old TREE and --new TREE name the two source trees");
  const trees = { old: resolve(values.old), new: resolve(values.new) };
  prepare();
  const runs = Number(values.runs ?? "4");
  const order: ("old" | "new")[] = [];
  for (let i = 0; i < runs; i++) order.push(...(i % 2 === 0 ? ["old", "new"] as const : ["new", "old"] as const));
  const got: Record<"old" | "new", RunFigures[]> = { old: [], new: [] };
  const loads: number[] = [];
  for (const which of order) {
    loads.push(loadavg()[0] ?? 0);
    const p = spawnSync(process.execPath, [process.argv[1]!, "--child", base, "--code", trees[which], "--files", String(FILES), "--changed", String(CHANGED), "--dirs", String(DIRS)], { encoding: "utf8" });
    if (p.status !== 0) throw new Error(`${which} run failed: ${p.stderr}`);
    const f = JSON.parse(p.stdout.trim().split("\n").at(-1)!) as RunFigures;
    got[which].push(f);
    console.error(`${which}: ${JSON.stringify(f, (_, v) => (typeof v === "number" ? Math.round(v * 10) / 10 : v))}`);
  }
  loads.push(loadavg()[0] ?? 0);
  const keys = ["gapAllMs", "gapSetMs", "gapStartMs", "gapScanMs", "setMs", "startMs", "scanMs"] as const;
  const lines = [
    `${FILES} files of 8 KiB in ${DIRS} directories, ${CHANGED} rewritten and marked; ${runs} runs each, alternating; 1-minute load ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}`,
    `| measure (ms) | old: median (runs) | new: median (runs) |`,
    `|---|---:|---:|`,
    ...keys.map((k) => `| ${k} | ${median(got.old.map((f) => f[k])).toFixed(1)} (${got.old.map((f) => f[k].toFixed(0)).join(", ")}) | ${median(got.new.map((f) => f[k])).toFixed(1)} (${got.new.map((f) => f[k].toFixed(0)).join(", ")}) |`),
  ];
  console.log(lines.join("\n"));
}

main();
