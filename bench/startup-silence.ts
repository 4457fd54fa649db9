/**
 * Restarts of a node with every engine (a mirror module, a failover module,
 * VRRP, the console): how long its heartbeats go silent between its first
 * frame and the end of its start-up, and whether its peer calls it dead
 * meanwhile. Two builds side by side, restarts alternating between them.
 *
 *   node_modules/.bin/bun bench/startup-silence.ts --old OLD_BIN --new NEW_BIN [--restarts 10] [--stress] [--judge old|new] [--freeze-ms N] [--name NAME]
 *
 * Lab: two hosts, two links, the soak's mirror module (bench/soak-mirror.ts:
 * each daemon in a mount namespace of its own, a writer as the service) and
 * a failover module, both preferring h1, a VRRP instance, the console with
 * its self-signed certificate (kept in the state dir across restarts, as on
 * a real node), heartbeats at `lan` (interval 100 ms, deadtime 500 ms). h1
 * runs OLD_BIN all along and judges (NEW_BIN with --judge new, for a
 * change on the judging side, such as the start-up grace: run once with
 * each judge); h2, the SECOND, is SIGKILLed, h1 waits to call it dead, and
 * h2 starts again with the next build in turn.
 *
 * What counts, per restart, from h2's first frame of its new run (it sends
 * its first rounds before it logs "heartbeats on"):
 * - the longest silence: the longest gap between h2's heartbeat frames as
 *   they arrive in h1's namespace on either link (tcpdump there, so the
 *   build's own clock plays no part), over start-up (to 1.5 s after "vigil
 *   started", which covers a trim at the end of start-up) and over the whole
 *   span (to 1.5 s after the later drop of the executable's pages, "memory
 *   trimmed again", initdead + 20 s: initdead is 2 s here, so a trim moved
 *   after initdead is inside it);
 * - h2's "this node ran late" lines (gap_ms) in the whole span;
 * - h1's late and dead verdicts on h2 in the whole span (each dead one
 *   false: h2 runs), and the restarts with a silence past the deadtime
 *   (500 ms), which a judge without the start-up grace calls dead.
 *
 * --stress keeps both CPUs busy with `stress-ng --cpu 2` through all the
 * restarts (keep the run under 10 minutes on a shared host).
 *
 * --freeze-ms N stretches one start-up step on purpose: h2 is SIGSTOPped
 * for N ms as soon as h1 has heard its new run (a step such as VRRP's raw
 * socket or the console's listener that a loaded host stretched), so the
 * silence h1 hears is N ms and a little more whatever the host's load.
 *
 * Writes bench/results/startup-silence[-stress].{json,md} (--name picks
 * another name) and prints the table.
 */
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createLab, type Lab, type LabProcess } from "../test/lab/lab.ts";
import { signalPid } from "../test/lab/procfs.ts";
import { parseVigilLog, peerChange, startVigilCluster, type VigilLogEvent, type VigilNode } from "../test/lab/vigil-cluster.ts";
import { markdownTable, writeResults } from "./lib/report.ts";
import { busyPercent, cpuTimes, startStress } from "./lib/stress.ts";
import { setUpSoakMirror } from "./soak-mirror.ts";

const COMMAND = "node_modules/.bin/bun bench/startup-silence.ts";
const HEARTBEAT_PORT = 7694;
const TAIL_MS = 1_500;
const LATER_DROP_LINE = "memory trimmed again";
/** The lab's deadtime (`lan`). */
const DEADTIME_MS = 500;

interface Restart {
  build: "old" | "new";
  n: number;
  load1: number;
  /** Longest gap between h2's frames at h1, first frame to "vigil started" + TAIL_MS (ms). */
  startSilenceMs: number | null;
  /** The same to the later drop + TAIL_MS. */
  maxSilenceMs: number | null;
  /** From "heartbeats on" to "vigil started" (ms). */
  startedAfterMs: number | null;
  stallsMs: number[];
  deadVerdicts: number;
  /** The silence each dead verdict names ("silent on all 2 links for N ms"): its time after h2's last frame. */
  deadAfterMs: number[];
  lateVerdicts: number;
  problem?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const say = (line: string): void => void process.stderr.write(`${line}\n`);

/** Arrival times (epoch ms) of h2's heartbeat frames in tcpdump -tt -n output. */
function frameTimes(text: string, from: readonly string[]): number[] {
  const out: number[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+\.\d+) .*IP (\d+\.\d+\.\d+\.\d+)\.\d+ > [\d.]+\.(\d+): UDP/.exec(line);
    if (m === null || !from.includes(m[2] ?? "") || Number(m[3]) !== HEARTBEAT_PORT) continue;
    out.push(Number(m[1]) * 1000);
  }
  return out;
}

function longestGap(times: readonly number[], from: number, to: number): number | null {
  const inSpan = times.filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  if (inSpan.length < 2) return null;
  let worst = 0;
  for (let i = 1; i < inSpan.length; i++) worst = Math.max(worst, (inSpan[i] as number) - (inSpan[i - 1] as number));
  return worst;
}

function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** A copy of the mirror's wrapper for node `node` that runs `bin` instead. */
function wrapperFor(wrapper: string, realBin: string, bin: string, out: string): string {
  writeFileSync(out, readFileSync(wrapper, "utf8").split(realBin).join(bin));
  chmodSync(out, 0o755);
  return out;
}

async function restartOnce(h1: VigilNode, h2: VigilNode, bin: string, tcpdump: LabProcess, h2Addrs: readonly string[], freezeMs: number): Promise<Omit<Restart, "build" | "n" | "load1">> {
  const killedAt = Date.now();
  signalPid(h2.proc.pid, "SIGKILL");
  await h1.waitForLog(peerChange("h2", "dead"), { after: killedAt, timeoutMs: 10_000, what: "h1 calling the killed h2 dead" });
  await sleep(1_000);
  const restartAt = Date.now();
  const starting = h2.start(bin);
  if (freezeMs > 0) {
    const heard = () => h1.events().some((e) => e.at >= restartAt && peerChange("h2", "up")(e));
    const until = Date.now() + 15_000;
    while (!heard() && Date.now() < until) await sleep(5);
    if (!heard()) throw new Error("h1 did not hear h2's new run within 15 s");
    signalPid(h2.proc.pid, "SIGSTOP");
    await sleep(freezeMs);
    signalPid(h2.proc.pid, "SIGCONT");
  }
  await starting;
  const on = h2.events().find((e) => e.msg === "heartbeats on");
  const started = h2.events().find((e) => e.msg === "vigil started");
  if (on === undefined || started === undefined) throw new Error("h2 logged no 'heartbeats on' or 'vigil started'");
  const later = (evs: readonly VigilLogEvent[]) => evs.find((e) => e.msg.startsWith(LATER_DROP_LINE));
  const waitEnd = Date.now() + 40_000;
  while (later(h2.events()) === undefined && Date.now() < waitEnd) await sleep(250);
  const end = later(h2.events());
  if (end === undefined) throw new Error("h2 logged no later drop within 40 s");
  await sleep(TAIL_MS + 300);
  const spanTo = end.at + TAIL_MS;
  const frames = frameTimes(tcpdump.output(), h2Addrs);
  // From h2's first frame of this run as h1's namespace got it: h2 sends its first rounds before it logs
  // "heartbeats on" (engine.start() still runs), and a silence right after them belongs to its start-up too.
  const first = frames.find((t) => t >= restartAt);
  const from = Math.min(first ?? on.at, on.at);
  const stalls = h2.events().filter((e) => e.msg.startsWith("this node ran late;") && e.at >= from && e.at <= spanTo).map((e) => Number(e.fields.gap_ms));
  const verdicts = h1.events().filter((e) => e.at >= from && e.at <= spanTo);
  return {
    startSilenceMs: first === undefined ? null : longestGap(frames, first, started.at + TAIL_MS),
    maxSilenceMs: first === undefined ? null : longestGap(frames, first, spanTo),
    startedAfterMs: started.at - on.at,
    stallsMs: stalls,
    deadVerdicts: verdicts.filter(peerChange("h2", "dead")).length,
    deadAfterMs: verdicts.filter(peerChange("h2", "dead")).map((e) => Number(/ for (\d+) ms/.exec(String(e.fields.detail))?.[1])),
    lateVerdicts: verdicts.filter(peerChange("h2", "late")).length,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { old: { type: "string" }, new: { type: "string" }, restarts: { type: "string", default: "10" }, stress: { type: "boolean", default: false }, judge: { type: "string", default: "old" }, "freeze-ms": { type: "string", default: "0" }, name: { type: "string" } } });
  if (values.old === undefined || values.new === undefined || (values.judge !== "old" && values.judge !== "new")) {
    throw new Error(`usage: ${COMMAND} --old OLD_BIN --new NEW_BIN [--restarts N] [--stress] [--judge old|new] [--freeze-ms N] [--name NAME]`);
  }
  const judge = values.judge;
  const freezeMs = Number(values["freeze-ms"]);
  const restarts = Number(values.restarts);
  const stressed = values.stress === true;
  const work = mkdtempSync(join(tmpdir(), "vigil-startup-silence-"));
  const bins = { old: join(work, "vigil-old"), new: join(work, "vigil-new") };
  copyFileSync(values.old, bins.old);
  copyFileSync(values.new, bins.new);
  chmodSync(bins.old, 0o755);
  chmodSync(bins.new, 0o755);
  process.env.VIGIL_BIN = bins.old;
  let lab: Lab | undefined;
  const results: Restart[] = [];
  const loads: number[] = [];
  let busy = Number.NaN;
  try {
    lab = await createLab({ hosts: 2, links: 2 });
    const [h1, h2] = [lab.host(1), lab.host(2)];
    const mirror = setUpSoakMirror(join(work, "mirror"), { bun: process.execPath, vigilBin: bins.old, nodes: [h1.name, h2.name] });
    const wrappers = {
      old: { h1: mirror.binFor("h1"), h2: mirror.binFor("h2") },
      new: { h1: wrapperFor(mirror.binFor("h1"), bins.old, bins.new, join(work, "vigil-h1-new")), h2: wrapperFor(mirror.binFor("h2"), bins.old, bins.new, join(work, "vigil-h2-new")) },
    };
    const serviceScript = join(work, "svc.sh");
    writeFileSync(serviceScript, "#!/bin/sh\nexit 0\n");
    chmodSync(serviceScript, 0o755);
    const c = await startVigilCluster({
      hosts: [h1, h2],
      dir: join(work, "cluster"),
      heartbeat: { preset: "lan", initdead: "2s" },
      start: [],
      extraYaml: [
        "vrrp:",
        "  - name: VI_1",
        `    interface: ${h1.ifname(1)}`,
        "    vrid: 51",
        "    advert_int: 1s",
        "    priority: { h1: 150, h2: 100 }",
        "    vips: [198.51.100.200/24]",
        "modules:",
        "  - name: web",
        "    type: failover",
        "    prefer: h1",
        "    failback: manual",
        "    vip: 198.51.100.100/24",
        `    interface: ${h1.ifname(1)}`,
        `    start: ${serviceScript}`,
        `    stop: ${serviceScript}`,
        ...mirror.moduleYaml({ prefer: h1.name }),
      ],
    });
    await c.node("h1").start(wrappers[judge].h1);
    await c.node("h2").start(wrappers.old.h2);
    await c.waitForMesh(30_000);
    const tcpdump = h1.spawn(["tcpdump", "-tt", "-n", "-l", "-i", "any", `udp and dst port ${HEARTBEAT_PORT} and (src host ${h2.addr(1)} or src host ${h2.addr(2)})`], { logName: "tcpdump" });
    await sleep(2_000);
    const stress = stressed ? startStress(lab.switch, ["--cpu", "2"]) : undefined;
    if (stress !== undefined) await sleep(3_000);
    const cpu0 = cpuTimes();
    for (let i = 0; i < 2 * restarts; i++) {
      const build = i % 2 === 0 ? "old" : "new";
      const load1 = loadavg()[0] ?? 0;
      loads.push(load1);
      try {
        const r = await restartOnce(c.node("h1"), c.node("h2"), wrappers[build].h2, tcpdump, [h2.addr(1), h2.addr(2)], freezeMs);
        results.push({ build, n: Math.floor(i / 2) + 1, load1, ...r });
        say(`${build} #${Math.floor(i / 2) + 1}: silence ${r.startSilenceMs?.toFixed(0)} ms in start-up, ${r.maxSilenceMs?.toFixed(0)} ms in all, stalls [${r.stallsMs.join(", ")}], dead ${r.deadVerdicts}${r.deadAfterMs.length > 0 ? ` (after ${r.deadAfterMs.join(", ")} ms of silence)` : ""}, late ${r.lateVerdicts}, started +${r.startedAfterMs} ms (load ${load1.toFixed(1)})`);
      } catch (e) {
        results.push({ build, n: Math.floor(i / 2) + 1, load1, startSilenceMs: null, maxSilenceMs: null, startedAfterMs: null, stallsMs: [], deadVerdicts: 0, deadAfterMs: [], lateVerdicts: 0, problem: String(e) });
        say(`${build}: ${String(e)}`);
        if (c.node("h2").proc.exitStatus !== null) await c.node("h2").start(wrappers.old.h2).catch(() => undefined);
      }
    }
    busy = busyPercent(cpu0, cpuTimes());
    await stress?.stop(2_000);
    await c.stop();
  } finally {
    await lab?.destroy();
    // Two copies of the binary and the cluster's files: the results are written below, from memory.
    rmSync(work, { recursive: true, force: true });
  }
  const rows = (["old", "new"] as const).map((b) => {
    const rs = results.filter((r) => r.build === b && r.problem === undefined);
    const pick = (f: (r: Restart) => number | null) => rs.map(f).filter((x): x is number => x !== null);
    const starts = pick((r) => r.startSilenceMs);
    const silences = pick((r) => r.maxSilenceMs);
    const max = (xs: readonly number[]) => (xs.length === 0 ? null : Math.max(...xs).toFixed(0));
    return [
      b === "old" ? values.old : values.new,
      String(rs.length),
      median(starts)?.toFixed(0),
      max(starts),
      median(silences)?.toFixed(0),
      max(silences),
      String(rs.filter((r) => (r.maxSilenceMs ?? 0) > 250).length),
      String(rs.filter((r) => (r.maxSilenceMs ?? 0) > DEADTIME_MS).length),
      String(rs.reduce((a, r) => a + r.stallsMs.length, 0)),
      String(rs.flatMap((r) => r.stallsMs).reduce((a, x) => Math.max(a, x), 0)),
      String(rs.reduce((a, r) => a + r.lateVerdicts, 0)),
      String(rs.reduce((a, r) => a + r.deadVerdicts, 0)),
      median(pick((r) => r.startedAfterMs))?.toFixed(0),
    ];
  });
  const loadText = `1-min load at the restarts ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}${stressed ? `, stress-ng --cpu 2, CPUs ${busy.toFixed(0)} % busy` : ""}`;
  const md = [
    `# Start-up silence: ${restarts} restarts of h2 per build, alternating${stressed ? ", beside stress-ng --cpu 2" : ""}; h1 (the judge) runs the ${judge} build${freezeMs > 0 ? `; h2 frozen ${freezeMs} ms once h1 heard it` : ""}`,
    "",
    `\`${COMMAND} --old ${values.old} --new ${values.new} --restarts ${restarts}${stressed ? " --stress" : ""}${judge === "new" ? " --judge new" : ""}${freezeMs > 0 ? ` --freeze-ms ${freezeMs}` : ""}\`; ${loadText}.`,
    "",
    markdownTable(["build of h2", "restarts", "longest silence in start-up, median ms", "max ms", "longest silence to the later drop, median ms", "max ms", "restarts with a silence > 250 ms", `restarts with a silence > ${DEADTIME_MS} ms (deadtime)`, "'ran late' lines", "worst gap_ms", "late verdicts", "dead verdicts (false)", "'vigil started' after 'heartbeats on', median ms"], rows),
    "",
  ].join("\n");
  const name = values.name ?? `startup-silence${stressed ? "-stress" : ""}`;
  writeResults(name, { command: COMMAND, old: values.old, new: values.new, judge, freezeMs, stressed, busyPercent: busy, loads, results }, md);
  console.log(md);
}

await main();
