/**
 * The nft text of a farm module's table (pure). One table per module, owned by
 * vigil, in family inet:
 *
 * - `mine` holds this node's buckets; `arp_owner` holds the VIP when this node
 *   answers ARP and so takes the traffic that is not split.
 * - TCP: packets of connections this node already has pass first (conntrack),
 *   so a rebalance never moves an established connection; other mid-stream
 *   packets are dropped, or our stack would answer another node's connection
 *   with a RST; a new connection (a SYN) is hashed and accepted only in our
 *   buckets.
 * - UDP has no handshake and no mid-stream marker, so the table remembers
 *   flows itself: every node sees every datagram, and `flows` maps each flow
 *   (client address and port, VIP port) to the node that answers it, by the
 *   same packets on every node, so every node keeps the same memory. A
 *   flow's first datagram goes to its bucket's holder, who records itself
 *   (FLOW_SELF); the others record the holder as they know it (`owner`, one
 *   value per bucket, written by the driver: src/core/farm/flows.ts). After
 *   that a flow stays with its node across every rebalance, as long as that
 *   node is in `live` (members alive and serving; on the node itself, while
 *   its lease runs); a flow whose node is gone goes to its bucket's holder,
 *   and every node records that holder in its place. Records expire after
 *   FLOW_TIMEOUT_S without a datagram. A dynamic map cannot be updated
 *   without data, hence `: meta mark` on refreshes (the data of an existing
 *   element is kept), and delete-then-add where the owner changes.
 * - The hash is staged in meta mark and matched against a `type mark` set:
 *   matching `jhash` against a set directly needs a typeof-jhash set, which
 *   makes `nft list` crash in nftables 1.0.6. It overwrites the packet mark of
 *   packets to the VIP's split ports, which matters only to fwmark routing.
 * - The seed is always written out: a node that left it to nft would hash
 *   with a random seed and split differently from its peers.
 * - Every node sees every client packet (frames to the virtual MAC are
 *   flooded), so each counts the new TCP connections of every bucket
 *   (`syn_<bucket>` counters, through the `syns` map): with the split, that
 *   gives every member's connection count on any node (counters.ts).
 * - `lease` holds the VIP with a timeout (src/core/farm/lease.ts): new
 *   clients (our buckets, and the ARP owner's unsplit traffic) are accepted
 *   only while it runs, so a frozen daemon's node falls silent before its
 *   peers take over. Established connections do not depend on it.
 *
 * Updates flush and refill the two sets in one `nft -f` transaction, so the
 * rules and their counters stay. Every update renews the lease by deleting
 * and re-adding its element: when the lease has lapsed the delete fails, and
 * with it the whole transaction, so no write revives a lapsed lease (the
 * driver then tells the core). Also an update that holds no bucket: a lapse
 * it hid would leave the flows we recorded before it answered again under
 * the new lease, beside the peers that took them while we were silent. Only
 * the write that follows a reported lapse (our flows forgotten, holding
 * nothing) re-arms the lease unconditionally.
 */
import { BUCKETS } from "../../core/farm/types.ts";

export type FarmSplit = "client_ip" | "client_ip_port";

export interface FarmTableSpec {
  readonly module: string;
  /** IPv4, without prefix length. */
  readonly vip: string;
  readonly ports: readonly number[];
  readonly split: FarmSplit;
  readonly seed: number;
  /** The lease's timeout (see lease.ts). */
  readonly leaseMs: number;
}

export const FARM_TABLE_PREFIX = "vigil_farm_";

/**
 * The owner value of this node's own UDP flows in its `flows` map: above
 * every peer value (src/core/farm/flow-owner-value.ts, 1-65504).
 */
export const FLOW_SELF = 0x10000;

/**
 * How long a UDP flow is remembered without a datagram: the kernel's own
 * default for an answered UDP stream (nf_conntrack_udp_timeout_stream).
 */
export const FLOW_TIMEOUT_S = 120;

/** Flows remembered at most; beyond that new flows go by bucket only. */
export const FLOW_MAX = 65536;

/** Name of the counter of new TCP connections in bucket b. */
export function bucketCounterName(bucket: number): string {
  return `syn_${bucket}`;
}

/** Rule comments, also the keys of the counters read back (counters.ts). */
export const FARM_COUNTERS = {
  established: "established",
  midstream: "others-midstream",
  tcpMine: "new-mine",
  tcpOthers: "new-others",
  udpMine: "udp-mine",
  udpFlowMine: "udp-flow-mine",
  udpFlowOthers: "udp-flow-others",
  udpOthers: "udp-others",
  unsplitMine: "unsplit-mine",
  unsplitOthers: "unsplit-others",
} as const;

/**
 * The table's name: the module name where nft allows it as is, else its
 * letters and digits plus a hash of the whole name (so two modules never share).
 */
export function farmTableName(module: string): string {
  if (/^[A-Za-z0-9_]{1,40}$/.test(module)) return `${FARM_TABLE_PREFIX}${module}`;
  let h = 0x811c9dc5;
  for (const ch of new TextEncoder().encode(module)) h = Math.imul(h ^ ch, 0x01000193) >>> 0;
  const clean = module.replace(/[^A-Za-z0-9_]/g, "_").slice(0, 30);
  return `${FARM_TABLE_PREFIX}${clean}_${h.toString(16).padStart(8, "0")}`;
}

function hex(seed: number): string {
  return `0x${(seed >>> 0).toString(16).padStart(8, "0")}`;
}

function checkSpec(spec: FarmTableSpec): void {
  if (!/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(spec.vip) || spec.vip.split(".").some((p) => Number(p) > 255)) {
    throw new RangeError(`farm ${spec.module}: VIP ${JSON.stringify(spec.vip)} is not an IPv4 address`);
  }
  if (spec.ports.length === 0 || spec.ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    throw new RangeError(`farm ${spec.module}: ports must be 1-65535, got ${spec.ports.join(", ")}`);
  }
  checkLease(spec.module, spec.leaseMs);
}

function checkLease(module: string, leaseMs: number): void {
  if (!Number.isInteger(leaseMs) || leaseMs < 1) throw new RangeError(`farm ${module}: lease must be a whole number of ms >= 1, got ${leaseMs}`);
}

function hashExpr(split: FarmSplit, proto: "tcp" | "udp", seed: number): string {
  const key = split === "client_ip" ? "ip saddr" : `ip saddr . ${proto} sport`;
  return `jhash ${key} mod ${BUCKETS} seed ${hex(seed)}`;
}

/** Lines that remove the table if it is there: a crashed daemon's leftovers, or ours on stop. */
export function farmDropLines(module: string): string[] {
  const name = farmTableName(module);
  return [`table inet ${name}`, `delete table inet ${name}`];
}

/**
 * The whole table, created empty (no buckets, not the ARP owner), after
 * removing any leftover of the same name: one transaction.
 */
export function farmSetupRuleset(spec: FarmTableSpec): string {
  checkSpec(spec);
  const name = farmTableName(spec.module);
  const c = FARM_COUNTERS;
  const to = `ip daddr ${spec.vip}`;
  const ports = spec.ports.length === 1 ? String(spec.ports[0]) : `{ ${spec.ports.join(", ")} }`;
  const tcp = `${to} tcp dport ${ports}`;
  const buckets = Array.from({ length: BUCKETS }, (_, b) => b);
  const udp = `${to} udp dport ${ports}`;
  const flow = "ip saddr . udp sport . udp dport";
  return [
    ...farmDropLines(spec.module),
    `table inet ${name} {`,
    `  set mine { type mark; }`,
    `  set arp_owner { type ipv4_addr; }`,
    `  set lease { type ipv4_addr; flags timeout; elements = { ${spec.vip} timeout ${spec.leaseMs}ms } }`,
    ...buckets.map((b) => `  counter ${bucketCounterName(b)} { }`),
    `  map syns { type mark : counter; elements = { ${buckets.map((b) => `${b} : "${bucketCounterName(b)}"`).join(", ")} } }`,
    `  set live { type mark; }`,
    `  map owner { type mark : mark; }`,
    `  map flows { type ipv4_addr . inet_service . inet_service : mark; flags dynamic,timeout; timeout ${FLOW_TIMEOUT_S}s; size ${FLOW_MAX}; }`,
    `  chain input {`,
    `    type filter hook input priority filter - 5; policy accept;`,
    `    ${tcp} ct state established,related counter accept comment "${c.established}"`,
    `    ${tcp} tcp flags & (syn | ack) != syn counter drop comment "${c.midstream}"`,
    `    ${tcp} meta mark set ${hashExpr(spec.split, "tcp", spec.seed)}`,
    `    ${tcp} counter name meta mark map @syns`,
    `    ${tcp} meta mark @mine ip daddr @lease counter accept comment "${c.tcpMine}"`,
    `    ${tcp} counter drop comment "${c.tcpOthers}"`,
    `    ${udp} meta mark set 0x0`,
    `    ${udp} meta mark set ${flow} map @flows`,
    `    ${udp} meta mark ${hex(FLOW_SELF)} ip daddr @lease update @flows { ${flow} : meta mark } counter accept comment "${c.udpFlowMine}"`,
    `    ${udp} meta mark @live update @flows { ${flow} : meta mark } counter drop comment "${c.udpFlowOthers}"`,
    `    ${udp} meta mark set ${hashExpr(spec.split, "udp", spec.seed)}`,
    // Recorded in a rule of its own: a full map must not keep the datagram from being accepted.
    `    ${udp} meta mark @mine ip daddr @lease delete @flows { ${flow} : meta mark } add @flows { ${flow} : ${hex(FLOW_SELF)} }`,
    `    ${udp} meta mark @mine ip daddr @lease counter accept comment "${c.udpMine}"`,
    `    ${udp} meta mark set meta mark map @owner delete @flows { ${flow} : meta mark } add @flows { ${flow} : meta mark }`,
    `    ${udp} counter drop comment "${c.udpOthers}"`,
    `    ip daddr @arp_owner ip daddr @lease counter accept comment "${c.unsplitMine}"`,
    `    ${to} counter drop comment "${c.unsplitOthers}"`,
    `  }`,
    `}`,
    "",
  ].join("\n");
}

/**
 * Lines that renew the lease only if it still runs: the delete fails on a
 * lapsed lease and takes the transaction with it. They come first, so that
 * failure is reported on line 1 (see isLapsedFailure).
 */
export function farmRenewLines(module: string, vip: string, leaseMs: number): string[] {
  checkLease(module, leaseMs);
  const name = farmTableName(module);
  return [`delete element inet ${name} lease { ${vip} }`, `add element inet ${name} lease { ${vip} timeout ${leaseMs}ms }`];
}

/** The lease renewal alone, as its own transaction. */
export function farmRenewRuleset(module: string, vip: string, leaseMs: number): string {
  return [...farmRenewLines(module, vip, leaseMs), ""].join("\n");
}

/**
 * Whether nft's failure is the renewal's delete finding no lease element
 * (line 1, ENOENT): the lease lapsed.
 */
export function isLapsedFailure(message: string): boolean {
  return /:1:\d+(?:-\d+)?: Error: Could not process rule: No such file or directory/.test(message);
}

/**
 * Our buckets and ARP ownership: both sets replaced in one transaction, with
 * the lease renewed only if it still runs; `rearm` (holding nothing) arms a
 * new one whatever became of the last (see the header).
 */
export function farmUpdateRuleset(module: string, vip: string, held: readonly number[], arpOwner: boolean, leaseMs: number, rearm = false): string {
  const name = farmTableName(module);
  for (const b of held) {
    if (!Number.isInteger(b) || b < 0 || b >= BUCKETS) throw new RangeError(`farm ${module}: bucket ${b} is not in 0-${BUCKETS - 1}`);
  }
  if (rearm && (held.length > 0 || arpOwner)) throw new RangeError(`farm ${module}: only a write that holds nothing re-arms the lease`);
  const lines = !rearm
    ? farmRenewLines(module, vip, leaseMs)
    : (checkLease(module, leaseMs), [`flush set inet ${name} lease`, `add element inet ${name} lease { ${vip} timeout ${leaseMs}ms }`]);
  lines.push(`flush set inet ${name} mine`);
  if (held.length > 0) lines.push(`add element inet ${name} mine { ${held.join(", ")} }`);
  lines.push(`flush set inet ${name} arp_owner`);
  if (arpOwner) lines.push(`add element inet ${name} arp_owner { ${vip} }`);
  lines.push("");
  return lines.join("\n");
}

/**
 * Who answers UDP flows as this node knows it: `owners[b]` is the value to
 * record for a new flow in bucket b (0: none, the bucket is ours or has no
 * holder yet), `live` the peer values whose recorded flows are left to them.
 * `forget` first empties the flow memory (see FarmAction "forget-flows").
 */
export function farmFlowsRuleset(module: string, owners: readonly number[], live: readonly number[], forget = false): string {
  const name = farmTableName(module);
  const lines = forget ? [`flush map inet ${name} flows`] : [];
  lines.push(`flush map inet ${name} owner`);
  const pairs = ownerPairs(module, owners);
  if (pairs.length > 0) lines.push(`add element inet ${name} owner { ${pairs.map(([b, o]) => `${b} : ${o}`).join(", ")} }`);
  lines.push(`flush set inet ${name} live`);
  for (const v of live) checkPeerValue(module, v);
  if (live.length > 0) lines.push(`add element inet ${name} live { ${live.join(", ")} }`);
  lines.push("");
  return lines.join("\n");
}

function checkPeerValue(module: string, v: number): void {
  if (!Number.isInteger(v) || v < 1 || v >= FLOW_SELF) throw new RangeError(`farm ${module}: flow owner ${v} is not a peer value 1-${FLOW_SELF - 1}`);
}

/** The (bucket, owner) pairs to write: owners with a value, checked. */
export function ownerPairs(module: string, owners: readonly number[]): [number, number][] {
  if (owners.length !== BUCKETS) throw new RangeError(`farm ${module}: ${owners.length} flow owners, want ${BUCKETS}`);
  const out: [number, number][] = [];
  owners.forEach((o, b) => {
    if (o === 0) return;
    checkPeerValue(module, o);
    out.push([b, o]);
  });
  return out;
}

/** Removes the table, there or not. */
export function farmTeardownRuleset(module: string): string {
  return [...farmDropLines(module), ""].join("\n");
}
