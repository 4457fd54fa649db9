/**
 * The console under a slow-body attack, beside the same period without one.
 * A single node (`vigil run`, console on 127.0.0.1, no root) is measured in
 * two phases of --seconds each:
 *   quiet:  a legitimate client (curl) reads /api/status every 100 ms;
 *   attack: the same client, while rounds of --connections connections from
 *           --clients loopback addresses each announce a 1 MiB body, send
 *           64 KiB and trickle the rest, at a module command without a token
 *           and at a read-only route (half each).
 * Figures per phase: the daemon's CPU (% of one core), RSS at the start, peak
 * and 15 s after the phase (the runtime gives memory back within seconds),
 * attack connections and how each ended (401/405: answered before the body,
 * 503: over a connection bound, 408/413, none: reset before the answer was
 * read), and the legitimate client's (curl's) answered reads and their median
 * time. The attacker reconnects as soon as a connection ends, so a build that
 * answers at once meets many more connections in the same time.
 *
 *   node_modules/.bin/bun bench/attack-console.ts [--seconds 10] [--connections 300] [--clients 30] [--before /path/to/older/vigil]
 *
 * VIGIL_BIN picks the build under test (default dist/vigil); --before runs the
 * same phases with another build first. Writes bench/results/attack-console.json and .md.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchArgs } from "./lib/args.ts";
import { rssMiB, slowBodyAttack } from "../test/cli/slow-body-attack.ts";
import { usageOf } from "./lib/proc-usage.ts";
import { markdownTable, writeResults } from "./lib/report.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const COMMAND = "node_modules/.bin/bun bench/attack-console.ts";

interface Phase {
  build: string;
  phase: "quiet" | "attack";
  cpuPercent: number;
  rssStartMiB: number;
  rssPeakMiB: number;
  rssAfterMiB: number;
  attackConnections: number;
  endings: Record<string, number>;
  legitimateOk: number;
  legitimateTried: number;
  legitimateMedianMs: number | null;
}

function curl(url: string, user: string | undefined): Promise<{ code: string; seconds: number }> {
  return new Promise((resolve) => {
    const auth = user === undefined ? [] : ["-u", user];
    const c = spawn("curl", ["-s", "-o", "/dev/null", "--max-time", "3", "-w", "%{http_code} %{time_total}", ...auth, url], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    c.stdout?.on("data", (d) => (out += d));
    c.on("exit", () => {
      const [code, seconds] = out.trim().split(" ");
      resolve({ code: code ?? "000", seconds: Number(seconds ?? 0) });
    });
  });
}

const { values } = benchArgs({
  options: {
    seconds: { type: "string", default: "10" },
    connections: { type: "string", default: "300" },
    clients: { type: "string", default: "30" },
    before: { type: "string" },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const clients = Number(values.clients);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runBuild(label: string, bin: string): Promise<Phase[]> {
  const hasLogin = spawnSync(bin, ["help", "passwd"], { stdio: "ignore" }).status === 0;
  const dir = mkdtempSync(join(tmpdir(), "vigil-attack-console-"));
  const config = join(dir, "vigil.yaml");
  writeFileSync(config, [
    "cluster:", "  name: bench", "  key_file: vigil.key", "  heartbeat: { initdead: 1m, port: 7696 }", "  nodes:",
    "    - { name: solo, addresses: [127.0.0.1] }", "    - { name: other, addresses: [127.0.0.2] }",
    'web: { listen: "127.0.0.1:0" }',
    // A build with the console login: plain HTTP (the attack speaks it), the legitimate client logs in with HTTP Basic.
    ...(hasLogin ? ["console: { tls: false }"] : []), "",
  ].join("\n"));
  const keygen = spawn(bin, ["keygen", join(dir, "vigil.key")], { stdio: "ignore" });
  await new Promise((r) => keygen.on("exit", r));
  const proc = spawn(bin, ["run", "--config", config, "--state-dir", join(dir, "state"), "--node", "solo"], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, VIGIL_CONFIG: "" } });
  let log = "";
  proc.stdout?.on("data", (c) => (log += c));
  proc.stderr?.on("data", (c) => (log += c));
  try {
    let where: string | undefined;
    for (let i = 0; i < 300 && where === undefined; i++) {
      where = /console=http:\/\/([\d.:]+)\//.exec(log)?.[1];
      await sleep(50);
    }
    if (where === undefined) throw new Error(`${label}: the daemon did not start:\n${log}`);
    const port = Number(where.split(":")[1]);
    const user = hasLogin ? `admin:${readFileSync(join(dir, "state", "console-password"), "utf8").trim()}` : undefined;
    const pid = proc.pid ?? 0;
    const rss = () => rssMiB(pid, (p) => readFileSync(p, "utf8"));
    const phases: Phase[] = [];
    for (const phase of ["quiet", "attack"] as const) {
      const start = usageOf([pid]);
      const t0 = Date.now();
      const p: Phase = { build: label, phase, cpuPercent: 0, rssStartMiB: rss(), rssPeakMiB: 0, rssAfterMiB: 0, attackConnections: 0, endings: {}, legitimateOk: 0, legitimateTried: 0, legitimateMedianMs: null };
      p.rssPeakMiB = p.rssStartMiB;
      const until = t0 + seconds * 1000;
      // The legitimate client is curl, a process of its own, so the attacker's event loop cannot delay it.
      const latencies: number[] = [];
      const legitimate = (async () => {
        while (Date.now() < until) {
          p.legitimateTried++;
          const r = await curl(`http://${where}/api/status`, user);
          if (r.code === "200") {
            p.legitimateOk++;
            latencies.push(r.seconds * 1000);
          }
          p.rssPeakMiB = Math.max(p.rssPeakMiB, rss());
          await sleep(100);
        }
      })();
      const attack = (async () => {
        if (phase === "quiet") return;
        while (Date.now() < until) {
          const round = (head: string) => slowBodyAttack({
            port, connections: Math.ceil(connections / 2), clients, head,
            bodyBytes: 1 << 20, burstBytes: 64 * 1024, trickleBytes: 1024, trickleMs: 20, giveUpMs: 30_000,
          });
          const outs = await Promise.all([
            round("POST /api/modules/app/stop HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json"),
            round("POST /api/status HTTP/1.1\r\nhost: 127.0.0.1"),
          ]);
          for (const o of outs) {
            for (const [k, v] of Object.entries(o.statuses)) {
              p.endings[k] = (p.endings[k] ?? 0) + v;
              p.attackConnections += v;
            }
            if (o.keptOpen > 0) p.endings["kept open"] = (p.endings["kept open"] ?? 0) + o.keptOpen;
          }
        }
      })();
      await Promise.all([legitimate, attack]);
      const end = usageOf([pid]);
      p.cpuPercent = (100 * (end.cpuSeconds - start.cpuSeconds)) / ((Date.now() - t0) / 1000);
      latencies.sort((x, y) => x - y);
      p.legitimateMedianMs = latencies[Math.floor(latencies.length / 2)] ?? null;
      await sleep(15_000);
      p.rssAfterMiB = rss();
      phases.push(p);
      console.log(JSON.stringify(p));
    }
    return phases;
  } finally {
    proc.kill("SIGTERM");
    await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.on("exit", r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

const phases: Phase[] = [];
if (values.before !== undefined) phases.push(...(await runBuild("before", values.before)));
phases.push(...(await runBuild("this build", process.env.VIGIL_BIN || join(ROOT, "dist", "vigil"))));

const table = markdownTable(
  ["build", "phase", "CPU %", "RSS start MiB", "RSS peak MiB", "RSS 15 s after MiB", "attack conns", "how they ended", "legit reads ok", "legit read median ms"],
  phases.map((p) => [
    p.build, p.phase, p.cpuPercent, p.rssStartMiB, p.rssPeakMiB, p.rssAfterMiB, p.attackConnections,
    Object.entries(p.endings).map(([k, v]) => `${k}: ${v}`).join(", ") || "-", `${p.legitimateOk}/${p.legitimateTried}`, p.legitimateMedianMs,
  ]),
);
const md = [
  "# Console under a slow-body attack",
  "",
  `\`${COMMAND} --seconds ${seconds} --connections ${connections} --clients ${clients}\``,
  "",
  `Rounds of ${connections} connections from ${clients} loopback addresses, each announcing a 1 MiB body, sending 64 KiB and trickling 1 KiB / 20 ms; half at a module command without a token, half at a read-only route.`,
  "",
  table,
  "",
].join("\n");
writeResults("attack-console", { command: COMMAND, seconds, connections, clients, phases }, md);
console.log(`\n${md}`);
