/**
 * Farm modules on the real binary: how fast a dead node's clients are served
 * again, beside the heartbeat's detection of the death in the same run; what
 * a rebalance breaks; what the split costs a client; and how long one rule
 * update takes for 2, 8 and 32 nodes.
 *
 *   node_modules/.bin/bun bench/farm.ts [--kills 20]
 *
 * (VIGIL_BIN=/path/to/vigil picks the binary; default dist/vigil. Root only.)
 *
 * Lab (test/lab/lab.ts): h1-h3 run vigil with one farm module (VIP
 * 198.51.100.50/24, port 8080, split client_ip_port, heartbeat interval
 * 100 ms, deadtime 500 ms) and a TCP service on 0.0.0.0:8080 that answers
 * with the node's name; h4 is the client; h5 runs the same service without
 * vigil. All on one switch, no default route.
 *
 * Per kill (round robin over the three nodes):
 * - a prober on the client opens a connection every 10 ms (given up after
 *   300 ms) from source ports whose buckets belong to the victim;
 * - 30 streaming connections (a line every 50 ms each way) run across the kill;
 * - the victim's daemon is SIGKILLed (its service stays up; its exit guard
 *   removes its table, macvlan and VIP);
 * - detection: the survivors' first "peer X dead" log line after the kill;
 *   answered: the first prober connection answered by a survivor;
 *   rebalanced: the last survivor's "farm rebalanced" log line (nft written);
 * - broken: streaming connections to survivors that broke across the kill,
 *   and across the victim's return (target 0).
 * Split cost: 1000 connections, 20 at a time, in interleaved rounds while
 * vigil runs: to h5's address (a host on the same switch with the same
 * service, no vigil and no farm: no rules at all), to the VIP through the
 * split, and to h1's own address (no farm rule matches it); 5 rounds each,
 * the median round counts (the machine is shared: measuring the no-rules
 * path alone, before vigil started, compared it with another moment's load).
 * Rule update: bench/farm-nft-timing.ts in a lab namespace.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchArgs } from "./lib/args.ts";
import { nftBucket } from "../src/core/farm/jhash.ts";
import { owners, ownershipTable } from "../src/core/farm/ownership.ts";
import { BUCKETS } from "../src/core/farm/types.ts";
import { farmSeeds } from "../src/daemon/farm/seeds.ts";
import { askReport, BUN, FARM_FIXTURES, FARM_PORT, FARM_VIP, runClient, waitForSplit } from "../test/lab/farm-lab.ts";
import { createLab, type LabHost, type LabProcess, REPO_ROOT } from "../test/lab/lab.ts";
import { startVigilCluster, type VigilCluster, type VigilNode } from "../test/lab/vigil-cluster.ts";
import { markdownTable, writeResults } from "./lib/report.ts";
import { percentile, summarize } from "./lib/stats.ts";

const { values } = benchArgs({ options: { kills: { type: "string", default: "20" } } });
const KILLS = Number(values.kills);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function startServer(h: LabHost): LabProcess {
  const args = { name: h.name, module: "svc", interface: h.ifname(1), vip: FARM_VIP, vmac: "02:00:00:00:00:01", seed: 0, ports: [FARM_PORT], split: "client_ip_port" };
  return h.spawn([BUN, join(FARM_FIXTURES, "farm-node.ts"), JSON.stringify(args)], { logName: `svc-${h.name}` });
}

function client(h: LabHost, name: string, args: Record<string, unknown>): LabProcess {
  return h.spawn([BUN, join(FARM_FIXTURES, "farm-client.ts"), JSON.stringify({ vip: FARM_VIP, port: FARM_PORT, ...args })], { logName: name });
}

interface KillRow {
  victim: string;
  detectionMs: number;
  answeredMs: number | null;
  rebalancedMs: number | null;
  brokenOnKill: number;
  brokenOnReturn: number;
  survivorStreams: number;
}

const lab = await createLab({ hosts: 5 });
const dir = mkdtempSync(join(tmpdir(), "vigil-bench-farm-"));
let cluster: VigilCluster | undefined;
try {
  const [h1, h2, h3, cl, h5] = lab.hosts as [LabHost, LabHost, LabHost, LabHost, LabHost];
  for (const h of [h1, h2, h3, h5]) await startServer(h).waitFor(/^ready$/m, 20_000);

  console.log("rule update timing (2, 8, 32 nodes)...");
  const timing = JSON.parse(
    (await h1.exec([BUN, join(REPO_ROOT, "bench", "farm-nft-timing.ts"), "60"], { check: true, timeoutMs: 300_000 })).stdout.trim(),
  ) as { nodes: Record<string, { coreMs: number[]; nftMs: number[]; netlinkMs: number[]; buckets: number[] }> };

  // The machine is shared: each path runs ROUNDS times, interleaved, and the median round counts.
  const ROUNDS = 5;
  const load = (vip: string) => runClient(cl, { mode: "tcp", vip, count: 1000, concurrency: 20 });
  cluster = await startVigilCluster({
    hosts: [h1, h2, h3],
    dir,
    heartbeat: { interval: "100ms", deadtime: "500ms", initdead: "3s" },
    extraYaml: ["modules:", "  - name: web", "    type: farm", `    vip: ${FARM_VIP}/24`, `    ports: [${FARM_PORT}]`, "    split: client_ip_port"],
  });
  await cluster.waitForMesh();
  const nodes = cluster.nodes as [VigilNode, VigilNode, VigilNode];
  await waitForSplit(nodes, ["h1", "h2", "h3"]);

  console.log("interleaved: h5's address (no rules), the VIP through the split, h1's own address (which no farm rule matches)...");
  const plainRounds = [];
  const splitRounds = [];
  const besideRounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    plainRounds.push(await load(h5.addr(1)));
    splitRounds.push(await load(FARM_VIP));
    besideRounds.push(await load(h1.addr(1)));
  }
  const pick = (rounds: Awaited<ReturnType<typeof load>>[]) => {
    const rate = (x: Awaited<ReturnType<typeof load>>): number => 1000 / ((x.elapsedMs ?? 1) / 1000);
    const sorted = [...rounds].sort((a, b) => rate(a) - rate(b));
    const mid = sorted[Math.floor(sorted.length / 2)]!;
    return { connPerSec: Math.round(rate(mid)), latencyMs: mid.latencyMs, errors: rounds.reduce((s, x) => s + x.errors, 0) };
  };
  const plain = pick(plainRounds);
  const split = pick(splitRounds);
  const beside = pick(besideRounds);

  const seeds = farmSeeds(readFileSync(cluster.keyFile), "lab", "web");
  const table = ownershipTable([1, 2, 3].map((i) => ({ name: `h${i}`, weight: 1 })), seeds.ownershipSeed);
  const full = owners(table, 0b111);
  const ownerOfPort = (sport: number): number => full[nftBucket(cl.addr(1), sport, BUCKETS, seeds.nftSeed)] ?? -1;

  const rows: KillRow[] = [];
  let cursor = 10_000;
  for (let k = 0; k < KILLS; k++) {
    const vi = k % 3;
    const victim = nodes[vi]!;
    const survivors = nodes.filter((_, i) => i !== vi);
    const ports: number[] = [];
    while (ports.length < 300) {
      if (cursor > 60_000) cursor = 10_000;
      if (ownerOfPort(cursor) === vi) ports.push(cursor);
      cursor++;
    }
    const stream = client(cl, `stream-${k}`, { mode: "stream", count: 30, intervalMs: 50 });
    await stream.waitFor(/^streaming$/m, 20_000);
    const probe = client(cl, `probe-${k}`, { mode: "probe", ports, intervalMs: 10, timeoutMs: 300 });
    await probe.waitFor(/^probing$/m, 20_000);
    await sleep(800);
    const before = await askReport(stream);

    const killAt = Date.now();
    victim.proc.kill("SIGKILL");
    const rebal = await Promise.all(
      survivors.map((s) =>
        s
          .waitForLog((e) => e.msg === "farm rebalanced" && e.fields.reason === "peer-dead" && e.fields.about === victim.name, { after: killAt, timeoutMs: 15_000 })
          .then((e) => e.at)
          .catch(() => null),
      ),
    );
    const deaths = survivors.map((s) => s.events().find((e) => e.at >= killAt && e.msg === `peer ${victim.name} dead`)?.at ?? Infinity);
    await sleep(700);
    probe.write("quit\n");
    await probe.exited;
    const answers = probe
      .output()
      .split("\n")
      .filter((l) => l.startsWith("probe "))
      .map((l) => l.split(" "))
      .filter((f) => Number(f[1]) >= killAt && survivors.some((s) => s.name === f[4]))
      .map((f) => Number(f[2]));
    const mid = await askReport(stream);
    const onSurvivors = (r: { broken: string[] }): number => r.broken.filter((b) => !b.startsWith(`${victim.name}:`)).length;

    await victim.start();
    await waitForSplit(nodes, ["h1", "h2", "h3"]);
    await sleep(1000);
    const after = await askReport(stream);
    stream.write("quit\n");
    const survivorStreams = Object.entries(before.byNode).filter(([n]) => n !== victim.name).reduce((s, [, c]) => s + c, 0);
    const row: KillRow = {
      victim: victim.name,
      detectionMs: Math.min(...deaths) - killAt,
      answeredMs: answers.length === 0 ? null : Math.min(...answers) - killAt,
      rebalancedMs: rebal.every((x) => x !== null) ? Math.max(...(rebal as number[])) - killAt : null,
      brokenOnKill: onSurvivors(mid) - onSurvivors(before),
      brokenOnReturn: onSurvivors(after) - onSurvivors(mid),
      survivorStreams,
    };
    rows.push(row);
    console.log(`kill ${k + 1}/${KILLS} ${victim.name}: detection ${row.detectionMs} ms, answered ${row.answeredMs} ms, rebalanced ${row.rebalancedMs} ms, broken ${row.brokenOnKill}/${row.brokenOnReturn} of ${survivorStreams}`);
  }

  const det = rows.map((r) => r.detectionMs);
  const ans = rows.map((r) => r.answeredMs).filter((x): x is number => x !== null);
  const reb = rows.map((r) => r.rebalancedMs).filter((x): x is number => x !== null);
  const extra = rows.filter((r) => r.answeredMs !== null).map((r) => (r.answeredMs as number) - r.detectionMs);
  const q = (xs: number[], p: number): number | null => (xs.length === 0 ? null : Math.round(percentile(xs, p)));
  const nft = Object.fromEntries(
    Object.entries(timing.nodes).map(([n, t]) => [n, { buckets: t.buckets[0], core: summarize(t.coreMs), nft: summarize(t.nftMs), netlink: summarize(t.netlinkMs) }]),
  );
  const json = {
    kills: KILLS,
    heartbeat: { interval_ms: 100, deadtime_ms: 500 },
    rows,
    detection: { median: q(det, 50), p90: q(det, 90) },
    answered: { median: q(ans, 50), p90: q(ans, 90), missing: rows.length - ans.length },
    answeredAfterDetection: { median: q(extra, 50), p90: q(extra, 90) },
    rebalanced: { median: q(reb, 50), p90: q(reb, 90) },
    broken: { onKill: rows.reduce((s, r) => s + r.brokenOnKill, 0), onReturn: rows.reduce((s, r) => s + r.brokenOnReturn, 0), survivorStreams: rows.reduce((s, r) => s + r.survivorStreams, 0) },
    clients: { rounds: ROUNDS, connectionsPerRound: 1000, noRules: plain, split, nodeAddressWhileFarmRuns: beside },
    ruleUpdate: nft,
  };
  const md = [
    `## Farm: rebalance after a kill (${KILLS} SIGKILLs, heartbeat interval 100 ms, deadtime 500 ms)`,
    "",
    markdownTable(
      ["", "median ms", "p90 ms"],
      [
        ["heartbeat detection (first survivor logs the death)", json.detection.median, json.detection.p90],
        ["victim's clients answered again (prober, 10 ms steps)", json.answered.median, json.answered.p90],
        ["  of which after detection", json.answeredAfterDetection.median, json.answeredAfterDetection.p90],
        ["every survivor's nft written", json.rebalanced.median, json.rebalanced.p90],
      ],
    ),
    "",
    `Streaming connections to survivors broken: ${json.broken.onKill} on kill, ${json.broken.onReturn} on the victim's return (of ${json.broken.survivorStreams} over all kills).`,
    "",
    "## Farm: what the split costs a client (1000 connections, 20 at a time; median of 5 interleaved rounds)",
    "",
    markdownTable(
      ["path", "connections/s", "latency p50 ms", "p90 ms", "errors"],
      [
        ["h5's address, no vigil, no rules", plain.connPerSec, plain.latencyMs?.p50?.toFixed(2), plain.latencyMs?.p90?.toFixed(2), String(plain.errors)],
        ["VIP through the split", split.connPerSec, split.latencyMs?.p50?.toFixed(2), split.latencyMs?.p90?.toFixed(2), String(split.errors)],
        ["node address while the farm runs", beside.connPerSec, beside.latencyMs?.p50?.toFixed(2), beside.latencyMs?.p90?.toFixed(2), String(beside.errors)],
      ],
    ),
    "",
    "## Farm: one rule update (core owners + one transaction: `nft -f`, or the same as netlink messages)",
    "",
    markdownTable(
      ["nodes", "buckets in the set", "core median ms", "nft median ms", "nft p90 ms", "netlink median ms", "netlink p90 ms"],
      Object.entries(nft).map(([n, t]) => [n, t.buckets, t.core.median.toFixed(2), t.nft.median.toFixed(1), t.nft.p90.toFixed(1), t.netlink.median.toFixed(2), t.netlink.p90.toFixed(2)]),
    ),
    "",
  ].join("\n");
  const files = writeResults("farm", json, md);
  console.log(md);
  console.log(`wrote ${files.json} and ${files.md}`);
} finally {
  await cluster?.stop();
  await lab.destroy();
  rmSync(dir, { recursive: true, force: true });
}
