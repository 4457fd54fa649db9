/**
 * A soak: a two-node cluster of the real binary, with an arbiter, under a mix
 * of hostile conditions and daemon deaths for --minutes, sampled every 10 s.
 *
 * Lab: h1 and h2 run vigil (lan preset: 100 ms interval, 500 ms deadtime) on
 * two links, with a failover module `web` (prefer h1, failback manual, a VIP,
 * start and stop scripts that log their times) and a VRRP instance (h1 150,
 * h2 100); each node's state dir is a 32 MiB tmpfs. h4 runs `vigil witness`
 * (the arbiter, lease 3 s) with its wall clock under the soak's control
 * (soak-clock.ts). h3 is an attacker on both bridges without the key.
 *
 * Two minutes of three are "fault minutes" (target: h1 in even minutes, h2
 * in odd ones; "other" is the other node):
 *
 *   0 s   heartbeat flood at the target from h3 (replayed frames signed
 *         with the real key, one C sender, 10 s);
 *   2 s   disk full: other's state dir filled up for 15 s;
 *   15 s  VRRP flood: 300 lower-priority adverts in ~3 s from h3;
 *   25 s  three SIGSTOPs of other, 250 ms each (half the deadtime), 2 s apart;
 *   35 s  30 % loss on both links of the target for 5 s;
 *   45 s  link 2 of other unplugged for 5 s.
 *
 * The third is a "kill minute": h2's daemon gets SIGKILL at 10 s and is
 * started again 12 s later; every other kill minute the module is first
 * swapped to h2 (`vigil swap web`) so that the PRIM is killed, otherwise the
 * SECOND is. h1's state dir is full from 5 s to 35 s, so a takeover happens
 * on a full disk. Only h2 is killed, so h1 lives the whole run and its RSS
 * tells whether memory grows.
 *
 * Every minute at 55 s the witness's wall clock steps (back and forth, 1 s
 * to 1 h); every third step is back, followed by a SIGKILL and restart of the
 * witness (its epoch comes from the wall clock).
 *
 * All the while, on each node, 20 slow console clients (half never finish
 * the TLS handshake, half dribble a POST) and one ordinary client that
 * reads /api/status every 2 s, from another address than theirs (the console
 * bounds connections per client address, and theirs fill that bound).
 *
 * A kill or a swap opens an expected window (from the kill or the command
 * to 30 s after the restart or the answer): one dead verdict on the killed
 * node (the kill's; another one is its next life's), a module or VRRP
 * transition inside one is expected; anything else is false. A VRRP takeover during a loss burst (or within 4 s after it) is
 * counted apart: three 1 s adverts lost in a row end the backup's wait by
 * VRRP's own rule (about one burst in 16 at 30 % loss); module transitions
 * and dead verdicts there stay false. Overlap: spans in which both nodes ran the service (from a start
 * script's first line to the stop script's last, the widest reading).
 *
 * Samples every 10 s: RSS, CPU (% of one core) and open fds of each daemon;
 * false dead verdicts, unexpected transitions and stalls so far; `vigil
 * status` calls and how long they took. Report: RSS and fd growth per hour
 * (least-squares slope over the samples of a daemon's longest life, after
 * its first 2 minutes), the counts, overlaps, and the console clients'
 * counters.
 *
 * With --mirror the nodes also run a mirror module (bench/soak-mirror.ts): a
 * small replicated folder (mode sync, prefer h1) with a writer appending
 * fsynced records and renaming segments, swapped and killed with the failover
 * module; the report adds its writes acknowledged, the records missing on
 * the node it moved to (losses), its moves and resync passes. Without it the
 * soak is the same as before.
 *
 *   VIGIL_BIN=/path/to/vigil node_modules/.bin/bun bench/soak.ts --minutes 30 [--faults kind,kind|none] [--mirror]
 *
 * Root only; needs gcc and python3. Writes bench/results/soak.json and .md
 * (also after SIGINT/SIGTERM, with what was sampled so far). Namespaces,
 * mounts and processes go at the end, on an error and on SIGINT/SIGTERM.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchArgs } from "./lib/args.ts";
import { encodeAdvert, VRRP_MULTICAST_V4 } from "../src/proto/vrrp.ts";
import { createLab, type Lab, type LabHost, type LabProcess } from "../test/lab/lab.ts";
import { signalPid } from "../test/lab/procfs.ts";
import { buildFlooder, flood, processUsage, writeReplayFrames } from "../test/lab/udp-flood.ts";
import { isStall, metricValue, parseVigilLog, startVigilCluster, VIGIL_BIN, type VigilCluster, type VigilLogEvent, type VigilNode } from "../test/lab/vigil-cluster.ts";
import { sleep, waitUntil } from "../test/lab/wait.ts";
import { fmt, markdownTable, writeResults } from "./lib/report.ts";
import { SLOW_CLIENTS, VRRP_SENDER } from "./soak-clients.ts";
import { type SteppedClock, steppedClock } from "./soak-clock.ts";
import { classify, type ExpectedWindow, inExpectedWindow, moves, overlaps, serviceRuns } from "./soak-verdicts.ts";
import { slope } from "./lib/stats.ts";
import type { SoakSample as Sample } from "./lib/soak-sample.ts";
import { MIRROR_MODULE, setUpSoakMirror, type SoakMirror } from "./soak-mirror.ts";

const COMMAND = "VIGIL_BIN=... node_modules/.bin/bun bench/soak.ts --minutes N";
const SAMPLE_MS = 10_000;
const WARMUP_MS = 120_000;
const FREEZE_MS = 250;
const SLOW_PER_NODE = 20;
const STATUS_TIMEOUT_MS = 15_000;
const VRID = 77;
const STATE_TMPFS = "32m";
const DISK_FULL_MS = 15_000;
const KILL_DOWN_MS = 12_000;
/** After a restart or a swap's answer, changes are still expected this long. */
const SETTLE_MS = 30_000;
const WITNESS_PORT = 7695;

const FAULT_KINDS = ["hbflood", "vrrpflood", "sigstop", "loss", "unplug", "clients", "kill", "diskfull", "clockstep"] as const;
type FaultKind = (typeof FAULT_KINDS)[number];
const { values: args } = benchArgs({
  options: {
    minutes: { type: "string", default: "30" },
    out: { type: "string", default: "soak" },
    faults: { type: "string", default: FAULT_KINDS.join(",") },
    // How long each loss burst lasts (up to 19 s fits before the next fault of the minute).
    "loss-seconds": { type: "string", default: "5" },
    // A directory for tcpdump captures of the VRRP traffic at h1's and h2's switch ports on link 1.
    pcap: { type: "string" },
    // A mirror module beside the failover module (bench/soak-mirror.ts).
    mirror: { type: "boolean", default: false },
  },
});
const lossMs = Number(args["loss-seconds"]) * 1000;
if (!Number.isFinite(lossMs) || lossMs <= 0 || lossMs > 19_000) {
  console.error(`--loss-seconds ${args["loss-seconds"]}: expected seconds above 0, at most 19`);
  process.exit(2);
}
const minutes = Number(args.minutes);
if (!Number.isFinite(minutes) || minutes <= 0) {
  console.error(`--minutes ${args.minutes}: expected a number of minutes above 0`);
  process.exit(2);
}
const enabled = new Set<string>(String(args.faults).split(",").map((k) => k.trim()).filter((k) => k !== "" && k !== "none"));
for (const k of enabled) {
  if (!(FAULT_KINDS as readonly string[]).includes(k)) {
    console.error(`--faults ${args.faults}: unknown kind ${k} (kinds: ${FAULT_KINDS.join(", ")}, or none)`);
    process.exit(2);
  }
}
const on = (k: FaultKind): boolean => enabled.has(k);

interface FaultLog {
  t: number;
  what: string;
}

const samples: Sample[] = [];
const faults: FaultLog[] = [];
const windows: ExpectedWindow[] = [];
const clientStats: Record<string, Record<string, number>> = {};
let startedAt = 0;
let stopping = false;
let lab: Lab | undefined;
let workDir = "";
const mounts: string[] = [];
const statusFailures = new Map<string, number>();
/** How long each `vigil status` call took, ms. */
const statusMs: number[] = [];
/** Each failed `vigil status` call: when, which node, what it said, and the fault last applied before it. */
const statusFailureLog: { t: number; node: string; ms: number; message: string; lastFault: string }[] = [];
/** Every process each node's daemon ran as, first life first: events are read from all of them. */
const lives = new Map<string, LabProcess[]>();
const parsedLives = new Map<LabProcess, VigilLogEvent[]>();
/** Nodes the soak is killing or restarting right now: their silence is its own doing. */
const killing = new Set<string>();
/** Daemon exits the soak did not cause (each is restarted so the run goes on). */
const unexpectedExits: { t: number; node: string; status: string; tail: string }[] = [];
let serviceLog = "";
/** Each node's console client programs: a restarted daemon listens on a new port, so it gets new ones. */
const consoleClients = new Map<string, LabProcess[]>();
let startClientsFor: ((n: VigilNode) => Promise<void>) | undefined;
/** The mirror module's folder, writer and checks, with --mirror. */
let mirror: SoakMirror | undefined;

/** Starts a node's daemon: with --mirror through the program that gives it its own copy of the folder. */
const startNode = (n: VigilNode): Promise<void> => n.start(mirror?.binFor(n.name));

function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? null;
}


function run(cmd: string, argv: readonly string[], timeoutMs = 30_000): Promise<{ ok: boolean; stdout: string; stderr: string; how: string }> {
  return new Promise((resolve) => {
    execFile(cmd, [...argv], { encoding: "utf8", timeout: timeoutMs }, (error, stdout, stderr) => {
      const how = error === null ? "ok" : error.killed ? `killed after ${timeoutMs} ms` : `exit ${String(error.code)}${error.signal ? ` signal ${error.signal}` : ""}`;
      resolve({ ok: error === null, stdout, stderr, how });
    });
  });
}

/**
 * `vigil status --json` as an operator runs it, with what a failure said:
 * with --json the CLI puts its error on stdout, so stdout, stderr, the exit
 * code and a signal all go into the message.
 */
async function vigilStatus(n: VigilNode): Promise<{ ok: boolean; ms: number; message: string; body: unknown }> {
  const t0 = performance.now();
  const r = await run(n.bin, ["status", "--json", "--state-dir", n.stateDir], STATUS_TIMEOUT_MS);
  const ms = Math.round(performance.now() - t0);
  let body: unknown = null;
  try {
    body = JSON.parse(r.stdout);
  } catch {
    // not JSON: the message says what came
  }
  return { ok: r.ok, ms, body, message: r.ok ? "" : `${r.how}: ${[r.stdout.trim(), r.stderr.trim()].filter((x) => x !== "").join(" | ") || "(no output)"}` };
}

async function moduleRole(n: VigilNode, module = "web"): Promise<string> {
  const s = await vigilStatus(n);
  const modules = (s.body as { modules?: { name: string; state: string }[] } | null)?.modules;
  return modules?.find((m) => m.name === module)?.state ?? "?";
}

async function vrrpRole(n: VigilNode): Promise<string> {
  const s = await vigilStatus(n);
  return (s.body as { vrrp?: { role: string }[] } | null)?.vrrp?.[0]?.role ?? "?";
}

function anonKiB(pid: number): number {
  try {
    return Number(/RssAnon:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

function allEvents(n: VigilNode): VigilLogEvent[] {
  const out: VigilLogEvent[] = [];
  for (const p of lives.get(n.name) ?? []) {
    const done = parsedLives.get(p);
    if (done !== undefined) {
      out.push(...done);
      continue;
    }
    const events = parseVigilLog(p.output());
    if (p.exitStatus !== null) parsedLives.set(p, events);
    out.push(...events);
  }
  return out;
}

function readServiceLog(): string {
  const file = join(workDir, "service.log");
  try {
    serviceLog = readFileSync(file, "utf8");
  } catch {
    // not written yet
  }
  return serviceLog;
}

function report(complete: boolean, cluster: VigilCluster | undefined): void {
  const nodes = [...new Set(samples.map((s) => s.node))];
  const endAt = startedAt + (samples.length === 0 ? 0 : Math.max(...samples.map((s) => s.t)));
  const perNode = nodes.map((node) => {
    const mine = samples.filter((s) => s.node === node);
    const lifeCounts = new Map<number, number>();
    for (const s of mine) lifeCounts.set(s.life, (lifeCounts.get(s.life) ?? 0) + 1);
    const longest = [...lifeCounts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 1;
    const ofLongest = mine.filter((s) => s.life === longest);
    const lifeStart = ofLongest[0]?.t ?? 0;
    // A life shorter than the warm-up plus 10 minutes (h2's, between kills) says nothing about growth per hour.
    const steadyAll = ofLongest.filter((s) => s.t - lifeStart >= WARMUP_MS);
    const steady = (steadyAll.at(-1)?.t ?? 0) - (steadyAll[0]?.t ?? 0) >= 10 * 60_000 ? steadyAll : [];
    const hours = (s: Sample) => s.t / 3_600_000;
    const first = ofLongest[0];
    const last = ofLongest[ofLongest.length - 1];
    const cpu = mine.map((s) => s.cpuPercent).filter(Number.isFinite).sort((a, b) => a - b);
    const n = cluster?.nodes.find((x) => x.name === node);
    const verdicts = n === undefined ? undefined : classify(allEvents(n), windows, startedAt);
    return {
      node,
      samples: mine.length,
      lives: Math.max(...mine.map((s) => s.life)),
      longestLifeMinutes: ((last?.t ?? 0) - (first?.t ?? 0)) / 60_000,
      rssFirstMiB: first === undefined ? null : first.rssKiB / 1024,
      rssLastMiB: last === undefined ? null : last.rssKiB / 1024,
      rssMaxMiB: mine.length === 0 ? null : Math.max(...mine.map((s) => s.rssKiB).filter(Number.isFinite)) / 1024,
      rssGrowthMiBPerHour: ((v) => (v === null ? null : v / 1024))(slope(steady.map((s) => ({ x: hours(s), y: s.rssKiB })).filter((p) => Number.isFinite(p.y)))),
      anonFirstMiB: first === undefined ? null : first.anonKiB / 1024,
      anonLastMiB: last === undefined ? null : last.anonKiB / 1024,
      anonGrowthMiBPerHour: ((v) => (v === null ? null : v / 1024))(slope(steady.map((s) => ({ x: hours(s), y: s.anonKiB })).filter((p) => Number.isFinite(p.y)))),
      fdsFirst: first?.fds ?? null,
      fdsLast: last?.fds ?? null,
      fdsMax: mine.length === 0 ? null : Math.max(...mine.map((s) => s.fds).filter(Number.isFinite)),
      fdGrowthPerHour: slope(steady.map((s) => ({ x: hours(s), y: s.fds })).filter((p) => Number.isFinite(p.y))),
      cpuMedianPercent: cpu.length === 0 ? null : cpu[Math.floor(cpu.length / 2)] ?? null,
      cpuMaxPercent: cpu.length === 0 ? null : cpu[cpu.length - 1] ?? null,
      falseDeadVerdicts: verdicts?.falseDead.length ?? 0,
      expectedDeadVerdicts: verdicts?.expectedDead ?? 0,
      unexpectedTransitions: verdicts?.unexpectedTransitions.length ?? 0,
      expectedTransitions: verdicts?.expectedTransitions ?? 0,
      unexpectedVrrpTransitions: verdicts?.unexpectedVrrp.length ?? 0,
      expectedVrrpTransitions: verdicts?.expectedVrrp ?? 0,
      lossVrrpTransitions: verdicts?.lossVrrp.length ?? 0,
      lossVrrpDetail: (verdicts?.lossVrrp ?? []).map((e) => `${e.time} ${e.msg} (${String(e.fields["reason"] ?? "")})`),
      falseDeadDetail: (verdicts?.falseDead ?? []).map((e) => `${e.time} ${e.msg}`),
      unexpectedDetail: [...(verdicts?.unexpectedTransitions ?? []), ...(verdicts?.unexpectedVrrp ?? [])].map((e) => `${e.time} ${e.msg} (${String(e.fields["reason"] ?? "")})`),
      stalls: mine.at(-1)?.stalls ?? 0,
      statusCalls: mine.length,
      statusFailures: statusFailures.get(node) ?? 0,
      console: clientStats[node] ?? null,
    };
  });
  const runs = serviceRuns(readServiceLog()).filter((r) => (r.to ?? endAt) >= startedAt);
  const both = overlaps(runs, endAt).filter((o) => o.to >= startedAt);
  const moved = moves(runs).filter((r) => r.from >= startedAt);
  const unexpectedMoves = moved.filter((r) => !inExpectedWindow(r.from, windows));
  const ranMinutes = samples.length === 0 ? 0 : Math.max(...samples.map((s) => s.t)) / 60_000;
  const faultCounts: Record<string, number> = {};
  for (const f of faults) {
    const kind = f.what.split(" ")[0] ?? f.what;
    faultCounts[kind] = (faultCounts[kind] ?? 0) + 1;
  }
  const atMin = (ms: number) => fmt((ms - startedAt) / 60_000, 2);
  const mirrorReport = mirror?.report({ startedAt, endAt, windows, events: new Map((cluster?.nodes ?? []).map((n) => [n.name, allEvents(n)])) });
  const md = [
    "# Soak",
    "",
    `${complete ? "" : "**Interrupted** after "}${fmt(ranMinutes, 1)} min of a ${minutes}-min run. Command: \`${COMMAND}${enabled.size === FAULT_KINDS.length ? "" : ` --faults ${[...enabled].join(",") || "none"}`}${lossMs === 5_000 ? "" : ` --loss-seconds ${lossMs / 1000}`}${mirror === undefined ? "" : " --mirror"}\` (binary ${VIGIL_BIN}).`,
    "",
    "Two nodes (lan preset: interval 100 ms, deadtime 500 ms) on two links, an arbiter (lease 3 s), a failover module",
    "with start/stop scripts and a VRRP instance. Two minutes of three: a 10 s heartbeat flood from a non-peer, a state",
    "dir filled up for 15 s, 300 lower-priority VRRP adverts, three 250 ms SIGSTOPs, 5 s of 30 % loss on both links,",
    "5 s with link 2 unplugged; the third: h2's daemon SIGKILLed and restarted 12 s later (the PRIM every other time,",
    "after a swap) while h1's state dir is full. Every minute the arbiter's wall clock steps; every third step is back and the arbiter is restarted.",
    "20 slow console clients per node throughout. Growth is the least-squares slope over a daemon's longest life",
    "after its first 2 minutes (h1 is never killed: its life is the whole run).",
    "",
    markdownTable(
      ["node", "lives", "RSS first / last / max MiB", "RSS growth MiB/h", "anon RSS first / last MiB", "anon growth MiB/h", "fds first / last", "fd growth /h", "CPU median / max %", "false dead verdicts (expected)", "unexpected module transitions (expected)", "unexpected VRRP transitions (expected; in loss bursts)", "stalls", "failed status calls", "console ok / failed (of them refused)", "slow clients cut"],
      perNode.map((p) => [
        p.node,
        String(p.lives),
        `${fmt(p.rssFirstMiB, 1)} / ${fmt(p.rssLastMiB, 1)} / ${fmt(p.rssMaxMiB, 1)}`,
        fmt(p.rssGrowthMiBPerHour, 2),
        `${fmt(p.anonFirstMiB, 1)} / ${fmt(p.anonLastMiB, 1)}`,
        fmt(p.anonGrowthMiBPerHour, 2),
        `${fmt(p.fdsFirst, 0)} / ${fmt(p.fdsLast, 0)}`,
        fmt(p.fdGrowthPerHour, 2),
        `${fmt(p.cpuMedianPercent, 1)} / ${fmt(p.cpuMaxPercent, 1)}`,
        `${p.falseDeadVerdicts} (${p.expectedDeadVerdicts})`,
        `${p.unexpectedTransitions} (${p.expectedTransitions})`,
        `${p.unexpectedVrrpTransitions} (${p.expectedVrrpTransitions}; ${p.lossVrrpTransitions})`,
        String(p.stalls),
        `${p.statusFailures} of ${p.statusCalls}`,
        p.console === null ? "-" : `${p.console["good_ok"] ?? 0} / ${p.console["good_fail"] ?? 0} (${p.console["good_refused"] ?? 0} refused)`,
        p.console === null ? "-" : `${p.console["slow_closed_by_server"] ?? 0} of ${p.console["slow_opened"] ?? 0}`,
      ]),
    ),
    "",
    `Faults applied: ${Object.entries(faultCounts).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}.`,
    "",
    `Service: ${runs.length} runs, ${moved.length} moves (${moved.length - unexpectedMoves.length} in a kill or swap window, ${unexpectedMoves.length} outside), ${both.length} overlaps (both nodes running the service), ${fmt(both.reduce((s, o) => s + o.ms, 0), 0)} ms in all.`,
    ...both.slice(0, 20).map((o) => `- overlap ${o.nodes} at ${atMin(o.from)} min for ${o.ms} ms`),
    ...unexpectedMoves.slice(0, 20).map((r) => `- unexpected move to ${r.node} at ${atMin(r.from)} min`),
    `Daemon exits the soak did not cause: ${unexpectedExits.length}.`,
    ...unexpectedExits.slice(0, 10).map((x) => `- ${x.node} at ${fmt(x.t / 60_000, 2)} min: ${x.status}; last output: ${x.tail.replace(/\s+/g, " ").slice(0, 300)}`),
    ...perNode.flatMap((p) => [...p.falseDeadDetail.slice(0, 10).map((d) => `- ${p.node} false dead verdict: ${d}`), ...p.unexpectedDetail.slice(0, 10).map((d) => `- ${p.node} unexpected: ${d}`), ...p.lossVrrpDetail.slice(0, 10).map((d) => `- ${p.node} in a loss burst: ${d}`)]),
    "",
    `\`vigil status\` calls: ${statusMs.length}, took median ${fmt(quantile(statusMs, 0.5), 0)} ms, p99 ${fmt(quantile(statusMs, 0.99), 0)} ms, max ${fmt(quantile(statusMs, 1), 0)} ms; failed: ${statusFailureLog.length} (calls to a daemon the soak had killed are not made).`,
    ...statusFailureLog.slice(0, 20).map((f) => `- ${f.node} at ${fmt(f.t / 60_000, 1)} min after ${f.ms} ms (last fault: ${f.lastFault}): ${f.message.replace(/\s+/g, " ").slice(0, 300)}`),
    "",
    ...(mirrorReport?.md ?? []),
  ].join("\n");
  const paths = writeResults(args.out ?? "soak", {
    command: COMMAND, binary: VIGIL_BIN, complete, minutesPlanned: minutes, minutesRan: ranMinutes, faultKinds: [...enabled], nodes: perNode, faults: faultCounts,
    service: { runs: runs.length, moves: moved.length, unexpectedMoves: unexpectedMoves.length, overlaps: both, overlapMs: both.reduce((s, o) => s + o.ms, 0) },
    unexpectedExits, statusFailures: statusFailureLog, expectedWindows: windows.map((w) => ({ ...w, from: w.from - startedAt, to: w.to - startedAt })), faultTimeline: faults, samples,
    ...(mirrorReport === undefined ? {} : { mirror: mirrorReport.json }),
  }, md);
  console.log(md);
  console.log(`wrote ${paths.json} and ${paths.md}`);
}

async function cleanup(): Promise<void> {
  stopping = true;
  if (lab !== undefined) await lab.destroy().catch((e: unknown) => console.error(`lab teardown: ${String(e)}`));
  for (const m of mounts.splice(0)) {
    const r = await run("umount", ["-l", m]);
    if (!r.ok) console.error(`umount ${m}: ${r.how} ${r.stderr.trim()}`);
  }
  if (workDir !== "") rmSync(workDir, { recursive: true, force: true });
}

/** The cluster and its console clients once started: what an interrupted run still reports. */
let running: VigilCluster | undefined;
let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`${sig}: writing what was sampled and tearing the lab down`);
    try {
      if (running !== undefined) readClientStats(running);
      report(false, running);
    } catch (e) {
      console.error(`report: ${String(e)}`);
    }
    // The lab's own exit guard removes namespaces and processes synchronously on exit; the mounts go in cleanup().
    void cleanup().finally(() => process.exit(130));
    setTimeout(() => process.exit(130), 15_000).unref();
  });
}

function note(what: string): void {
  faults.push({ t: Date.now() - startedAt, what });
}

async function stopClientsFor(n: VigilNode): Promise<void> {
  for (const p of consoleClients.get(n.name) ?? []) if (p.exitStatus === null) await p.stop(2_000);
}

async function freeze(n: VigilNode): Promise<void> {
  for (let i = 0; i < 3 && !stopping; i++) {
    note(`sigstop ${n.name} ${FREEZE_MS}ms`);
    signalPid(n.proc.pid, "SIGSTOP");
    await sleep(FREEZE_MS);
    signalPid(n.proc.pid, "SIGCONT");
    await sleep(2_000);
  }
}

/** After a loss burst, how long a VRRP takeover it caused may still come (Master_Down_Interval at 1 s adverts) and be undone. */
const LOSS_VRRP_TAIL_MS = 4_000;

async function lossBurst(l: Lab, h: LabHost): Promise<void> {
  note(`loss ${h.name} 30% ${lossMs / 1000}s`);
  const w: ExpectedWindow = { what: "loss", node: h.name, from: Date.now(), to: Number.POSITIVE_INFINITY };
  windows.push(w);
  try {
    await l.netem(h, "loss 30%", { side: "both" });
    await sleep(lossMs);
    await l.clearNetem(h);
  } finally {
    w.to = Date.now() + LOSS_VRRP_TAIL_MS;
  }
}

async function unplug(l: Lab, h: LabHost): Promise<void> {
  note(`unplug ${h.name} link2 5s`);
  await l.linkDown(h, { link: 2 });
  await sleep(5_000);
  await l.linkUp(h, { link: 2 });
}

/** Fills the node's state dir (its own tmpfs) to the last byte for DISK_FULL_MS, then frees it. */
async function diskFull(n: VigilNode, ms = DISK_FULL_MS): Promise<void> {
  const fill = join(n.stateDir, "soak-fill");
  note(`diskfull ${n.name} ${ms / 1000}s`);
  const r = await run("dd", ["if=/dev/zero", `of=${fill}`, "bs=1M"]);
  if (!/No space left/.test(r.stderr)) note(`error diskfull ${n.name}: dd ${r.how} ${r.stderr.trim().split("\n").at(-1) ?? ""}`);
  await sleep(ms);
  rmSync(fill, { force: true });
}

/** SIGKILL of the node's daemon, and a new one KILL_DOWN_MS later, as a supervisor would. */
async function killAndRestart(n: VigilNode): Promise<void> {
  const role = await moduleRole(n);
  const w: ExpectedWindow = { what: "kill", node: n.name, from: Date.now(), to: Number.POSITIVE_INFINITY };
  windows.push(w);
  killing.add(n.name);
  try {
    // Its console clients go with it (their reads would fail while no daemon listens) and come back with the new one.
    await stopClientsFor(n);
    note(`kill ${n.name} (${role})`);
    const proc = n.proc;
    signalPid(proc.pid, "SIGKILL");
    await proc.exited;
    await sleep(KILL_DOWN_MS);
    await startNode(n);
    lives.get(n.name)?.push(n.proc);
    note(`restart ${n.name}`);
    await startClientsFor?.(n);
  } catch (e) {
    note(`error restart ${n.name}: ${String(e)}`);
  } finally {
    killing.delete(n.name);
    w.to = Date.now() + SETTLE_MS;
  }
}

/** `vigil swap web` (and the mirror module with --mirror) on the node that runs it, so that h2 becomes PRIM. */
async function swapTo(c: VigilCluster, target: VigilNode): Promise<void> {
  await swapModuleTo(c, target, "web");
  if (mirror !== undefined) await swapModuleTo(c, target, MIRROR_MODULE);
}

async function swapModuleTo(c: VigilCluster, target: VigilNode, module: string): Promise<void> {
  if ((await moduleRole(target, module)) === "PRIM") return;
  const holder = c.nodes.find((n) => n !== target) ?? target;
  const w: ExpectedWindow = { what: "swap", node: target.name, from: Date.now(), to: Number.POSITIVE_INFINITY };
  windows.push(w);
  note(`swap ${module === "web" ? "" : `${module} `}to ${target.name}`);
  const r = await run(holder.bin, ["swap", module, "--state-dir", holder.stateDir], 60_000);
  if (!r.ok) note(`error swap: ${r.how} ${r.stdout.trim()} ${r.stderr.trim()}`);
  w.to = Date.now() + SETTLE_MS;
}

interface Witness {
  proc: LabProcess | undefined;
  clock: SteppedClock;
  start(): Promise<void>;
}

async function sampleLoop(c: VigilCluster): Promise<void> {
  const last = new Map<string, { cpu: number; at: number; pid: number }>();
  while (!stopping) {
    const t = Date.now() - startedAt;
    for (const n of c.nodes) {
      if (killing.has(n.name)) continue;
      const proc = n.proc;
      if (proc.exitStatus !== null) {
        // Not the soak's doing: note it and start the daemon again so the run goes on.
        unexpectedExits.push({ t, node: n.name, status: JSON.stringify(proc.exitStatus), tail: proc.output().slice(-600) });
        console.log(`daemon exit: ${n.name} ${JSON.stringify(proc.exitStatus)}`);
        windows.push({ what: "exit", node: n.name, from: Date.now(), to: Date.now() + SETTLE_MS });
        await startNode(n).then(async () => {
          lives.get(n.name)?.push(n.proc);
          await startClientsFor?.(n);
        }).catch((e: unknown) => note(`error restart ${n.name}: ${String(e)}`));
        continue;
      }
      const pid = proc.pid;
      let usage = { cpuSeconds: NaN, rssKiB: NaN };
      try {
        usage = processUsage(pid);
      } catch {
        // gone: shows as NaN
      }
      const prev = last.get(n.name);
      const now = performance.now();
      last.set(n.name, { cpu: usage.cpuSeconds, at: now, pid });
      const status = await vigilStatus(n);
      statusMs.push(status.ms);
      mirror?.sample(t, n.name, status.body);
      if (!status.ok && !killing.has(n.name)) {
        statusFailures.set(n.name, (statusFailures.get(n.name) ?? 0) + 1);
        const lastFault = faults.at(-1);
        const failure = { t, node: n.name, ms: status.ms, message: status.message, lastFault: lastFault === undefined ? "none" : `${lastFault.what} at ${fmt(lastFault.t / 1000, 1)} s` };
        statusFailureLog.push(failure);
        console.log(`status failed: ${JSON.stringify(failure)}`);
      }
      const events = allEvents(n);
      const v = classify(events, windows, startedAt);
      samples.push({
        t,
        node: n.name,
        life: lives.get(n.name)?.length ?? 1,
        rssKiB: usage.rssKiB,
        anonKiB: anonKiB(pid),
        cpuPercent: prev === undefined || prev.pid !== pid ? NaN : ((usage.cpuSeconds - prev.cpu) / ((now - prev.at) / 1000)) * 100,
        fds: fdCount(pid),
        falseDead: v.falseDead.length,
        unexpectedTransitions: v.unexpectedTransitions.length,
        unexpectedVrrp: v.unexpectedVrrp.length,
        stalls: events.filter(isStall).length,
        statusFailures: statusFailures.get(n.name) ?? 0,
      });
    }
    const runs = serviceRuns(readServiceLog());
    const both = overlaps(runs, Date.now()).filter((o) => o.to >= startedAt);
    const line = c.nodes.map((n) => {
      const s = samples.filter((x) => x.node === n.name).at(-1);
      return s === undefined ? "" : `${n.name} rss ${fmt(s.rssKiB / 1024, 1)} MiB cpu ${fmt(s.cpuPercent, 1)}% fds ${s.fds} false-dead ${s.falseDead} unexpected ${s.unexpectedTransitions}/${s.unexpectedVrrp}`;
    });
    mirror?.checkMoves();
    console.log(`[${fmt(t / 60_000, 1)} min] ${line.join(" | ")} | overlaps ${both.length}`);
    await sleep(SAMPLE_MS);
  }
}

/**
 * Where the ordinary console client connects from: another address than the
 * slow clients', whose connections fill the console's bound per client
 * address (from theirs it was refused 20-40 % of its reads, the guard at
 * work). The lab's consoles listen on loopback, where every 127/8 address is
 * the host's own; elsewhere it shares their address as before ("").
 */
function ordinarySource(consoleHost: string): string {
  if (!consoleHost.startsWith("127.")) return "";
  return consoleHost === "127.0.0.2" ? "127.0.0.3" : "127.0.0.2";
}

/** Sums the last counters line of every client program a node had. */
function readClientStats(c: VigilCluster): void {
  for (const n of c.nodes) {
    const sum: Record<string, number> = {};
    for (const p of consoleClients.get(n.name) ?? []) {
      const lastLine = p.output().split("\n").filter((l) => l.startsWith("{")).at(-1);
      if (lastLine === undefined) continue;
      for (const [k, v] of Object.entries(JSON.parse(lastLine) as Record<string, number>)) sum[k] = (sum[k] ?? 0) + v;
    }
    if (Object.keys(sum).length > 0) clientStats[n.name] = sum;
  }
}

/** The module's start and stop scripts: each appends "NODE what MS" to service.log at its beginning and end. */
function writeServiceScripts(dir: string): { start: string; stop: string } {
  const log = join(dir, "service.log");
  const script = (verb: string) => [
    "#!/bin/sh",
    `echo "$VIGIL_NODE ${verb}-begin $(date +%s%3N)" >> ${log}`,
    "sleep 0.2",
    `echo "$VIGIL_NODE ${verb}-end $(date +%s%3N)" >> ${log}`,
    "",
  ].join("\n");
  const paths = { start: join(dir, "svc-start.sh"), stop: join(dir, "svc-stop.sh") };
  writeFileSync(paths.start, script("start"));
  writeFileSync(paths.stop, script("stop"));
  chmodSync(paths.start, 0o755);
  chmodSync(paths.stop, 0o755);
  return paths;
}

async function main(): Promise<void> {
  workDir = mkdtempSync(join(tmpdir(), "vigil-soak-"));
  console.log(`work dir ${workDir}; faults: ${[...enabled].join(", ") || "none"}`);
  const flooder = await buildFlooder(join(workDir, "bin"));
  const clock = await steppedClock(join(workDir, "bin"));
  lab = await createLab({ hosts: 4, links: 2 });
  const [h1, h2, h3, h4] = [lab.host(1), lab.host(2), lab.host(3), lab.host(4)];
  if (args.pcap !== undefined) {
    mkdirSync(args.pcap, { recursive: true });
    // At the switch ports: what each node sent and what reached it (the loss fault drops in between).
    for (const h of [h1, h2]) lab.switch.spawn(["tcpdump", "-n", "-U", "-i", `${h.name}l1`, "-w", join(args.pcap, `${h.name}l1.pcap`), "ip proto 112"], { logName: `tcpdump-${h.name}` });
  }
  const vip = "198.51.100.100/24";
  const vrrpVip = "198.51.100.200";
  const service = writeServiceScripts(workDir);
  if (args.mirror === true) mirror = setUpSoakMirror(join(workDir, "mirror"), { bun: process.execPath, vigilBin: VIGIL_BIN, nodes: [h1.name, h2.name] });
  const c = await startVigilCluster({
    hosts: [h1, h2],
    dir: join(workDir, "cluster"),
    heartbeat: { preset: "lan" },
    start: [],
    extraYaml: [
      "vrrp:",
      "  - name: VI_1",
      `    interface: ${h1.ifname(1)}`,
      `    vrid: ${VRID}`,
      "    advert_int: 1s",
      `    priority: { h1: 150, h2: 100 }`,
      `    vips: [${vrrpVip}/24]`,
      "    garp_master_delay: 0s",
      "modules:",
      "  - name: web",
      "    type: failover",
      "    prefer: h1",
      "    failback: manual",
      `    vip: ${vip}`,
      `    interface: ${h1.ifname(1)}`,
      `    start: ${service.start}`,
      `    stop: ${service.stop}`,
      "    start_timeout: 5s",
      "    stop_timeout: 5s",
      ...(mirror?.moduleYaml({ prefer: h1.name }) ?? []),
    ],
  });
  // The arbiter goes into the cluster section, beside the heartbeat line the lab helper wrote.
  const yaml = readFileSync(c.config, "utf8");
  const withWitness = yaml.replace(/^( {2}heartbeat: .*)$/m, `$1\n  witness: { arbiter: "${h4.addr(1)}:${WITNESS_PORT}", lease: 3000ms, grace: 1000ms }`);
  if (withWitness === yaml) throw new Error(`no heartbeat line in ${c.config} to put the witness beside`);
  writeFileSync(c.config, withWitness);
  for (const n of c.nodes) {
    const r = await run("mount", ["-t", "tmpfs", "-o", `size=${STATE_TMPFS},mode=0700`, `soak-${n.name}`, n.stateDir]);
    if (!r.ok) throw new Error(`mount tmpfs on ${n.stateDir}: ${r.how} ${r.stderr.trim()}`);
    mounts.push(n.stateDir);
  }
  const witnessState = join(workDir, "state-witness");
  mkdirSync(witnessState, { recursive: true, mode: 0o700 });
  const witness: Witness = {
    proc: undefined,
    clock,
    async start() {
      const p = h4.spawn([VIGIL_BIN, "witness", "--config", c.config, "--state-dir", witnessState, "--log-format", "json"], { logName: "witness", env: clock.env });
      this.proc = p;
      await p.waitFor(/"msg":"vigil witness started"/, 15_000);
    },
  };
  await witness.start();
  await Promise.all(c.nodes.map((n) => startNode(n)));
  for (const n of c.nodes) lives.set(n.name, [n.proc]);
  await c.waitForMesh();
  // Which node ends up PRIM depends on who started first; the soak only needs one PRIM and one SECOND.
  await waitUntil(async () => [await moduleRole(c.node("h1")), await moduleRole(c.node("h2"))].sort().join(" ") === "PRIM SECOND", { timeoutMs: 60_000, intervalMs: 500, what: "one node PRIM, the other SECOND" });
  await waitUntil(async () => (await vrrpRole(c.node("h1"))) === "master" && (await vrrpRole(c.node("h2"))) === "backup", { timeoutMs: 60_000, intervalMs: 500, what: "h1 VRRP master, h2 backup" });
  if (mirror !== undefined) await waitUntil(async () => (await moduleRole(c.node("h1"), MIRROR_MODULE)) === "PRIM" && (await moduleRole(c.node("h2"), MIRROR_MODULE)) === "SECOND", { timeoutMs: 60_000, intervalMs: 500, what: `h1 PRIM of ${MIRROR_MODULE}, h2 SECOND` });

  const frames = { h1: join(workDir, "frames-h2.bin"), h2: join(workDir, "frames-h1.bin") };
  writeReplayFrames(frames.h1, { keyFile: c.keyFile, cluster: "lab", node: "h2" });
  writeReplayFrames(frames.h2, { keyFile: c.keyFile, cluster: "lab", node: "h1" });
  const advertFile = join(workDir, "advert.hex");
  writeFileSync(advertFile, Buffer.from(encodeAdvert({ version: 3, vrid: VRID, priority: 50, advertIntCs: 100, addresses: [vrrpVip] }, { src: h3.addr(), dst: VRRP_MULTICAST_V4 })).toString("hex"));
  const vrrpScript = join(workDir, "vrrp-sender.py");
  writeFileSync(vrrpScript, VRRP_SENDER);
  const slowScript = join(workDir, "slow-clients.py");
  writeFileSync(slowScript, SLOW_CLIENTS);

  startedAt = Date.now();
  const totalMs = minutes * 60_000;
  startClientsFor = async (n: VigilNode) => {
    if (!on("clients")) return;
    const url = ((await vigilStatus(n)).body as { web?: { url?: string } } | null)?.web?.url;
    const m = url === undefined ? null : /^(https?):\/\/([^/:]+|\[[^\]]+\]):(\d+)/.exec(url);
    if (m === null) throw new Error(`node ${n.name}: no console URL in vigil status (${String(url)})`);
    await stopClientsFor(n);
    const procs = consoleClients.get(n.name) ?? [];
    const seconds = Math.max(1, Math.ceil((startedAt + totalMs - Date.now()) / 1000));
    const host = m[2] ?? "127.0.0.1";
    procs.push(n.host.spawn(["python3", slowScript, host, m[3] ?? "0", m[1] === "https" ? "1" : "0", String(SLOW_PER_NODE), String(seconds), ordinarySource(host)], { logName: "slow-clients" }));
    consoleClients.set(n.name, procs);
  };
  for (const n of c.nodes) await startClientsFor(n);
  running = c;
  const sampling = sampleLoop(c);
  const l = lab;
  const pick = (minute: number): VigilNode => c.nodes[minute % 2] ?? c.node("h1");
  let kills = 0;
  let steps = 0;
  for (let minute = 0; (minute + 1) * 60_000 <= totalMs && !stopping; minute++) {
    const at = (s: number) => sleep(Math.max(0, startedAt + minute * 60_000 + s * 1000 - Date.now()));
    const target = pick(minute);
    const other = pick(minute + 1);
    if (minute % 3 === 2 && on("kill")) {
      const victim = c.node("h2");
      if (kills % 2 === 0) await swapTo(c, victim);
      // The survivor's disk is full while it takes over: the module's state file cannot be written then.
      await at(5);
      const filling = on("diskfull") ? diskFull(c.node("h1"), 30_000).catch((e: unknown) => note(`error diskfull ${String(e)}`)) : Promise.resolve();
      await at(10);
      await killAndRestart(victim);
      await filling;
      kills++;
    } else {
      await at(0);
      const filling = on("diskfull") ? diskFull(other).catch((e: unknown) => note(`error diskfull ${String(e)}`)) : Promise.resolve();
      if (on("hbflood")) {
        note(`hbflood ${target.name}`);
        await flood(h3, { flooder, frames: target.name === "h1" ? frames.h1 : frames.h2, address: target.host.addr(1), port: 7694, seconds: 10, processes: 1 }).catch((e: unknown) => note(`error hbflood ${String(e)}`));
      }
      await at(15);
      if (on("vrrpflood")) {
        note("vrrpflood");
        await h3.exec(["python3", vrrpScript, advertFile, h3.addr(), "300", "0.01"], { timeoutMs: 30_000 }).catch((e: unknown) => note(`error vrrpflood ${String(e)}`));
      }
      await filling;
      await at(25);
      if (on("sigstop")) await freeze(other);
      await at(35);
      if (on("loss")) await lossBurst(l, target.host);
      await at(45);
      if (on("unplug")) await unplug(l, other.host);
    }
    await at(55);
    if (on("clockstep") && !stopping) {
      steps++;
      const back = steps % 3 === 0;
      const size = Math.round(1_000 + Math.random() * 3_599_000);
      witness.clock.step(back ? -size : size);
      note(`clockstep witness ${back ? "-" : "+"}${fmt(size / 1000, 0)}s`);
      if (back) {
        note("witness-restart");
        const p = witness.proc;
        if (p !== undefined) {
          signalPid(p.pid, "SIGKILL");
          await p.exited;
        }
        await witness.start().catch((e: unknown) => note(`error witness restart ${String(e)}`));
      }
    }
  }
  await sleep(Math.max(0, startedAt + totalMs - Date.now()));
  stopping = true;
  await sampling;
  readClientStats(c);
  const wtail = witness.proc?.output() ?? "";
  if (existsSync(join(workDir, "service.log"))) readServiceLog();
  report(true, c);
  if (!/vigil witness started/.test(wtail)) console.log(`witness output: ${wtail.slice(-600)}`);
}

main()
  .catch((e: unknown) => {
    console.error(e instanceof Error ? e.stack ?? e.message : String(e));
    if (samples.length > 0) report(false, running);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanup();
  });
