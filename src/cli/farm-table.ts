import type { FarmStatus } from "../api/farm.ts";
import { table } from "./text-table.ts";

/** The farm modules of a status snapshot, as `vigil status` prints them: each node's share as this node sees it. */
export function formatFarms(farms: readonly FarmStatus[], self: string): string[] {
  const lines: string[] = [];
  for (const f of farms) {
    if (lines.length > 0) lines.push("");
    lines.push(`FARM ${f.module}: ${f.mode} (${f.detail}); VIP ${f.vip} on ${f.interface}, virtual MAC ${f.vmac}; split ${f.split}, ports ${f.ports.join(" ")}`);
    lines.push(
      ...table(
        ["NODE", "STATE", "WEIGHT", "BUCKETS", "SHARE", "CONNECTIONS", "ARP"],
        f.members.map((m) => [
          m.node === self ? `${m.node} (us)` : m.node,
          m.state,
          String(m.weight),
          String(m.buckets),
          `${m.sharePct.toFixed(1)}%`,
          m.connections === undefined ? "-" : String(m.connections),
          m.node === f.arpOwner ? "owner" : "",
        ]),
        "no nodes",
      ),
    );
    lines.push(`  held here: ${f.held} of 256 buckets (${f.sharePct.toFixed(1)}%)`);
    if (f.waiting !== undefined && f.waiting > 0) {
      lines.push(`  WAITING: ${f.waiting} of this node's buckets are not taken yet: new clients there get no answer until it takes them`);
    }
    for (const m of f.members) {
      if (m.heardThrough !== undefined && m.heardThrough.length > 0) {
        lines.push(`  ONE-WAY: ${m.node} is not heard here but ${m.heardThrough.join(", ")} hear${m.heardThrough.length === 1 ? "s" : ""} it: it keeps its buckets; check the path from ${m.node} to this node`);
      }
      if (m.hearsUs === false) lines.push(`  ONE-WAY: ${m.node} does not hear this node (its heartbeats say so): check the path from this node to ${m.node}`);
    }
    if (f.counters !== null) {
      const c = f.counters;
      lines.push(`  connections accepted here ${c.connections}, left to other nodes ${c.othersConnections}, mid-stream packets of others dropped ${c.midstreamDropped}`);
    }
    const r = f.lastRebalance;
    lines.push(
      r === null
        ? "  last rebalance: none"
        : `  last rebalance: ${r.time} ${r.reason} (${r.node}), +${r.gained} -${r.lost} buckets${r.nftMs === null ? "" : `, nft ${r.nftMs} ms`}`,
    );
  }
  return lines;
}
