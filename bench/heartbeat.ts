/**
 * Failure detection of vigil's heartbeat engine beside Linux-HA Heartbeat
 * (Debian's heartbeat 3.0.6), in the same run, with the same timers, at each
 * preset (fast: 20 ms interval, 100 ms deadtime; lan: 100 ms, 500 ms):
 *
 * - detection time: SIGKILL one node's daemon, time from the kill to each
 *   surviving peer's dead verdict; restart it and wait until everyone sees
 *   everyone up; --kills times per daemon, the victim going round h1..h3 and
 *   the two daemons taking turns to go first, so a load burst on a shared
 *   machine hits both alike;
 * - false-dead verdicts: both clusters left running for --stress-minutes
 *   while stress-ng saturates the CPUs; every dead verdict is about a live
 *   node, as is every late warning;
 * - idle CPU and memory of one daemon of each kind over --idle-seconds.
 *
 *   node_modules/.bin/bun bench/heartbeat.ts [--kills 20] [--stress-minutes 10] [--presets fast,lan]
 *     [--idle-seconds 30] [--stress "--cpu 2"] [--ha-realtime on|off] [--settle-seconds 0] [--results heartbeat]
 *
 * --settle-seconds waits that long after a restarted node is back before the
 * next kill: Heartbeat's haresources mode is slow to declare a node dead
 * while it is still settling the previous node's return.
 *
 * (VIGIL_BIN=/path/to/vigil picks the binary; default dist/vigil. Root only.)
 *
 * Lab (test/lab/lab.ts): three hosts on two links (198.51.100.0/24 and
 * 203.0.113.0/24), no default route. Both clusters run side by side on the
 * same three hosts, unicast on both links: vigil on UDP 7694, Heartbeat on
 * UDP 694. Heartbeat runs with its defaults apart from the timers (so
 * realtime on: SCHED_RR and locked memory), vigil as it ships. The presets
 * run one after the other, each in a fresh lab.
 *
 * Detection is timed for both daemons by when the verdict's line appears in
 * the observer's log file (bench/lib/log-watch.ts): Heartbeat's own log
 * timestamps are whole seconds. vigil's own millisecond timestamps are in
 * the JSON too.
 *
 * Writes bench/results/heartbeat.json and bench/results/heartbeat.md (or
 * the name --results gives, e.g. for one preset of an older build) and
 * prints the table. Namespaces, processes (stress-ng included) and files are
 * removed at the end, also on failure or Ctrl-C.
 */
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { HEARTBEAT_PRESETS } from "../src/config/defaults.ts";
import { type LabHost, withLab } from "../test/lab/lab.ts";
import { requireVigilBinary, VIGIL_BIN, type HeartbeatPreset } from "../test/lab/vigil-cluster.ts";
import type { ClusterUnderTest } from "./lib/cluster-under-test.ts";
import { type PresetResult, resultNotes, resultTable, type SideResult } from "./lib/heartbeat-report.ts";
import { heartbeatVersion } from "./lib/linux-ha.ts";
import { linuxHaUnderTest } from "./lib/linux-ha-under-test.ts";
import { measureIdle, schedulingOf, type IdleFigures } from "./lib/proc-usage.ts";
import { writeResults } from "./lib/report.ts";
import { summarize } from "./lib/stats.ts";
import { busyPercent, cpuTimes, startStress } from "./lib/stress.ts";
import { vigilUnderTest } from "./lib/vigil-under-test.ts";
import { runBench, UsageError } from "./lib/args.ts";
import { withScratchDir } from "./lib/scratch-dir.ts";

const COMMAND = "node_modules/.bin/bun bench/heartbeat.ts";
const PRESETS: readonly HeartbeatPreset[] = ["fast", "lan", "wan"];
const RESTART_TIMEOUT_MS = 30_000;
const DEFAULT_STRESS = "--cpu 2";


interface Options {
  kills: number;
  stressMinutes: number;
  presets: HeartbeatPreset[];
  idleSeconds: number;
  stress: string[];
  haRealtime: boolean;
  settleSeconds: number;
  results: string;
}

function options(): Options {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        kills: { type: "string", default: "20" },
        "stress-minutes": { type: "string", default: "10" },
        presets: { type: "string", default: "fast,lan" },
        "idle-seconds": { type: "string", default: "30" },
        stress: { type: "string", default: DEFAULT_STRESS },
        "ha-realtime": { type: "string", default: "on" },
        "settle-seconds": { type: "string", default: "0" },
        results: { type: "string", default: "heartbeat" },
      },
      strict: true,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const number = (name: string, raw: string, ok: (n: number) => boolean, expected: string): number => {
    const n = Number(raw);
    if (raw.trim() === "" || !ok(n)) throw new UsageError(`--${name}: found "${raw}", expected ${expected}`);
    return n;
  };
  const presets = values.presets.split(",").map((p) => p.trim());
  for (const p of presets) {
    if (!(PRESETS as readonly string[]).includes(p)) throw new UsageError(`--presets: found "${p}", expected a comma-separated list of ${PRESETS.join(", ")}`);
  }
  if (values["ha-realtime"] !== "on" && values["ha-realtime"] !== "off") throw new UsageError(`--ha-realtime: found "${values["ha-realtime"]}", expected on or off`);
  const stress = values.stress.trim().split(/\s+/).filter(Boolean);
  if (stress.length === 0) throw new UsageError(`--stress: expected stress-ng arguments such as "--cpu 2"`);
  return {
    kills: number("kills", values.kills, (n) => Number.isInteger(n) && n >= 1, "a whole number of at least 1"),
    stressMinutes: number("stress-minutes", values["stress-minutes"], (n) => Number.isFinite(n) && n >= 0, "a number of minutes, 0 to skip"),
    presets: presets as HeartbeatPreset[],
    idleSeconds: number("idle-seconds", values["idle-seconds"], (n) => Number.isInteger(n) && n >= 1, "a whole number of seconds, at least 1"),
    stress,
    haRealtime: values["ha-realtime"] === "on",
    settleSeconds: number("settle-seconds", values["settle-seconds"], (n) => Number.isFinite(n) && n >= 0, "a number of seconds, 0 for none"),
    results: /^[A-Za-z0-9._-]+$/.test(values.results) ? values.results : (() => {
      throw new UsageError(`--results: found "${values.results}", expected a file name of letters, digits, '.', '_' or '-'`);
    })(),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (s: string): void => console.error(`[heartbeat bench] ${s}`);

interface Detection {
  samples: number[];
  /** vigil only: from the daemon's own log timestamps. */
  ownTimestampSamples: number[];
  missed: number;
  /** Dead verdicts about a node that had not been killed, from a kill until the victim was back. */
  aboutLiveNodes: number;
}

/** One kill of `victim` in one cluster: both peers' verdicts, then the node back up and `settleMs` of quiet. */
async function killOnce(c: ClusterUnderTest, victim: LabHost, deadtimeMs: number, settleMs: number, into: Detection): Promise<string> {
  const observers = c.hosts.filter((h) => h !== victim);
  const at = c.crash(victim);
  const verdicts = await Promise.all(observers.map((o) => c.waitDead(o, victim, at, deadtimeMs + 10_000).catch(() => null)));
  const parts: string[] = [];
  for (const [i, v] of verdicts.entries()) {
    if (v === null) {
      into.missed += 1;
      parts.push(`${observers[i]?.name}: none`);
      continue;
    }
    into.samples.push(v.seenAt - at);
    if (v.loggedAt !== undefined) into.ownTimestampSamples.push(v.loggedAt - at);
    parts.push(`${v.observer}: ${v.seenAt - at} ms`);
  }
  await c.restart(victim, RESTART_TIMEOUT_MS);
  if (settleMs > 0) await sleep(settleMs);
  const spurious = c.verdicts(at, Date.now()).dead.filter((v) => v.peer !== victim.name);
  into.aboutLiveNodes += spurious.length;
  for (const v of spurious) parts.push(`and ${v.observer} declared live ${v.peer} dead`);
  return parts.join(", ");
}

async function runPreset(preset: HeartbeatPreset, opts: Options, tmp: string): Promise<PresetResult & { raw: Record<string, unknown> }> {
  const p = HEARTBEAT_PRESETS[preset];
  const timers = { intervalMs: p.interval, warntimeMs: p.warntime, deadtimeMs: p.deadtime, initdeadMs: p.initdead };
  return withLab({ hosts: 3, links: 2 }, async (lab) => {
    log(`${preset}: lab ${lab.run}, logs in ${lab.dir} and ${tmp}`);
    const vigil = vigilUnderTest({ hosts: lab.hosts, dir: join(tmp, `${preset}-vigil`), preset });
    const ha = linuxHaUnderTest({ hosts: lab.hosts, links: lab.links, dir: join(tmp, `${preset}-heartbeat`), timers, realtime: opts.haRealtime });
    const sides = [vigil, ha] as const;
    try {
      await vigil.start();
      await ha.start();
      const h1 = lab.host(1);
      await sleep(3_000);

      log(`${preset}: idle CPU and memory over ${opts.idleSeconds} s`);
      const [vigilIdle, haIdle] = (await Promise.all(sides.map((c) => measureIdle(() => c.pids(h1), opts.idleSeconds)))) as [IdleFigures, IdleFigures];
      const scheduling = sides.map((c) => {
        const pid = c.pids(h1)[0];
        return pid === undefined ? null : schedulingOf(pid);
      });

      const detection = sides.map((): Detection => ({ samples: [], ownTimestampSamples: [], missed: 0, aboutLiveNodes: 0 }));
      for (let k = 0; k < opts.kills; k++) {
        const victim = lab.hosts[k % lab.hosts.length] as LabHost;
        // Take turns going first.
        const order = k % 2 === 0 ? [0, 1] : [1, 0];
        for (const i of order) {
          const c = sides[i] as ClusterUnderTest;
          const line = await killOnce(c, victim, timers.deadtimeMs, opts.settleSeconds * 1_000, detection[i] as Detection);
          log(`${preset}: kill ${k + 1}/${opts.kills}, ${c.label} ${victim.name}: ${line}`);
        }
      }

      let stressBusyPercent: number | null = null;
      const stressed = sides.map((): SideResult["underStress"] => null);
      const stressDetail: unknown[] = [];
      if (opts.stressMinutes > 0) {
        await sleep(2_000);
        log(`${preset}: ${opts.stressMinutes} min of stress-ng ${opts.stress.join(" ")}`);
        const stress = startStress(lab.switch, opts.stress);
        const from = Date.now();
        const cpu0 = cpuTimes();
        await sleep(opts.stressMinutes * 60_000);
        const to = Date.now();
        stressBusyPercent = busyPercent(cpu0, cpuTimes());
        await stress.stop(2_000);
        for (const [i, c] of sides.entries()) {
          const v = c.verdicts(from, to);
          stressed[i] = { dead: v.dead.length, late: v.late.length, linkDown: v.linkDown.length, notRunningAtEnd: c.notRunning() };
          stressDetail.push({ label: c.label, dead: v.dead, late: v.late.length, linkDown: v.linkDown.length });
          log(`${preset}: ${c.label} under stress: ${v.dead.length} dead, ${v.late.length} late, ${v.linkDown.length} link-down verdicts`);
        }
      }

      const side = (i: 0 | 1, idle: IdleFigures): SideResult => ({
        detection: summarize((detection[i] as Detection).samples),
        missedVerdicts: (detection[i] as Detection).missed,
        deadAboutLiveNodesDuringKills: (detection[i] as Detection).aboutLiveNodes,
        idle,
        scheduling: scheduling[i] ?? null,
        underStress: stressed[i] ?? null,
      });
      return {
        preset,
        timers,
        kills: opts.kills,
        stressMinutes: opts.stressMinutes,
        stressBusyPercent,
        vigil: side(0, vigilIdle),
        heartbeat: side(1, haIdle),
        vigilOwnTimestampMedianMs: summarize(detection[0]?.ownTimestampSamples ?? []).median,
        raw: {
          detectionSamplesMs: { vigil: detection[0]?.samples, heartbeat: detection[1]?.samples },
          vigilOwnTimestampDetection: summarize(detection[0]?.ownTimestampSamples ?? []),
          underStress: stressDetail,
        },
      };
    } finally {
      for (const c of sides) await c.stop().catch((e: unknown) => log(`stopping ${c.label}: ${(e as Error).message}`));
    }
  });
}

async function main(): Promise<void> {
  const opts = options();
  requireVigilBinary();
  const haVersion = heartbeatVersion();
  if (haVersion === null) throw new Error("Linux-HA Heartbeat is not installed (/usr/libexec/heartbeat/heartbeat): apt-get install -y heartbeat");
  await withScratchDir("vigil-bench-heartbeat-", log, async (tmp) => {
    const startedAt = new Date().toISOString();
    const load = loadavg();
    const results = [];
    for (const preset of opts.presets) results.push(await runPreset(preset, opts, tmp));
    const haLabel = `heartbeat ${haVersion}`;
    const stressLabel = `stress-ng ${opts.stress.join(" ")}`;
    const table = resultTable(results, haLabel, stressLabel);
    const notes = resultNotes(results);
    const command = `${COMMAND} --kills ${opts.kills} --stress-minutes ${opts.stressMinutes} --presets ${opts.presets.join(",")} --idle-seconds ${opts.idleSeconds}${opts.haRealtime ? "" : " --ha-realtime off"}${opts.settleSeconds > 0 ? ` --settle-seconds ${opts.settleSeconds}` : ""}${opts.results === "heartbeat" ? "" : ` --results ${opts.results}`}${opts.stress.join(" ") === DEFAULT_STRESS ? "" : ` --stress "${opts.stress.join(" ")}"`}`;
    const md = [table, "", ...notes.map((n) => `- ${n}`), "", `Command: \`${command}\` (${cpus().length} CPUs, load ${load.map((l) => l.toFixed(2)).join(" ")} at start)`].join("\n");
    writeResults(
      opts.results,
      {
        command,
        startedAt,
        vigil: VIGIL_BIN,
        heartbeat: haVersion,
        heartbeatRealtime: opts.haRealtime,
        stress: stressLabel,
        cpus: cpus().length,
        loadAtStart: load,
        results,
      },
      md,
    );
    console.log(md);
  });
}

runBench(main);
