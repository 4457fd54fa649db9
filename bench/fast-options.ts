/**
 * The runtime's options at the `fast` preset (20 ms interval, 100 ms
 * deadtime), side by side: several three-node vigil clusters of one binary
 * on the same three lab hosts at the same moment, each started with its own
 * set of runtime options in its environment (an operator's BUN_JSC_* value
 * wins over what the daemon would add; src/daemon/runtime-options.ts and
 * realtime.ts). On a machine others load, windows every set shares compare
 * them more fairly than runs one after the other.
 *
 * - Idle cost: CPU (% of one core, mean of the three daemons of a set) and
 *   RSS (median of one sample a second, mean of the three) over --seconds,
 *   --rounds times, after --settle seconds.
 * - Under load (--stress-minutes > 0): stress-ng on the lab's switch for that
 *   long; every dead verdict then is about a live node (false), and every
 *   "peer late" and "ran late" line is counted. The window's start and end
 *   are appended to --windows-file, so that other runs (a soak) can
 *   correlate their own verdicts with it.
 *
 *   VIGIL_BIN=/path/to/vigil node_modules/.bin/bun bench/fast-options.ts [--sets full,defaults,...]
 *     [--seconds 60] [--rounds 3] [--settle 20] [--stress-minutes 0] [--stress "--cpu 2"]
 *     [--windows-file PATH] [--preset fast|lan] [--results fast-options-cost]
 *
 * Sets (SETS below): full (as shipped), prev-fast (VIGIL_RUNTIME_OPTIONS=off:
 * what `fast` ran before the options, the optimizing compiler on and the
 * helper threads off), defaults (the runtime's own defaults), nodfg (only
 * the optimizing compiler off), nodfg-maingc (that and the collector on the
 * main thread), noftl (the optimizing compiler's last tier, FTL, off), ftl-off
 * (the shipped set with FTL off instead of the DFG). --preset lan runs the
 * same at the default preset.
 * Root only. Namespaces, processes and files are removed at
 * the end, also on failure or Ctrl-C.
 */
import { appendFileSync, chmodSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { withLab } from "../test/lab/lab.ts";
import { anyPeerChange, isStall, requireVigilBinary, startVigilCluster, VIGIL_BIN, type VigilCluster } from "../test/lab/vigil-cluster.ts";
import { schedulingOf, usageOf } from "./lib/proc-usage.ts";
import { fmt, markdownTable, writeResults } from "./lib/report.ts";
import { busyPercent, cpuTimes, startStress } from "./lib/stress.ts";
import { runBench, UsageError } from "./lib/args.ts";
import { withScratchDir } from "./lib/scratch-dir.ts";

const COMMAND = "node_modules/.bin/bun bench/fast-options.ts";
const BASE_PORT = 7794;

/** The environment each set's daemons start with (added to the bench's own). */
const SETS: Readonly<Record<string, { env: Readonly<Record<string, string>>; what: string }>> = {
  full: { env: {}, what: "as shipped: optimizing compiler (DFG) off, concurrent compiler and collector off, 1 marker" },
  "prev-fast": { env: { VIGIL_RUNTIME_OPTIONS: "off" }, what: "VIGIL_RUNTIME_OPTIONS=off: DFG on, helper threads off (fast before the options)" },
  defaults: {
    env: { VIGIL_RUNTIME_OPTIONS: "off", BUN_JSC_useConcurrentJIT: "1", BUN_JSC_useConcurrentGC: "1", BUN_JSC_numberOfGCMarkers: "2" },
    what: "the runtime's defaults (DFG on, concurrent compiler and collector, 2 markers on 2 CPUs)",
  },
  nodfg: {
    env: { BUN_JSC_useDFGJIT: "0", BUN_JSC_useConcurrentJIT: "1", BUN_JSC_useConcurrentGC: "1", BUN_JSC_numberOfGCMarkers: "2" },
    what: "DFG off alone (concurrent compiler and collector on)",
  },
  noftl: {
    env: { VIGIL_RUNTIME_OPTIONS: "off", BUN_JSC_useFTLJIT: "0" },
    what: "DFG on, its last tier (FTL) off, helper threads off",
  },
  "ftl-off": {
    env: { BUN_JSC_useDFGJIT: "1", BUN_JSC_useFTLJIT: "0" },
    what: "the shipped set with the DFG's last tier (FTL) off instead of the DFG: DFG on, helper threads off",
  },
  "nodfg-maingc": {
    env: { BUN_JSC_useDFGJIT: "0", BUN_JSC_useConcurrentJIT: "1", BUN_JSC_useConcurrentGC: "0", BUN_JSC_numberOfGCMarkers: "1" },
    what: "DFG off, collector on the main thread (useConcurrentGC=0, numberOfGCMarkers=1), concurrent compiler on",
  },
};


interface Options {
  sets: string[];
  seconds: number;
  rounds: number;
  settle: number;
  stressMinutes: number;
  stress: string[];
  windowsFile: string | undefined;
  results: string;
  preset: "fast" | "lan";
}

function options(): Options {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        sets: { type: "string", default: "full,prev-fast,defaults,nodfg,nodfg-maingc" },
        seconds: { type: "string", default: "60" },
        rounds: { type: "string", default: "3" },
        settle: { type: "string", default: "20" },
        "stress-minutes": { type: "string", default: "0" },
        stress: { type: "string", default: "--cpu 2" },
        "windows-file": { type: "string" },
        results: { type: "string", default: "fast-options-cost" },
        preset: { type: "string", default: "fast" },
      },
      strict: true,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const number = (name: string, raw: string, min: number): number => {
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(n) || n < min) throw new UsageError(`--${name}: found "${raw}", expected a number of at least ${min}`);
    return n;
  };
  const sets = values.sets.split(",").map((s) => s.trim());
  for (const s of sets) if (!(s in SETS)) throw new UsageError(`--sets: found "${s}", expected a comma-separated list of ${Object.keys(SETS).join(", ")}`);
  if (values.preset !== "fast" && values.preset !== "lan") throw new UsageError(`--preset: found "${values.preset}", expected fast or lan`);
  if (!/^[A-Za-z0-9._-]+$/.test(values.results)) throw new UsageError(`--results: found "${values.results}", expected a file name of letters, digits, '.', '_' or '-'`);
  return {
    sets,
    seconds: number("seconds", values.seconds, 1),
    rounds: number("rounds", values.rounds, 0),
    settle: number("settle", values.settle, 0),
    stressMinutes: number("stress-minutes", values["stress-minutes"], 0),
    stress: values.stress.trim().split(/\s+/).filter(Boolean),
    windowsFile: values["windows-file"],
    results: values.results,
    preset: values.preset,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (s: string): void => console.error(`[fast-options] ${new Date().toISOString().slice(11, 19)} ${s}`);
const mean = (xs: readonly number[]): number => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
const mid = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? Number.NaN;

/** The runtime options a daemon was started with (its first environment, which /proc keeps), and its threads' names. */
function runtimeOf(pid: number): { options: string; threads: string } {
  let options = "?";
  let threads = "?";
  try {
    options = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter((kv) => kv.startsWith("BUN_JSC_") || kv.startsWith("VIGIL_RUNTIME")).sort().join(" ");
  } catch {}
  try {
    const names = readdirSync(`/proc/${pid}/task`).map((t) => {
      try {
        return readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim();
      } catch {
        return "";
      }
    });
    threads = [...new Set(names.filter((n) => n !== ""))].sort().join(",");
  } catch {}
  return { options, threads };
}

interface SetRun {
  name: string;
  cluster: VigilCluster;
  pids: () => number[];
}

interface Round {
  load: number;
  cpuPercent: Record<string, number>;
  rssMiB: Record<string, number>;
}

/** One window all sets share: CPU per daemon (mean of the set's daemons) and RSS (each daemon's median, then the mean). */
async function measure(runs: readonly SetRun[], seconds: number): Promise<{ cpu: Record<string, number>; rss: Record<string, number> }> {
  const pidsOf = new Map(runs.map((r) => [r.name, r.pids()]));
  const first = new Map(runs.map((r) => [r.name, (pidsOf.get(r.name) ?? []).map((p) => usageOf([p]).cpuSeconds)]));
  const samples = new Map(runs.map((r) => [r.name, (pidsOf.get(r.name) ?? []).map((): number[] => [])]));
  const t0 = performance.now();
  for (let i = 0; i < seconds; i++) {
    await sleep(1_000);
    for (const r of runs) (pidsOf.get(r.name) ?? []).forEach((p, j) => samples.get(r.name)?.[j]?.push(usageOf([p]).rssKiB / 1024));
  }
  const elapsed = (performance.now() - t0) / 1_000;
  const cpu: Record<string, number> = {};
  const rss: Record<string, number> = {};
  for (const r of runs) {
    const pids = pidsOf.get(r.name) ?? [];
    const before = first.get(r.name) ?? [];
    cpu[r.name] = mean(pids.map((p, j) => ((usageOf([p]).cpuSeconds - (before[j] ?? 0)) / elapsed) * 100));
    rss[r.name] = mean((samples.get(r.name) ?? []).map(mid));
  }
  return { cpu, rss };
}

async function main(): Promise<void> {
  const opts = options();
  requireVigilBinary();
  await withScratchDir("vigil-bench-fast-options-", log, async (tmp) => {
    const startedAt = new Date().toISOString();
    const loadAtStart = loadavg();
    const out = await withLab({ hosts: 3, links: 1 }, async (lab) => {
      log(`lab ${lab.run}, files in ${tmp}`);
      const runs: SetRun[] = [];
      try {
        for (const [i, name] of opts.sets.entries()) {
          const set = SETS[name] as (typeof SETS)[string];
          // A wrapper that execs the binary with the set's environment: same pid, the binary's own name.
          const wrapper = join(tmp, `vigil-${name}`);
          writeFileSync(wrapper, `#!/bin/sh\nexec env ${Object.entries(set.env).map(([k, v]) => `${k}=${v}`).join(" ")} ${VIGIL_BIN} "$@"\n`);
          chmodSync(wrapper, 0o755);
          const cluster = await startVigilCluster({ hosts: lab.hosts, dir: join(tmp, name), name, heartbeat: { preset: opts.preset, port: BASE_PORT + i }, start: [] });
          runs.push({ name, cluster, pids: () => cluster.nodes.flatMap((n) => (n.proc.exitStatus === null ? [n.proc.pid] : [])) });
          await Promise.all(cluster.nodes.map((n) => n.start(wrapper)));
        }
        await Promise.all(runs.map((r) => r.cluster.waitForMesh(30_000)));
        const started = Date.now();
        const runtime = Object.fromEntries(runs.map((r) => {
          const pid = r.pids()[0] ?? 0;
          return [r.name, { ...runtimeOf(pid), scheduling: schedulingOf(pid) }];
        }));
        for (const [name, rt] of Object.entries(runtime)) log(`${name}: ${rt.scheduling}; ${rt.options || "(no options)"}; threads ${rt.threads}`);
        log(`settling ${opts.settle} s`);
        await sleep(opts.settle * 1_000);

        const rounds: Round[] = [];
        for (let k = 0; k < opts.rounds; k++) {
          const load = loadavg()[0] ?? Number.NaN;
          const m = await measure(runs, opts.seconds);
          rounds.push({ load, cpuPercent: m.cpu, rssMiB: m.rss });
          log(`round ${k + 1}/${opts.rounds} (load ${load.toFixed(2)}): ${runs.map((r) => `${r.name} ${fmt(m.cpu[r.name], 2)} % ${fmt(m.rss[r.name], 1)} MiB`).join(", ")}`);
        }

        let stress: { from: string; to: string; busyPercent: number; bySet: Record<string, { dead: number; late: number; ranLate: number; longestStallMs: number; cpuPercent: number; notRunning: string[]; deadLines: string[] }> } | undefined;
        if (opts.stressMinutes > 0) {
          await sleep(2_000);
          const cpu0 = new Map(runs.map((r) => [r.name, r.pids().map((p) => usageOf([p]).cpuSeconds)]));
          const from = Date.now();
          if (opts.windowsFile !== undefined) appendFileSync(opts.windowsFile, `${new Date(from).toISOString()} start stress-ng ${opts.stress.join(" ")} (${COMMAND}, sets ${opts.sets.join(",")}, ${opts.stressMinutes} min)\n`);
          log(`${opts.stressMinutes} min of stress-ng ${opts.stress.join(" ")}`);
          const proc = startStress(lab.switch, opts.stress);
          const c0 = cpuTimes();
          try {
            await sleep(opts.stressMinutes * 60_000);
          } finally {
            await proc.stop(2_000);
            if (opts.windowsFile !== undefined) appendFileSync(opts.windowsFile, `${new Date().toISOString()} end stress-ng (${COMMAND})\n`);
          }
          const to = Date.now();
          const busy = busyPercent(c0, cpuTimes());
          const bySet: NonNullable<typeof stress>["bySet"] = {};
          for (const r of runs) {
            const before = cpu0.get(r.name) ?? [];
            const pids = r.pids();
            const events = r.cluster.nodes.flatMap((n) => n.events().filter((e) => e.at >= from && e.at <= to).map((e) => ({ node: n.name, e })));
            const dead = events.filter((x) => anyPeerChange("dead")(x.e));
            const stalls = events.filter((x) => isStall(x.e));
            bySet[r.name] = {
              dead: dead.length,
              late: events.filter((x) => anyPeerChange("late")(x.e)).length,
              ranLate: stalls.length,
              longestStallMs: Math.max(0, ...stalls.map((x) => Number(x.e.fields.gap_ms))),
              cpuPercent: mean(pids.map((p, j) => ((usageOf([p]).cpuSeconds - (before[j] ?? 0)) / ((to - from) / 1_000)) * 100)),
              notRunning: r.cluster.nodes.filter((n) => n.proc.exitStatus !== null).map((n) => n.name),
              deadLines: dead.map((x) => `${x.e.time} ${x.node}: ${x.e.msg} ${JSON.stringify(x.e.fields)}`),
            };
            log(`${r.name} under stress: ${dead.length} dead, ${bySet[r.name]?.late} late, ${stalls.length} ran-late, longest ${bySet[r.name]?.longestStallMs} ms`);
          }
          stress = { from: new Date(from).toISOString(), to: new Date(to).toISOString(), busyPercent: busy, bySet };
        }
        return { started, runtime, rounds, stress };
      } finally {
        for (const r of runs) await r.cluster.stop().catch((e: unknown) => log(`stopping ${r.name}: ${(e as Error).message}`));
      }
    });

    const rows = opts.sets.map((name) => {
      const cpu = out.rounds.map((r) => r.cpuPercent[name] ?? Number.NaN);
      const rss = out.rounds.map((r) => r.rssMiB[name] ?? Number.NaN);
      const s = out.stress?.bySet[name];
      return [
        name,
        cpu.map((c) => fmt(c, 2)).join(" / "),
        fmt(mean(cpu), 2),
        rss.map((c) => fmt(c, 1)).join(" / "),
        ...(out.stress === undefined ? [] : [s?.dead, s?.late, s?.ranLate, s?.longestStallMs, fmt(s?.cpuPercent, 2)]),
      ];
    });
    const headers = [
      "set",
      `idle CPU % of a core per daemon, rounds of ${opts.seconds} s`,
      "mean",
      "RSS MiB per daemon, rounds",
      ...(out.stress === undefined ? [] : ["false dead", "peer late", "ran late", "longest stall ms", "CPU % under stress"]),
    ];
    const command = `${COMMAND}${opts.preset === "fast" ? "" : ` --preset ${opts.preset}`} --sets ${opts.sets.join(",")} --seconds ${opts.seconds} --rounds ${opts.rounds} --settle ${opts.settle}${opts.stressMinutes > 0 ? ` --stress-minutes ${opts.stressMinutes}` : ""}${opts.stress.join(" ") === "--cpu 2" ? "" : ` --stress "${opts.stress.join(" ")}"`} --results ${opts.results}`;
    const md = [
      markdownTable(headers, rows),
      "",
      ...opts.sets.map((name) => `- ${name}: ${SETS[name]?.what}; started with \`${out.runtime[name]?.options || "(no options)"}\`, ${out.runtime[name]?.scheduling}, threads ${out.runtime[name]?.threads}`),
      `- Loads (1 min) at each round: ${out.rounds.map((r) => r.load.toFixed(2)).join(", ")}`,
      ...(out.stress === undefined
        ? []
        : [
            `- stress-ng ${opts.stress.join(" ")} ${out.stress.from} to ${out.stress.to}, CPUs ${out.stress.busyPercent.toFixed(0)} % busy`,
            ...opts.sets.flatMap((name) => (out.stress?.bySet[name]?.deadLines ?? []).map((l) => `- ${name} dead verdict: ${l}`)),
          ]),
      "",
      `Command: \`VIGIL_BIN=${VIGIL_BIN} ${command}\` (${cpus().length} CPUs, load ${loadAtStart.map((l) => l.toFixed(2)).join(" ")} at start, ${startedAt})`,
    ].join("\n");
    writeResults(opts.results, { command, startedAt, vigil: VIGIL_BIN, sets: Object.fromEntries(opts.sets.map((n) => [n, SETS[n]])), loadAtStart, ...out }, md);
    console.log(md);
  });
}

runBench(main);
