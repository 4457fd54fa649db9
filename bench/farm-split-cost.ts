/**
 * Where the cost of a client's connections through the farm's split comes
 * from, without the daemon: three farm nodes set up by vigil's own
 * src/sys/farm code (test/lab/fixtures/farm-node.ts: link, table, ARP
 * responder, a TCP service answering its name), a client opening 1000
 * connections 20 at a time, each path run ROUNDS times, interleaved, the
 * median round counted. Beside each round, the CPU time the whole machine
 * spent (from /proc/stat, so other work on a shared machine shows too) and
 * the CPU the vigil daemons used (with VIGIL_BIN set, the last two paths run
 * with vigil's farm, as bench/farm.ts measures them).
 *
 *   node address, no farm             h1's own address before any farm exists
 *   VIP, 3 nodes split                the split as the daemon sets it (buckets by view 0b111)
 *   node address beside the farm      h1's own address while the tables and macvlans exist
 *   VIP, h1 holds every bucket        h2 and h3 still receive every frame (the switch floods
 *                                     the virtual MAC) and drop it in their tables
 *   VIP, h1 alone                     h2 and h3 torn down: only h1 receives the frames
 *   VIP through vigil's split         (VIGIL_BIN) three vigil daemons run the farm
 *   node address while vigil's farm runs
 *
 * Usage: bun bench/farm-split-cost.ts [--rounds 3] [--out farm-split-cost]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchArgs } from "./lib/args.ts";
import { applyView, type FarmSysNode, type FarmSysSpec, farmTable, FARM_PORT, FARM_VIP, runClient, startFarmSysNode, waitForSplit } from "../test/lab/farm-lab.ts";
import { startVigilCluster, type VigilCluster, type VigilNode } from "../test/lab/vigil-cluster.ts";
import { createLab, type LabHost } from "../test/lab/lab.ts";
import { markdownTable, writeResults } from "./lib/report.ts";

const { values } = benchArgs({ options: { rounds: { type: "string", default: "3" }, out: { type: "string", default: "farm-split-cost" } } });
const ROUNDS = Number(values.rounds);

function busyMs(): number {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  // user nice system idle iowait irq softirq steal: all but idle and iowait.
  const busy = cpu.reduce((s, v, i) => (i === 3 || i === 4 ? s : s + (v ?? 0)), 0);
  return busy * 10;
}

/** CPU ms a process and its waited-for children (nft runs, say) used so far (/proc/<pid>/stat, 100 ticks/s). */
function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
    // Fields 14-17 (utime stime cutime cstime) are at 11-14 after the name.
    return ((f[11] ?? 0) + (f[12] ?? 0) + (f[13] ?? 0) + (f[14] ?? 0)) * 10;
  } catch {
    return 0;
  }
}

/** CPU ms of every process now, by "pid name". */
function allProcessesCpu(): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
      out.set(`${pid} ${name}`, ((f[11] ?? 0) + (f[12] ?? 0)) * 10);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The processes that used the most CPU between two snapshots. */
function topBetween(a: Map<string, number>, b: Map<string, number>, n: number): string[] {
  return [...b]
    .map(([k, v]) => [k, v - (a.get(k) ?? 0)] as const)
    .sort((x, y) => y[1] - x[1])
    .slice(0, n)
    .map(([k, v]) => `${k}: ${v} ms`);
}

interface Round {
  connPerSec: number;
  p50: number | null;
  p90: number | null;
  errors: number;
  cpuMsPerConn: number;
  /** CPU the vigil daemons used during the round, per connection (0 without daemons). */
  daemonCpuMsPerConn: number;
}

const lab = await createLab({ hosts: 4 });
const rows: Record<string, Round[]> = {};
let cluster: VigilCluster | undefined;
let idleDaemonCpuPct: number | null = null;
try {
  const [h1, h2, h3, cl] = lab.hosts as [LabHost, LabHost, LabHost, LabHost];
  const spec: FarmSysSpec = { module: "cost", seed: 7, ownershipSeed: 11, split: "client_ip_port", weights: [1, 1, 1] };
  const t = farmTable(spec);
  const nodes: FarmSysNode[] = [];
  for (const h of [h1, h2, h3]) nodes.push(await startFarmSysNode(h, spec));
  let daemons: number[] = [];
  const daemonCpu = (): number => daemons.reduce((s, p) => s + processCpuMs(p), 0);
  const tops: Record<string, string[][]> = {};
  const run = async (name: string, addr: string): Promise<void> => {
    const p0 = allProcessesCpu();
    const c0 = busyMs();
    const d0 = daemonCpu();
    const r = await runClient(cl, { mode: "tcp", vip: addr, count: 1000, concurrency: 20 });
    const d1 = daemonCpu();
    const c1 = busyMs();
    (tops[name] ??= []).push(topBetween(p0, allProcessesCpu(), 5));
    const round: Round = {
      connPerSec: Math.round(1000 / ((r.elapsedMs ?? 1) / 1000)),
      p50: r.latencyMs?.p50 ?? null,
      p90: r.latencyMs?.p90 ?? null,
      errors: r.errors,
      cpuMsPerConn: (c1 - c0) / 1000,
      daemonCpuMsPerConn: (d1 - d0) / 1000,
    };
    (rows[name] ??= []).push(round);
    console.log(name, JSON.stringify(round));
  };
  // Every path in every round, so the machine's load (shared) weighs on all alike.
  for (let i = 0; i < ROUNDS; i++) {
    await run("node address, no farm", h1.addr(1));
    for (const n of nodes) await n.command("setup");
    await applyView(nodes, t, 0b111);
    await run("VIP, 3 nodes split", FARM_VIP);
    await run("node address beside the farm", h1.addr(1));
    // h1 alone in the view holds every bucket and answers ARP; h2 and h3 hold nothing.
    await nodes[1]!.command("write - 0");
    await nodes[2]!.command("write - 0");
    await nodes[0]!.command(`write ${Array.from({ length: 256 }, (_, b) => b).join(",")} 1`);
    await run("VIP, h1 holds every bucket", FARM_VIP);
    await nodes[1]!.command("teardown");
    await nodes[2]!.command("teardown");
    await run("VIP, h1 alone", FARM_VIP);
    await nodes[0]!.command("teardown");
  }

  // The same paths with vigil running the farm (as bench/farm.ts measures them), and the daemons' CPU.
  if (process.env.VIGIL_BIN !== undefined) {
    const dir = mkdtempSync(join(tmpdir(), "vigil-bench-cost-"));
    try {
      cluster = await startVigilCluster({
        hosts: [h1, h2, h3],
        dir,
        heartbeat: { interval: "100ms", deadtime: "500ms", initdead: "3s" },
        extraYaml: ["modules:", "  - name: web", "    type: farm", `    vip: ${FARM_VIP}/24`, `    ports: [${FARM_PORT}]`, "    split: client_ip_port"],
      });
      await cluster.waitForMesh();
      const vn = cluster.nodes as VigilNode[];
      await waitForSplit(vn, ["h1", "h2", "h3"]);
      daemons = vn.map((n) => n.proc.pid);
      const i0 = daemonCpu();
      const w0 = Date.now();
      await new Promise((r) => setTimeout(r, 10_000));
      idleDaemonCpuPct = (100 * (daemonCpu() - i0)) / (Date.now() - w0);
      for (let i = 0; i < ROUNDS; i++) {
        await run("VIP through vigil's split", FARM_VIP);
        await run("node address while vigil's farm runs", h1.addr(1));
      }
    } finally {
      await cluster?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    for (let i = 0; i < ROUNDS; i++) await run("node address, vigil stopped again", h1.addr(1));
  }

  const median = (name: string): Round => {
    const rs = [...(rows[name] ?? [])].sort((a, b) => a.connPerSec - b.connPerSec);
    return rs[Math.floor(rs.length / 2)]!;
  };
  const names = Object.keys(rows);
  const f = (v: number | null): string => (v === null ? "-" : v.toFixed(2));
  const table = markdownTable(
    ["path", "connections/s", "latency p50 ms", "p90 ms", "machine CPU ms per connection", "of which vigil daemons", "errors"],
    names.map((n) => {
      const m = median(n);
      return [n, String(m.connPerSec), f(m.p50), f(m.p90), m.cpuMsPerConn.toFixed(2), m.daemonCpuMsPerConn.toFixed(2), String((rows[n] ?? []).reduce((s, r) => s + r.errors, 0))];
    }),
  );
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  const md = [
    `## Farm: where the split's cost comes from (the first five rows without the daemon; 1000 connections, 20 at a time; median of ${ROUNDS} rounds, the first five paths interleaved in each, the vigil rows after them; load ${load} at the end)`,
    "",
    table,
    "",
    ...(idleDaemonCpuPct === null ? [] : [`The three vigil daemons, idle (10 s, farm serving, 100/500 ms heartbeat): ${idleDaemonCpuPct.toFixed(1)} % of one core together.`, ""]),
  ].join("\n");
  writeResults(values.out, { rounds: rows, load, idleDaemonCpuPct, busiestProcessesByRound: tops }, md);
  for (const [k, v] of Object.entries(tops)) console.log(k, JSON.stringify(v.map((r) => r.slice(0, 3))));
  console.log(md);
} finally {
  await lab.destroy();
}
