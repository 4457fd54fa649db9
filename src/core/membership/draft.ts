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
    echo: p.echo,
    rtt: p.rtt,
  };
}

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

  private readonly peerList: (PeerTrack | DraftPeer)[];
  private readonly owned: boolean[];
  private readonly base: MembershipState;
  private counterPeers: Record<string, PeerCounters | DraftCounters> | null = null;
  private readonly ownedCounters = new Set<string>();
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
    this.peerList = s.peers.slice();
    this.owned = new Array<boolean>(s.peers.length).fill(false);
  }

  get peers(): readonly PeerTrack[] {
    return this.peerList;
  }

  /** The peer at `index`, copied on first write. */
  writable(index: number): DraftPeer {
    const p = this.peerList[index];
    if (p === undefined) throw new RangeError(`no peer at index ${index}`);
    if (this.owned[index] === true) return p as DraftPeer;
    const copy = clonePeer(p);
    this.peerList[index] = copy;
    this.owned[index] = true;
    return copy;
  }

  countPeer(name: string, change: (c: DraftCounters) => void): void {
    this.counterPeers ??= { ...this.base.counters.peers };
    const c = this.counterPeers[name];
    if (c === undefined) return;
    if (!this.ownedCounters.has(name)) {
      const copy: DraftCounters = { accepted: c.accepted, crossWired: c.crossWired, restarts: c.restarts, rejected: { ...c.rejected } };
      this.counterPeers[name] = copy;
      this.ownedCounters.add(name);
      change(copy);
      return;
    }
    change(c as DraftCounters);
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
      peers: this.peerList,
      counters,
    };
  }
}
