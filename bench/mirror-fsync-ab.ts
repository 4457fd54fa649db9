/**
 * 4 KiB write + fsync latency of two vigil builds, round by round in one lab,
 * beside the bare folder: a small change on the hot path (tens of µs) is
 * lost in the spread between whole bench/mirror.ts runs on a shared machine,
 * so here every round runs bare, build A and build B one right after the
 * other (their order turning each round), and the table gives each one's
 * median over the rounds and the median of B - A within a round.
 *
 *   node_modules/.bin/bun bench/mirror-fsync-ab.ts --a PATH --b PATH
 *       [--rounds 10] [--ops 3000] [--ms 2000] [--shape unshaped|1gbit]
 *       [--devices DIR] --name RESULTS
 *
 * Each build runs a fresh pair (h1 PRIM, h2 SECOND, mode sync; as
 * bench/mirror-vigil.ts) on fresh devices: the bare folder and each copy on
 * an ext4 of its own on a loop device backed by a file in DIR (default
 * /dev/shm: no disk beneath, bench/mirror-devices.ts). The workload is
 * bench/mirror-app.ts fsync4k in h1's daemon's namespaces, through the mount.
 * Writes bench/results/RESULTS.{json,md}. Root only.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { benchArgs, runBench, UsageError } from "./lib/args.ts";
import { fmt, markdownTable, writeResults } from "./lib/report.ts";
import { median, percentile } from "./lib/stats.ts";
import { withLab } from "../test/lab/lab.ts";
import { ownDevice } from "./mirror-devices.ts";
import { type LinkShape, shapeLink } from "./mirror-link.ts";
import { app, type Target } from "./mirror-measure.ts";
import { startVigilPair } from "./mirror-vigil.ts";

const { values } = benchArgs({ options: {
  a: { type: "string" }, b: { type: "string" }, rounds: { type: "string" }, ops: { type: "string" }, ms: { type: "string" },
  shape: { type: "string" }, devices: { type: "string" }, name: { type: "string" },
} });

interface Round {
  order: string[];
  /** p50, p99 (ms) and IOPS of each column in this round. */
  cols: Record<string, { p50: number; p99: number; iops: number }>;
  load: number;
}

function positive(option: string, given: string | undefined, fallback: number): number {
  const n = Number(given ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${option}: "${given}" is not a positive whole number`);
  return n;
}

async function main(): Promise<void> {
  if (values.a === undefined || values.b === undefined) throw new UsageError("--a and --b: the two vigil binaries to compare");
  for (const [k, v] of [["a", values.a], ["b", values.b]] as const) if (!existsSync(v)) throw new UsageError(`--${k}: ${v} does not exist`);
  if (values.name === undefined || !/^[a-z0-9][a-z0-9._-]*$/i.test(values.name)) throw new UsageError("--name: a plain file name for bench/results");
  const shape = (values.shape ?? "unshaped") as LinkShape;
  if (shape !== "unshaped" && shape !== "1gbit") throw new UsageError(`--shape: "${values.shape}" is not unshaped or 1gbit`);
  const rounds = positive("rounds", values.rounds, 10);
  const ops = positive("ops", values.ops, 3000);
  const ms = positive("ms", values.ms, 2000);
  const backing = values.devices ?? "/dev/shm";
  const builds = { A: values.a, B: values.b } as const;
  const scratch = mkdtempSync("/tmp/vigil-fsync-ab-");
  const out: Round[] = [];
  const fsync = async (t: Target): Promise<{ p50: number; p99: number; iops: number }> => {
    const r = await app<{ ops: number; elapsedMs: number; lat: number[] }>(t, ["fsync4k", t.dir, String(ops), String(ms)], "4 KiB writes with fsync");
    return { p50: median(r.lat), p99: percentile(r.lat, 99), iops: r.ops / (r.elapsedMs / 1000) };
  };
  try {
    await withLab({ hosts: 2, links: 1 }, async (lab) => {
      await shapeLink(lab, shape);
      for (let r = 0; r < rounds; r++) {
        const order = ["bare", ...(r % 2 === 0 ? ["A", "B"] : ["B", "A"])];
        const round: Round = { order, cols: {}, load: loadavg()[0] ?? 0 };
        for (const col of order) {
          const dir = mkdtempSync(join(scratch, `${col}-`));
          const devs = [];
          try {
            if (col === "bare") {
              devs.push(await ownDevice(backing, "ab-bare", join(dir, "bare")));
              round.cols[col] = await fsync({ label: "bare", dir: join(dir, "bare"), enter: () => [], beneath: [] });
              continue;
            }
            for (const n of ["h1", "h2"]) devs.push(await ownDevice(backing, `ab-${n}`, join(dir, `${n}-data`)));
            const pair = await startVigilPair(lab, dir, "sync", { bin: builds[col as "A" | "B"] });
            try {
              await pair.waitSync();
              round.cols[col] = await fsync({
                label: `vigil ${col}`,
                dir: pair.folder,
                enter: () => ["nsenter", "-t", String(pair.pid("h1")), "-m", "-n"],
                beneath: [],
              });
            } finally {
              await pair.stopAll();
            }
          } finally {
            for (const d of devs) await d.close();
            rmSync(dir, { recursive: true, force: true });
          }
        }
        out.push(round);
        console.error(`round ${r + 1}/${rounds} (load ${round.load.toFixed(1)}): ${order.map((c) => `${c} ${round.cols[c]?.p50.toFixed(3)}`).join(", ")} ms p50`);
      }
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const col = (c: string, k: "p50" | "p99" | "iops") => median(out.map((r) => r.cols[c]?.[k] ?? NaN));
  const diffs = out.map((r) => (r.cols.B?.p50 ?? NaN) - (r.cols.A?.p50 ?? NaN));
  const loads = out.map((r) => r.load);
  const json = {
    command: `node_modules/.bin/bun bench/mirror-fsync-ab.ts --a ${builds.A} --b ${builds.B} --rounds ${rounds} --ops ${ops} --ms ${ms} --shape ${shape} --devices ${backing} --name ${values.name}`,
    builds, shape, backing, rounds: out, cpus: cpus().length,
    loadavg: { min: Math.min(...loads), max: Math.max(...loads), median: median(loads) },
  };
  const md = [
    "# 4 KiB write + fsync: two builds, round by round",
    "",
    `\`${json.command}\`. ${rounds} rounds, each bare then A and B in turn (order alternating); link ${shape}; each folder on its own ext4 on a loop device backed in ${backing}. ${cpus().length} cores shared with other jobs, 1-minute load ${fmt(json.loadavg.min)}-${fmt(json.loadavg.max)} (median ${fmt(json.loadavg.median)}) at the rounds' starts.`,
    "",
    `A: ${builds.A}  `,
    `B: ${builds.B}`,
    "",
    markdownTable(["measure (median of the rounds)", "bare", "vigil A", "vigil B", "B - A within a round (median)"], [
      ["p50 (ms)", fmt(col("bare", "p50"), 3), fmt(col("A", "p50"), 3), fmt(col("B", "p50"), 3), fmt(median(diffs), 3)],
      ["p99 (ms)", col("bare", "p99"), col("A", "p99"), col("B", "p99"), "-"],
      ["IOPS", col("bare", "iops"), col("A", "iops"), col("B", "iops"), "-"],
    ]),
    "",
    `B faster than A in ${diffs.filter((d) => d < 0).length} of ${rounds} rounds (p50).`,
    "",
  ].join("\n");
  writeResults(values.name, json, md);
  console.log(md);
}

runBench(main);
