/**
 * Events, actions, state and configuration of the membership core
 * (src/core/membership/membership.ts); config.ts holds the rules the
 * configuration must obey.
 */

export interface HeartbeatTimers {
  /** Time between two frames on each link. */
  readonly intervalMs: number;
  /** Silence after which a peer is reported "late" (a warning, no action). */
  readonly warntimeMs: number;
  /** Silence after which a link is down, and after which a peer silent on all links is dead. */
  readonly deadtimeMs: number;
  /** Grace from our own start before a never-heard peer or link is declared dead/down. */
  readonly initdeadMs: number;
}

export interface MembershipNode {
  readonly name: string;
  /** The node's address on each heartbeat link, by link index; only used in reports. */
  readonly links: readonly string[];
}

export interface MembershipConfig extends HeartbeatTimers {
  /**
   * What a peer in its own start-up gets on top of deadtime ("Start-up
   * grace" in membership.ts). The daemon gives one deadtime; absent: none.
   */
  readonly startGraceMs?: number;
  /** Our own node name. */
  readonly self: string;
  readonly cluster: string;
  /** Every node of the cluster, ourselves included, each with one address per link. */
  readonly nodes: readonly MembershipNode[];
}

/**
 * The part of a decoded heartbeat frame the core reads. The codec's
 * HeartbeatFrame (src/proto/heartbeat.ts) satisfies it as is; keeping our own
 * shape lets the core be tested without encoding anything.
 */
export interface MembershipFrame {
  readonly cluster: string;
  readonly node: string;
  readonly epoch: bigint;
  readonly seq: number;
  readonly sentAt: number;
  /** The link index the SENDER put the frame on. */
  readonly link: number;
  readonly echoes: readonly { readonly node: string; readonly sentAt: number; readonly heldMs: number }[];
  /** The sender's daemon is stopping: its goodbye (see "Goodbye" in membership.ts). Absent: false. */
  readonly leaving?: boolean;
}

export type MembershipInput =
  /**
   * Wake-up. The driver must deliver one at `nextWakeAt(state)`; that time is
   * never more than one interval ahead, which is what lets the core tell a
   * frozen process from a quiet network.
   */
  | { readonly type: "tick" }
  /** A frame the codec has already MAC-verified, received on our link `link`. */
  | { readonly type: "frame"; readonly link: number; readonly frame: MembershipFrame }
  /**
   * What we publish in our frames (module roles) changed: send a frame on
   * every link now rather than at the next interval. Rate-limited by the core
   * (see "Sending" in membership.ts), so a driver may ask as often as it likes.
   * `now`: the round leaves at once even inside the spacing of extra rounds,
   * as something waits on it having left (a mirror PRIM's first write
   * acknowledged alone waits on its ALONE advert, src/core/mirror/alone-announce.ts);
   * asked about once per ALONE, so it cannot flood the wire.
   */
  | { readonly type: "publish"; readonly now?: boolean }
  /**
   * Another authenticated channel to `node` (a mirror module's replication
   * link, named by `via`) got the answer to a probe we sent `ageMs` ago: the
   * peer's vigil ran since then. It keeps an up or late peer alive like a
   * heartbeat link would (see "Other channels" in membership.ts).
   * `proof` "record" (absent: "answer"): not an answer but any other
   * authenticated record of the peer, which we read `ageMs` ago; it vouches
   * for less (see "Records" in membership.ts).
   */
  | { readonly type: "alive"; readonly node: string; readonly via: string; readonly ageMs: number; readonly proof?: "answer" | "record" }
  /**
   * Our daemon is stopping (not a reload): send a goodbye round on every
   * link now, and flag every frame sent after it as leaving. The driver
   * closes the links after one or two such rounds.
   */
  | { readonly type: "leave" };

export type PeerLiveness = "unknown" | "up" | "late" | "dead";

/**
 * A peer's state as membership reports it: its liveness, or "stopped": it
 * said goodbye (its daemon stopped cleanly, after its services); it runs
 * nothing and is not expected back until heard again. Consumers that only
 * know liveness treat "stopped" as "dead" (deadIfStopped in membership.ts).
 */
export type PeerState = PeerLiveness | "stopped";

export type LinkLiveness = "unknown" | "up" | "down";

export type RejectReason =
  /** Frame of another cluster sharing our key or our wire. */
  | "other-cluster"
  /** Our own name: a looped-back frame, or a second node configured with our name. */
  | "own-name"
  | "unknown-node"
  /** A link index we do not have, on our side or the sender's. */
  | "bad-link"
  /**
   * From an earlier incarnation of the peer than one we have already heard
   * (or a restart whose epoch went back, while the peer is not dead or the
   * frame does not prove it fresh).
   */
  | "stale-epoch"
  /** Not newer than what that sender's link already delivered: a replay, duplicate or reordered frame. */
  | "old-seq";

export const rejectReasons: readonly RejectReason[] = [
  "other-cluster",
  "own-name",
  "unknown-node",
  "bad-link",
  "stale-epoch",
  "old-seq",
];

export type PeerChangeReason =
  | "first-heard"
  | "heard-again"
  /** A late peer answered on another channel (a replication link) while its heartbeat links are silent. */
  | "heard-elsewhere"
  /**
   * Another epoch: the peer's daemon restarted (reported even if it never
   * looked down); an earlier epoch only after the peer was dead, see membership.ts.
   */
  | "restarted"
  | "silent-warntime"
  | "silent-deadtime"
  /** Never heard since our start, and initdead has run out. */
  | "initdead-expired"
  /** Its goodbye frame arrived: it stopped cleanly. */
  | "said-goodbye";

export type LinkChangeReason = "link-heard" | "link-silent" | "initdead-expired";

interface EventCommon {
  readonly type: "event";
  /** Our event counter: +1 per event, starting at 1, so consumers can order and spot gaps. */
  readonly seq: number;
  /** Our monotonic ms when it happened. */
  readonly at: number;
  readonly node: string;
  /** One line for a log or the console. */
  readonly detail: string;
}

export interface PeerChangeEvent extends EventCommon {
  readonly scope: "peer";
  readonly from: PeerState;
  readonly to: PeerState;
  readonly reason: PeerChangeReason;
}

/** A link's own state. A link going down while another is up is a degraded link, not a dead peer. */
export interface LinkChangeEvent extends EventCommon {
  readonly scope: "link";
  readonly link: number;
  readonly from: LinkLiveness;
  readonly to: LinkLiveness;
  readonly reason: LinkChangeReason;
}

export type MembershipEvent = PeerChangeEvent | LinkChangeEvent;

/** A frame for the driver to finish (add module adverts), encode and send: the fields a peer's core reads, from our side. */
export type OutgoingHeartbeat = MembershipFrame;

export type MembershipAction =
  /**
   * Send on link `frame.link` to every peer's address on that link. One
   * action per link, each with its own seq. Order: send them in the order
   * given, right away; a late send shows up as a late peer elsewhere.
   */
  | {
    readonly type: "send-heartbeat";
    readonly frame: OutgoingHeartbeat;
    /**
     * The round carries news (a published change, a goodbye): peers should
     * read it at once. A periodic round says what the previous one said.
     */
    readonly news: boolean;
  }
  /** A membership change. Log and publish in seq order, before acting on it. */
  | MembershipEvent
  /**
   * Our own process did not run for `gapMs` (CPU starvation, SIGSTOP, VM
   * pause). Pending peer deadlines were pushed back by `creditedMs` so that we
   * do not blame peers for our freeze. Report it as a local-health warning.
   */
  | { readonly type: "stall"; readonly at: number; readonly gapMs: number; readonly creditedMs: number };

export interface LinkTrack {
  readonly state: LinkLiveness;
  /** Our time of the last accepted frame that arrived on this link. */
  readonly lastHeardAt: number | null;
  /** When silence turns this link down (pushed back by stalls). */
  readonly downAt: number;
}

export interface PeerTrack {
  readonly name: string;
  readonly state: PeerState;
  /** The epoch of the incarnation we follow; null until the first frame. */
  readonly epoch: bigint | null;
  /** The highest epoch ever accepted: only a higher one is a plain restart. */
  readonly highestEpoch: bigint | null;
  /** Highest seq accepted in `epoch`, over all links. */
  readonly maxSeq: number;
  /** Highest seq accepted in `epoch` per SENDER link index: the anti-replay window. */
  readonly linkSeq: readonly number[];
  /** Liveness per OUR link index: where frames physically arrived. */
  readonly links: readonly LinkTrack[];
  readonly lastHeardAt: number | null;
  /** When silence makes an "up" peer "late"; null unless up. */
  readonly lateAt: number | null;
  /** When silence makes the peer dead (pushed back by stalls). */
  readonly deadAt: number;
  /**
   * Until when (our time) the incarnation we follow is in its start-up
   * grace, or null: it was not young when we first heard it. See "Start-up
   * grace" in membership.ts.
   */
  readonly startGraceUntil: number | null;
  /**
   * The furthest deadAt that records on another channel may give:
   * RECORD_VOUCH_DEADTIMES past the deadline the last frame or probe answer
   * gave (pushed back by stalls as the deadlines are). See "Records" in
   * membership.ts.
   */
  readonly recordCapAt: number;
  /** The peer's newest sentAt and when we got it, echoed back for its RTT. */
  readonly echo: { readonly sentAt: number; readonly receivedAt: number } | null;
  /** Smoothed RTT as in TCP (RFC 6298): srtt and its mean deviation. */
  readonly rtt: { readonly srttMs: number; readonly rttVarMs: number; readonly samples: number } | null;
}

export interface PeerCounters {
  readonly accepted: number;
  /** Accepted frames whose sender link index differs from the link they arrived on. */
  readonly crossWired: number;
  readonly restarts: number;
  readonly rejected: Readonly<Record<RejectReason, number>>;
}

/**
 * Counters only; nothing in here influences a decision. Kept apart so a
 * check can say "this frame changed nothing but counters".
 */
export interface MembershipCounters {
  readonly peers: Readonly<Record<string, PeerCounters>>;
  /** Rejections that cannot be pinned on a configured peer. */
  readonly unattributed: Readonly<Record<RejectReason, number>>;
}

export interface MembershipState {
  readonly config: MembershipConfig;
  /** Our own epoch, put in every frame we send. */
  readonly epoch: bigint;
  readonly startedAt: number;
  /** Seq of the next frame we send. */
  readonly nextSeq: number;
  /** sentAt of our rounds in the last deadtime, oldest first: what a fresh frame of a peer can echo. */
  readonly recentSends: readonly number[];
  readonly nextSendAt: number;
  /** Earliest time an extra (published) round of frames may go out. */
  readonly nextExtraAt: number;
  /** A publish arrived too soon after the last extra round: one is owed at nextExtraAt. */
  readonly extraOwed: boolean;
  /** When we last processed any event: a long gap since then means we were frozen. */
  readonly lastRunAt: number;
  /** Seq of the last event emitted. */
  readonly eventSeq: number;
  /** We said goodbye: every frame from now on is flagged leaving. */
  readonly leaving: boolean;
  /** Every configured node except ourselves, in config order. */
  readonly peers: readonly PeerTrack[];
  readonly counters: MembershipCounters;
}
