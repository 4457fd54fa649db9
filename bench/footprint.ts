/**
 * Footprint of vigil beside keepalived and Linux-HA Heartbeat, measured in
 * the same run, on the same lab (three hosts on one link, documentation
 * addresses, no default route; test/lab/lab.ts):
 *
 * - the whole appliance idle on one node (h1): every process of the daemon
 *   (the fencing watchdog and scripts included), RSS split into the
 *   executable's pages (file) and the heap (anon), PSS, CPU over a window,
 *   with both peers running, as a breakdown by component:
 *     runtime   an empty program compiled by the same Bun with vigil's flags;
 *     timer     the same with a 100 ms timer (a heartbeat round's rhythm) and
 *               the daemon's runtime options: the floor of a node that wakes
 *               ten times a second on this runtime;
 *     heartbeat `vigil run` with heartbeats only, at the default preset;
 *     module    plus a failover module (VIP, start/stop scripts) that runs on h1;
 *     vrrp      heartbeats plus one VRRP instance (advert 1 s) that is MASTER on h1;
 *     console   the heartbeat node again after 20 requests to its console;
 *     fast      heartbeats at `fast` (SCHED_RR, memory locked);
 *   beside keepalived (one VRRP instance, MASTER, advert 1 s) and Heartbeat
 *   3.0.6 (three nodes, the same timers as `lan`);
 * - where vigil's idle CPU goes: % of a core and wake-ups a second by thread
 *   (main, JIT, GC, allocator), wake-ups from /proc/PID/task/TID/schedstat;
 * - cold start: `vigil version` beside `keepalived --version` (median of --runs);
 * - time from starting the daemon to its first heartbeat on the wire
 *   (tcpdump's timestamp of the first datagram minus the spawn time; the
 *   other nodes are not running): vigil's UDP frame, keepalived's first
 *   advert (state MASTER, priority 255: the only way it advertises at once),
 *   Heartbeat's first UDP packet. Median of --starts (Heartbeat: at most 3).
 *
 *   node_modules/.bin/bun bench/footprint.ts [--runs 20] [--seconds 30] [--starts 5] [--settle 5] [--results footprint]
 *       [--only heartbeat,vrrp,...] [--compare OLD_BIN [--rounds 2]]
 *
 * --only measures just those components (runtime, timer, heartbeat, module, vrrp,
 * console, fast, keepalived, ha, start: cold start and first heartbeat).
 * --compare runs the vigil components (heartbeat, module, vrrp) of another build
 * too, in the same lab, alternating old and new --rounds times, each row the
 * median of its rounds: a before/after of small CPU figures on a busy
 * machine.
 *
 * VIGIL_BIN picks the binary (default dist/vigil). Root only. Writes
 * bench/results/footprint.json and bench/results/footprint.md (or the name
 * --results gives). Namespaces,
 * processes and files are removed at the end, also on failure.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { benchArgs } from "./lib/args.ts";
import { type LabHost, type LabProcess, waitUntil, withLab } from "../test/lab/lab.ts";
import { requireVigilBinary, startVigilCluster, VIGIL_BIN, type VigilCluster } from "../test/lab/vigil-cluster.ts";
import { HEARTBEAT_BIN, heartbeatVersion, prepareHaNode } from "./lib/linux-ha.ts";
import { linuxHaUnderTest } from "./lib/linux-ha-under-test.ts";
import { fmt, markdownTable, writeResults } from "./lib/report.ts";
import { DAEMON_RUNTIME_OPTIONS } from "../src/daemon/runtime-options.ts";
import { median } from "./lib/stats.ts";

const { values } = benchArgs({
  options: {
    runs: { type: "string", default: "20" },
    seconds: { type: "string", default: "30" },
    starts: { type: "string", default: "5" },
    // Seconds between the peers being up and the window: the JIT is still warming up for a minute or two.
    settle: { type: "string", default: "5" },
    // Another name for the results, e.g. footprint-before for an older build.
    results: { type: "string", default: "footprint" },
    only: { type: "string" },
    compare: { type: "string" },
    rounds: { type: "string", default: "1" },
  },
});
const COMPONENTS = ["runtime", "timer", "heartbeat", "module", "vrrp", "console", "fast", "keepalived", "ha", "start"] as const;
type Component = (typeof COMPONENTS)[number];
const ONLY = new Set<string>(values.only === undefined ? COMPONENTS : values.only.split(","));
for (const c of ONLY) if (!(COMPONENTS as readonly string[]).includes(c)) throw new Error(`--only: unknown component "${c}"; known: ${COMPONENTS.join(", ")}`);
const wanted = (c: Component): boolean => ONLY.has(c);
const COMPARE = values.compare;
const ROUNDS = COMPARE === undefined ? 1 : Math.max(1, Number(values.rounds));
const RUNS = Number(values.runs);
const SECONDS = Number(values.seconds);
const STARTS = Number(values.starts);
const ROOT = new URL("../", import.meta.url).pathname;
const BUN = join(ROOT, "node_modules/.bin/bun");
const KEEPALIVED = "/usr/sbin/keepalived";
const TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
const SETTLE_MS = Number(values.settle) * 1000;
const VIP = "198.51.100.80";
const VRRP_VIP = "198.51.100.81";
/** Heartbeat with `lan`'s timers. */
const HA_TIMERS = { intervalMs: 100, warntimeMs: 250, deadtimeMs: 500, initdeadMs: 5_000 };

interface Figures {
  rssMiB: number;
  fileMiB: number;
  anonMiB: number;
  pssMiB: number;
  cpuPercent: number;
  processes: number;
  /** CPU % of the first process's threads, by thread name (runtime threads show where idle CPU goes). */
  threads: Record<string, number>;
  /** Wake-ups a second of the first process's threads, by thread name: times each was put on a CPU (schedstat). */
  wakeups: Record<string, number>;
}

/** CPU ticks and times run (schedstat's third field) of each thread of `pid`, summed by thread name. */
function threadTicks(pid: number): Map<string, { ticks: number; runs: number }> {
  const out = new Map<string, { ticks: number; runs: number }>();
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    const stat = read(`/proc/${pid}/task/${t}/stat`);
    const name = (read(`/proc/${pid}/task/${t}/comm`) ?? "?").trim().replace(/ \d+$/, "");
    if (stat === null) continue;
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const key = t === String(pid) ? "main" : name;
    const runs = Number((read(`/proc/${pid}/task/${t}/schedstat`) ?? "0 0 0").trim().split(" ")[2] ?? 0);
    const was = out.get(key) ?? { ticks: 0, runs: 0 };
    out.set(key, { ticks: was.ticks + Number(f[11]) + Number(f[12]), runs: was.runs + runs });
  }
  return out;
}

const read = (p: string): string | null => {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return null;
  }
};

/** The process and all its descendants, from /proc. */
function tree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue; // exited meanwhile
    }
    for (const t of tasks) {
      const kids = read(`/proc/${out[i]}/task/${t}/children`) ?? "";
      for (const k of kids.trim().split(/\s+/).filter(Boolean)) out.push(Number(k));
    }
  }
  return out;
}

function sample(pids: readonly number[]): { ticks: number; rss: number; file: number; anon: number; pss: number; n: number } {
  const s = { ticks: 0, rss: 0, file: 0, anon: 0, pss: 0, n: 0 };
  for (const pid of pids) {
    const stat = read(`/proc/${pid}/stat`);
    const status = read(`/proc/${pid}/status`);
    if (stat === null || status === null) continue;
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    s.ticks += Number(f[11]) + Number(f[12]);
    const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
    s.rss += kib("VmRSS");
    s.file += kib("RssFile");
    s.anon += kib("RssAnon");
    s.pss += Number(/^Pss:\s+(\d+)/m.exec(read(`/proc/${pid}/smaps_rollup`) ?? "")?.[1] ?? 0);
    s.n += 1;
  }
  return s;
}

/** CPU over the window; memory as the median of one sample a second. */
async function idle(pids: () => number[], seconds = SECONDS): Promise<Figures> {
  await sleep(SETTLE_MS);
  const first = sample(pids());
  const lead = pids()[0];
  const threadsBefore = lead === undefined ? new Map<string, { ticks: number; runs: number }>() : threadTicks(lead);
  const t0 = performance.now();
  const rows: ReturnType<typeof sample>[] = [];
  for (let i = 0; i < seconds; i++) {
    await sleep(1_000);
    rows.push(sample(pids()));
  }
  const last = rows[rows.length - 1] ?? first;
  const elapsed = (performance.now() - t0) / 1000;
  const threads: Record<string, number> = {};
  const wakeups: Record<string, number> = {};
  for (const [name, t] of lead === undefined ? [] : threadTicks(lead)) {
    const was = threadsBefore.get(name) ?? { ticks: 0, runs: 0 };
    threads[name] = Math.round(((t.ticks - was.ticks) / TCK / elapsed) * 100 * 1000) / 1000;
    wakeups[name] = Math.round(((t.runs - was.runs) / elapsed) * 10) / 10;
  }
  const mid = (k: "rss" | "file" | "anon" | "pss") => median(rows.map((r) => r[k])) / 1024;
  return {
    rssMiB: mid("rss"),
    fileMiB: mid("file"),
    anonMiB: mid("anon"),
    pssMiB: mid("pss"),
    cpuPercent: ((last.ticks - first.ticks) / TCK / elapsed) * 100,
    processes: last.n,
    threads,
    wakeups,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function coldStartMs(cmd: string, args: string[]): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const r = spawnSync(cmd, args, { stdio: "ignore" });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}`);
    times.push(performance.now() - t);
  }
  return median(times);
}

/** The empty program vigil's runtime costs by itself: compiled with the flags scripts/build.mjs uses. */
function buildEmptyProgram(dir: string): string {
  const src = join(dir, "empty.ts");
  writeFileSync(src, "setInterval(() => {}, 1000);\n");
  const out = join(dir, "empty");
  execFileSync(BUN, ["build", "--compile", "--minify", "--bytecode", "--format=esm", src, "--outfile", out], { stdio: "ignore" });
  return out;
}

/**
 * A program that wakes every 100 ms and does nothing else (a drift-free
 * timer chain, armed in whole ms as the heartbeat arms its rounds), built
 * like the empty one.
 */
function buildTimerProgram(dir: string): string {
  const src = join(dir, "timer.ts");
  writeFileSync(src, [
    "let next = performance.now() + 100;",
    "const tick = () => { next += 100; setTimeout(tick, Math.max(0, Math.ceil(next - performance.now()))); };",
    "setTimeout(tick, 100);",
    "",
  ].join("\n"));
  const out = join(dir, "timer");
  execFileSync(BUN, ["build", "--compile", "--minify", "--bytecode", "--format=esm", src, "--outfile", out], { stdio: "ignore" });
  return out;
}

function keepalivedConf(iface: string, state: "MASTER" | "BACKUP", priority: number, advert: string): string {
  return [
    "global_defs { router_id bench }",
    "vrrp_instance VI_1 {",
    `  state ${state}`, `  interface ${iface}`, "  virtual_router_id 61", `  priority ${priority}`, `  advert_int ${advert}`,
    `  virtual_ipaddress { ${VRRP_VIP}/24 }`,
    "}", "",
  ].join("\n");
}

function spawnKeepalived(h: LabHost, dir: string, conf: string): LabProcess {
  const d = join(dir, `ka-${h.name}-${Math.random().toString(16).slice(2, 8)}`);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "keepalived.conf"), conf);
  return h.spawn([KEEPALIVED, "-n", "-l", "-D", "-f", join(d, "keepalived.conf"), "-p", join(d, "k.pid"), "-r", join(d, "v.pid")], { logName: `keepalived-${h.name}` });
}

const moduleYaml = (h1: LabHost, dir: string): string[] => {
  for (const s of ["start", "stop"]) writeFileSync(join(dir, `svc-${s}.sh`), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  return [
    "modules:", "  - name: web", "    type: failover", "    prefer: h1",
    `    vip: ${VIP}/24`, `    interface: ${h1.ifname(1)}`, `    start: ${join(dir, "svc-start.sh")}`, `    stop: ${join(dir, "svc-stop.sh")}`,
  ];
};

const vrrpYaml = (hosts: readonly LabHost[]): string[] => [
  "vrrp:",
  "  - name: VI_1",
  "    interface: eth0",
  "    vrid: 62",
  `    priority: { ${hosts.map((h, i) => `${h.name}: ${200 - i * 50}`).join(", ")} }`,
  "    advert_int: 1s",
  `    vips: [${VRRP_VIP}/24]`,
];

/** Starts a vigil cluster on all hosts, measures h1's whole process tree, stops it. */
async function vigilIdle(hosts: readonly LabHost[], dir: string, o: { preset?: "lan" | "fast"; extra?: (d: string) => string[]; before?: (c: VigilCluster) => Promise<void>; bin?: string }): Promise<Figures> {
  const d = mkdtempSync(join(dir, "vigil-"));
  const c = await startVigilCluster({ hosts, dir: d, name: "bench", heartbeat: { preset: o.preset ?? "lan" }, start: [], ...(o.extra ? { extraYaml: o.extra(d) } : {}) });
  try {
    for (const h of hosts) await c.node(h.name).start(o.bin ?? VIGIL_BIN);
    await c.waitForMesh(30_000);
    await o.before?.(c);
    const pid = c.node("h1").proc.pid;
    return await idle(() => tree(pid));
  } finally {
    await c.stop();
  }
}

/** The median figures of several windows (CPU, memory and each thread by its own median). */
function medianFigures(runs: readonly Figures[]): Figures {
  const m = (k: "rssMiB" | "fileMiB" | "anonMiB" | "pssMiB" | "cpuPercent" | "processes") => median(runs.map((r) => r[k]));
  const names = new Set(runs.flatMap((r) => Object.keys(r.threads)));
  const threads: Record<string, number> = {};
  const wakeups: Record<string, number> = {};
  for (const n of names) {
    threads[n] = median(runs.map((r) => r.threads[n] ?? 0));
    wakeups[n] = median(runs.map((r) => r.wakeups[n] ?? 0));
  }
  return { rssMiB: m("rssMiB"), fileMiB: m("fileMiB"), anonMiB: m("anonMiB"), pssMiB: m("pssMiB"), cpuPercent: m("cpuPercent"), processes: m("processes"), threads, wakeups };
}

/**
 * A window again when the cluster did not come up in time: on a machine others
 * load (a starved start logs "ran late" for seconds) one slow start should not
 * end a long comparison. Each retry is said on stderr.
 */
async function retried(what: string, run: () => Promise<Figures>, attempts = 3): Promise<Figures> {
  for (let i = 1; ; i++) {
    try {
      return await run();
    } catch (e) {
      if (i >= attempts) throw e;
      console.error(`${what}: attempt ${i} failed, again (load ${(loadavg()[0] ?? 0).toFixed(1)}): ${(e as Error).message.split("\n")[0]}`);
    }
  }
}

/** A vigil component on this build and, with --compare, the other one, alternating for --rounds. */
async function vigilPair(hosts: readonly LabHost[], dir: string, o: Parameters<typeof vigilIdle>[2]): Promise<{ now: Figures; old: Figures | null }> {
  const now: Figures[] = [];
  const old: Figures[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (COMPARE !== undefined) old.push(await retried(`${COMPARE} round ${r + 1}`, () => vigilIdle(hosts, dir, { ...o, bin: COMPARE })));
    now.push(await retried(`${VIGIL_BIN} round ${r + 1}`, () => vigilIdle(hosts, dir, o)));
  }
  return { now: medianFigures(now), old: old.length > 0 ? medianFigures(old) : null };
}

/** ms from start() to the first packet matching `filter` that tcpdump saw on h1's link. */
async function firstPacketMs(h: LabHost, filter: string[], start: () => Promise<void> | void, stop: () => Promise<void>): Promise<number> {
  const dump = h.spawn(["tcpdump", "-i", h.ifname(1), "-n", "-tt", "-l", "-c", "1", ...filter], { logName: "tcpdump" });
  try {
    await dump.waitFor(/listening on/, 10_000);
    const t0 = Date.now();
    const started = Promise.resolve(start()).catch(() => {});
    try {
      const m = await dump.waitFor(/^(\d+\.\d+) IP /m, 30_000);
      return Number(m[1]) * 1000 - t0;
    } finally {
      await started;
      await stop();
    }
  } finally {
    await dump.stop(500);
  }
}

if (process.getuid?.() !== 0) throw new Error("bench/footprint needs root (network namespaces)");
requireVigilBinary();
const dir = mkdtempSync(join(tmpdir(), "vigil-footprint-"));
const load: number[] = [loadavg()[0] ?? 0];

try {
  const result = await withLab({ hosts: 3, links: 1 }, async (lab) => {
    const hosts = lab.hosts;
    const h1 = lab.host("h1");
    const h2 = lab.host("h2");
    const runtime = !wanted("runtime") ? null : await (async () => {
      const p = h1.spawn([buildEmptyProgram(dir)], { logName: "empty" });
      try {
        return await idle(() => tree(p.pid));
      } finally {
        await p.stop(500);
      }
    })();
    const timer = !wanted("timer") ? null : await (async () => {
      const p = h1.spawn([buildTimerProgram(dir)], { logName: "timer", env: { ...DAEMON_RUNTIME_OPTIONS } });
      try {
        return await idle(() => tree(p.pid));
      } finally {
        await p.stop(500);
      }
    })();
    const heartbeatPair = wanted("heartbeat") ? await vigilPair(hosts, dir, {}) : { now: null, old: null };
    const heartbeat = heartbeatPair.now;
    load.push(loadavg()[0] ?? 0);
    const modulePair = !wanted("module") ? { now: null, old: null } : await vigilPair(hosts, dir, {
      extra: (d) => moduleYaml(h1, d),
      before: async (c) => {
        const n = c.node("h1");
        await waitUntil(async () => ["PRIM", "ALONE"].includes((await n.status()).modules.find((m) => m.name === "web")?.state ?? ""), {
          timeoutMs: 30_000, intervalMs: 250, what: "the module web running on h1",
        });
      },
    });
    const module = modulePair.now;
    const vrrpPair = wanted("vrrp") ? await vigilPair(hosts, dir, { extra: () => vrrpYaml(hosts) }) : { now: null, old: null };
    const vrrp = vrrpPair.now;
    const consoleUsed = !wanted("console") ? null : await vigilIdle(hosts, dir, {
      before: async (c) => {
        const n = c.node("h1");
        for (let i = 0; i < 10; i++) {
          await n.status();
          await n.metrics();
        }
      },
    });
    load.push(loadavg()[0] ?? 0);
    const fast = !wanted("fast") ? null : await vigilIdle(hosts, dir, { preset: "fast" });

    const keepalived = !wanted("keepalived") ? null : await (async () => {
      const backup = spawnKeepalived(h2, dir, keepalivedConf("eth0", "BACKUP", 100, "1"));
      const master = spawnKeepalived(h1, dir, keepalivedConf("eth0", "MASTER", 200, "1"));
      try {
        return await idle(() => tree(master.pid));
      } finally {
        await master.stop(1_000);
        await backup.stop(1_000);
      }
    })();
    let heartbeatHa: Figures | null = null;
    if (wanted("ha")) {
      const ha = linuxHaUnderTest({ hosts, links: [1], dir: join(dir, "ha"), timers: HA_TIMERS });
      try {
        await ha.start();
        heartbeatHa = await idle(() => ha.pids(h1));
      } finally {
        await ha.stop();
      }
    }
    load.push(loadavg()[0] ?? 0);

    // First heartbeat on the wire, each daemon started alone on h1.
    const firstVigil: number[] = [];
    const firstKa: number[] = [];
    const firstHa: number[] = [];
    const fd = mkdtempSync(join(dir, "first-"));
    const cfg = (await startVigilCluster({ hosts, dir: fd, name: "bench", start: [] })).config;
    for (let i = 0; i < (wanted("start") ? STARTS : 0); i++) {
      let p: LabProcess | undefined;
      firstVigil.push(await firstPacketMs(h1, ["udp", "port", "7694"], () => {
        p = h1.spawn([VIGIL_BIN, "run", "--config", cfg, "--node", "h1", "--state-dir", join(fd, `s${i}`), "--listen", "127.0.0.1:0"], { logName: "vigil-first" });
      }, async () => void (await p?.stop(2_000))));
      // Priority 255 (the address owner): keepalived's one way to advertise at once instead of after Master_Down_Interval.
      firstKa.push(await firstPacketMs(h1, ["ip", "proto", "112"], () => {
        p = spawnKeepalived(h1, dir, keepalivedConf("eth0", "MASTER", 255, "1"));
      }, async () => void (await p?.stop(2_000))));
    }
    for (let i = 0; i < (wanted("start") ? Math.min(STARTS, 3) : 0); i++) {
      const n = prepareHaNode({ host: h1, nodes: hosts, timers: HA_TIMERS, dir: join(dir, `ha-first-${i}`), secret: randomBytes(16).toString("hex"), links: [1] });
      try {
        firstHa.push(await firstPacketMs(h1, ["udp", "port", "694"], () => n.start(), () => n.stop()));
      } finally {
        await n.stop();
      }
    }
    return { runtime, timer, heartbeat, heartbeatOld: heartbeatPair.old, module, moduleOld: modulePair.old, vrrp, vrrpOld: vrrpPair.old, consoleUsed, fast, keepalived, heartbeatHa, firstVigil, firstKa, firstHa };
  });

  const cold = wanted("start") ? { vigil: coldStartMs(VIGIL_BIN, ["version"]), keepalived: coldStartMs(KEEPALIVED, ["--version"]) } : { vigil: null, keepalived: null };
  const threadText = (x: Figures | null): string => (x === null ? "-" : Object.entries(x.threads).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(", ") || "-");
  const wakeText = (x: Figures | null): string => (x === null ? "-" : Object.entries(x.wakeups).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${fmt(v, 3)}`).join(", ") || "-");
  const f = result;
  const row = (name: string, x: Figures | null, what: string) =>
    [name, x?.rssMiB, x?.fileMiB, x?.anonMiB, x?.pssMiB, x === null ? null : fmt(x.cpuPercent, 2), x?.processes, what];
  const idleTable = markdownTable(
    ["component (h1, idle, both peers up)", "RSS MiB", "of it file", "of it anon", "PSS MiB", "CPU % of a core", "processes", "what runs"],
    [
      row("runtime: empty program, same Bun and flags", f.runtime, "setInterval(1 s)"),
      row("runtime: a 100 ms timer, the daemon's runtime options", f.timer, "setTimeout chain, 10 wake-ups a second"),
      ...(f.heartbeatOld === null ? [] : [row("vigil: heartbeats (lan), --compare build", f.heartbeatOld, COMPARE ?? "")]),
      row("vigil: heartbeats (lan)", f.heartbeat, "3 nodes, 100 ms / 500 ms, console listening"),
      ...(f.moduleOld === null ? [] : [row("vigil: + failover module, --compare build", f.moduleOld, COMPARE ?? "")]),
      row("vigil: + failover module", f.module, "VIP and scripts on h1, bash fencing watchdog"),
      ...(f.vrrpOld === null ? [] : [row("vigil: + VRRP instance, --compare build", f.vrrpOld, COMPARE ?? "")]),
      row("vigil: + VRRP instance", f.vrrp, "MASTER on h1, advert 1 s"),
      row("vigil: heartbeats, console used", f.consoleUsed, "after 10 status + 10 metrics requests"),
      row("vigil: heartbeats (fast, memory locked)", f.fast, "20 ms / 100 ms, SCHED_RR, mlockall"),
      row("keepalived 2.2.7", f.keepalived, "one VRRP instance, MASTER, advert 1 s"),
      row(`Heartbeat ${heartbeatVersion() ?? "?"}`, f.heartbeatHa, "3 nodes, 100 ms / 500 ms (realtime, locked)"),
    ].filter((r) => r[1] !== undefined),
  );
  const startTable = markdownTable(
    ["measure", "vigil", "keepalived", "Heartbeat"],
    [
      ["file size (MB)", statSync(realpathSync(VIGIL_BIN)).size / 1e6, statSync(KEEPALIVED).size / 1e6, statSync(HEARTBEAT_BIN).size / 1e6],
      [`cold start, version (ms, median of ${RUNS})`, cold.vigil, cold.keepalived, null],
      [`start to first heartbeat on the wire (ms, median of ${STARTS} / ${f.firstHa.length})`, f.firstVigil.length > 0 ? median(f.firstVigil) : null, f.firstKa.length > 0 ? median(f.firstKa) : null, f.firstHa.length > 0 ? median(f.firstHa) : null],
    ],
  );
  const md = [
    `Idle over ${SECONDS} s after ${SETTLE_MS / 1000} s settling; memory the median of one sample a second, every process of the daemon; load average ${load.map((x) => x.toFixed(1)).join(", ")} during the run.${COMPARE === undefined ? "" : ` Vigil rows: the median of ${ROUNDS} windows, old and new build alternating.`}`,
    "",
    idleTable,
    "",
    startTable,
    "",
    `Where vigil's idle CPU goes (heartbeats, lan; % of a core by thread over the window): ${threadText(f.heartbeat)}${f.heartbeatOld === null ? "" : `; --compare build: ${threadText(f.heartbeatOld)}`}.`,
    "",
    markdownTable(
      ["vigil component (h1)", "CPU % of a core by thread", "wake-ups a second by thread"],
      ([
        ["heartbeats (lan), --compare build", f.heartbeatOld], ["heartbeats (lan)", f.heartbeat],
        ["+ failover module, --compare build", f.moduleOld], ["+ failover module", f.module],
        ["+ VRRP instance, --compare build", f.vrrpOld], ["+ VRRP instance", f.vrrp],
        ["console used", f.consoleUsed], ["fast", f.fast], ["runtime: a 100 ms timer", f.timer],
      ] as [string, Figures | null][]).filter(([, x]) => x !== null).map(([name, x]) => [name, threadText(x), wakeText(x)]),
    ),
    "",
  ].join("\n");
  writeResults(values.results, { runs: RUNS, seconds: SECONDS, starts: STARTS, load, binary: VIGIL_BIN, ...(COMPARE === undefined ? {} : { compare: COMPARE, rounds: ROUNDS }), only: [...ONLY], cold, ...result }, md);
  console.log(md);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
// The lab and every process it started have ended here, yet the run was seen to idle on after
// writing its results (no child, no namespace left): leave once they are written.
process.exit(0);
