/**
 * RSS and anonymous-RSS growth of one node's daemon per window of a soak,
 * from the soak's own samples (bench/soak.ts writes them every 10 s to its
 * JSON): least-squares slope (MiB/h), median, first and last value in each
 * window, and its lowest and highest RSS (the collector's sawtooth makes a
 * short window's slope noisy; its lowest point is the floor the memory
 * returns to). A growth that slows down and one that goes on look alike
 * over a whole run; per window they do not.
 *
 *   node_modules/.bin/bun bench/soak-windows.ts bench/results/soak-long.json [more.json ...] [--node h1] [--windows 2-70,70-,100-]
 *
 * Windows are minutes of the run; only samples of the node's first life
 * count (h1 is never killed by the soak, so that is the whole run).
 */
import { readFileSync } from "node:fs";
import { benchArgs } from "./lib/args.ts";
import type { SoakSample } from "./lib/soak-sample.ts";
import { median, slope } from "./lib/stats.ts";

const { values: args, positionals: files } = benchArgs({
  allowPositionals: true,
  options: { node: { type: "string", default: "h1" }, windows: { type: "string", default: "2-70,70-" } },
});

type Sample = Pick<SoakSample, "t" | "node" | "life" | "rssKiB" | "anonKiB">;

const medianOrNull = (values: readonly number[]): number | null => (values.length === 0 ? null : median(values));

const windows = String(args.windows).split(",").map((w): [number, number] => {
  const [from = "", to = ""] = w.split("-");
  return [Number(from), to === "" ? Infinity : Number(to)];
});
if (files.length === 0 || windows.some(([from, to]) => !Number.isFinite(from) || Number.isNaN(to) || to <= from)) {
  console.error("usage: bun bench/soak-windows.ts SOAK.json [...] [--node h1] [--windows 2-70,70-]");
  process.exit(2);
}

const f1 = (v: number | null): string => (v === null ? "-" : v.toFixed(1));
console.log("| run | window (min) | samples | RSS MiB/h | RSS median (first / last) MiB | RSS lowest / highest MiB | anon MiB/h | anon median (first / last) MiB |");
console.log("|---|---|---|---|---|---|---|---|");
for (const file of files) {
  const doc = JSON.parse(readFileSync(file, "utf8")) as { samples: Sample[] };
  const mine = doc.samples.filter((s) => s.node === args.node && s.life === 1);
  for (const [from, to] of windows) {
    const w = mine.filter((s) => s.t >= from * 60_000 && s.t < to * 60_000);
    const pts = (f: (s: Sample) => number) => w.map((s) => ({ x: s.t / 3_600_000, y: f(s) / 1024 }));
    const rss = w.map((s) => s.rssKiB / 1024);
    const anon = w.map((s) => s.anonKiB / 1024);
    console.log(
      `| ${file.replace(/^.*\//, "")} | ${from}-${to === Infinity ? "end" : to} | ${w.length} | ${f1(slope(pts((s) => s.rssKiB)))} | ${f1(medianOrNull(rss))} (${f1(rss[0] ?? null)} / ${f1(rss[rss.length - 1] ?? null)}) | ${f1(rss.length === 0 ? null : Math.min(...rss))} / ${f1(rss.length === 0 ? null : Math.max(...rss))} | ${f1(slope(pts((s) => s.anonKiB)))} | ${f1(medianOrNull(anon))} (${f1(anon[0] ?? null)} / ${f1(anon[anon.length - 1] ?? null)}) |`,
    );
  }
}
