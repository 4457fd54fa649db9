/**
 * Events, actions and state of the farm core (src/core/farm/farm.ts).
 *
 * A farm shares one VIP among all nodes: nftables on every node hashes each
 * new client into one of BUCKETS buckets and accepts only the buckets the node
 * holds. Which node holds which bucket follows from the set of eligible members
 * (live, healthy, not draining), so every node computes the same split.
 */

/** The kernel hashes clients into this many buckets (`jhash ... mod 256`). */
export const BUCKETS = 256;

/**
 * A set of members as a bitmask over the configured node list (bit i = node i).
 * At most 32 nodes, so it is a non-negative 32-bit integer; it travels in the
 * heartbeat module advert's generation field.
 */
export type Members = number;

export interface FarmNode {
  readonly name: string;
  /** Relative share of buckets; > 0. */
  readonly weight: number;
}

export interface FarmCoreConfig {
  readonly module: string;
  /** Every configured node, in config order (the bit order of Members). */
  readonly nodes: readonly FarmNode[];
  /** Our index in `nodes`. */
  readonly self: number;
  /** Seed of the rendezvous hash that maps buckets to members; same on every node. */
  readonly ownershipSeed: number;
  /** Longest wait for our established connections to finish when drained. */
  readonly drainTimeoutMs: number;
  /**
   * How long to listen for peers before taking buckets when the farm's
   * interface has carrier again: the heartbeat deadtime, after which a peer
   * still not heard is dead anyway. Default 500 ms.
   */
  readonly settleMs?: number;
  /**
   * How long a starting node listens before taking buckets, from the moment
   * its table exists ("set-up"), so that the table learns the UDP flows its
   * peers answer (src/core/farm/flows.ts): a flow silent for all of it may
   * move to this node. The daemon gives the heartbeat deadtime; default 0.
   */
  readonly learnMs?: number;
  /**
   * How much longer than learnMs a listening node waits for the whole report
   * of a peer that may keep flows (farm.ts awaitedReports): without it, the
   * node would take its buckets knowing nothing of the flows that peer
   * answers in them, and answer those beside it. 0 (the default): listening
   * ends at learnMs whatever came (no flow reports, watching only).
   */
  readonly reportWaitMs?: number;
  /**
   * cluster.witness.ping is set: a node that hears no peer asks it, and a
   * round that started after the last peer went silent and answers says the
   * peers are down, not this node cut off: it serves alone (see isIsolated).
   */
  readonly witness?: boolean;
}

/** What a node tells its peers about itself, in its heartbeat advert for the module. */
export type FarmRole =
  /** Still learning who is alive: holds nothing. */
  | "wait"
  /** Serving its share. */
  | "in"
  /** A checker fails: holds no bucket, keeps its established connections. */
  | "out"
  /** Stopped by the operator: holds no bucket, established connections finish. */
  | "drain"
  /** Not running the farm here. */
  | "stopped";

export const farmRoles: readonly FarmRole[] = ["wait", "in", "out", "drain", "stopped"];

/**
 * A peer's advert. `view` is the member set its current ruleset was computed
 * from; the peer promises it holds no bucket it would not own under `view`
 * (it removes before it advertises, and advertises before it adds).
 */
export interface FarmAdvert {
  readonly role: FarmRole;
  readonly view: Members;
}

export type PeerLive = "unknown" | "up" | "dead";

/** A UDP flow as the farm table keys it (src/sys/farm/ruleset.ts): client IPv4 (u32), client port, VIP port. */
export interface FlowKey {
  readonly client: number;
  readonly port: number;
  readonly vipPort: number;
}

/** How far a peer's report of the flows it answers has come (see farm.ts "flows-told"). */
export interface FlowReport {
  readonly node: number;
  /** The ask it answers (our clock): parts of one report come from one reading of its table. */
  readonly askedAt: number;
  readonly parts: number;
  /** Part numbers received, 0-based. */
  readonly got: readonly number[];
}

export interface FarmPeer {
  readonly live: PeerLive;
  /** Last advert heard from it since it was last up; absent before the first. */
  readonly advert?: FarmAdvert;
  /**
   * The newest of our heartbeat send times (our clock) the peer had received
   * when it sent that advert: the heartbeat's echo of us. An advert whose echo
   * is not older than our own last advert was written knowing our view.
   */
  readonly echo?: number;
  /**
   * The nodes its newest heartbeat frame says it hears (its echoes; we are
   * among them when it hears us); absent when not told. See deaths.ts.
   */
  readonly hears?: Members;
  /** It said goodbye (a clean stop), rather than falling silent: we are not cut off from it. */
  readonly stopped?: true;
  /**
   * Dead, and still so when this node heard a peer again after hearing none:
   * its death may have been our own isolation (the cut that silenced it for
   * us silenced the others too), and the peers we hear may hear it still.
   * The handover rules for a dead node's buckets do not count it dead
   * (handover.ts) until every peer we hear leaves it out of its view too;
   * it also goes when it is heard again.
   */
  readonly deadWhileAlone?: true;
  /**
   * Dead (not by goodbye): the role of its last advert then. While a peer we
   * hear still counts it, a peer that kept flows keeps them (deaths.ts).
   */
  readonly diedAs?: FarmRole;
}

export type FarmMode =
  /** Not set up on this node (before start, after a drain or stop). */
  | "stopped"
  /** Set up, waiting until every peer is known up or dead. */
  | "wait"
  | "in"
  | "out"
  | "drain";

export type RebalanceReason =
  | "start"
  | "peer-up"
  | "peer-dead"
  | "peer-role"
  | "handover"
  | "checker-failed"
  | "checker-healthy"
  | "drain"
  | "stop"
  | "link-down"
  | "link-up"
  | "heard-again"
  | "witness"
  | "lapsed";

export interface Rebalance {
  readonly at: number;
  readonly reason: RebalanceReason;
  /** The node the reason is about. */
  readonly node: string;
  /** Buckets this node added and removed in that update. */
  readonly gained: number;
  readonly lost: number;
}

/** What ended a time in which this node could reach no peer. */
export type QuietReason = "start" | "link-up" | "heard-again" | "lapsed";

export interface FarmState {
  readonly config: FarmCoreConfig;
  readonly mode: FarmMode;
  /** Whether the checkers pass (after their rise/fall); a failing node goes out. */
  readonly healthy: boolean;
  /** Indexed like config.nodes; our own entry is unused. */
  readonly peers: readonly FarmPeer[];
  /** Buckets in our nft set, ascending. */
  readonly held: readonly number[];
  /** Whether our ruleset makes us the ARP owner (answer ARP, accept non-split traffic). */
  readonly arpOwner: boolean;
  /** The view in our last advert. Invariant: every held bucket is ours under it. */
  readonly advertised: Members;
  /** The role in our last advert. */
  readonly role: FarmRole;
  /** When we last changed our advert (our clock); peers acknowledge it by echo. */
  readonly advertisedAt: number;
  /** When our advert last turned to role "in" (see handover.ts on stopped peers). */
  readonly inSince: number;
  /** When a drain gives up waiting for connections (monotonic ms). */
  readonly drainDeadline?: number;
  /** When the driver must deliver a tick (while draining). */
  readonly wakeAt?: number;
  readonly lastRebalance?: Rebalance;
  /** Why we are not in the split, for status. */
  readonly detail: string;
  /** The farm's interface has no carrier: clients and peers cannot reach us. */
  readonly linkDown: boolean;
  /**
   * Until `until` we take no bucket: we listen for peers after a pause of our
   * own (see settleMs), or for their UDP flows after a start (learnMs).
   * wakeAt is set to `until` meanwhile.
   */
  readonly quiet?: { readonly until: number; readonly reason: QuietReason };
  /**
   * During a listening time (a start's, a lapse's or a heal's): the peers that
   * may keep UDP flows which started before our table existed (or before we
   * forgot ours), those that wait, and those heard meanwhile. A peer leaves it
   * once it is dead or stopped; when none is left a start's or lapse's
   * listening ends early: there is nothing to learn.
   */
  readonly learnFrom?: readonly number[];
  /**
   * During that listening time: when it began (the table exists, or the
   * lapse), which peers in learnFrom told us every flow they answer, and the
   * reports still coming in. The others are asked again every
   * FLOWS_ASK_RETRY_MS (farm.ts asking).
   */
  readonly learnSince?: number;
  readonly told?: readonly number[];
  readonly reports?: readonly FlowReport[];
  /**
   * During that listening time: peers whose advert changed (or first came)
   * since it began, and when. A peer may take buckets, and their flows,
   * after it read its table for a report; we watch those flows only from
   * the moment we know its advert (flows.ts). So only a report asked after
   * `since` counts as whole, and a peer told before is asked again.
   */
  readonly retell?: readonly { readonly node: number; readonly since: number }[];
  /**
   * When to check, next, the flows of our buckets that our table leaves to
   * peers (farm.ts checking): set when we gain buckets.
   */
  readonly checkAt?: readonly number[];
  /**
   * Our asks (our clock) made when we gained buckets, the last few: the
   * peers' tells that answer them are recorded over our own records
   * (farm.ts checking).
   */
  readonly gainAsks?: readonly number[];
  /** When we last asked the peers in learnFrom for their flows, and whom. */
  readonly askedAt?: number;
  readonly asked?: readonly number[];
  /** Per node (config order): the flow epoch of each peer (see farm.ts nextFlowEpochs); ours unused. */
  readonly flowEpochs: readonly number[];
  /** Since when every peer is silent (not all by goodbye); absent while some peer is heard. */
  readonly aloneSince?: number;
  /** A witness round asked for at or after aloneSince answered: the peers are down, not us cut off. */
  readonly witnessed?: true;
  /** When the first of the witness rounds that answered without a break since was asked (while alone), or answered if it was slow. */
  readonly witnessSince?: number;
  /**
   * Without a witness: peers heard again after this node served alone, whose
   * first advert has not come yet. One that says it serves was apart from us
   * (a cut healed), not restarted (a starting node waits): see farm.ts yields.
   */
  readonly rejoining?: readonly number[];
}

export type FarmEvent =
  /** Set the farm up here (daemon start, `vigil start MODULE`). */
  | { readonly type: "start" }
  /** Membership says a peer is up, or dead (`stopped`: it said goodbye). */
  | { readonly type: "peer"; readonly node: number; readonly live: PeerLive; readonly stopped?: boolean }
  /** A peer's advert for this module. */
  | { readonly type: "advert"; readonly node: number; readonly advert: FarmAdvert; readonly echo?: number; readonly hears?: Members }
  /** The checkers' verdict changed (rise/fall already applied). */
  | { readonly type: "health"; readonly healthy: boolean; readonly detail: string }
  /** `vigil stop MODULE`: drain, then tear down. */
  | { readonly type: "drain" }
  /** How many established connections to the VIP we still serve (while draining). */
  | { readonly type: "connections"; readonly count: number }
  /** The daemon stops: tear down at once. */
  | { readonly type: "stop" }
  /** The setup action is done: the table exists (a starting node's listening time runs from now). */
  | { readonly type: "set-up" }
  /** The answer to an ask-witness action asked at `askedAt`. */
  | { readonly type: "witness"; readonly reachable: boolean; readonly askedAt: number }
  /** Wake-up at nextWakeAt. */
  | { readonly type: "tick" }
  /** A peer that listens before taking buckets asks us which UDP flows we answer (its ask at `askedAt`, its clock). */
  | { readonly type: "flows-asked"; readonly node: number; readonly askedAt: number }
  /** A peer holding buckets asks whether we answer these flows, which its table leaves to us. */
  | { readonly type: "flows-check"; readonly node: number; readonly askedAt: number; readonly flows: readonly FlowKey[] }
  /** A peer we asked (check-flows) says it does not answer these flows. */
  | { readonly type: "flows-disclaimed"; readonly node: number; readonly flows: readonly FlowKey[] }
  /**
   * Part `part` (0-based) of `parts` of a peer's answer to our ask at
   * `askedAt`: flows its table says it answers itself (FLOW_SELF), read from
   * its kernel after it got the ask. An empty report is one part of none.
   */
  | {
      readonly type: "flows-told";
      readonly node: number;
      readonly askedAt: number;
      readonly part: number;
      readonly parts: number;
      readonly flows: readonly FlowKey[];
    }
  /** The carrier of the farm's interface went away or came back. */
  | { readonly type: "link"; readonly up: boolean }
  /**
   * Our kernel lease lapsed (the daemon was frozen or stalled longer than the
   * lease): the kernel stopped accepting our buckets, and peers may have taken
   * them. What we knew of our peers is stale.
   */
  | { readonly type: "lapsed" };

/**
 * What the driver does, in the order given. Ordering obligations:
 * - `write` BEFORE the `advertise` that follows it: peers must never see a view
 *   under which we would not hold a bucket we still hold.
 * - `advertise` BEFORE a later `write` in the same batch: a bucket we add must
 *   be ours under the view peers have been told.
 * - `setup` before the first `write`; `teardown` last.
 */
export type FarmAction =
  /** Create the macvlan, VIP, sysctls and the nft table (removing leftovers first); hold nothing yet. */
  | { readonly type: "setup" }
  /**
   * One atomic nft transaction: our bucket set and whether we are the ARP
   * owner. It renews the lease only if the lease still runs (it fails whole
   * on a lapsed one, and the driver reports the lapse), except with `rearm`:
   * the write after a lapse, which holds nothing and arms a new lease.
   */
  | { readonly type: "write"; readonly held: readonly number[]; readonly arpOwner: boolean; readonly rearm?: true }
  /**
   * Tell peers our role and view: put them in every heartbeat from now on and
   * send one now. Heartbeats sent after this carry a send time >= this step's
   * `now`, which is what peers echo back as their acknowledgement.
   */
  | { readonly type: "advertise"; readonly role: FarmRole; readonly view: Members }
  /** Answer ARP for the VIP (sha = virtual MAC), or stop. */
  | { readonly type: "arp-responder"; readonly on: boolean }
  /** Announce the VIP at the virtual MAC: we just became the ARP owner. */
  | { readonly type: "garp" }
  /**
   * Empty the memory of UDP flows (src/sys/farm/ruleset.ts): we were cut off
   * (no carrier, no peer heard) or frozen past our lease, so peers may have
   * given our flows to others; what we recorded as ours is stale.
   */
  | { readonly type: "forget-flows" }
  /** Ask these peers which UDP flows they answer; their answers come as `flows-told` events echoing `at`. */
  | { readonly type: "ask-flows"; readonly nodes: readonly number[]; readonly at: number }
  /**
   * Read the flows our table answers itself (FLOW_SELF records) and send them
   * to peer `node`, in parts, echoing its `askedAt`; with none, one empty part.
   */
  | { readonly type: "tell-flows"; readonly node: number; readonly askedAt: number }
  /**
   * Read our table's records of flows in these buckets (the ones we hold)
   * left to one of these peers (by their owner value), and ask each peer
   * whether it answers them (a flows-check on its side).
   */
  | { readonly type: "check-flows"; readonly held: readonly number[]; readonly peers: readonly { readonly node: number; readonly value: number }[]; readonly at: number }
  /** Tell peer `node` which of these flows our table does not answer itself (none: nothing to send). */
  | { readonly type: "disclaim-flows"; readonly node: number; readonly askedAt: number; readonly flows: readonly FlowKey[]; readonly own: readonly number[] }
  /** Remove our records of these flows that still name the peer whose owner value is `value`: its next datagram goes to the bucket's holder. */
  | { readonly type: "unrecord-flows"; readonly flows: readonly FlowKey[]; readonly value: number }
  /** Record these flows in our table as answered by the peer whose owner value is `value` (flow-owner-value.ts). */
  | { readonly type: "record-flows"; readonly flows: readonly FlowKey[]; readonly value: number }
  /**
   * A listening time ended without the whole report of these peers, which
   * may keep flows (reportWaitMs ran out): flows they answer in buckets we
   * take may be answered twice until the checks after the gain (log it).
   */
  | { readonly type: "flows-untold"; readonly nodes: readonly number[]; readonly waitedMs: number }
  /** Ping the witness in a round that starts now, and report it with a `witness` event carrying `at`. */
  | { readonly type: "ask-witness"; readonly at: number }
  /** Count our established connections and report them with a `connections` event. */
  | { readonly type: "count-connections" }
  /** Remove the table, the VIP and the macvlan. */
  | { readonly type: "teardown" }
  | { readonly type: "rebalanced"; readonly rebalance: Rebalance; readonly held: number; readonly view: Members };
