/**
 * The measurements of bench/mirror.ts on one folder under test: where it is,
 * how an application enters the namespace that sees it, and which folders
 * beneath hold the same files (so a cold read can drop every layer's cache).
 */
import { fileURLToPath } from "node:url";
import { runCommand } from "../test/lab/exec.ts";
import { median, percentile } from "./lib/stats.ts";

export const APP = fileURLToPath(new URL("./mirror-app.ts", import.meta.url));
export const BUN = process.execPath;

export interface Target {
  /** Row label: bare, vigil ALONE, vigil sync, GlusterFS. */
  readonly label: string;
  /** The folder as the application sees it. */
  readonly dir: string;
  /** argv prefix that puts a command in the application's namespaces (empty: the root namespace). */
  enter(): string[];
  /** Folders (root namespace) holding the same relative paths beneath the mount, to drop their cached pages too. */
  readonly beneath: readonly string[];
}

export interface SuiteSizes {
  seqMiB: number;
  fsyncOps: number;
  fsyncMs: number;
  stormFiles: number;
}

export interface SuiteResult {
  /** dd's own figure for the write including its final fsync, MB/s (10^6). */
  seqWriteMBps: number;
  /** Two dd writers at once (half the size each): total bytes over the slower one's time, MB/s. */
  seqWrite2MBps: number;
  /** dd reading the same file back after every layer's cache for it was dropped, MB/s. */
  seqReadMBps: number;
  /**
   * The same cold read with the reader opening the file O_DIRECT (dd iflag=direct), MB/s:
   * through vigil's mount the kernel then sends each read() to the server, which splices it from
   * the file beneath (cached there), instead of filling the mount's own page cache; on the bare
   * folder it reads the disk without its page cache.
   */
  seqReadDirectMBps: number;
  fsyncIops: number;
  fsyncP50Ms: number;
  fsyncP99Ms: number;
  stormFiles: number;
  /** create + rename + delete of every file, s. */
  stormSeconds: number;
  /** Files per second through the whole storm (3 operations each). */
  stormFilesPerSec: number;
}

export async function must(argv: string[], what: string, timeoutMs = 600_000): Promise<{ stdout: string; stderr: string }> {
  const r = await runCommand(argv, { timeoutMs });
  if (r.code !== 0) throw new Error(`${what}: \`${argv.join(" ")}\` exited ${String(r.code)}${r.timedOut ? " (timed out)" : ""}: ${r.stderr.trim().slice(-800) || r.stdout.trim().slice(-800)}`);
  return r;
}

/** dd's summary line: "N bytes (...) copied, S s, ..." -> MB/s from bytes and seconds. */
export function ddRate(stderr: string): number {
  const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(stderr);
  if (m === null) throw new Error(`no dd summary in: ${stderr.trim()}`);
  return Number(m[1]) / Number(m[2]) / 1e6;
}

/** Two dd summaries (parallel writers): all bytes over the longest time. */
export function ddRateAll(stderr: string): number {
  const all = [...stderr.matchAll(/(\d+) bytes .* copied, ([\d.]+) s/g)];
  if (all.length === 0) throw new Error(`no dd summary in: ${stderr.trim()}`);
  const bytes = all.reduce((a, m) => a + Number(m[1]), 0);
  return bytes / Math.max(...all.map((m) => Number(m[2]))) / 1e6;
}

export async function app<T>(t: Target, args: string[], what: string): Promise<T> {
  const r = await must([...t.enter(), BUN, APP, ...args], `${t.label}: ${what}`);
  const line = r.stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(line) as T;
}

/**
 * Drops the file's cached pages at every layer (POSIX_FADV_DONTNEED through
 * the mount and on each copy beneath; not drop_caches, which would empty
 * the shared machine's caches under other jobs), then checks with fincore
 * that none is left: a cold read that starts warm anywhere is refused.
 */
async function dropCached(t: Target, rel: string): Promise<void> {
  await must([...t.enter(), "dd", `if=${t.dir}/${rel}`, "iflag=nocache", "count=0", "status=none"], `${t.label}: drop cached pages`);
  for (const b of t.beneath) await must(["dd", `if=${b}/${rel}`, "iflag=nocache", "count=0", "status=none"], `${t.label}: drop cached pages beneath`);
  const seen = await must([...t.enter(), "fincore", "-n", "-b", "-o", "RES", `${t.dir}/${rel}`], `${t.label}: cached pages after the drop`);
  const beneath = t.beneath.length === 0 ? "" : (await must(["fincore", "-n", "-b", "-o", "RES", ...t.beneath.map((b) => `${b}/${rel}`)], `${t.label}: cached pages beneath after the drop`)).stdout;
  const left = `${seen.stdout}\n${beneath}`.split("\n").map((l) => l.trim()).filter((l) => l !== "").map(Number);
  if (left.some((n) => n !== 0)) throw new Error(`${t.label}: ${rel} still has cached pages after the drop (bytes through the mount, then beneath: ${left.join(", ")})`);
}

/** The workloads of one suite round (bench/mirror.ts --rows picks among them). */
export type Workload = "seq" | "fsync" | "storm";
export const WORKLOADS: readonly Workload[] = ["seq", "fsync", "storm"];

export async function runSuite(t: Target, s: SuiteSizes, only: ReadonlySet<Workload> = new Set(WORKLOADS)): Promise<SuiteResult> {
  const out: SuiteResult = {
    seqWriteMBps: NaN, seqWrite2MBps: NaN, seqReadMBps: NaN, seqReadDirectMBps: NaN, fsyncIops: NaN, fsyncP50Ms: NaN, fsyncP99Ms: NaN,
    stormFiles: NaN, stormSeconds: NaN, stormFilesPerSec: NaN,
  };
  if (only.has("seq")) {
    const f = `${t.dir}/seq.dat`;
    const w = await must([...t.enter(), "dd", "if=/dev/zero", `of=${f}`, "bs=1M", `count=${s.seqMiB}`, "conv=fsync"], `${t.label}: dd write`);
    await dropCached(t, "seq.dat");
    const r = await must([...t.enter(), "dd", `if=${f}`, "of=/dev/null", "bs=1M"], `${t.label}: dd read`);
    await dropCached(t, "seq.dat");
    const rd = await must([...t.enter(), "dd", `if=${f}`, "of=/dev/null", "bs=1M", "iflag=direct"], `${t.label}: dd read, O_DIRECT`);
    await must([...t.enter(), "rm", "-f", f], `${t.label}: rm`);
    const half = Math.max(1, s.seqMiB >> 1);
    const dd2 = (n: string) => `dd if=/dev/zero of=${t.dir}/${n} bs=1M count=${half} conv=fsync`;
    const w2 = await must([...t.enter(), "sh", "-c", `${dd2("p1.dat")} & ${dd2("p2.dat")} & wait; rm -f ${t.dir}/p1.dat ${t.dir}/p2.dat`], `${t.label}: two dd writers`);
    out.seqWriteMBps = ddRate(w.stderr);
    out.seqWrite2MBps = ddRateAll(w2.stderr);
    out.seqReadMBps = ddRate(r.stderr);
    out.seqReadDirectMBps = ddRate(rd.stderr);
  }
  if (only.has("fsync")) {
    const fs = await app<{ ops: number; elapsedMs: number; lat: number[] }>(t, ["fsync4k", t.dir, String(s.fsyncOps), String(s.fsyncMs)], "4 KiB writes with fsync");
    out.fsyncIops = fs.ops / (fs.elapsedMs / 1000);
    out.fsyncP50Ms = median(fs.lat);
    out.fsyncP99Ms = percentile(fs.lat, 99);
  }
  if (only.has("storm")) {
    const st = await app<{ files: number; totalMs: number }>(t, ["storm", t.dir, String(s.stormFiles)], "create/rename/delete storm");
    out.stormFiles = st.files;
    out.stormSeconds = st.totalMs / 1000;
    out.stormFilesPerSec = st.files / (st.totalMs / 1000);
  }
  return out;
}

/** Medians of each field over the rounds. */
export function medianSuite(rs: readonly SuiteResult[]): SuiteResult | null {
  if (rs.length === 0) return null;
  const m = (k: keyof SuiteResult) => median(rs.map((r) => r[k]));
  return {
    seqWriteMBps: m("seqWriteMBps"),
    seqWrite2MBps: m("seqWrite2MBps"),
    seqReadMBps: m("seqReadMBps"),
    seqReadDirectMBps: m("seqReadDirectMBps"),
    fsyncIops: m("fsyncIops"),
    fsyncP50Ms: m("fsyncP50Ms"),
    fsyncP99Ms: m("fsyncP99Ms"),
    stormFiles: m("stormFiles"),
    stormSeconds: m("stormSeconds"),
    stormFilesPerSec: m("stormFilesPerSec"),
  };
}
