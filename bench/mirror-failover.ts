/**
 * Detection time and service outage when the PRIM of a busy mirror module
 * is frozen (SIGSTOP) or killed (SIGKILL), two vigil builds side by side in
 * one run.
 *
 *   node_modules/.bin/bun bench/mirror-failover.ts --builds old=/path/vigil-a,new=/path/vigil-b
 *       [--trials 5] [--faults freeze,kill] [--writers 4] [--name mirror-failover]
 *
 * (Root only.) Lab and pair as bench/mirror.ts (mirror-vigil.ts): two
 * namespaces on one link, heartbeat interval 100 ms, deadtime 500 ms, h1 the
 * PRIM, h2 an up-to-date SECOND, each daemon in its own mount namespace. The
 * module's service is WRITERS processes of mirror-failover-writer.ts: each
 * overwrites its own 16 MiB file in 256 KiB writes (fsync every 4 MiB), so
 * the replication link carries ops all the time and the kernel's queues
 * hold some when the fault hits. Every trial starts both daemons afresh on
 * new folders; builds take turns, the first rotating, so a load burst on
 * the shared machine hits each alike. The fault hits after 2 s of writing,
 * at a random phase of the heartbeat interval, and only h1's daemon gets it
 * (its links stay up: a frozen process, or a killed one whose kernel still
 * answers):
 * - freeze: SIGSTOP. Its kernel still delivers what it held for the link.
 * - kill: SIGKILL. Its kernel closes the sockets.
 * Figures, from the fault (the bench's clock at the signal, ms):
 * - detection: h2 logs "peer h1 dead";
 * - takeover: h2's module enters ALONE or PRIM;
 * - outage: the last write acknowledged on h1 to the first one on h2 (its
 *   start script starts the writers after the takeover).
 * Also counted on h2: "peer h1 up" lines after the fault (records or answers
 * that brought a late peer back).
 *
 * Writes bench/results/NAME.{json,md} and prints the table.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { type Lab, REPO_ROOT, waitUntil, withLab } from "../test/lab/lab.ts";
import { sleep } from "../test/lab/wait.ts";
import { benchArgs, runBench, UsageError } from "./lib/args.ts";
import { markdownTable, writeResults } from "./lib/report.ts";
import { ratio, summarize, type Summary } from "./lib/stats.ts";
import { DEADTIME_MS, HEARTBEAT, startVigilPair, type VigilPair } from "./mirror-vigil.ts";

const COMMAND = "node_modules/.bin/bun bench/mirror-failover.ts";
const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const WRITER = join(REPO_ROOT, "bench", "mirror-failover-writer.ts");
const FAULTS = ["freeze", "kill"] as const;
type Fault = (typeof FAULTS)[number];
const SIGNALS: Readonly<Record<Fault, NodeJS.Signals>> = { freeze: "SIGSTOP", kill: "SIGKILL" };
const INTERVAL_MS = 100;
/** Writing this long before the fault: the link is busy, not starting. */
const BUSY_MS = 2_000;
const TAKEOVER_DEADLINE_MS = 30_000;

interface Build {
  label: string;
  bin: string;
}

interface Trial {
  build: string;
  fault: Fault;
  n: number;
  detectionMs: number | null;
  takeoverMs: number | null;
  outageMs: number | null;
  /** The dead verdict's own words (how long h1 had been silent on the heartbeat links). */
  verdict: string | null;
  /** From the verdict: ms since h1's last heartbeat frame when h2 called it dead (deadtime plus what records or stalls added). */
  silentMs: number | null;
  /** "peer h1 up" lines on h2 after the fault. */
  upAgain: number;
  /** Writes h1 acknowledged in the last second before the fault. */
  acksLastSecond: number;
  problem?: string;
}

function options(): { builds: Build[]; trials: number; faults: Fault[]; writers: number; name: string } {
  const { values } = benchArgs({ options: {
    builds: { type: "string" }, trials: { type: "string", default: "5" }, faults: { type: "string", default: FAULTS.join(",") },
    writers: { type: "string", default: "4" }, name: { type: "string", default: "mirror-failover" },
  } });
  if (values.builds === undefined) throw new UsageError("--builds LABEL=BINARY[,LABEL=BINARY...] is required");
  const builds = values.builds.split(",").map((item) => {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`--builds: "${item}" is not LABEL=BINARY`);
    return { label: item.slice(0, eq), bin: item.slice(eq + 1) };
  });
  const trials = Number(values.trials);
  if (!Number.isInteger(trials) || trials < 1) throw new UsageError(`--trials must be a whole number >= 1, got "${values.trials}"`);
  const faults = values.faults.split(",").map((f) => {
    if (!(FAULTS as readonly string[]).includes(f)) throw new UsageError(`--faults: unknown "${f}" (one of ${FAULTS.join(", ")})`);
    return f as Fault;
  });
  const writers = Number(values.writers);
  if (!Number.isInteger(writers) || writers < 1) throw new UsageError(`--writers must be a whole number >= 1, got "${values.writers}"`);
  if (!/^[\w.-]+$/.test(values.name)) throw new UsageError(`--name must be a file name, got "${values.name}"`);
  return { builds, trials, faults, writers, name: values.name };
}

const say = (line: string): void => {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

/** start.sh / stop.sh of the module: WRITERS writers on the node that runs it, their acks in DIR/acked-NODE-I.log. */
function writeService(dir: string, folder: string, writers: number): { start: string; stop: string } {
  const start = join(dir, "start.sh");
  const stop = join(dir, "stop.sh");
  const pids = `${join(dir, "writers-")}"$VIGIL_NODE".pid`;
  writeFileSync(start, [
    "#!/bin/sh",
    `for i in $(seq 1 ${writers}); do`,
    `  ${BUN} ${WRITER} ${folder} "w$i" ${join(dir, "acked-")}"$VIGIL_NODE-$i".log >/dev/null 2>&1 </dev/null &`,
    `  echo $! >> ${pids}`,
    "done",
    "",
  ].join("\n"));
  writeFileSync(stop, [
    "#!/bin/sh",
    `f=${pids}`,
    `[ -f "$f" ] || exit 0`,
    `for p in $(cat "$f"); do kill "$p" 2>/dev/null; done`,
    `sleep 0.2; for p in $(cat "$f"); do kill -9 "$p" 2>/dev/null; done`,
    `rm -f "$f"; exit 0`,
    "",
  ].join("\n"));
  chmodSync(start, 0o755);
  chmodSync(stop, 0o755);
  return { start, stop };
}

/** Ack times (ms since the epoch) of a node's writers. */
function acks(dir: string, node: string): number[] {
  const out: number[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.startsWith(`acked-${node}-`)) continue;
    for (const line of readFileSync(join(dir, f), "utf8").split("\n")) {
      const t = Number(line);
      if (line !== "" && Number.isFinite(t)) out.push(t);
    }
  }
  return out;
}

/** Every writer PID either node's start script left, for the cleanup. */
function writerPids(dir: string): number[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith("writers-"))
    .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n").map(Number).filter((n) => Number.isInteger(n) && n > 0));
}

interface LogLine {
  time: string;
  msg: string;
  fields?: Record<string, unknown>;
  [k: string]: unknown;
}

function logLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // a line cut by the process's end
    }
  }
  return out;
}

const field = (l: LogLine, k: string): unknown => l[k] ?? l.fields?.[k];

async function runTrial(lab: Lab, base: string, build: Build, fault: Fault, n: number, writers: number): Promise<Trial> {
  const dir = mkdtempSync(join(base, `${build.label}-${fault}-${n}-`));
  const service = writeService(dir, join(dir, "srv"), writers);
  const trial: Trial = { build: build.label, fault, n, detectionMs: null, takeoverMs: null, outageMs: null, verdict: null, silentMs: null, upAgain: 0, acksLastSecond: 0 };
  let pair: VigilPair | undefined;
  try {
    pair = await startVigilPair(lab, dir, "sync", { bin: build.bin, service });
    await pair.waitSync(60_000);
    const p = pair;
    await waitUntil(() => acks(dir, "h1").length > 0, { timeoutMs: 20_000, what: "h1's writers to write" });
    await sleep(BUSY_MS + Math.random() * INTERVAL_MS);
    const pid = p.pid("h1");
    if (pid === null) throw new Error("h1's daemon is not running");
    const faultAt = Date.now();
    process.kill(pid, SIGNALS[fault]);
    await p.waitModule("h2", (m) => m.state === "ALONE" || m.state === "PRIM", "h2 takes the module over", TAKEOVER_DEADLINE_MS);
    await waitUntil(() => acks(dir, "h2").length > 0, { timeoutMs: TAKEOVER_DEADLINE_MS, what: "h2's writers to write" });
    const h1Acks = acks(dir, "h1").filter((t) => t <= faultAt);
    const lastH1 = Math.max(...h1Acks);
    trial.acksLastSecond = h1Acks.filter((t) => t > faultAt - 1_000).length;
    trial.outageMs = Math.min(...acks(dir, "h2")) - lastH1;
    const after = logLines(p.output("h2")).filter((l) => Date.parse(l.time) >= faultAt);
    const dead = after.find((l) => l.msg === "peer h1 dead");
    if (dead !== undefined) {
      trial.detectionMs = Date.parse(dead.time) - faultAt;
      trial.verdict = String(field(dead, "detail") ?? "");
      const silent = /silent on all \d+ links? for (\d+) ms/.exec(trial.verdict);
      if (silent !== null) trial.silentMs = Number(silent[1]);
    }
    const took = after.find((l) => /^module data \S+ -> (ALONE|PRIM)$/.test(l.msg));
    if (took !== undefined) trial.takeoverMs = Date.parse(took.time) - faultAt;
    trial.upAgain = after.filter((l) => l.msg === "peer h1 up" && dead !== undefined && Date.parse(l.time) <= Date.parse(dead.time)).length;
    if (trial.detectionMs === null) trial.problem = "h2 logged no dead verdict for h1 after the fault";
  } catch (e) {
    trial.problem = (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "";
  } finally {
    // A frozen daemon takes SIGKILL; its FUSE connection ends with it and h1's writers with their next write.
    const pid = pair?.pid("h1") ?? null;
    if (pid !== null) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    await pair?.stopAll();
    for (const w of writerPids(dir)) {
      try {
        process.kill(w, "SIGKILL");
      } catch {
        // gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return trial;
}

const describe = (t: Trial): string =>
  `${t.build} ${t.fault} #${t.n}: ` +
  (t.problem !== undefined
    ? `no figure (${t.problem})`
    : `detection ${t.detectionMs} ms (${t.verdict}), takeover ${t.takeoverMs} ms, outage ${t.outageMs?.toFixed(0)} ms, ${t.acksLastSecond} acks in the last second, ${t.upAgain} up again`);

function cell(s: Summary): string {
  if (s.n === 0) return "-";
  return `**${s.median.toFixed(0)}** (${s.min.toFixed(0)}–${s.max.toFixed(0)}, n=${s.n})`;
}

async function main(): Promise<void> {
  const { builds, trials, faults, writers, name } = options();
  if (process.getuid?.() !== 0) throw new Error("the lab needs root (network namespaces)");
  const started = { date: new Date().toISOString(), loadavg: loadavg() };
  const loads: number[] = [];
  const loadTimer = setInterval(() => loads.push(loadavg()[0] ?? 0), 5_000);
  const base = mkdtempSync(join(tmpdir(), "vigil-mirror-failover-"));
  const results: Trial[] = [];
  try {
    await withLab({ hosts: 2, links: 1 }, async (lab) => {
      say(`lab ${lab.run}: logs in ${lab.dir}`);
      for (const fault of faults) {
        for (let n = 1; n <= trials; n++) {
          for (let i = 0; i < builds.length; i++) {
            const build = builds[(i + n - 1) % builds.length] as Build;
            const t = await runTrial(lab, base, build, fault, n, writers);
            results.push(t);
            say(describe(t));
          }
        }
      }
    });
  } finally {
    clearInterval(loadTimer);
    rmSync(base, { recursive: true, force: true });
  }

  const ref = builds[0]?.label ?? "";
  const of = (fault: Fault, build: string): Trial[] => results.filter((t) => t.fault === fault && t.build === build);
  const figures = (ts: Trial[], k: "detectionMs" | "silentMs" | "takeoverMs" | "outageMs"): number[] => ts.flatMap((t) => (t[k] === null ? [] : [t[k] as number]));
  const rows = faults.flatMap((fault) =>
    builds.map((b) => {
      const ts = of(fault, b.label);
      const base = of(fault, ref);
      const s = { detection: summarize(figures(ts, "detectionMs")), silent: summarize(figures(ts, "silentMs")), takeover: summarize(figures(ts, "takeoverMs")), outage: summarize(figures(ts, "outageMs")) };
      const r = { detection: summarize(figures(base, "detectionMs")), outage: summarize(figures(base, "outageMs")) };
      return {
        fault,
        build: b.label,
        ...s,
        failed: ts.filter((t) => t.problem !== undefined).length,
        upAgain: ts.reduce((a, t) => a + t.upAgain, 0),
        detectionRatio: ratio(s.detection.median, r.detection.median),
        outageRatio: ratio(s.outage.median, r.outage.median),
      };
    }),
  );
  const cmd = `${COMMAND} --builds ${builds.map((b) => `${b.label}=${b.bin}`).join(",")} --trials ${trials}${faults.length === FAULTS.length ? "" : ` --faults ${faults.join(",")}`}${writers === 4 ? "" : ` --writers ${writers}`}${name === "mirror-failover" ? "" : ` --name ${name}`}`;
  const loadRange = loads.length === 0 ? "" : `, load average during the run ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`;
  const md = [
    `Detection and outage when the PRIM of a busy mirror module is frozen or killed, builds side by side in one run: ${writers} writers overwrite their files in 256 KiB writes (mode sync), h1's daemon alone gets the signal after ${BUSY_MS / 1000} s of writing, its links stay up. Heartbeat interval ${HEARTBEAT.interval}, deadtime ${DEADTIME_MS} ms; ${trials} trials per cell; ${cpus().length} CPUs, load average ${started.loadavg.map((x) => x.toFixed(1)).join(" ")} at start${loadRange}.`,
    "",
    markdownTable(
      ["fault", "build", "detection ms: median (min–max)", `/ ${ref}`, "h1 silent at the verdict, ms", "takeover ms", "outage ms (last ack on h1 to first on h2)", `/ ${ref}`, "peer up again before the verdict", "failed"],
      rows.map((r) => [
        r.fault === "freeze" ? "freeze (SIGSTOP of h1's daemon)" : "kill (SIGKILL of h1's daemon)",
        r.build,
        cell(r.detection),
        r.detectionRatio === null ? null : r.detectionRatio.toFixed(2),
        cell(r.silent),
        cell(r.takeover),
        cell(r.outage),
        r.outageRatio === null ? null : r.outageRatio.toFixed(2),
        String(r.upAgain),
        String(r.failed),
      ]),
    ),
    "",
    "Detection: from the signal to h2's \"peer h1 dead\"; h1 silent: the verdict's own figure, from h1's last heartbeat frame (the deadtime, plus whatever records on the link or h2's own stalls added). Takeover: to h2's module entering ALONE or PRIM. Outage: the last write acknowledged on h1 to the first one acknowledged on h2 (its start script starts the writers).",
    "",
    `Builds: ${builds.map((b) => `${b.label} = ${b.bin}`).join("; ")}.`,
    "",
    `Command: \`${cmd}\``,
    "",
  ].join("\n");
  writeResults(name, { command: cmd, builds, started, finished: { date: new Date().toISOString(), loadavg: loadavg() }, loads, cpus: cpus().length, heartbeat: HEARTBEAT, writers, rows, trials: results }, md);
  console.log(md);
}

runBench(main);
