/**
 * The farm table's counters, read back from `nft -j list table` (pure
 * parsing): each counted rule carries a comment naming it (FARM_COUNTERS);
 * the per-bucket counters of new connections are named counter objects.
 */
import { BUCKETS } from "../../core/farm/types.ts";
import { bucketCounterName, FARM_COUNTERS } from "./ruleset.ts";

export type FarmCounterName = (typeof FARM_COUNTERS)[keyof typeof FARM_COUNTERS];

export interface FarmCounters {
  /** New TCP connections this node accepted (SYNs in its buckets). */
  readonly connections: number;
  /** New TCP connections left to other nodes. */
  readonly othersConnections: number;
  /** Packets of established connections this node serves. */
  readonly establishedPackets: number;
  /** Mid-stream packets of other nodes' connections, dropped here. */
  readonly midstreamDropped: number;
  /** UDP datagrams this node took: new flows in its buckets and its own flows. */
  readonly udpPackets: number;
  /** UDP datagrams left to other nodes: their buckets and their flows. */
  readonly udpOthersPackets: number;
  /** Packets not split (ICMP, other ports) taken as the ARP owner. */
  readonly unsplitPackets: number;
  /** New TCP connections per bucket, whichever node took them (every node sees every SYN). */
  readonly bucketSyns: readonly number[];
}

export type CountersParse = { readonly ok: true; readonly counters: FarmCounters } | { readonly ok: false; readonly message: string };

interface JsonRule {
  rule?: { comment?: unknown; expr?: unknown };
}

export function parseFarmCounters(json: string): CountersParse {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    return { ok: false, message: `nft -j output is not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  const items = (doc as { nftables?: unknown })?.nftables;
  if (!Array.isArray(items)) return { ok: false, message: "nft -j output has no nftables list" };
  const packets = new Map<string, number>();
  const named = new Map<string, number>();
  for (const item of items as (JsonRule & { counter?: { name?: unknown; packets?: unknown } })[]) {
    const obj = item?.counter;
    if (obj !== undefined && typeof obj.name === "string" && typeof obj.packets === "number") named.set(obj.name, obj.packets);
    const rule = item?.rule;
    if (rule === undefined || typeof rule.comment !== "string" || !Array.isArray(rule.expr)) continue;
    for (const e of rule.expr as { counter?: { packets?: unknown } }[]) {
      const p = e?.counter?.packets;
      if (typeof p === "number") packets.set(rule.comment, p);
    }
  }
  const c = FARM_COUNTERS;
  const get = (name: FarmCounterName): number => packets.get(name) ?? 0;
  return {
    ok: true,
    counters: {
      connections: get(c.tcpMine),
      othersConnections: get(c.tcpOthers),
      establishedPackets: get(c.established),
      midstreamDropped: get(c.midstream),
      udpPackets: get(c.udpMine) + get(c.udpFlowMine),
      udpOthersPackets: get(c.udpOthers) + get(c.udpFlowOthers),
      unsplitPackets: get(c.unsplitMine),
      bucketSyns: Array.from({ length: BUCKETS }, (_, b) => named.get(bucketCounterName(b)) ?? 0),
    },
  };
}
