/**
 * A farm module as the daemon reports it (status snapshot, console, CLI).
 * Each node reports its own view: the split it computes, its own counters.
 */

export type FarmRoleName = "wait" | "in" | "out" | "drain" | "stopped";

export interface FarmMemberStatus {
  readonly node: string;
  /** This node's role as it advertises it; "dead"/"unknown" from the heartbeat. */
  readonly state: FarmRoleName | "dead" | "unknown";
  readonly weight: number;
  /** Buckets this node computes for the member under its current view (of 256). */
  readonly buckets: number;
  /** Share of new clients, percent, one decimal. */
  readonly sharePct: number;
  /**
   * New TCP connections the split sent this member since this node's farm
   * started, counted here: every node sees every client's SYN (frames to the
   * virtual MAC reach all nodes) and attributes each bucket's count to its
   * owner at each read (every 2 s and after each rebalance), so any node
   * shows the whole cluster's. Absent before the first read.
   */
  readonly connections?: number;
  /**
   * Dead for this node, but these peers say in their heartbeats that they
   * hear it and count it in: a loss in one direction (this node does not
   * hear it). It stays in this node's view and keeps its buckets.
   */
  readonly heardThrough?: readonly string[];
  /** Heard here, but its heartbeats say it does not hear this node: a loss in one direction. */
  readonly hearsUs?: false;
}

export interface FarmCountersStatus {
  /** New TCP connections accepted here. */
  readonly connections: number;
  /** New TCP connections left to other nodes. */
  readonly othersConnections: number;
  readonly establishedPackets: number;
  readonly midstreamDropped: number;
  readonly udpPackets: number;
  readonly unsplitPackets: number;
}

export interface FarmStatus {
  readonly module: string;
  readonly mode: FarmRoleName;
  readonly detail: string;
  readonly vip: string;
  readonly vmac: string;
  readonly interface: string;
  readonly split: "client_ip" | "client_ip_port";
  readonly ports: readonly number[];
  /** Buckets this node holds in its nft set now. */
  readonly held: number;
  /**
   * Buckets this node owns under its view but does not hold: new clients
   * there get no answer until it takes them (for a moment in a handover;
   * longer while a peer it must wait for does not hear it). Absent: none.
   */
  readonly waiting?: number;
  readonly sharePct: number;
  /** The node answering ARP and taking unsplit traffic in this node's view; null when none. */
  readonly arpOwner: string | null;
  readonly members: readonly FarmMemberStatus[];
  readonly counters: FarmCountersStatus | null;
  readonly lastRebalance: {
    readonly time: string;
    readonly reason: string;
    readonly node: string;
    readonly gained: number;
    readonly lost: number;
    /** How long the nft update took. */
    readonly nftMs: number | null;
  } | null;
}
