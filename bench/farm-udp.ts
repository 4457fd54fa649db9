/**
 * What the farm's UDP flow memory costs, on the kernel in lab namespaces:
 *
 *   node_modules/.bin/bun bench/farm-udp.ts [--rounds 5]
 *
 * (root only). h1 runs a farm table of vigil's own (src/sys/farm, through
 * the farm-node fixture), holding every bucket, and a UDP service answering
 * "<name> <datagram>" on 0.0.0.0:8080; h2 is the client. Per round, 100 flows
 * send 100 datagrams each, one after another's answer, to the VIP through
 * the split (every datagram looks its flow up in the table's `flows` map and
 * refreshes it; the first also records it), and the same to h1's own address
 * (no farm rule matches it), interleaved; the median round counts. Beside
 * it: the time to write the UDP flow owners (a 256-entry map and the live
 * set, one netlink transaction), from bench/farm-nft-timing.ts.
 */
import { join } from "node:path";
import { benchArgs } from "./lib/args.ts";
import { BUN, FARM_FIXTURES, FARM_PORT, FARM_VIP, startFarmSysNode } from "../test/lab/farm-lab.ts";
import { createLab, type LabHost, REPO_ROOT } from "../test/lab/lab.ts";
import { markdownTable, writeResults } from "./lib/report.ts";
import { percentile, summarize } from "./lib/stats.ts";

const { values } = benchArgs({ options: { rounds: { type: "string", default: "5" } } });
const ROUNDS = Number(values.rounds);
const FLOWS = 100;
const PER_FLOW = 100;

interface Load {
  datagrams: number;
  lost: number;
  elapsedMs: number;
  rttMs: number[];
}

const lab = await createLab({ hosts: 2 });
try {
  const [h1, cl] = lab.hosts as [LabHost, LabHost];
  const node = await startFarmSysNode(h1, { module: "udpbench", seed: 7, ownershipSeed: 7, split: "client_ip_port", weights: [1], echoUdp: true });
  await node.command("setup");
  await node.command(`write ${Array.from({ length: 256 }, (_, b) => b).join(",")} 1`);
  const load = async (host: string, round: number): Promise<Load> => {
    const args = { host, port: FARM_PORT, flows: FLOWS, perFlow: PER_FLOW, firstPort: 20000 + (round % 20) * 1000 };
    const r = await cl.exec([BUN, join(REPO_ROOT, "bench", "farm-udp-client.ts"), JSON.stringify(args)], { check: true, timeoutMs: 300_000 });
    return JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as Load;
  };
  const viaSplit: Load[] = [];
  const direct: Load[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    viaSplit.push(await load(FARM_VIP, r));
    direct.push(await load(h1.addr(1), r));
    console.log(`round ${r + 1}/${ROUNDS}`);
  }
  const flowsCount = (await h1.exec(["nft", "-j", "list", "map", "inet", "vigil_farm_udpbench", "flows"], { check: true })).stdout.match(/"elem"/g)?.length ?? 0;
  const timing = JSON.parse((await h1.exec([BUN, join(REPO_ROOT, "bench", "farm-nft-timing.ts"), "60"], { check: true, timeoutMs: 300_000 })).stdout.trim()) as {
    nodes: Record<string, { flowsMs: number[]; netlinkMs: number[] }>;
  };
  await node.command("teardown");
  node.proc.write("quit\n");

  const median = (rounds: Load[]): { perSec: number; p50: number; p90: number; p99: number; lost: number } => {
    const rate = (x: Load): number => (x.datagrams - x.lost) / (x.elapsedMs / 1000);
    const mid = [...rounds].sort((a, b) => rate(a) - rate(b))[Math.floor(rounds.length / 2)]!;
    return { perSec: Math.round(rate(mid)), p50: percentile(mid.rttMs, 50), p90: percentile(mid.rttMs, 90), p99: percentile(mid.rttMs, 99), lost: rounds.reduce((s, x) => s + x.lost, 0) };
  };
  const split = median(viaSplit);
  const plain = median(direct);
  const writes = Object.fromEntries(Object.entries(timing.nodes).map(([n, t]) => [n, { flows: summarize(t.flowsMs), buckets: summarize(t.netlinkMs) }]));
  const json = { rounds: ROUNDS, flows: FLOWS, perFlow: PER_FLOW, split, nodeAddress: plain, flowsRecorded: flowsCount, writes };
  const md = [
    `## Farm UDP: a datagram through the split with the flow memory (${FLOWS} flows x ${PER_FLOW} datagrams, each after the last one's answer; median of ${ROUNDS} interleaved rounds)`,
    "",
    markdownTable(
      ["path", "datagrams/s", "RTT p50 ms", "p90 ms", "p99 ms", "lost"],
      [
        ["VIP through the split (flow looked up, refreshed)", split.perSec, split.p50.toFixed(3), split.p90.toFixed(3), split.p99.toFixed(3), String(split.lost)],
        ["node address (no farm rule matches)", plain.perSec, plain.p50.toFixed(3), plain.p90.toFixed(3), plain.p99.toFixed(3), String(plain.lost)],
      ],
    ),
    "",
    `Flows in the table's memory at the end: ${flowsCount}.`,
    "",
    "## Farm UDP: writing the flow owners (256-entry owner map and the live set, one netlink transaction) beside the bucket update",
    "",
    markdownTable(
      ["nodes", "flow owners median ms", "p90 ms", "bucket update median ms", "p90 ms"],
      Object.entries(writes).map(([n, w]) => [n, w.flows.median.toFixed(2), w.flows.p90.toFixed(2), w.buckets.median.toFixed(2), w.buckets.p90.toFixed(2)]),
    ),
    "",
  ].join("\n");
  const files = writeResults("farm-udp", json, md);
  console.log(md);
  console.log(`wrote ${files.json} and ${files.md}`);
} finally {
  await lab.destroy();
}
