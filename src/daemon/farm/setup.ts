/**
 * The one place that turns the farm modules of vigil.yaml into what the farm
 * engine runs: the core's config (nodes, weights, seeds) and the OS side
 * (interface, VIP, virtual MAC, ports). The split, seeds and virtual MAC come
 * out the same on every node.
 */
import { networkInterfaces } from "node:os";
import type { FarmModule, VigilConfig } from "../../config/types.ts";
import { ipv4ToNumber } from "../../config/formats.ts";
import { MAX_FARM_NODES } from "../../core/farm/members.ts";
import { virtualMac } from "../../core/farm/vmac.ts";
import { farmSeeds } from "./seeds.ts";
import type { FarmCoreConfig } from "../../core/farm/types.ts";
import { type LeaseTimes, leaseTimes } from "../../core/farm/lease.ts";
import { readKeyFile } from "../../sys/keyfile.ts";
import { FARM_FLOWS_PORT_OFFSET, type FlowLinkSpec } from "./flow-link.ts";

export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

export interface FarmModuleSetup {
  readonly name: string;
  readonly core: FarmCoreConfig;
  readonly vip: string;
  readonly ports: readonly number[];
  readonly split: "client_ip" | "client_ip_port";
  readonly nftSeed: number;
  readonly vmac: string;
  readonly interface: string;
  readonly checkers: FarmModule["checkers"];
  /** The kernel lease on our buckets, from the heartbeat timers (lease.ts). */
  readonly lease: LeaseTimes;
  /** The node's socket for flow reports (flow-link.ts), the same for every farm module; absent: none. */
  readonly flowLink?: FlowLinkSpec;
}

export type FarmSetupResult =
  | { readonly ok: true; readonly modules: readonly FarmModuleSetup[]; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly message: string };

function weightsOf(m: FarmModule): Readonly<Record<string, number>> {
  return m.weights ?? {};
}

function drainTimeoutOf(m: FarmModule): number {
  return m.drain_timeout ?? DEFAULT_DRAIN_TIMEOUT_MS;
}

/** The local interface whose own IPv4 subnet holds the VIP, if one does. */
export function interfaceForVip(vipCidr: string, ifaces = networkInterfaces()): string | undefined {
  const vip = ipv4ToNumber(vipCidr.split("/")[0] ?? "");
  for (const [name, addrs] of Object.entries(ifaces)) {
    for (const a of addrs ?? []) {
      if (a.family !== "IPv4" || a.internal) continue;
      const prefix = Number(a.cidr?.split("/")[1] ?? 32);
      const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
      if (((ipv4ToNumber(a.address) & mask) >>> 0) === ((vip & mask) >>> 0)) return name;
    }
  }
  return undefined;
}

export function farmSetup(config: VigilConfig, self: string, opts: { key?: Uint8Array; ifaces?: ReturnType<typeof networkInterfaces> } = {}): FarmSetupResult {
  const farms = config.modules.filter((m): m is FarmModule => m.type === "farm");
  if (farms.length === 0) return { ok: true, modules: [], warnings: [] };
  const nodes = config.cluster.nodes;
  if (nodes.length > MAX_FARM_NODES) return { ok: false, message: `a farm module runs on at most ${MAX_FARM_NODES} nodes; the cluster has ${nodes.length}` };
  const selfIndex = nodes.findIndex((n) => n.name === self);
  if (selfIndex < 0) return { ok: false, message: `farm modules: this node ${self} is not in cluster.nodes` };
  const warnings: string[] = [];
  const hb = config.cluster.heartbeat;
  const lease = leaseTimes(hb.interval, hb.deadtime);
  if (!lease.guaranteed) {
    warnings.push(
      `farm modules: with heartbeat interval ${hb.interval} ms and deadtime ${hb.deadtime} ms the kernel lease (${lease.leaseMs} ms) outlasts the takeover; a frozen daemon's node can answer its old buckets beside their new owner for up to ${lease.leaseMs - (hb.deadtime - hb.interval)} ms`,
    );
  }
  let key = opts.key;
  if (key === undefined) {
    if (config.cluster.key_file !== undefined) {
      const k = readKeyFile(config.cluster.key_file);
      if (!k.ok) return { ok: false, message: k.message };
      key = k.key;
    } else {
      key = new TextEncoder().encode(config.cluster.name);
      warnings.push("farm modules: no cluster.key_file, so the bucket seed comes from the cluster name and anyone can compute it");
    }
  }
  const flowPort = hb.port + FARM_FLOWS_PORT_OFFSET;
  let flowLink: FlowLinkSpec | undefined;
  if (flowPort > 65535) {
    warnings.push(`farm modules: the flow report port (heartbeat port ${hb.port} + ${FARM_FLOWS_PORT_OFFSET}) is above 65535; a starting node learns its peers' UDP flows by watching only`);
  } else {
    const peers = nodes.filter((_, i) => i !== selfIndex).map((n) => ({ name: n.name, addresses: n.addresses }));
    flowLink = { key, port: flowPort, cluster: config.cluster.name, self, peers };
  }
  const out: FarmModuleSetup[] = [];
  for (const m of farms) {
    const vipCidr = m.vips[0];
    if (vipCidr === undefined || m.vips.length !== 1) return { ok: false, message: `farm ${m.name}: needs exactly one vip, has ${m.vips.length}` };
    const vip = vipCidr.split("/")[0] ?? vipCidr;
    const iface = m.interface ?? interfaceForVip(vipCidr, opts.ifaces);
    if (iface === undefined) {
      return { ok: false, message: `farm ${m.name}: no interface of this node is in the subnet of ${vipCidr}; give the module an interface:` };
    }
    const weights = weightsOf(m);
    const seeds = farmSeeds(key, config.cluster.name, m.name);
    out.push({
      name: m.name,
      core: {
        module: m.name,
        nodes: nodes.map((n) => ({ name: n.name, weight: weights[n.name] ?? 1 })),
        self: selfIndex,
        ownershipSeed: seeds.ownershipSeed,
        drainTimeoutMs: drainTimeoutOf(m),
        settleMs: hb.deadtime,
        learnMs: hb.deadtime,
        // With flow reports, a listening node waits for every report a while past learnMs (farm.ts awaitedReports).
        ...(flowLink === undefined ? {} : { reportWaitMs: REPORT_WAIT_DEADTIMES * hb.deadtime }),
        witness: config.cluster.witness.ping.length > 0,
      },
      vip,
      ports: m.ports,
      split: m.split,
      nftSeed: seeds.nftSeed,
      vmac: virtualMac(config.cluster.name, m.name),
      interface: iface,
      checkers: m.checkers,
      lease,
      ...(flowLink === undefined ? {} : { flowLink }),
    });
  }
  return { ok: true, modules: out, warnings };
}

/**
 * How many deadtimes past its listening time a node waits for a peer's report
 * of its UDP flows: a peer slow to read its table (a loaded host) has told in
 * about a second at worst in CI; one that never answers (no flow link) costs
 * a joining or lapsed node this long before it takes its share.
 */
export const REPORT_WAIT_DEADTIMES = 10;

/** What a reload compares: a farm restarts when any of this changes. */
export function farmConfigKey(config: VigilConfig): string {
  return JSON.stringify({
    nodes: config.cluster.nodes.map((n) => n.name),
    cluster: config.cluster.name,
    key: config.cluster.key_file,
    farms: config.modules.filter((m) => m.type === "farm"),
    witness: config.cluster.witness.ping,
  });
}
