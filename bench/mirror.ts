/**
 * Mirror throughput, latency, metadata, stall and resync: vigil beside the
 * bare folder and GlusterFS replica 2, side by side in one run.
 *
 *   node_modules/.bin/bun bench/mirror.ts [--rounds 3] [--quick]
 *       [--rows seq,fsync,storm,resync,initial,stall] [--cols bare,sync,alone,async,gluster]
 *       [--shapes unshaped,1gbit] [--name RESULTS] [--dir PATH] [--devices DIR]
 *       [--tree FILES:MIB] [--change FRACTION]
 *
 * --rows, --cols and --shapes run a part of the bench (default: all of it;
 * "initial" is the full initial sync beside rsync, on the shaped link, or on
 * each shape of --shapes when --rows names it, as "resync");
 * --name writes bench/results/RESULTS.{json,md} (a partial run needs one: it
 * never overwrites mirror.* or mirror-quick.*).
 * --dir PATH: where the scratch folders live (bare folder, both vigil
 * copies, rsync's copies, GlusterFS bricks), default /tmp. This host's root
 * is ext4 without a journal, whose inode allocator makes CREATE-heavy rows
 * dear; a loop-mounted ext4 with its journal (mkfs's defaults) is what a
 * real host has. --devices DIR: the bare folder and each vigil copy on an
 * ext4 of its own (and each GlusterFS brick), on a loop device backed by a file in DIR
 * (bench/mirror-devices.ts): two servers flush two disks, and on one file
 * system the PRIM's and the SECOND's flushes would queue in one journal;
 * with DIR on tmpfs (/dev/shm) no shared disk lies beneath either.
 * --tree FILES:MIB sizes the resync and initial-sync tree
 * (default 256:1024, --quick 64:128; e.g. 8192:64 for many small files),
 * --change the share of it rewritten for the resync row (default 0.01).
 *
 * (VIGIL_BIN=/path/to/vigil picks the binary; default dist/vigil. Root only;
 * needs glusterfs-server, fio is not used: dd's figure includes the final
 * fsync, fio's bandwidth does not.)
 *
 * Lab (test/lab/lab.ts): two network namespaces h1, h2 on one switched link
 * (veth pairs into a bridge, RTT ~0.05 ms), run once unshaped and once
 * shaped to 1 Gbit/s each way with HTB on each host's egress. Rows:
 * - bare: a plain folder on the same filesystem, no network;
 * - vigil sync: a mirror module (the real binary, h1 PRIM, h2 SECOND), each
 *   daemon in its own mount namespace with its own copy bound over one path
 *   (as test/lab/mirror-lab.ts); the workloads run in h1's daemon's mount
 *   namespace, through the FUSE mount, as the module's service would;
 * - vigil ALONE: the same with h2's daemon stopped (FUSE plus journal);
 * - GlusterFS replica 2: glusterd on each host (RECIPES.md section 6), one
 *   brick each, the FUSE client on h1.
 * Workloads (bench/mirror-measure.ts, bench/mirror-app.ts): dd of N MiB
 * with conv=fsync; dd reading it back after its cached pages were dropped at
 * every layer (fincore checks that none is left; for GlusterFS on both bricks),
 * then again so with O_DIRECT; 4 KiB writes each followed by fsync (IOPS, p50, p99); a
 * create/rename/delete storm. Rounds take turns between the rows, so a load
 * burst on the shared machine hits each alike; ALONE rounds run after the
 * sync ones (the SECOND must be down for them).
 * Then, on the shaped link: resync after 1 % of a tree changed while h1 was
 * ALONE (scattered 4 KiB rewrites), beside rsync of the same change; and the
 * write stall when h2's cable is pulled for a few seconds during a loop of
 * 4 KiB write + fsync (longest gap between acknowledged writes).
 *
 * Writes bench/results/mirror.json and .md (mirror-quick.* with --quick)
 * and prints the table. The lab's namespaces, processes, mounts (each lives
 * in a private mount namespace of a process the lab ends) and folders are
 * removed at the end, also on failure.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { benchArgs } from "./lib/args.ts";
import { type Lab, withLab } from "../test/lab/lab.ts";
import { requireVigilBinary, VIGIL_BIN } from "../test/lab/vigil-cluster.ts";
import { usageOf } from "./lib/proc-usage.ts";
import { writeResults } from "./lib/report.ts";
import { startGlusterPair, type GlusterPair } from "./mirror-gluster.ts";
import { type LinkShape, shapeLink, streamRate } from "./mirror-link.ts";
import { app, medianSuite, must, runSuite, WORKLOADS, type SuiteResult, type SuiteSizes, type Target } from "./mirror-measure.ts";
import { mirrorMarkdown, type PhaseResult, type StallResult } from "./mirror-report.ts";
import { describeBacking, ownDevice } from "./mirror-devices.ts";
import { measureInitialSync, measureResync } from "./mirror-resync.ts";
import { DEADTIME_MS, startVigilPair, type VigilPair } from "./mirror-vigil.ts";

const { values } = benchArgs({ options: {
  rounds: { type: "string" }, quick: { type: "boolean", default: false },
  rows: { type: "string" }, cols: { type: "string" }, shapes: { type: "string" }, name: { type: "string" },
  dir: { type: "string" }, tree: { type: "string" }, change: { type: "string" }, devices: { type: "string" },
} });
const QUICK = values.quick === true;

function pick<T extends string>(option: string, given: string | undefined, all: readonly T[]): Set<T> {
  if (given === undefined) return new Set(all);
  const out = new Set<T>();
  for (const x of given.split(",").map((v) => v.trim()).filter((v) => v !== "")) {
    if (!(all as readonly string[]).includes(x)) throw new Error(`--${option}: unknown "${x}" (one of ${all.join(", ")})`);
    out.add(x as T);
  }
  return out;
}
const ALL_ROWS = [...WORKLOADS, "resync", "initial", "stall"] as const;
type Row = (typeof ALL_ROWS)[number];
const ROWS = pick<Row>("rows", values.rows, ALL_ROWS);
const SUITE = new Set(WORKLOADS.filter((w) => ROWS.has(w)));
const COLS = pick("cols", values.cols, ["bare", "sync", "alone", "async", "gluster"] as const);
const SHAPES = pick<LinkShape>("shapes", values.shapes, ["unshaped", "1gbit"]);
const PARTIAL = values.rows !== undefined || values.cols !== undefined || values.shapes !== undefined;
if (PARTIAL && values.name === undefined) throw new Error("a partial run (--rows, --cols or --shapes) needs --name, so it never overwrites the full run's results");
if (values.name !== undefined && !/^[a-z0-9][a-z0-9._-]*$/i.test(values.name)) throw new Error(`--name: "${values.name}" is not a plain file name`);
const ROUNDS = Number(values.rounds ?? (QUICK ? "1" : "3"));
const SIZES: SuiteSizes = QUICK
  ? { seqMiB: 64, fsyncOps: 500, fsyncMs: 1_000, stormFiles: 1_000 }
  : { seqMiB: 256, fsyncOps: 3_000, fsyncMs: 2_000, stormFiles: 2_000 };
/** GlusterFS takes ~20 ms per file here: its storm is smaller and compared per file. */
const GLUSTER_STORM = QUICK ? 100 : 200;
/** The issue's storm; the tables scale each row's rate to it (10k files through FUSE would not fit the run's budget). */
const STORM_REPORTED = 10_000;
function treeOption(given: string | undefined): { files: number; mib: number } {
  if (given === undefined) return QUICK ? { files: 64, mib: 128 } : { files: 256, mib: 1024 };
  const m = /^(\d+):(\d+(?:\.\d+)?)$/.exec(given);
  if (m === null || Number(m[1]) < 1 || Number(m[2]) <= 0) throw new Error(`--tree: "${given}" is not FILES:MIB`);
  return { files: Number(m[1]), mib: Number(m[2]) };
}
const TREE = treeOption(values.tree);
const CHANGE = Number(values.change ?? "0.01");
if (!(CHANGE > 0 && CHANGE <= 1)) throw new Error(`--change: "${values.change}" is not a fraction in (0, 1]`);
const SCRATCH = values.dir ?? "/tmp";
const DEVICES = values.devices;
/** An own device mounted over `at` with --devices, nothing without: the returned close undoes it. */
async function deviceFor(name: string, at: string): Promise<() => Promise<void>> {
  if (DEVICES === undefined) return async () => undefined;
  const d = await ownDevice(DEVICES, name, at);
  log(`${name}: ${d.device} mounted on ${at}`);
  return d.close;
}
const CUT_MS = 3_000;
const COMMAND = `node_modules/.bin/bun bench/mirror.ts${QUICK ? " --quick" : ""}${values.rounds !== undefined ? ` --rounds ${ROUNDS}` : ""}${
  (["rows", "cols", "shapes", "name", "dir", "devices", "tree", "change"] as const).map((k) => (values[k] !== undefined ? ` --${k} ${values[k]}` : "")).join("")}`;

const loads: number[] = [];
const loadTimer = setInterval(() => loads.push(loadavg()[0] ?? 0), 5_000);

function log(msg: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

function rotate<T>(xs: readonly T[], by: number): T[] {
  return xs.map((_, i) => xs[(i + by) % xs.length] as T);
}

/**
 * A write + fsync loop on h1 while h2's cable is pulled for CUT_MS. The loop
 * ends shortly before the cable is back: in a two-node cluster without a
 * witness the cut SECOND takes the module too, and what follows the cable's
 * return is split-brain handling, not the stall.
 */
async function stall(lab: Lab, t: Target): Promise<StallResult> {
  const h2 = lab.host("h2");
  const loopMs = 1_000 + CUT_MS - 300;
  const run = app<{ acks: number; errors: Record<string, number>; firstErrorAt: number | null; maxGapMs: number; maxGapAt: number }>(t, ["stall", t.dir, String(loopMs)], "write loop during a link cut");
  await new Promise((r) => setTimeout(r, 1_000));
  const cutAt = Date.now();
  await lab.linkDown(h2);
  await new Promise((r) => setTimeout(r, CUT_MS));
  await lab.linkUp(h2);
  const r = await run;
  return {
    label: t.label,
    cutMs: CUT_MS,
    maxGapMs: r.maxGapMs,
    gapStartAfterCutMs: r.maxGapAt - cutAt,
    acks: r.acks,
    errors: Object.values(r.errors).reduce((a, b) => a + b, 0),
    errorCodes: r.errors,
    firstErrorAfterCutMs: r.firstErrorAt === null ? null : r.firstErrorAt - cutAt,
  };
}

async function phase(lab: Lab, shape: LinkShape, gluster: GlusterPair | null, dir: string, shaped: boolean): Promise<PhaseResult> {
  // Named in --rows, they run on every shape asked for; in a full run, on the shaped link only.
  const withResync = (shaped || values.rows !== undefined) && ROWS.has("resync");
  const withInitial = (shaped || values.rows !== undefined) && ROWS.has("initial");
  const withStall = shaped && ROWS.has("stall");
  const [h1, h2] = [lab.host("h1"), lab.host("h2")];
  await shapeLink(lab, shape);
  const linkMBps = await streamRate(h1, h2, QUICK ? 100 : 300);
  log(`${shape}: one TCP stream h1 -> h2 ${linkMBps.toFixed(0)} MB/s`);
  const vdir = mkdtempSync(join(dir, `vigil-${shape}-`));
  const closers = [await deviceFor("h1-copy", join(vdir, "h1-data")), await deviceFor("h2-copy", join(vdir, "h2-data"))];
  const pair = await startVigilPair(lab, vdir).catch(async (e: unknown) => {
    for (const c of closers) await c();
    throw e;
  });
  try {
    await pair.waitSync();
    const prim = (label: string): Target => ({
      label,
      dir: pair.folder,
      enter: () => {
        const pid = pair.pid("h1");
        if (pid === null) throw new Error("h1's daemon is not running");
        return ["nsenter", "-t", String(pid), "-m", "-n"];
      },
      beneath: [pair.data("h1")],
    });
    const bareDir = join(dir, "bare");
    mkdirSync(bareDir, { recursive: true });
    const glusterTarget: Target | null = gluster === null ? null : { label: "GlusterFS", dir: gluster.mount, enter: () => ["nsenter", "-t", String(gluster.clientPid), "-m", "-n"], beneath: [gluster.brick("h1"), gluster.brick("h2")] };
    const targets: Target[] = [
      ...(COLS.has("bare") ? [{ label: "bare", dir: bareDir, enter: () => [], beneath: [] }] : []),
      ...(COLS.has("sync") ? [prim("vigil sync")] : []),
      ...(glusterTarget === null ? [] : [glusterTarget]),
    ];
    const rounds: Record<string, SuiteResult[]> = { bare: [], "vigil sync": [], "vigil ALONE": [], "vigil async": [], GlusterFS: [] };
    const daemonPids = () => [pair.pid("h1"), pair.pid("h2")].filter((x): x is number => x !== null);
    const u0 = usageOf(daemonPids());
    const t0 = performance.now();
    let peakRssKiB = 0;
    for (let r = 0; r < (SUITE.size > 0 ? ROUNDS : 0); r++) {
      for (const t of rotate(targets, r)) {
        log(`${shape} round ${r + 1}/${ROUNDS}: ${t.label}`);
        const sizes = t.label === "GlusterFS" ? { ...SIZES, stormFiles: GLUSTER_STORM } : SIZES;
        (rounds[t.label] as SuiteResult[]).push(await runSuite(t, sizes, SUITE));
        peakRssKiB = Math.max(peakRssKiB, usageOf(daemonPids()).rssKiB);
      }
    }
    const u1 = usageOf(daemonPids());
    const daemons = { cpuPercent: ((u1.cpuSeconds - u0.cpuSeconds) / ((performance.now() - t0) / 1000)) * 100, peakRssMiB: peakRssKiB / 1024 };

    let resync = null;
    if (withResync) {
      log(`${shape}: resync after ${TREE.mib} MiB tree (${TREE.files} files) changed by ${CHANGE * 100} %`);
      resync = await measureResync({ lab, pair, prim: prim("vigil"), dir: join(dir, `resync-${shape}`), files: TREE.files, mib: TREE.mib, fraction: CHANGE });
      if (!withInitial) await must([...prim("vigil").enter(), "rm", "-rf", `${pair.folder}/tree`], "remove the tree");
    }
    let initial = null;
    if (withInitial) {
      log(`${shape}: full initial sync of a ${TREE.mib} MiB tree to an empty SECOND`);
      initial = await measureInitialSync({ lab, pair, prim: prim("vigil"), dir: join(dir, `initial-${shape}`), files: TREE.files, mib: TREE.mib, treeBuilt: withResync });
      await must([...prim("vigil").enter(), "rm", "-rf", `${pair.folder}/tree`], "remove the tree");
    }

    if (COLS.has("alone") && SUITE.size > 0) {
      await pair.stop("h2");
      await pair.waitAlone();
      const alone = prim("vigil ALONE");
      for (let r = 0; r < ROUNDS; r++) {
        log(`${shape} round ${r + 1}/${ROUNDS}: vigil ALONE`);
        (rounds["vigil ALONE"] as SuiteResult[]).push(await runSuite(alone, SIZES, SUITE));
      }
      await pair.start("h2");
      await pair.waitSync(120_000);
    }

    const stalls: StallResult[] = [];
    if (withStall) {
      log(`${shape}: write stall, h2's cable pulled for ${CUT_MS} ms`);
      stalls.push(await stall(lab, prim("vigil sync")));
      // h2 may have taken the module over during the cut: this pair is done.
      await pair.stopAll();
      if (glusterTarget !== null) stalls.push(await stall(lab, glusterTarget));
    }
    await pair.stopAll();
    // Mode async on a pair of its own: the acknowledgement rules differ from the first write on.
    if (!COLS.has("async") || SUITE.size === 0) {
      const medians = Object.fromEntries(Object.entries(rounds).filter(([, v]) => v.length > 0).map(([k, v]) => [k, medianSuite(v)]));
      return { shape, linkMBps, rounds, medians, daemons, resync, initial, stalls };
    }
    const adir = mkdtempSync(join(dir, `vigil-async-${shape}-`));
    const aclosers = [await deviceFor("h1-async", join(adir, "h1-data")), await deviceFor("h2-async", join(adir, "h2-data"))];
    const apair = await startVigilPair(lab, adir, "async").catch(async (e: unknown) => {
      for (const c of aclosers) await c();
      throw e;
    });
    try {
      await apair.waitSync();
      const asyncTarget: Target = { ...prim("vigil async"), dir: apair.folder, beneath: [apair.data("h1")], enter: () => {
        const pid = apair.pid("h1");
        if (pid === null) throw new Error("h1's daemon is not running");
        return ["nsenter", "-t", String(pid), "-m", "-n"];
      } };
      for (let r = 0; r < ROUNDS; r++) {
        log(`${shape} round ${r + 1}/${ROUNDS}: vigil async`);
        (rounds["vigil async"] as SuiteResult[]).push(await runSuite(asyncTarget, SIZES, SUITE));
      }
    } finally {
      await apair.stopAll();
      for (const c of aclosers) await c();
      rmSync(adir, { recursive: true, force: true });
    }
    const medians = Object.fromEntries(Object.entries(rounds).filter(([, v]) => v.length > 0).map(([k, v]) => [k, medianSuite(v)]));
    return { shape, linkMBps, rounds, medians, daemons, resync, initial, stalls };
  } finally {
    await pair.stopAll();
    for (const c of closers) await c();
    rmSync(vdir, { recursive: true, force: true });
  }
}

/** The scratch folder's file system and whether ext4 keeps a journal there (findmnt, dumpe2fs): CREATE-heavy rows depend on it. */
function scratchFs(dir: string): string {
  try {
    const [source, fstype] = execFileSync("findmnt", ["-n", "-o", "SOURCE,FSTYPE", "-T", dir], { encoding: "utf8" }).trim().split(/\s+/);
    if (fstype !== "ext4" || source === undefined) return `${fstype ?? "?"} (${source ?? "?"})`;
    const features = execFileSync("dumpe2fs", ["-h", source], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return `ext4 ${/has_journal/.test(features) ? "with" : "WITHOUT"} a journal (${source})`;
  } catch {
    return "unknown";
  }
}

async function main(): Promise<void> {
  requireVigilBinary();
  const dir = mkdtempSync(join(SCRATCH, "vigil-mirror-bench-"));
  const startedAt = Date.now();
  let closeBare: () => Promise<void> = async () => undefined;
  const closeBricks: (() => Promise<void>)[] = [];
  try {
    closeBare = await deviceFor("bare", join(dir, "bare"));
    const result = await withLab({ hosts: 2, links: 1 }, async (lab) => {
      const needGluster = COLS.has("gluster") && (SUITE.size > 0 || ROWS.has("stall"));
      if (needGluster) log("starting GlusterFS replica 2");
      // With --devices each brick lies on a device of its own too.
      if (needGluster) for (const n of ["h1", "h2"]) closeBricks.push(await deviceFor(`brick-${n}`, join(dir, "gluster", `brick-${n}`)));
      const gluster = needGluster ? await startGlusterPair(lab, join(dir, "gluster")) : null;
      try {
        const phases: PhaseResult[] = [];
        if (SHAPES.has("unshaped")) phases.push(await phase(lab, "unshaped", gluster, dir, false));
        if (SHAPES.has("1gbit")) phases.push(await phase(lab, "1gbit", gluster, dir, true));
        return { glusterVersion: gluster?.version ?? "GlusterFS not run", phases };
      } finally {
        await gluster?.stop();
      }
    });
    const json = {
      command: COMMAND,
      vigil: VIGIL_BIN,
      vigilVersion: execFileSync(VIGIL_BIN, ["version"], { encoding: "utf8" }).trim(),
      quick: QUICK,
      rounds: ROUNDS,
      sizes: SIZES,
      glusterStormFiles: GLUSTER_STORM,
      stormReportedFiles: STORM_REPORTED,
      tree: TREE,
      change: CHANGE,
      scratch: { dir: SCRATCH, fs: DEVICES === undefined ? scratchFs(SCRATCH) : await describeBacking(DEVICES) },
      cutMs: CUT_MS,
      deadtimeMs: DEADTIME_MS,
      cpus: cpus().length,
      loadavg: { min: Math.min(...loads), max: Math.max(...loads), samples: loads },
      minutes: (Date.now() - startedAt) / 60_000,
      ...result,
    };
    const md = mirrorMarkdown(json);
    // A quick run never overwrites the full run's figures.
    writeResults(values.name ?? (QUICK ? "mirror-quick" : "mirror"), json, md);
    console.log(md);
  } finally {
    clearInterval(loadTimer);
    await closeBare();
    for (const c of closeBricks) await c();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
