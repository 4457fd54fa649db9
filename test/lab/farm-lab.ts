/**
 * Farm lab helpers: farm nodes driven without the daemon (fixtures/farm-node.ts),
 * a client (fixtures/farm-client.ts), and the owners the core predicts.
 *
 *   h1..hN  farm nodes on link 1 (eth0, 198.51.100.1x)
 *   last    the client (198.51.100.1x too)
 *
 * The VIP 198.51.100.50 is shared; the virtual MAC comes from the names.
 */
import { join } from "node:path";
import { nftBucket } from "../../src/core/farm/jhash.ts";
import { arpOwnerOf, bucketsOf, owners, ownershipTable, type OwnershipTable } from "../../src/core/farm/ownership.ts";
import { BUCKETS } from "../../src/core/farm/types.ts";
import { virtualMac } from "../../src/core/farm/vmac.ts";
import type { FarmStatus } from "../../src/api/farm.ts";
import { parseFarmCounters } from "../../src/sys/farm/counters.ts";
import { farmTableName } from "../../src/sys/farm/ruleset.ts";
import { type Lab, type LabHost, type LabNode, type LabProcess, REPO_ROOT, waitUntil } from "./lab.ts";
import type { VigilNode } from "./vigil-cluster.ts";

export const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
export const FARM_FIXTURES = join(REPO_ROOT, "test", "lab", "fixtures");
export const FARM_VIP = "198.51.100.50";
export const FARM_PORT = 8080;

/** A farm lab's hosts (useLab({ hosts: 4 })): the first three are the farm's nodes, the fourth its client. */
export function farmHosts(lab: Lab): { nodes: LabHost[]; client: LabHost } {
  return { nodes: lab.hosts.slice(0, 3), client: lab.hosts[3]! };
}

export interface FarmSysNode {
  readonly host: LabHost;
  readonly name: string;
  readonly proc: LabProcess;
  /** Sends one command, waits for its answer line; throws on "err". */
  command(line: string): Promise<string>;
}

export interface FarmSysSpec {
  readonly module: string;
  readonly seed: number;
  readonly ownershipSeed: number;
  readonly split: "client_ip" | "client_ip_port";
  readonly weights: readonly number[];
  /** The service answers UDP with "<name> <datagram>" (default: the name alone). */
  readonly echoUdp?: boolean;
}

export function farmTable(spec: FarmSysSpec): OwnershipTable {
  return ownershipTable(spec.weights.map((weight, i) => ({ name: `h${i + 1}`, weight })), spec.ownershipSeed);
}

export async function startFarmSysNode(host: LabHost, spec: FarmSysSpec): Promise<FarmSysNode> {
  const args = {
    name: host.name,
    module: spec.module,
    interface: host.ifname(1),
    vip: FARM_VIP,
    vmac: virtualMac("lab", spec.module),
    seed: spec.seed,
    ports: [FARM_PORT],
    split: spec.split,
    ...(spec.echoUdp === true ? { echoUdp: true } : {}),
  };
  const proc = host.spawn([BUN, join(FARM_FIXTURES, "farm-node.ts"), JSON.stringify(args)], { logName: `farm-${host.name}` });
  await proc.waitFor(/^ready$/m, 20_000);
  let answered = 0;
  const command = async (line: string): Promise<string> => {
    const verb = line.split(" ")[0] ?? "";
    proc.write(`${line}\n`);
    const want = ++answered;
    let got = "";
    await proc.waitFor(() => {
      const lines = proc.output().split("\n").filter((l) => /^(ok|err) /.test(l));
      const l = lines[want - 1];
      if (l === undefined) return false;
      got = l;
      return true;
    }, 20_000);
    if (!got.startsWith(`ok ${verb}`)) throw new Error(`${host.name}: ${line}: ${got}`);
    return got.slice(`ok ${verb}`.length).trim();
  };
  return { host, name: host.name, proc, command };
}

/** Writes each node's buckets under `view` (bitmask over nodes), removals first. */
export async function applyView(nodes: readonly FarmSysNode[], t: OwnershipTable, view: number, before?: number): Promise<number[]> {
  const arp = arpOwnerOf(t, view);
  const times: number[] = [];
  const write = async (i: number): Promise<void> => {
    const n = nodes[i];
    if (n === undefined || ((view >> i) & 1) === 0) return;
    const held = bucketsOf(t, i, view);
    const out = await n.command(`write ${held.length === 0 ? "-" : held.join(",")} ${arp === i ? 1 : 0}`);
    times.push(Number(out));
  };
  if (before === undefined) {
    await Promise.all(nodes.map((_, i) => write(i)));
    return times;
  }
  // Nodes that lose buckets first, then those that gain.
  const old = owners(t, before);
  const now = owners(t, view);
  const gains = (i: number): boolean => Array.from({ length: BUCKETS }, (_, b) => b).some((b) => now[b] === i && old[b] !== i);
  for (const i of nodes.keys()) if (!gains(i)) await write(i);
  for (const i of nodes.keys()) if (gains(i)) await write(i);
  return times;
}

export interface ClientResult {
  byNode: Record<string, number>;
  errors: number;
  results: [number, string][];
  /** tcp mode: wall time of the whole run and per-connection latency (connect to first line). */
  elapsedMs?: number;
  latencyMs?: { p50: number | null; p90: number | null; p99: number | null };
}

export async function runClient(client: LabHost, args: Record<string, unknown>): Promise<ClientResult> {
  const r = await client.exec([BUN, join(FARM_FIXTURES, "farm-client.ts"), JSON.stringify({ vip: FARM_VIP, port: FARM_PORT, ...args })], {
    check: true,
    timeoutMs: 300_000,
  });
  return JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as ClientResult;
}

/** What a streaming client (farm-client.ts, mode "stream") reports when asked. */
export interface StreamReport {
  byNode: Record<string, number>;
  broken: string[];
  open: number;
  lines: number;
  ports: [number, string][];
}

/**
 * Asks a fixture process that answers `report` with one JSON line (a
 * streaming client) for a fresh report: sends the command, waits for a JSON
 * line newer than those it printed before.
 */
export async function askReport<T = StreamReport>(p: LabProcess, timeoutMs = 10_000): Promise<T> {
  // Whole lines only: a long report can be read while it is still being written.
  const jsonLines = (): string[] => {
    const out = p.output();
    return out
      .slice(0, out.lastIndexOf("\n") + 1)
      .split("\n")
      .filter((l) => l.startsWith("{"));
  };
  const before = jsonLines().length;
  p.write("report\n");
  let line = "";
  await p.waitFor(() => {
    const ls = jsonLines();
    if (ls.length <= before) return false;
    line = ls[ls.length - 1] ?? "";
    return true;
  }, timeoutMs);
  return JSON.parse(line) as T;
}

/**
 * Starts the service behind the VIP on a node (a TCP and UDP echo of its name, farm-node.ts without
 * a table; with `echoUdp` a UDP answer also repeats the datagram); resolves once it listens.
 */
export async function startFarmService(h: LabHost, o: { echoUdp?: boolean } = {}): Promise<LabProcess> {
  const args = { name: h.name, module: "svc", interface: h.ifname(1), vip: FARM_VIP, vmac: "02:00:00:00:00:01", seed: 0, ports: [FARM_PORT], split: "client_ip_port", ...(o.echoUdp === true ? { echoUdp: true } : {}) };
  const p = h.spawn([BUN, join(FARM_FIXTURES, "farm-node.ts"), JSON.stringify(args)], { logName: `svc-${h.name}` });
  await p.waitFor(/^ready$/m, 20_000);
  return p;
}

/**
 * Cuts a host off behind its switch port, both ways in one nft transaction
 * (a cut applied one direction at a time would leave the host hearing
 * clients it cannot answer for a moment, another failure); its carrier stays up.
 */
export async function cutAtSwitch(sw: LabNode, h: LabHost, on: boolean): Promise<void> {
  const port = `h${h.index}l1`;
  const script = on
    ? [
        "table netdev vigil_farm_cut {",
        `  chain from_host { type filter hook ingress device "${port}" priority 0; policy drop; }`,
        `  chain to_host { type filter hook egress device "${port}" priority 0; policy drop; }`,
        "}",
      ]
    : ["delete table netdev vigil_farm_cut"];
  await sw.exec(["nft", "-f", "-"], { input: `${script.join("\n")}\n`, check: true });
}

/** The nft counter of new connections a node accepted (rule "new-mine"), read from its kernel: it answers while the daemon is frozen. */
export async function acceptedCount(h: LabHost, module = "web"): Promise<number> {
  const r = await h.exec(["nft", "-j", "list", "table", "inet", farmTableName(module)], { check: true });
  const parsed = parseFarmCounters(r.stdout);
  if (!parsed.ok) throw new Error(`${h.name}: ${parsed.message}`);
  return parsed.counters.connections;
}

/** Starts `count` long-lived connections to the VIP, each sending a line every intervalMs; resolves once they stream. */
export async function startStream(client: LabHost, name: string, count: number): Promise<LabProcess> {
  const p = client.spawn([BUN, join(FARM_FIXTURES, "farm-client.ts"), JSON.stringify({ mode: "stream", vip: FARM_VIP, port: FARM_PORT, count, intervalMs: 50 })], {
    logName: name,
  });
  await p.waitFor(/^streaming$/m, 20_000);
  return p;
}

/** Which node the split sends (client, sport) to under `view`. */
export function predictedOwner(t: OwnershipTable, spec: FarmSysSpec, view: number, clientIp: string, sport: number): string {
  const b = nftBucket(clientIp, spec.split === "client_ip" ? undefined : sport, BUCKETS, spec.seed);
  const o = owners(t, view)[b] ?? -1;
  return o < 0 ? "none" : `h${o + 1}`;
}

/** The node's farm view from `vigil status --json`. */
export async function farmOf(n: VigilNode): Promise<FarmStatus | undefined> {
  const s = await n.status();
  return s.farms?.find((f) => f.module === "web");
}

/** Waits until every listed node serves with the member set `members` (names) and the holdings add up to 256. */
export async function waitForSplit(nodes: readonly VigilNode[], members: readonly string[], timeoutMs = 20_000): Promise<void> {
  await waitUntil(
    async () => {
      const fs = await Promise.all(nodes.map(farmOf));
      if (fs.some((f) => f === undefined)) return false;
      const inNodes = nodes.filter((_, i) => fs[i]?.mode === "in").map((n) => n.name);
      const total = fs.reduce((s, f) => s + (f?.held ?? 0), 0);
      const agree = fs.every((f) => f?.members.filter((m) => m.state === "in").map((m) => m.node).sort().join() === [...members].sort().join());
      return agree && [...inNodes].sort().join() === [...members].filter((m) => nodes.some((n) => n.name === m)).sort().join() && total === BUCKETS;
    },
    { timeoutMs, what: `the split over ${members.join(", ")}` },
  );
}
