/**
 * A heartbeat flood from a host that is not a peer, beside the same period
 * without one: two nodes (h1 PRIM of module `web`, a VIP; h2 SECOND) on one
 * link at the lan preset, and an attacker h3 on the same bridge replaying
 * heartbeat frames "captured" from h2 (valid MACs, old seqs) with several
 * C senders (test/lab/fixtures/udp-flood.c) at the highest rate they reach.
 *
 * Phases, each --seconds long and followed by 3 x (deadtime + interval) of
 * calm for late verdicts: quiet; flood at h1 (the PRIM); flood at h2.
 * Figures per phase: datagrams/s sent, the victim daemon's CPU (% of one
 * core) and RSS, the kernel's UDP counters in the victim's namespace
 * (InDatagrams, NoPorts: dropped before any socket, RcvbufErrors: dropped
 * for a full socket buffer), dead verdicts and module transitions (role
 * changes logged) on either node,
 * and the stalls the nodes credited themselves.
 *
 *   node_modules/.bin/bun bench/attack-flood.ts [--seconds 10] [--senders 2] [--before /path/to/older/vigil]
 *
 * --before runs the same phases with another build first (a fresh lab each),
 * for a before/after table. VIGIL_BIN picks the build under test (default
 * dist/vigil). Root only; needs gcc. Writes bench/results/attack-flood.json
 * and .md and prints the table; namespaces and processes go at the end.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchArgs } from "./lib/args.ts";
import { withLab } from "../test/lab/lab.ts";
import { counterDelta, flood, processUsage, udpCounters, writeReplayFrames, buildFlooder, type UdpCounters } from "../test/lab/udp-flood.ts";
import { isStall, peerChange, startVigilCluster, type VigilLogEvent, type VigilNode } from "../test/lab/vigil-cluster.ts";
import { sleep, waitUntil } from "../test/lab/wait.ts";
import { markdownTable, writeResults } from "./lib/report.ts";

const COMMAND = "node_modules/.bin/bun bench/attack-flood.ts";
/** lan preset: 3 x (deadtime + interval). */
const CALM_MS = 3 * (500 + 100);

interface Phase {
  build: string;
  phase: string;
  sentPerSecond: number;
  victimCpuPercent: number;
  victimRssMiB: number;
  kernel: UdpCounters;
  deadVerdicts: number;
  moduleMoves: number;
  stalls: number;
}

const isMove = (e: VigilLogEvent): boolean => e.msg.startsWith("module web ") && e.msg.includes(" -> ");
const isDead = (e: VigilLogEvent): boolean => e.fields["to"] === "dead" && typeof e.fields["peer"] === "string" && peerChange(String(e.fields["peer"]), "dead")(e);

/** The phases with the build VIGIL_BIN names (fixed when this process started). */
async function runBuild(label: string, o: { seconds: number; senders: number; dir: string; flooder: string }): Promise<Phase[]> {
  return withLab({ hosts: 3, links: 1 }, async (lab) => {
    const [h1, h2, attacker] = [lab.host(1), lab.host(2), lab.host(3)];
    const c = await startVigilCluster({
      hosts: [h1, h2],
      dir: mkdtempSync(join(o.dir, `${label}-`)),
      heartbeat: { preset: "lan" },
      extraYaml: ["modules:", "  - name: web", "    type: failover", "    prefer: h1", "    failback: manual", "    vip: 198.51.100.100/24", `    interface: ${h1.ifname(1)}`],
    });
    try {
      await c.waitForMesh();
      const role = async (n: VigilNode) => (await n.status()).modules?.find((m) => m.name === "web")?.state;
      await waitUntil(async () => (await role(c.node("h1"))) === "PRIM" && (await role(c.node("h2"))) === "SECOND", { timeoutMs: 30_000, intervalMs: 200, what: "h1 PRIM, h2 SECOND" });
      const frames = join(o.dir, `${label}-frames.bin`);
      writeReplayFrames(frames, { keyFile: c.keyFile, cluster: "lab", node: "h2" });
      const out: Phase[] = [];
      for (const phase of ["quiet", "flood h1 (PRIM)", "flood h2 (SECOND)"]) {
        const victim = phase.includes("h2") ? c.node("h2") : c.node("h1");
        const k0 = await udpCounters(victim.host);
        const u0 = processUsage(victim.proc.pid);
        const from = Date.now();
        const t0 = performance.now();
        let rate = 0;
        if (phase === "quiet") await sleep(o.seconds * 1000);
        else rate = (await flood(attacker, { flooder: o.flooder, frames, address: victim.host.addr(1), port: 7694, seconds: o.seconds, processes: o.senders })).perSecond;
        const seconds = (performance.now() - t0) / 1000;
        const u1 = processUsage(victim.proc.pid);
        const kernel = counterDelta(k0, await udpCounters(victim.host));
        await sleep(CALM_MS);
        const events = [c.node("h1"), c.node("h2")].flatMap((n) => n.events().filter((e) => e.at >= from));
        out.push({
          build: label,
          phase,
          sentPerSecond: rate,
          victimCpuPercent: (100 * (u1.cpuSeconds - u0.cpuSeconds)) / seconds,
          victimRssMiB: u1.rssKiB / 1024,
          kernel,
          deadVerdicts: events.filter(isDead).length,
          moduleMoves: events.filter(isMove).length,
          stalls: events.filter(isStall).length,
        });
        console.log(`${label}: ${phase} done`);
      }
      return out;
    } finally {
      await c.stop();
    }
  });
}

async function main(): Promise<void> {
  const { values } = benchArgs({
    options: { seconds: { type: "string", default: "10" }, senders: { type: "string", default: "2" }, before: { type: "string" }, "phases-json": { type: "string" }, label: { type: "string" } },
  });
  const seconds = Number(values.seconds);
  const senders = Number(values.senders);
  const dir = mkdtempSync(join(tmpdir(), "vigil-attack-flood-"));
  try {
    const flooder = await buildFlooder(join(dir, "bin"));
    const only = values["phases-json"];
    if (only !== undefined) {
      // A run for another build (--before): this process was started with its VIGIL_BIN.
      writeFileSync(only, JSON.stringify(await runBuild(values.label ?? "before", { seconds, senders, dir, flooder })));
      return;
    }
    const phases: Phase[] = [];
    if (values.before !== undefined) {
      const file = join(dir, "before.json");
      execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--seconds", String(seconds), "--senders", String(senders), "--phases-json", file, "--label", "before"], {
        stdio: ["ignore", "inherit", "inherit"],
        env: { ...process.env, VIGIL_BIN: values.before },
      });
      phases.push(...(JSON.parse(readFileSync(file, "utf8")) as Phase[]));
    }
    phases.push(...(await runBuild("this build", { seconds, senders, dir, flooder })));
    const table = markdownTable(
      ["build", "phase", "datagrams/s sent", "victim CPU %", "victim RSS MiB", "InDatagrams", "NoPorts", "RcvbufErrors", "dead verdicts", "module transitions", "stalls"],
      phases.map((p) => [
        p.build, p.phase, String(Math.round(p.sentPerSecond)), p.victimCpuPercent, p.victimRssMiB,
        ...[p.kernel.InDatagrams, p.kernel.NoPorts, p.kernel.RcvbufErrors, p.deadVerdicts, p.moduleMoves, p.stalls].map(String),
      ]),
    );
    const md = [`# Heartbeat flood from a host that is not a peer`, "", `\`${COMMAND} --seconds ${seconds} --senders ${senders}${values.before === undefined ? "" : " --before ..."}\``, "", table, ""].join("\n");
    const paths = writeResults("attack-flood", { seconds, senders, phases }, md);
    console.log(md);
    console.log(`written: ${paths.json}, ${paths.md}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
