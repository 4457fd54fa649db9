/**
 * Heap samples of running daemons, beside a soak: every --every seconds, each
 * `vigil run` process of the binary --bin gets SIGUSR2 (heap-stats.ts) and
 * its <state dir>/heap-stats.json is appended, with the node's name, to
 * --out (JSON lines), with where its resident memory is (/proc/PID/smaps:
 * the binary's pages, JIT code, other anonymous memory). --no-dump: the
 * smaps figures only, no signal (a dump runs a full collection, which is a
 * change to what is measured). Only processes of that binary are signalled, so other
 * people's daemons on the machine are left alone.
 *
 *   node_modules/.bin/bun bench/heap-sampler.ts --bin /tmp/x/vigil --out bench/results/x-heap.jsonl [--every 300] [--no-dump]
 *   node_modules/.bin/bun bench/heap-sampler.ts --compare bench/results/x-heap.jsonl --node h1 [--from-min 10]
 *
 * --compare prints, for one node's longest-lived process, the object types
 * whose count grew most between the first sample after --from-min and the last,
 * and the growth (least-squares slope, MiB/h) of each figure per --windows
 * (minutes of the process's life, default 2-70,70-).
 */
import { appendFileSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { benchArgs } from "./lib/args.ts";
import { slope } from "./lib/stats.ts";

const { values: args } = benchArgs({
  options: {
    bin: { type: "string" },
    out: { type: "string" },
    every: { type: "string", default: "300" },
    compare: { type: "string" },
    node: { type: "string", default: "h1" },
    "from-min": { type: "string", default: "10" },
    "no-dump": { type: "boolean", default: false },
    windows: { type: "string", default: "2-70,70-" },
  },
});

interface Daemon {
  pid: number;
  node: string;
  stateDir: string;
}

function daemonsOf(bin: string): Daemon[] {
  const out: Daemon[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/exe`) !== bin) continue;
      const argv = readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0");
      if (argv[1] !== "run") continue;
      const at = (flag: string): string | undefined => {
        const i = argv.indexOf(flag);
        return i < 0 ? undefined : argv[i + 1];
      };
      const stateDir = at("--state-dir");
      if (stateDir === undefined) continue;
      out.push({ pid: Number(e), node: at("--node") ?? "?", stateDir });
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

function rssOf(pid: number): { rssKiB: number; anonKiB: number } {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s)?.[1] ?? 0);
  return { rssKiB: kib("VmRSS"), anonKiB: kib("RssAnon") };
}

/** Uptime of a process, s (from its start time in /proc/PID/stat). */
function uptimeOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const startTicks = Number(fields[19]);
  const systemUp = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
  return Math.round(systemUp - startTicks / 100);
}

/**
 * Where a daemon's resident memory is, KiB: the binary's own pages (read in
 * as code runs; shared with the page cache), anonymous executable memory (the
 * JIT's compiled code), other anonymous memory (the heaps: JS objects, the
 * allocator's pages, stacks) and everything else.
 */
export function regionsOf(smaps: string, exe: string): { exeKiB: number; jitKiB: number; anonKiB: number; otherKiB: number } {
  const out = { exeKiB: 0, jitKiB: 0, anonKiB: 0, otherKiB: 0 };
  let kind: keyof typeof out = "otherKiB";
  for (const line of smaps.split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ ([r-][w-][x-][ps]) [0-9a-f]+ \S+ \d+\s*(.*)$/.exec(line);
    if (head !== null) {
      const [, perms = "", path = ""] = head;
      kind = path === exe ? "exeKiB" : path === "" && perms[2] === "x" ? "jitKiB" : path === "" || path === "[heap]" || path === "[stack]" ? "anonKiB" : "otherKiB";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null) out[kind] += Number(rss[1]);
  }
  return out;
}

async function sampleLoop(bin: string, outFile: string, everyS: number, dump: boolean): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const ds = daemonsOf(bin);
    const before = new Map<number, object>();
    for (const d of ds) {
      try {
        before.set(d.pid, { uptimeSeconds: uptimeOf(d.pid), ...rssOf(d.pid), regions: regionsOf(readFileSync(`/proc/${d.pid}/smaps`, "utf8"), bin) });
      } catch {
        // exited meanwhile
      }
    }
    const askedAt = Date.now();
    if (dump) {
      for (const d of ds) {
        try {
          process.kill(d.pid, "SIGUSR2");
        } catch {
          // exited meanwhile
        }
      }
      await Bun.sleep(3000);
    }
    for (const d of ds) {
      const seen = before.get(d.pid);
      if (seen === undefined) continue;
      const line: Record<string, unknown> = { t: Math.round((askedAt - t0) / 1000), node: d.node, pid: d.pid, ...seen };
      if (dump) {
        try {
          const stats = JSON.parse(readFileSync(join(d.stateDir, "heap-stats.json"), "utf8")) as { pid: number; at: string; memory: Record<string, number> };
          // A dump that could not be written (a full state dir) leaves the last one in place.
          if (stats.pid === d.pid && Date.parse(stats.at) >= askedAt) Object.assign(line, stats, { rssAfterGcKiB: Math.round((stats.memory.rss ?? 0) / 1024) });
        } catch (e) {
          console.error(`${d.node} (pid ${d.pid}): ${(e as Error).message}`);
        }
      }
      appendFileSync(outFile, `${JSON.stringify(line)}\n`);
    }
    await Bun.sleep(Math.max(0, everyS * 1000 - (Date.now() - askedAt)));
  }
}

interface Line {
  node: string;
  pid: number;
  uptimeSeconds: number;
  rssKiB: number;
  anonKiB: number;
  heapSize?: number;
  objectCount?: number;
  gcMs?: number;
  memory?: Record<string, number>;
  regions?: { exeKiB: number; jitKiB: number; anonKiB: number; otherKiB: number };
  objectTypeCounts?: Record<string, number>;
}


function compare(file: string, node: string, fromMin: number, windows: readonly [number, number][]): void {
  const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Line).filter((l) => l.node === node);
  const byPid = new Map<number, Line[]>();
  for (const l of lines) byPid.set(l.pid, [...(byPid.get(l.pid) ?? []), l]);
  const life = [...byPid.values()].sort((a, b) => b.length - a.length)[0] ?? [];
  const kept = life.filter((l) => l.uptimeSeconds >= fromMin * 60);
  const first = kept[0];
  const last = kept[kept.length - 1];
  if (first === undefined || last === undefined) {
    console.log(`no samples of ${node} after minute ${fromMin}`);
    return;
  }
  for (const l of life) {
    console.log(`min ${(l.uptimeSeconds / 60).toFixed(1)}  rss ${(l.rssKiB / 1024).toFixed(1)} anon ${(l.anonKiB / 1024).toFixed(1)} MiB  heap ${((l.heapSize ?? 0) / 1048576).toFixed(2)} MiB  objects ${l.objectCount ?? 0}  external ${((l.memory?.external ?? 0) / 1048576).toFixed(2)} MiB  gc ${l.gcMs ?? "-"} ms  jit ${((l.regions?.jitKiB ?? 0) / 1024).toFixed(1)} exe ${((l.regions?.exeKiB ?? 0) / 1024).toFixed(1)} MiB`);
  }
  console.log(`\nslopes, MiB/h (least squares over the samples in each window of the process's life, minutes):`);
  const series: [string, (l: Line) => number | undefined][] = [
    ["rss", (l) => l.rssKiB / 1024],
    ["anon rss", (l) => l.anonKiB / 1024],
    ["binary pages", (l) => (l.regions === undefined ? undefined : l.regions.exeKiB / 1024)],
    ["jit code", (l) => (l.regions === undefined ? undefined : l.regions.jitKiB / 1024)],
    ["other anon", (l) => (l.regions === undefined ? undefined : l.regions.anonKiB / 1024)],
    ["js heap (live)", (l) => (l.heapSize === undefined ? undefined : l.heapSize / 1048576)],
  ];
  for (const [from, to] of windows) {
    const inWindow = life.filter((l) => l.uptimeSeconds >= from * 60 && l.uptimeSeconds < to * 60);
    const parts = series.map(([name, f]) => {
      const pts = inWindow.flatMap((l) => {
        const y = f(l);
        return y === undefined ? [] : [{ x: l.uptimeSeconds / 3600, y }];
      });
      const k = slope(pts);
      return `${name} ${k === null ? "-" : k.toFixed(2)}`;
    });
    console.log(`${from}-${to === Infinity ? "end" : to} (${inWindow.length} samples): ${parts.join(", ")}`);
  }
  const a = first.objectTypeCounts ?? {};
  const b = last.objectTypeCounts ?? {};
  const types = new Set([...Object.keys(a), ...Object.keys(b)]);
  const growth = [...types].map((t) => ({ t, from: a[t] ?? 0, to: b[t] ?? 0 })).sort((x, y) => y.to - y.from - (x.to - x.from));
  console.log(`\nobject types, minute ${(first.uptimeSeconds / 60).toFixed(1)} -> ${(last.uptimeSeconds / 60).toFixed(1)} (most growth first):`);
  for (const g of growth.slice(0, 25)) console.log(`${String(g.to - g.from).padStart(8)}  ${String(g.from).padStart(8)} -> ${String(g.to).padStart(8)}  ${g.t}`);
}

if (args.compare !== undefined) {
  const windows = String(args.windows).split(",").map((w): [number, number] => {
    const [from = "", to = ""] = w.split("-");
    return [Number(from), to === "" ? Infinity : Number(to)];
  });
  if (windows.some(([from, to]) => !Number.isFinite(from) || Number.isNaN(to) || to <= from)) {
    console.error(`--windows ${args.windows}: expected minute ranges like 2-70,70-`);
    process.exit(2);
  }
  compare(args.compare, args.node, Number(args["from-min"]), windows);
} else {
  if (args.bin === undefined || args.out === undefined) {
    console.error("--bin and --out are needed (or --compare FILE)");
    process.exit(2);
  }
  const every = Number(args.every);
  if (!Number.isFinite(every) || every < 5) {
    console.error(`--every ${args.every}: expected seconds, at least 5`);
    process.exit(2);
  }
  await sampleLoop(args.bin, args.out, every, args["no-dump"] !== true);
}
