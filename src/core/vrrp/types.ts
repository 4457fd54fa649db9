/**
 * Events, actions and state of the VRRP instance core (src/core/vrrp/vrrp.ts).
 */
import type { VrrpAdvert, VrrpAuth, VrrpVersion } from "../../proto/vrrp.ts";

/** Last reported health per tracked object name; a missing name counts as up. */
export type TrackHealth = Readonly<Record<string, boolean>>;

/** A tracked object (script, process, interface, file...) whose health moves our priority. */
export interface VrrpTrack {
  /** Unique within the instance; the driver reports results under this name. */
  readonly name: string;
  /**
   * keepalived's rule: > 0 is added to the priority while the object is up;
   * < 0 is added (so subtracted) while it is down; 0 puts the instance in
   * Fault while it is down.
   */
  readonly weight: number;
}

export interface VrrpInstanceConfig {
  /** For events and logs, e.g. "VI_1". */
  readonly name: string;
  readonly vrid: number;
  /** 1..255; 255 = we own the virtual addresses (always master when able). */
  readonly priority: number;
  /** Default 3. */
  readonly version?: VrrpVersion;
  /** Advertisement_Interval in centiseconds; v2 needs whole seconds. Default 100 (1 s). */
  readonly advertIntCs?: number;
  /** A backup with a higher priority takes over from a lower master. Default true. */
  readonly preempt?: boolean;
  /** How long a backup that would preempt waits first, counted from the first lower advert it hears. Default 0. */
  readonly preemptDelayMs?: number;
  /** The master accepts packets addressed to the VIPs (RFC 5798 Accept_Mode). Default false; an owner always accepts. */
  readonly acceptMode?: boolean;
  /** Adverts missed before the master is declared down. Default 3. */
  readonly downTimerAdverts?: number;
  /** Our primary IPv4 address on the interface: the advert's source and the election tiebreak. */
  readonly primaryAddress: string;
  /** The virtual addresses, "a.b.c.d" or "a.b.c.d/len". */
  readonly vips: readonly string[];
  /** VRRPv2 only. Default none. */
  readonly auth?: VrrpAuth;
  readonly track?: readonly VrrpTrack[];
  /** A Backup acts on the heartbeat's verdict that the master's node is dead ("peer-dead" input). Default true. */
  readonly heartbeatTakeover?: boolean;
  /**
   * A Backup whose Master_Down_Interval ran out while the heartbeat still
   * hears the master's node say it is MASTER waits up to one more interval
   * ("peer-vrrp" input; see hold.ts). Default true.
   */
  readonly heartbeatHold?: boolean;
}

export type ResolvedVrrpConfig = Required<VrrpInstanceConfig>;

/** RFC 5798's three states plus keepalived's Fault (an interface or a weight-0 tracked object is down). */
export type VrrpRole = "initialize" | "backup" | "master" | "fault";

export type VrrpTimer = "advert" | "master-down" | "preempt";

/**
 * The part of a decoded advert the core reads. The codec's VrrpPacket
 * (src/proto/vrrp.ts) satisfies it as is; decoding, TTL, checksum and
 * authentication checks happen in front of the core.
 */
export interface VrrpHeard {
  /** IPv4 source of the packet: the sender's primary address. */
  readonly src: string;
  readonly version: VrrpVersion;
  readonly vrid: number;
  readonly priority: number;
  readonly advertIntCs: number;
  readonly addresses: readonly string[];
}

export type SyncTarget = "master" | "backup" | "fault";

export type VrrpInput =
  /** The daemon starts the instance (RFC 5798 Startup event). */
  | { readonly type: "startup" }
  /** The daemon stops the instance (RFC 5798 Shutdown event). */
  | { readonly type: "shutdown" }
  /**
   * Wake-up for the timers. Deliver one when a timer armed by "set-timer"
   * expires, or simply at nextWakeAt(state): a tick checks every deadline, so
   * an early, late or extra tick is harmless.
   */
  | { readonly type: "tick" }
  /** An advert that passed the codec's checks (TTL, checksum, auth) for this VRID. */
  | { readonly type: "advert"; readonly advert: VrrpHeard }
  /** A tracked object's latest health; repeats of the same value change nothing. */
  | { readonly type: "track"; readonly name: string; readonly up: boolean }
  /**
   * The instance's interface lost or regained its link. `detail` says why it
   * is unusable ("eth1 does not exist"), for the Fault reason. `primaryAddress`
   * is the interface's address as found now (it may be learned only once an
   * interface that was missing at start appears); it replaces the configured
   * one, and is ignored unless it is a dotted-quad IPv4 address.
   */
  | { readonly type: "interface"; readonly up: boolean; readonly detail?: string; readonly primaryAddress?: string }
  /** An order from the instance's sync group (see sync-group.ts). */
  | { readonly type: "sync"; readonly group: string; readonly to: SyncTarget }
  /**
   * The heartbeat declared cluster node `node` dead: silent on every link
   * for its deadtime. `addresses` are the node's cluster addresses (the ones
   * the heartbeat watched). A Backup whose master sends from one of them
   * takes over early (see "Heartbeat takeover" in vrrp.ts). `everHeard` says
   * whether the heartbeat ever heard that node since our start: a verdict
   * about a node it never heard (a keepalived router listed as a node during
   * a migration, silent until initdead ran out) is ignored.
   */
  | { readonly type: "peer-dead"; readonly node: string; readonly addresses: readonly string[]; readonly everHeard: boolean }
  /**
   * What the heartbeat last heard cluster node `node` say about this
   * instance (heartbeat frames of version 3): it is MASTER, sending its
   * adverts from `address` ("master"); it is not ("not-master": BACKUP,
   * FAULT, stopped); or its frames do not say ("unknown": an older
   * release). `heardAt` is our time of that frame. The driver delivers one
   * when what a node says changes, and a fresh one for every node that says
   * "master" before a tick: a hold is judged on how recent it is (hold.ts).
   */
  | { readonly type: "peer-vrrp"; readonly node: string; readonly says: "master" | "not-master" | "unknown"; readonly address: string; readonly heardAt: number };

export type TransitionReason =
  /** Initialize -> Backup at startup or when a fault clears. */
  | "startup"
  /** -> Master at once because we own the addresses (priority 255). */
  | "address-owner"
  /** Backup -> Master: nothing heard for Master_Down_Interval. */
  | "master-down"
  /** Backup -> Master: Skew_Time after the master sent priority 0. */
  | "master-resigned"
  /**
   * Backup -> Master: the heartbeat declared the master's node dead and the
   * master missed its next advert too, before Master_Down_Interval ran out.
   */
  | "peer-dead"
  /** Backup -> Master: preempt_delay ran out while a lower-priority master was still advertising. */
  | "preempt-delay-over"
  /** Master -> Backup: an advert with a higher priority. */
  | "higher-priority"
  /** Master -> Backup: an advert with our priority from a higher primary address. */
  | "equal-priority-higher-address"
  | "shutdown"
  | "interface-down"
  | "tracked-object-down"
  /** Fault -> Backup/Master: every fault cause is gone. */
  | "fault-cleared"
  /** Ordered by the sync group to follow another instance. */
  | "sync-group";

export type VrrpDiscardReason =
  /** Not started, shut down, or in Fault. */
  | "not-running"
  | "other-vrid"
  | "version-mismatch"
  /** Our own primary address as source: a loop, or another router using our address. */
  | "own-address"
  /** VRRPv2 only: the interval differs from ours (keepalived drops these). */
  | "interval-mismatch"
  /** VRRPv3 with a 0 interval: nothing sensible to learn from it. */
  | "zero-interval"
  /** Backup with preemption: a lower master is ignored so that our timer runs out. */
  | "lower-priority"
  /**
   * Master: a lower (or priority-0) advert from a router we answered less
   * than one advert interval ago. A flood is answered once per interval and
   * source, not once per packet.
   */
  | "answered-recently";

export const vrrpDiscardReasons: readonly VrrpDiscardReason[] = [
  "not-running",
  "other-vrid",
  "version-mismatch",
  "own-address",
  "interval-mismatch",
  "zero-interval",
  "lower-priority",
  "answered-recently",
];

export type MisconfigurationKind =
  | "advert-interval"
  | "addresses"
  | "version"
  /** Another router claims to own the addresses (priority 255) as we do. */
  | "owner-conflict"
  | "duplicate-address";

export interface VrrpTransition {
  readonly type: "transition";
  readonly instance: string;
  readonly vrid: number;
  /** +1 per transition of this instance, from 1, so consumers can order and spot gaps. */
  readonly seq: number;
  readonly at: number;
  readonly from: VrrpRole;
  readonly to: VrrpRole;
  readonly reason: TransitionReason;
  /** Our effective priority at the time. */
  readonly priority: number;
  /** One line for a log or the console. */
  readonly detail: string;
}

export interface VrrpMisconfiguration {
  readonly type: "misconfiguration";
  readonly instance: string;
  readonly vrid: number;
  readonly at: number;
  readonly kind: MisconfigurationKind;
  /** The address of the router whose adverts disagree with us. */
  readonly source: string;
  readonly detail: string;
}

export interface VrrpHeld {
  readonly type: "held";
  readonly instance: string;
  readonly vrid: number;
  readonly at: number;
  /** The cluster node that says it is the silent master. */
  readonly node: string;
  /** Our time at which the hold ends at the latest. */
  readonly until: number;
  readonly detail: string;
}

/**
 * What the driver carries out, in the order given. Ordering obligations:
 *
 * - Becoming master: send-advert, add-vips, send-garp, transition
 *   (RFC 5798 6.4.1/6.4.2: advertise first so other backups stand down,
 *   then take the addresses, then announce them).
 * - Leaving master: remove-vips first, then (shutdown or fault only) the
 *   priority-0 send-advert, then transition. The addresses must be gone
 *   before a backup can take over Skew_Time after the priority-0 advert,
 *   or both would answer for them.
 * - set-timer actions may be carried out in any order relative to the rest.
 */
export type VrrpAction =
  /**
   * Arm the named timer to fire at `at` (our monotonic ms), replacing any
   * earlier deadline; null cancels it. On expiry deliver { type: "tick" }.
   * A driver may instead ignore these and wake at nextWakeAt(state).
   */
  | { readonly type: "set-timer"; readonly timer: VrrpTimer; readonly at: number | null }
  /**
   * Encode (proto/vrrp.ts encodeAdvert, src = `src`, dst 224.0.0.18 or the
   * unicast peers) and send right away, with IP TTL 255. A send failure is
   * the driver's to log; the core does not wait for it.
   */
  | { readonly type: "send-advert"; readonly advert: VrrpAdvert; readonly src: string }
  /**
   * Add the virtual addresses to the interface. Must have completed before
   * the send-garp that follows (a GARP for an address we do not hold would
   * pull traffic into a black hole). With acceptMode false the driver drops
   * packets addressed to the VIPs themselves (RFC 5798 Accept_Mode).
   */
  | { readonly type: "add-vips"; readonly vips: readonly string[]; readonly acceptMode: boolean }
  /**
   * Remove the virtual addresses. Must have completed before any action that
   * follows it in the list (priority-0 advert, transition notify).
   */
  | { readonly type: "remove-vips"; readonly vips: readonly string[] }
  /** Gratuitous ARP for each address, after add-vips, so neighbours re-point their caches to us. */
  | { readonly type: "send-garp"; readonly addresses: readonly string[] }
  /** A role change. Log it, publish it and run notify scripts AFTER the actions before it. */
  | VrrpTransition
  /** Another router's adverts disagree with our configuration. Reported once per distinct disagreement; log it as a warning. */
  | VrrpMisconfiguration
  /** A Backup put its takeover off: the heartbeat says the silent master is alive and MASTER (hold.ts). Log it as a warning. */
  | VrrpHeld;

export interface VrrpCounters {
  readonly advertsReceived: number;
  readonly advertsSent: number;
  readonly priorityZeroReceived: number;
  readonly priorityZeroSent: number;
  readonly becameMaster: number;
  /** Takeovers put off because the heartbeat said the silent master is alive and MASTER. */
  readonly takeoversHeld: number;
  readonly discarded: Readonly<Record<VrrpDiscardReason, number>>;
}

export interface VrrpMasterSeen {
  readonly address: string;
  readonly priority: number;
  readonly advertIntCs: number;
  /** Our time of its latest advert. */
  readonly heardAt: number;
}

export interface PeerMaster {
  readonly node: string;
  /** The source address of its adverts. */
  readonly address: string;
  /** Our time of the heartbeat frame that said so last. */
  readonly heardAt: number;
}

export interface VrrpHold {
  readonly node: string;
  readonly address: string;
  /** When Master_Down_Interval ran out and the hold began. */
  readonly since: number;
  /** The hold ends here at the latest: one more Master_Down_Interval. */
  readonly until: number;
}

export interface VrrpAnswered {
  readonly source: string;
  /** Our time of the answer. */
  readonly at: number;
}

export interface VrrpState {
  readonly config: ResolvedVrrpConfig;
  readonly role: VrrpRole;
  /** Effective priority: the configured one moved by tracked objects. */
  readonly priority: number;
  /** Master_Adver_Interval: ours, or (v3) the one learned from the current master. */
  readonly masterAdverIntervalMs: number;
  /** Deadlines on our monotonic clock; null = not armed. */
  readonly timers: Readonly<Record<VrrpTimer, number | null>>;
  /** While a preempt delay runs: the priority of the lower master we will take over from. */
  readonly preemptAgainst: number | null;
  /** The master resigned (priority 0) and the master-down timer now runs for Skew_Time only. */
  readonly resignHeard: boolean;
  /**
   * The last lower-priority advert a preempting Backup discarded since it last
   * accepted one: when the master-down timer then runs out, that is what it
   * says (a takeover from a lower master), not "no advert".
   */
  readonly lowerHeard: { readonly address: string; readonly priority: number } | null;
  readonly health: TrackHealth;
  readonly interfaceUp: boolean;
  /** Why the interface is unusable, as the driver put it; "" when up or not told. */
  readonly interfaceDetail: string;
  /** Name of the sync group holding us in Fault, or null. */
  readonly syncFault: string | null;
  /** The master we last accepted while Backup; null when Master, or none heard yet. */
  readonly master: VrrpMasterSeen | null;
  /**
   * Set while the master-down timer is brought forward because the heartbeat
   * declared the master's node dead; cleared by any advert we accept and by
   * every role change.
   */
  readonly deadMaster: { readonly node: string; readonly address: string } | null;
  /** Cluster nodes whose heartbeat last said they are MASTER of this instance ("peer-vrrp"); at most one entry per node. */
  readonly peerMasters: readonly PeerMaster[];
  /** While a Backup puts its takeover off (hold.ts); cleared by any advert we accept and by every role change. */
  readonly hold: VrrpHold | null;
  /** Our time of the last transition (or of init). */
  readonly since: number;
  readonly transitionSeq: number;
  /** Keys of disagreements already reported (bounded; oldest dropped first). */
  readonly misconfigReported: readonly string[];
  /** While Master: the routers whose lower or priority-0 adverts we answered within the last advert interval (bounded). */
  readonly answered: readonly VrrpAnswered[];
  readonly counters: VrrpCounters;
}
