/**
 * Footprint of vigil beside keepalived, measured in the same run:
 * file size, cold start (`--version`, median of N), and idle RSS and CPU of
 * the running daemon over a window. Both daemons run inside a namespace this
 * script creates (a veth pair, documentation addresses, no default route)
 * with one VRRP-sized job: keepalived one VRRP instance, vigil a two-node
 * cluster heartbeating to a peer that never answers.
 *
 *   node_modules/.bin/bun bench/footprint.ts [--runs 20] [--seconds 20]
 *
 * Writes bench/results/footprint.json and bench/results/footprint.md.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { runs: { type: "string", default: "20" }, seconds: { type: "string", default: "20" } } });
const RUNS = Number(values.runs);
const SECONDS = Number(values.seconds);
const ROOT = new URL("../", import.meta.url).pathname;
const VIGIL = process.env.VIGIL_BIN || join(ROOT, "dist/vigil");
const KEEPALIVED = "/usr/sbin/keepalived";
const TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

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

/** RSS (KiB) and CPU ticks summed over a process and its children. */
function usage(pids: number[]): { rssKiB: number; ticks: number } {
  let rssKiB = 0, ticks = 0;
  for (const pid of pids) {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    rssKiB += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(f[11]) + Number(f[12]);
  }
  return { rssKiB, ticks };
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function idle(start: () => number, settleMs = 3000): Promise<{ rssMiB: number; cpuPct: number }> {
  const pid = start();
  try {
    await new Promise((r) => setTimeout(r, settleMs));
    const pids = () => [pid, ...childrenOf(pid)];
    const a = usage(pids());
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const b = usage(pids());
    return { rssMiB: b.rssKiB / 1024, cpuPct: ((b.ticks - a.ticks) / TCK / SECONDS) * 100 };
  } finally {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // Already gone.
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

const ns = `vb-${Math.random().toString(16).slice(2, 8)}`;
const dir = mkdtempSync(join(tmpdir(), "vigil-footprint-"));
const sh = (...args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: "inherit" });
const inNs = (...args: string[]) => ["ip", "netns", "exec", ns, ...args];

try {
  sh("ip", "netns", "add", ns);
  sh(...inNs("ip", "link", "set", "lo", "up"));
  sh(...inNs("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"));
  sh(...inNs("ip", "addr", "add", "198.51.100.11/24", "dev", "v0"));
  sh(...inNs("ip", "addr", "add", "198.51.100.12/24", "dev", "v1"));
  sh(...inNs("ip", "link", "set", "v0", "up"));
  sh(...inNs("ip", "link", "set", "v1", "up"));

  writeFileSync(join(dir, "keepalived.conf"), [
    "global_defs { router_id bench }",
    "vrrp_instance VI_1 {",
    "  state BACKUP", "  interface v0", "  virtual_router_id 51", "  priority 100", "  advert_int 1",
    "  virtual_ipaddress { 198.51.100.50/24 }",
    "}", "",
  ].join("\n"));
  execFileSync(VIGIL, ["keygen", join(dir, "vigil.key")], { stdio: "ignore" });
  writeFileSync(join(dir, "vigil.yaml"), [
    "cluster:", "  name: bench", "  key_file: vigil.key",
    "  nodes:", "    - { name: a, addresses: [198.51.100.11] }", "    - { name: b, addresses: [198.51.100.12] }",
    "web: { listen: 127.0.0.1:9010 }", "",
  ].join("\n"));

  const vigilIdle = await idle(() => {
    const p = spawn(inNs(VIGIL)[0]!, [...inNs(VIGIL).slice(1), "run", "--config", join(dir, "vigil.yaml"), "--node", "a", "--state-dir", join(dir, "state")], { stdio: "ignore" });
    return p.pid!;
  });
  const keepalivedIdle = await idle(() => {
    const p = spawn("ip", ["netns", "exec", ns, KEEPALIVED, "-n", "-l", "-G", "-P", "-f", join(dir, "keepalived.conf"), "-p", join(dir, "k.pid"), "-r", join(dir, "kv.pid")], { stdio: "ignore" });
    return p.pid!;
  });

  const rows = [
    { name: "file size (MB)", vigil: statSync(VIGIL).size / 1e6, keepalived: statSync(KEEPALIVED).size / 1e6 },
    { name: `cold start, --version (ms, median of ${RUNS})`, vigil: coldStartMs(VIGIL, ["version"]), keepalived: coldStartMs(KEEPALIVED, ["--version"]) },
    { name: `idle RSS (MiB, all processes)`, vigil: vigilIdle.rssMiB, keepalived: keepalivedIdle.rssMiB },
    { name: `idle CPU (% of one core over ${SECONDS} s)`, vigil: vigilIdle.cpuPct, keepalived: keepalivedIdle.cpuPct },
  ];
  const fmt = (n: number) => (n >= 10 ? n.toFixed(1) : n.toFixed(2));
  const md = [
    `| measure | vigil | keepalived 2.2.7 | ratio vigil/keepalived |`,
    `|---|---|---|---|`,
    ...rows.map((r) => `| ${r.name} | ${fmt(r.vigil)} | ${fmt(r.keepalived)} | ${r.keepalived > 0 ? fmt(r.vigil / r.keepalived) : "-"} |`),
  ].join("\n");
  mkdirSync(join(ROOT, "bench/results"), { recursive: true });
  writeFileSync(join(ROOT, "bench/results/footprint.json"), JSON.stringify({ date: new Date().toISOString(), runs: RUNS, seconds: SECONDS, rows }, null, 2) + "\n");
  writeFileSync(join(ROOT, "bench/results/footprint.md"), md + "\n");
  console.log(md);
} finally {
  spawnSync("ip", ["netns", "del", ns]);
}
