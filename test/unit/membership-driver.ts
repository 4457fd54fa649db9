/**
 * The membership core's test driver: plays the daemon's heartbeat driver
 * (ticks the core whenever it asks, feeds inputs, keeps every action), so
 * the membership tests share one copy of it and of the small clusters they
 * configure.
 */
import {
  initMembership,
  nextWakeAt,
  stepMembership,
  type MembershipAction,
  type MembershipConfig,
  type MembershipEvent,
  type MembershipInput,
  type MembershipState,
} from "../../src/core/membership/membership.ts";

export const T0 = 10_000;

/** Node "a" (us) and `peers`, each with `links` addresses (198.51.100.x, then 203.0.113.x), at lan timers. */
export function membershipConfig(peers: readonly string[] = ["b"], links = 1): MembershipConfig {
  const names = ["a", ...peers];
  const nets = ["198.51.100", "203.0.113"].slice(0, links);
  return {
    self: "a",
    cluster: "c1",
    nodes: names.map((name, i) => ({ name, links: nets.map((net) => `${net}.${i + 1}`) })),
    intervalMs: 100,
    warntimeMs: 250,
    deadtimeMs: 500,
    initdeadMs: 2000,
  };
}

export class MembershipDriver {
  state: MembershipState;
  now = T0;
  readonly log: MembershipAction[] = [];

  constructor(cfg: MembershipConfig = membershipConfig(), epoch = 99n) {
    this.state = initMembership(cfg, { now: T0, epoch });
  }

  /** One step at `now`, without first ticking what fell due before it (as an input queued while we were frozen). */
  apply(input: MembershipInput, now: number): MembershipAction[] {
    if (now < this.now) throw new Error(`test driver went back in time: ${now} < ${this.now}`);
    this.now = now;
    const out = stepMembership(this.state, input, now);
    this.state = out.state;
    this.log.push(...out.actions);
    return [...out.actions];
  }

  /** Ticks at every wake-up the core asks for up to `t` (as the driver's timer would). */
  until(t: number): MembershipAction[] {
    const out: MembershipAction[] = [];
    while (nextWakeAt(this.state) <= t) out.push(...this.apply({ type: "tick" }, Math.max(this.now, nextWakeAt(this.state))));
    this.now = Math.max(this.now, t);
    return out;
  }

  /** The ticks due before `now`, then the input. */
  step(input: MembershipInput, now: number): MembershipAction[] {
    this.until(now);
    return this.apply(input, now);
  }

  tick(now: number): MembershipAction[] {
    return this.apply({ type: "tick" }, now);
  }

  /** The sentAt of our newest round: what a peer that heard it echoes. */
  lastSent(): number {
    return this.state.recentSends.at(-1) ?? -1;
  }

  events(filter: Partial<MembershipEvent> = {}): MembershipEvent[] {
    return this.log.filter(
      (a): a is MembershipEvent => a.type === "event" && Object.entries(filter).every(([k, v]) => (a as unknown as Record<string, unknown>)[k] === v),
    );
  }

  peer(name: string) {
    const p = this.state.peers.find((x) => x.name === name);
    if (p === undefined) throw new Error(`no peer ${name}`);
    return p;
  }
}

/** Node a with one peer b (epoch 7) on one link, and a second channel to b: a mirror module's replication link. */
export class PeerWithLinkDriver extends MembershipDriver {
  static readonly VIA = "the replication link of vms";

  constructor() {
    super(undefined, 1n);
  }

  /** b's heartbeat frame `seq`, read at `at`. */
  heard(seq: number, at: number): void {
    this.step({ type: "frame", link: 0, frame: { cluster: "c1", node: "b", epoch: 7n, seq, sentAt: at, link: 0, echoes: [] } }, at);
  }

  /** A record of b on the link (not an answer to our probe), read at `at`. */
  record(at: number, ageMs = 0): void {
    this.step({ type: "alive", node: "b", via: PeerWithLinkDriver.VIA, ageMs, proof: "record" }, at);
  }

  /** b's answer to our probe on the link, `ageMs` after b sent it. */
  answer(at: number, ageMs = 0): void {
    this.step({ type: "alive", node: "b", via: PeerWithLinkDriver.VIA, ageMs }, at);
  }

  peerState(): string {
    return this.state.peers[0]?.state ?? "?";
  }
}
