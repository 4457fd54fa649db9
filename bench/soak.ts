/**
 * A soak: a two-node cluster of the real binary under a mix of hostile
 * conditions for --minutes, sampled every 10 s.
 *
 * Lab: h1 and h2 run vigil (lan preset: 100 ms interval, 500 ms deadtime) on
 * two links, with a failover module `web` (prefer h1, failback manual, a VIP)
 * and a VRRP instance (h1 150, h2 100). h3 is an attacker on both bridges
 * without the key. Every minute, in turn:
 *
 *   0 s   heartbeat flood from h3 (replayed frames signed with the real key,
 *         one C sender, 10 s) at h1 in even minutes, h2 in odd ones;
 *   15 s  VRRP flood: 300 lower-priority adverts in ~3 s from h3;
 *   25 s  three SIGSTOPs of one node, 250 ms each (half the deadtime), 2 s apart;
 *   35 s  30 % loss on both links of one node for 5 s;
 *   45 s  link 2 of one node unplugged for 5 s.
 *
 * All the while, on each node, 20 slow console clients (half never finish
 * the TLS handshake, half dribble a POST) and one ordinary client that
 * reads /api/status every 2 s.
 *
 * Nothing here kills a daemon or cuts a node off for longer than its
 * deadtime, so every dead verdict is false and every module move or VRRP
 * transition after start-up is unwanted.
 *
 * Samples every 10 s: RSS, CPU (% of one core) and open fds of each daemon;
 * dead verdicts, module moves, VRRP transitions and stalls so far;
 * `vigil status` calls that failed. Report: RSS and fd growth per hour
 * (least-squares slope over the samples after the first 2 minutes),
 * the counts, and the console clients' counters.
 *
 *   VIGIL_BIN=/path/to/vigil node_modules/.bin/bun bench/soak.ts --minutes 30
 *
 * Root only; needs gcc and python3. Writes bench/results/soak.json and .md
 * (also after SIGINT/SIGTERM, with what was sampled so far). Namespaces and
 * processes go at the end, on an error and on SIGINT/SIGTERM.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encodeAdvert, VRRP_MULTICAST_V4 } from "../src/proto/vrrp.ts";
import { createLab, type Lab, type LabHost, type LabProcess } from "../test/lab/lab.ts";
import { signalPid } from "../test/lab/procfs.ts";
import { buildFlooder, flood, processUsage, writeReplayFrames } from "../test/lab/udp-flood.ts";
import { isStall, metricValue, startVigilCluster, VIGIL_BIN, type VigilCluster, type VigilLogEvent, type VigilNode } from "../test/lab/vigil-cluster.ts";
import { sleep, waitUntil } from "../test/lab/wait.ts";
import { fmt, markdownTable, writeResults } from "./lib/report.ts";
import { SLOW_CLIENTS, VRRP_SENDER } from "./soak-clients.ts";

const COMMAND = "VIGIL_BIN=... node_modules/.bin/bun bench/soak.ts --minutes N";
const SAMPLE_MS = 10_000;
const WARMUP_MS = 120_000;
const FREEZE_MS = 250;
const SLOW_PER_NODE = 20;
const VRID = 77;

const { values: args } = parseArgs({ options: { minutes: { type: "string", default: "30" }, out: { type: "string", default: "soak" } } });
const minutes = Number(args.minutes);
if (!Number.isFinite(minutes) || minutes <= 0) {
  console.error(`--minutes ${args.minutes}: expected a number of minutes above 0`);
  process.exit(2);
}

interface Sample {
  t: number;
  node: string;
  rssKiB: number;
  /** The anonymous part of RSS (heap, stacks): RSS also counts pages of the binary read in as new code runs. */
  anonKiB: number;
  cpuPercent: number;
  fds: number;
  deadVerdicts: number;
  moduleMoves: number;
  vrrpTransitions: number;
  stalls: number;
  statusFailures: number;
}

interface FaultLog {
  t: number;
  what: string;
}

const isMove = (e: VigilLogEvent): boolean => e.msg.startsWith("module web ") && e.msg.includes(" -> ");
const isDead = (e: VigilLogEvent): boolean => typeof e.fields["peer"] === "string" && e.fields["to"] === "dead" && e.fields["link"] === undefined;

const samples: Sample[] = [];
const faults: FaultLog[] = [];
const clientStats: Record<string, Record<string, number>> = {};
let startedAt = 0;
let stopping = false;
let lab: Lab | undefined;
let workDir = "";
const statusFailures = new Map<string, number>();
/** Module moves and VRRP transitions counted at the end of the warm-up: start-up is not a fault. */
const baseline = new Map<string, { moves: number; vrrp: number }>();

function slope(points: readonly { x: number; y: number }[]): number | null {
  if (points.length < 3) return null;
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? null : num / den;
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

async function vrrpTransitions(n: VigilNode): Promise<number> {
  try {
    return metricValue(await n.metrics(), "vigil_vrrp_transitions_total");
  } catch {
    return NaN;
  }
}

function report(complete: boolean): void {
  const nodes = [...new Set(samples.map((s) => s.node))];
  const perNode = nodes.map((node) => {
    const mine = samples.filter((s) => s.node === node);
    const steady = mine.filter((s) => s.t >= WARMUP_MS);
    const hours = (s: Sample) => s.t / 3_600_000;
    const first = mine[0];
    const last = mine[mine.length - 1];
    const base = baseline.get(node) ?? { moves: 0, vrrp: 0 };
    const cpu = mine.map((s) => s.cpuPercent).filter(Number.isFinite).sort((a, b) => a - b);
    return {
      node,
      samples: mine.length,
      rssFirstMiB: first === undefined ? null : first.rssKiB / 1024,
      rssLastMiB: last === undefined ? null : last.rssKiB / 1024,
      rssMaxMiB: mine.length === 0 ? null : Math.max(...mine.map((s) => s.rssKiB)) / 1024,
      rssGrowthMiBPerHour: ((v) => (v === null ? null : v / 1024))(slope(steady.map((s) => ({ x: hours(s), y: s.rssKiB })))),
      anonFirstMiB: first === undefined ? null : first.anonKiB / 1024,
      anonLastMiB: last === undefined ? null : last.anonKiB / 1024,
      anonGrowthMiBPerHour: ((v) => (v === null ? null : v / 1024))(slope(steady.map((s) => ({ x: hours(s), y: s.anonKiB })).filter((p) => Number.isFinite(p.y)))),
      fdsFirst: first?.fds ?? null,
      fdsLast: last?.fds ?? null,
      fdsMax: mine.length === 0 ? null : Math.max(...mine.map((s) => s.fds)),
      fdGrowthPerHour: slope(steady.map((s) => ({ x: hours(s), y: s.fds }))),
      cpuMedianPercent: cpu.length === 0 ? null : cpu[Math.floor(cpu.length / 2)] ?? null,
      cpuMaxPercent: cpu.length === 0 ? null : cpu[cpu.length - 1] ?? null,
      deadVerdicts: last?.deadVerdicts ?? 0,
      moduleMovesAfterWarmup: (last?.moduleMoves ?? 0) - base.moves,
      vrrpTransitionsAfterWarmup: (last?.vrrpTransitions ?? 0) - base.vrrp,
      stalls: last?.stalls ?? 0,
      statusFailures: last?.statusFailures ?? 0,
      console: clientStats[node] ?? null,
    };
  });
  const ranMinutes = samples.length === 0 ? 0 : Math.max(...samples.map((s) => s.t)) / 60_000;
  const faultCounts: Record<string, number> = {};
  for (const f of faults) {
    const kind = f.what.split(" ")[0] ?? f.what;
    faultCounts[kind] = (faultCounts[kind] ?? 0) + 1;
  }
  const md = [
    "# Soak",
    "",
    `${complete ? "" : "**Interrupted** after "}${fmt(ranMinutes, 1)} min of a ${minutes}-min run. Command: \`${COMMAND}\` (binary ${VIGIL_BIN}).`,
    "",
    "Two nodes (lan preset: interval 100 ms, deadtime 500 ms) on two links, a failover module and a VRRP instance;",
    "every minute a 10 s heartbeat flood from a non-peer, 300 lower-priority VRRP adverts, three 250 ms SIGSTOPs,",
    "5 s of 30 % loss on both links, 5 s with link 2 unplugged; 20 slow console clients per node throughout.",
    "Growth is the least-squares slope over the samples after the first 2 minutes.",
    "",
    markdownTable(
      ["node", "RSS first / last / max MiB", "RSS growth MiB/h", "anon RSS first / last MiB", "anon growth MiB/h", "fds first / last", "fd growth /h", "CPU median / max %", "false dead verdicts", "module moves", "VRRP transitions", "stalls", "failed status calls", "console ok / failed", "slow clients cut"],
      perNode.map((p) => [
        p.node,
        `${fmt(p.rssFirstMiB, 1)} / ${fmt(p.rssLastMiB, 1)} / ${fmt(p.rssMaxMiB, 1)}`,
        fmt(p.rssGrowthMiBPerHour, 2),
        `${fmt(p.anonFirstMiB, 1)} / ${fmt(p.anonLastMiB, 1)}`,
        fmt(p.anonGrowthMiBPerHour, 2),
        `${fmt(p.fdsFirst, 0)} / ${fmt(p.fdsLast, 0)}`,
        fmt(p.fdGrowthPerHour, 2),
        `${fmt(p.cpuMedianPercent, 1)} / ${fmt(p.cpuMaxPercent, 1)}`,
        String(p.deadVerdicts),
        String(p.moduleMovesAfterWarmup),
        String(p.vrrpTransitionsAfterWarmup),
        String(p.stalls),
        String(p.statusFailures),
        p.console === null ? "-" : `${p.console["good_ok"] ?? 0} / ${p.console["good_fail"] ?? 0}`,
        p.console === null ? "-" : `${p.console["slow_closed_by_server"] ?? 0} of ${p.console["slow_opened"] ?? 0}`,
      ]),
    ),
    "",
    `Faults applied: ${Object.entries(faultCounts).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}.`,
    "",
  ].join("\n");
  const paths = writeResults(args.out ?? "soak", { command: COMMAND, binary: VIGIL_BIN, complete, minutesPlanned: minutes, minutesRan: ranMinutes, nodes: perNode, faults: faultCounts, faultTimeline: faults, samples }, md);
  console.log(md);
  console.log(`wrote ${paths.json} and ${paths.md}`);
}

async function cleanup(): Promise<void> {
  stopping = true;
  if (lab !== undefined) await lab.destroy().catch((e: unknown) => console.error(`lab teardown: ${String(e)}`));
  if (workDir !== "") rmSync(workDir, { recursive: true, force: true });
}

/** The cluster and its console clients once started: what an interrupted run still reports. */
let running: { cluster: VigilCluster; clients: ReadonlyMap<string, LabProcess> } | undefined;
let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`${sig}: writing what was sampled and tearing the lab down`);
    try {
      if (running !== undefined) readClientStats(running.cluster, running.clients);
      report(false);
    } catch (e) {
      console.error(`report: ${String(e)}`);
    }
    // The lab's own exit guard removes namespaces and processes synchronously on exit.
    void cleanup().finally(() => process.exit(130));
    setTimeout(() => process.exit(130), 15_000).unref();
  });
}

function note(what: string): void {
  faults.push({ t: Date.now() - startedAt, what });
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

async function lossBurst(l: Lab, h: LabHost): Promise<void> {
  note(`loss ${h.name} 30% 5s`);
  await l.netem(h, "loss 30%", { side: "both" });
  await sleep(5_000);
  await l.clearNetem(h);
}

async function unplug(l: Lab, h: LabHost): Promise<void> {
  note(`unplug ${h.name} link2 5s`);
  await l.linkDown(h, { link: 2 });
  await sleep(5_000);
  await l.linkUp(h, { link: 2 });
}

async function sampleLoop(c: VigilCluster): Promise<void> {
  const last = new Map<string, { cpu: number; at: number }>();
  while (!stopping) {
    const t = Date.now() - startedAt;
    for (const n of c.nodes) {
      const pid = n.proc.pid;
      let usage = { cpuSeconds: NaN, rssKiB: NaN };
      try {
        usage = processUsage(pid);
      } catch {
        // gone: shows as NaN
      }
      const prev = last.get(n.name);
      const now = performance.now();
      last.set(n.name, { cpu: usage.cpuSeconds, at: now });
      try {
        await n.status();
      } catch {
        statusFailures.set(n.name, (statusFailures.get(n.name) ?? 0) + 1);
      }
      const events = n.events();
      const vrrp = await vrrpTransitions(n);
      const moves = events.filter(isMove).length;
      if (t >= WARMUP_MS && !baseline.has(n.name)) baseline.set(n.name, { moves, vrrp });
      samples.push({
        t,
        node: n.name,
        rssKiB: usage.rssKiB,
        anonKiB: anonKiB(pid),
        cpuPercent: prev === undefined ? NaN : ((usage.cpuSeconds - prev.cpu) / ((now - prev.at) / 1000)) * 100,
        fds: fdCount(pid),
        deadVerdicts: events.filter(isDead).length,
        moduleMoves: moves,
        vrrpTransitions: vrrp,
        stalls: events.filter(isStall).length,
        statusFailures: statusFailures.get(n.name) ?? 0,
      });
    }
    const line = c.nodes.map((n) => {
      const s = samples.filter((x) => x.node === n.name).at(-1);
      return s === undefined ? "" : `${n.name} rss ${fmt(s.rssKiB / 1024, 1)} MiB cpu ${fmt(s.cpuPercent, 1)}% fds ${s.fds} dead ${s.deadVerdicts} moves ${s.moduleMoves} vrrp ${s.vrrpTransitions}`;
    });
    console.log(`[${fmt(t / 60_000, 1)} min] ${line.join(" | ")}`);
    await sleep(SAMPLE_MS);
  }
}

function readClientStats(c: VigilCluster, procs: ReadonlyMap<string, LabProcess>): void {
  for (const n of c.nodes) {
    const p = procs.get(n.name);
    if (p === undefined) continue;
    const lines = p.output().split("\n").filter((l) => l.startsWith("{"));
    const lastLine = lines.at(-1);
    if (lastLine !== undefined) clientStats[n.name] = JSON.parse(lastLine) as Record<string, number>;
  }
}

async function main(): Promise<void> {
  workDir = mkdtempSync(join(tmpdir(), "vigil-soak-"));
  const flooder = await buildFlooder(join(workDir, "bin"));
  lab = await createLab({ hosts: 3, links: 2 });
  const [h1, h2, h3] = [lab.host(1), lab.host(2), lab.host(3)];
  const vip = "198.51.100.100/24";
  const vrrpVip = "198.51.100.200";
  const c = await startVigilCluster({
    hosts: [h1, h2],
    dir: join(workDir, "cluster"),
    heartbeat: { preset: "lan" },
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
    ],
  });
  await c.waitForMesh();
  const role = async (n: VigilNode) => (await n.status()).modules?.find((m) => m.name === "web")?.state;
  // Which node ends up PRIM depends on who started first; the soak only needs one PRIM and one SECOND.
  await waitUntil(async () => [(await role(c.node("h1"))), (await role(c.node("h2")))].sort().join(" ") === "PRIM SECOND", { timeoutMs: 60_000, intervalMs: 500, what: "one node PRIM, the other SECOND" });

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
  const clients = new Map<string, LabProcess>();
  for (const n of c.nodes) {
    const url = (await n.status()).web.url;
    const m = url === undefined ? null : /^(https?):\/\/([^/:]+|\[[^\]]+\]):(\d+)/.exec(url);
    if (m === null) throw new Error(`node ${n.name}: no console URL in vigil status (${String(url)})`);
    clients.set(n.name, n.host.spawn(["python3", slowScript, m[2] ?? "127.0.0.1", m[3] ?? "0", m[1] === "https" ? "1" : "0", String(SLOW_PER_NODE), String(Math.ceil(totalMs / 1000))], { logName: "slow-clients" }));
  }
  running = { cluster: c, clients };
  const sampling = sampleLoop(c);
  const l = lab;
  const pick = (minute: number): VigilNode => c.nodes[minute % 2] ?? c.node("h1");
  for (let minute = 0; (minute + 1) * 60_000 <= totalMs && !stopping; minute++) {
    const at = (s: number) => sleep(Math.max(0, startedAt + minute * 60_000 + s * 1000 - Date.now()));
    const target = pick(minute);
    const other = pick(minute + 1);
    await at(0);
    note(`hbflood ${target.name}`);
    await flood(h3, { flooder, frames: target.name === "h1" ? frames.h1 : frames.h2, address: target.host.addr(1), port: 7694, seconds: 10, processes: 1 }).catch((e: unknown) => note(`error hbflood ${String(e)}`));
    await at(15);
    note("vrrpflood");
    await h3.exec(["python3", vrrpScript, advertFile, h3.addr(), "300", "0.01"], { timeoutMs: 30_000 }).catch((e: unknown) => note(`error vrrpflood ${String(e)}`));
    await at(25);
    await freeze(other);
    await at(35);
    await lossBurst(l, target.host);
    await at(45);
    await unplug(l, other.host);
  }
  await sleep(Math.max(0, startedAt + totalMs - Date.now()));
  stopping = true;
  await sampling;
  readClientStats(c, clients);
  report(true);
}

main()
  .catch((e: unknown) => {
    console.error(e instanceof Error ? e.stack ?? e.message : String(e));
    if (samples.length > 0) report(false);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanup();
  });
