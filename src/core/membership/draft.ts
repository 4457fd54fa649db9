/**
 * Copy-on-write scratch state for one membership step: peers and counters
 * are copied only when the step writes them, so a step that changes one
 * peer does not copy the others, and the input state is never touched.
 */
import type {
  LinkTrack,
  MembershipCounters,
  MembershipState,
  PeerCounters,
  PeerTrack,
  RejectReason,
} from "./types.ts";
import type { MembershipConfig } from "./config.ts";

type Writable<T> = { -readonly [K in keyof T]: T[K] };
export type DraftLink = Writable<LinkTrack>;
export type DraftPeer = Omit<Writable<PeerTrack>, "links" | "linkSeq"> & { links: DraftLink[]; linkSeq: number[] };
export type DraftCounters = Omit<Writable<PeerCounters>, "rejected"> & { rejected: Record<RejectReason, number> };

// Field by field rather than spread: the compiler then insists on every
// field, and engines copy a fixed shape faster.
function clonePeer(p: PeerTrack): DraftPeer {
  return {
    name: p.name,
    state: p.state,
    epoch: p.epoch,
    highestEpoch: p.highestEpoch,
    maxSeq: p.maxSeq,
    linkSeq: p.linkSeq.slice(),
    links: p.links.map((l) => ({ state: l.state, lastHeardAt: l.lastHeardAt, downAt: l.downAt })),
    lastHeardAt: p.lastHeardAt,
    lateAt: p.lateAt,
    deadAt: p.deadAt,
    startGraceUntil: p.startGraceUntil,
    recordCapAt: p.recordCapAt,
    echo: p.echo,
    rtt: p.rtt,
  };
}

/**
 * Everything is copied on first write: a step copies only what it changes
 * (a tick that sends copies no peer and no counter). The daemon steps the
 * core at every round and every frame, and what a step allocates is what
 * the runtime's collector later wakes up for.
 */
export class MembershipDraft {
  readonly config: MembershipConfig;
  readonly startedAt: number;
  epoch: bigint;
  nextSeq: number;
  recentSends: readonly number[];
  nextSendAt: number;
  nextExtraAt: number;
  extraOwed: boolean;
  lastRunAt: number;
  eventSeq: number;
  leaving: boolean;

  /** The peers, once one was written: the base's list until then. */
  private peerList: (PeerTrack | DraftPeer)[] | null = null;
  private owned: boolean[] | null = null;
  private readonly base: MembershipState;
  private counterPeers: Record<string, PeerCounters | DraftCounters> | null = null;
  private ownedCounters: string[] | null = null;
  /** Peers whose `rejected` record this draft copied. */
  private ownedRejects: string[] | null = null;
  private unattributed: Record<RejectReason, number> | null = null;

  constructor(s: MembershipState) {
    this.base = s;
    this.config = s.config;
    this.startedAt = s.startedAt;
    this.epoch = s.epoch;
    this.nextSeq = s.nextSeq;
    this.recentSends = s.recentSends;
    this.nextSendAt = s.nextSendAt;
    this.nextExtraAt = s.nextExtraAt;
    this.extraOwed = s.extraOwed;
    this.lastRunAt = s.lastRunAt;
    this.eventSeq = s.eventSeq;
    this.leaving = s.leaving;
  }

  get peers(): readonly PeerTrack[] {
    return this.peerList ?? this.base.peers;
  }

  /** The index of the peer named `name`, or -1. */
  indexOf(name: string): number {
    const peers = this.peers;
    for (let i = 0; i < peers.length; i++) if ((peers[i] as PeerTrack).name === name) return i;
    return -1;
  }

  /** The peer at `index`, copied on first write. */
  writable(index: number): DraftPeer {
    const list = (this.peerList ??= this.base.peers.slice());
    const owned = (this.owned ??= new Array<boolean>(list.length).fill(false));
    const p = list[index];
    if (p === undefined) throw new RangeError(`no peer at index ${index}`);
    if (owned[index] === true) return p as DraftPeer;
    const copy = clonePeer(p);
    list[index] = copy;
    owned[index] = true;
    return copy;
  }

  /**
   * The counters of peer `name`, copied on first write; undefined for a
   * name without counters. `rejected` stays the base's object until
   * rejectedOf() is asked for it.
   */
  countersOf(name: string): DraftCounters | undefined {
    const peers = (this.counterPeers ??= { ...this.base.counters.peers });
    const c = peers[name];
    if (c === undefined) return undefined;
    const owned = (this.ownedCounters ??= []);
    if (owned.includes(name)) return c as DraftCounters;
    const copy: DraftCounters = { accepted: c.accepted, crossWired: c.crossWired, restarts: c.restarts, rejected: c.rejected as Record<RejectReason, number> };
    peers[name] = copy;
    owned.push(name);
    return copy;
  }

  /** Counts a rejected frame of peer `name`. */
  countRejected(name: string, reason: RejectReason): void {
    const c = this.countersOf(name);
    if (c === undefined) return;
    const owned = (this.ownedRejects ??= []);
    if (!owned.includes(name)) {
      c.rejected = { ...c.rejected };
      owned.push(name);
    }
    c.rejected[reason] += 1;
  }

  countUnattributed(reason: RejectReason): void {
    this.unattributed ??= { ...this.base.counters.unattributed };
    this.unattributed[reason] += 1;
  }

  finish(): MembershipState {
    const counters: MembershipCounters =
      this.counterPeers === null && this.unattributed === null
        ? this.base.counters
        : { peers: this.counterPeers ?? this.base.counters.peers, unattributed: this.unattributed ?? this.base.counters.unattributed };
    return {
      config: this.config,
      epoch: this.epoch,
      startedAt: this.startedAt,
      nextSeq: this.nextSeq,
      recentSends: this.recentSends,
      nextSendAt: this.nextSendAt,
      nextExtraAt: this.nextExtraAt,
      extraOwed: this.extraOwed,
      lastRunAt: this.lastRunAt,
      eventSeq: this.eventSeq,
      leaving: this.leaving,
      peers: this.peerList ?? this.base.peers,
      counters,
    };
  }
}
