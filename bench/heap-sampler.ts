/**
 * Heap samples of running daemons, beside a soak: every --every seconds, each
 * `vigil run` process of the binary --bin gets SIGUSR2 (heap-stats.ts) and
 * its <state dir>/heap-stats.json is appended, with the node's name, to
 * --out (JSON lines). Only processes of that binary are signalled, so other
 * people's daemons on the machine are left alone.
 *
 *   node_modules/.bin/bun bench/heap-sampler.ts --bin /tmp/x/vigil --out bench/results/x-heap.jsonl [--every 300]
 *   node_modules/.bin/bun bench/heap-sampler.ts --compare bench/results/x-heap.jsonl --node h1 [--from-min 10]
 *
 * --compare prints, for one node's longest-lived process, the object types
 * whose count grew most between the first sample after --from-min and the last.
 */
import { appendFileSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    bin: { type: "string" },
    out: { type: "string" },
    every: { type: "string", default: "300" },
    compare: { type: "string" },
    node: { type: "string", default: "h1" },
    "from-min": { type: "string", default: "10" },
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

async function sampleLoop(bin: string, outFile: string, everyS: number): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const ds = daemonsOf(bin);
    const askedAt = Date.now();
    for (const d of ds) {
      try {
        process.kill(d.pid, "SIGUSR2");
      } catch {
        // exited meanwhile
      }
    }
    await Bun.sleep(3000);
    for (const d of ds) {
      try {
        const stats = JSON.parse(readFileSync(join(d.stateDir, "heap-stats.json"), "utf8")) as { pid: number; at: string };
        // A dump that could not be written (a full state dir) leaves the last one in place.
        if (stats.pid !== d.pid || Date.parse(stats.at) < askedAt) continue;
        const line = { t: Math.round((Date.now() - t0) / 1000), node: d.node, ...rssOf(d.pid), ...stats };
        appendFileSync(outFile, `${JSON.stringify(line)}\n`);
      } catch (e) {
        console.error(`${d.node} (pid ${d.pid}): ${(e as Error).message}`);
      }
    }
    await Bun.sleep(Math.max(0, everyS * 1000 - 3000));
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
  memory: Record<string, number>;
  objectTypeCounts?: Record<string, number>;
}

function compare(file: string, node: string, fromMin: number): void {
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
    console.log(`min ${(l.uptimeSeconds / 60).toFixed(1)}  rss ${(l.rssKiB / 1024).toFixed(1)} anon ${(l.anonKiB / 1024).toFixed(1)} MiB  heap ${((l.heapSize ?? 0) / 1048576).toFixed(2)} MiB  objects ${l.objectCount ?? 0}  external ${((l.memory.external ?? 0) / 1048576).toFixed(2)} MiB  gc ${l.gcMs ?? "-"} ms`);
  }
  const a = first.objectTypeCounts ?? {};
  const b = last.objectTypeCounts ?? {};
  const types = new Set([...Object.keys(a), ...Object.keys(b)]);
  const growth = [...types].map((t) => ({ t, from: a[t] ?? 0, to: b[t] ?? 0 })).sort((x, y) => y.to - y.from - (x.to - x.from));
  console.log(`\nobject types, minute ${(first.uptimeSeconds / 60).toFixed(1)} -> ${(last.uptimeSeconds / 60).toFixed(1)} (most growth first):`);
  for (const g of growth.slice(0, 25)) console.log(`${String(g.to - g.from).padStart(8)}  ${String(g.from).padStart(8)} -> ${String(g.to).padStart(8)}  ${g.t}`);
}

if (args.compare !== undefined) {
  compare(args.compare, args.node, Number(args["from-min"]));
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
  await sampleLoop(args.bin, args.out, every);
}
