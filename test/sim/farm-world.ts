/**
 * A simulated farm: N farm cores, a membership oracle that reports deaths
 * after a deadtime (skewed per observer) and returns after a short delay,
 * adverts carried by periodic heartbeats with loss and per-link delay (in order
 * per link, as the heartbeat's sequence numbers enforce), killed daemons whose
 * kernel table is removed by the exit guard, and links that go down.
 *
 * Holdings are what each node's nft set would contain; only nodes whose link
 * is up count as holders, since clients cannot reach the others, and only
 * while their kernel lease runs (the driver renews it every REFRESH; a write
 * that holds something fails once it lapsed, one that holds nothing renews
 * it). A frozen daemon (SIGSTOP) handles nothing and sends nothing, while its
 * kernel keeps its rules until the lease lapses.
 */
import { farmStep, initFarmState, nextWakeAt } from "../../src/core/farm/farm.ts";
import { flowView } from "../../src/core/farm/flows.ts";
import { BUCKETS, type FarmAction, type FarmAdvert, type FarmCoreConfig, type FarmEvent, type FarmState } from "../../src/core/farm/types.ts";
import { leaseTimes } from "../../src/core/farm/lease.ts";
import { EventQueue } from "./harness/event-queue.ts";
import { Prng } from "./harness/prng.ts";

export const DEADTIME = 500;
export const INTERVAL = 100;
export const INITDEAD = 1500;
/** The driver's numbers for these timers (src/core/farm/lease.ts). */
/** A witness ping's timeout (src/daemon/witness/pinger.ts): a round sent while cut off gets through if the cut heals first. */
export const PING_TIMEOUT = 1000;
export const LEASE = leaseTimes(INTERVAL, DEADTIME).leaseMs;
export const REFRESH = leaseTimes(INTERVAL, DEADTIME).refreshMs;

type Item =
  | { kind: "deliver"; to: number; event: FarmEvent; epoch: number }
  | { kind: "beat"; from: number; epoch: number }
  /** The driver renews the kernel lease. */
  | { kind: "renew"; node: number; epoch: number }
  /** A slow reading of a node's table for a tell ends (readMs): the tell reports the table as it is now. */
  | { kind: "read"; node: number; to: number; askedAt: number; epoch: number }
  /** Membership gives up on a peer never heard since start, unless it has been heard by now. */
  | { kind: "initdead"; to: number; peer: number; epoch: number }
  /** Membership's verdict on a peer, dropped if the link state changed back meanwhile. */
  | { kind: "liveness"; to: number; peer: number; live: "up" | "dead"; epoch: number }
  /** A witness round sent while cut off times out, unless the cut healed first (NodeSim.pings). */
  | { kind: "ping"; to: number; askedAt: number; epoch: number }
  | { kind: "advert"; from: number; to: number; advert: FarmAdvert; echo: number | undefined; hears: number; sentAt: number; epoch: number; toEpoch: number }
  /** A farm flow message (ask or report, src/proto/farm-flows.ts): handled only if both ends still run and reach each other. */
  | { kind: "message"; from: number; to: number; event: FarmEvent; epoch: number; toEpoch: number };

/** Flows per report part, as the driver sends them (src/proto/farm-flows.ts FARM_FLOWS_PER_PART). */
export const FLOWS_PER_PART = 128;

export interface NodeSim {
  state: FarmState;
  /** Daemon running. */
  running: boolean;
  /** Link up: reachable by peers and clients. */
  linked: boolean;
  /** Incremented per restart: events for an earlier incarnation are dropped. */
  epoch: number;
  advert: FarmAdvert;
  /** What the kernel holds (the nft set), independent of the daemon. */
  kernelHeld: number[];
  kernelArp: boolean;
  /** Last advert delivery time per receiver, to keep them in order. */
  lastDelivery: number[];
  /** Per sender: the send time of its newest heartbeat we received (what we echo). */
  heard: (number | undefined)[];
  /** The kernel accepts the node's buckets until then (see the header). */
  leaseUntil: number;
  /** SIGSTOP: items for it wait in `deferred` until it resumes. */
  frozen: boolean;
  /** Witness rounds sent while cut off, still waiting (their echo and ARP held until the cut heals or they time out). */
  pings: number[];
  deferred: { time: number; item: Item }[];
  lastBeatAt: number;
  /** The heartbeat runs (a stopping daemon stops it after its services). */
  beating: boolean;
  /** The farm table exists in the kernel (setup to teardown; a killed daemon's stays). */
  table: boolean;
  /** The table's UDP memory (see src/sys/farm/ruleset.ts): flow id to owner value. */
  flows: Map<number, number>;
  /** The table's `owner` map and `live` set, as the driver last wrote them. */
  flowOwners: readonly number[];
  flowLive: ReadonlySet<number>;
}

/** The owner value a node records for its own flows (ruleset.ts FLOW_SELF). */
const FLOW_SELF = 0x10000;

export interface Violation {
  readonly at: number;
  readonly what: string;
}

export class FarmWorld {
  readonly q = new EventQueue<Item>();
  readonly nodes: NodeSim[];
  readonly rng: Prng;
  /** Loss and delay of flow messages: a stream of its own, so that with them off every other draw is the same. */
  private readonly messageRng: Prng;
  now = 0;
  readonly violations: Violation[] = [];
  readonly lossRate: number;
  /** Whether nodes carry out ask-flows and tell-flows (false: as if every such message were lost). */
  readonly flowReports: boolean;
  /** Whether nodes carry out check-flows and disclaim-flows (false: as if every such message were lost). */
  readonly flowChecks: boolean;
  /** How long a node's reading of its table for a tell takes (a loaded host's nft or netlink dump): the tell reports the table as it is then. */
  readonly readMs: number;
  /** The bucket of each flow seen (the kernel hashes it from the packet; the world is told). */
  private readonly flowBuckets = new Map<number, number>();
  /** Writes that left a double holder while membership views were in transition (not a violation; counted). */
  disagreementDoubles = 0;
  /**
   * Whether every reachable daemon sees every other daemon as it is (up if
   * reachable, dead otherwise). While a death or return is still being
   * noticed, two nodes can see a third differently, and then they can both
   * own a bucket; only outside such windows is a double holder a violation.
   */
  membershipAgrees(): boolean {
    return this.nodes.every((n, i) => {
      if (!n.running || !n.linked || n.frozen) return true;
      return n.state.peers.every((p, j) => j === i || p.live === (this.hears(i, j) ? "up" : "dead"));
    });
  }

  /** Every step, for a failing seed's message. */
  readonly trace: string[] = [];

  /** Count every double holder as a violation, even while membership is in transition. */
  readonly strict: boolean;

  constructor(readonly configs: readonly FarmCoreConfig[], seed: number, opts: { loss?: number; strict?: boolean; flowReports?: boolean; flowChecks?: boolean; readMs?: number } = {}) {
    this.readMs = opts.readMs ?? 0;
    this.rng = Prng.fromSeed(seed);
    this.flowReports = opts.flowReports ?? true;
    this.flowChecks = opts.flowChecks ?? true;
    this.messageRng = Prng.fromSeed(seed ^ 0x3c3c5a5a);
    this.strict = opts.strict ?? false;
    this.lossRate = opts.loss ?? 0.1;
    this.nodes = configs.map((c) => ({
      state: initFarmState(c),
      running: false,
      linked: true,
      epoch: 0,
      advert: { role: "stopped", view: 0 },
      kernelHeld: [],
      kernelArp: false,
      lastDelivery: configs.map(() => 0),
      heard: configs.map(() => undefined),
      leaseUntil: -Infinity,
      frozen: false,
      pings: [],
      deferred: [],
      lastBeatAt: -Infinity,
      beating: true,
      table: false,
      flows: new Map(),
      flowOwners: [],
      flowLive: new Set(),
    }));
  }

  private jitter(max: number): number {
    return Math.floor(this.rng.nextU32() / 4294967296 * max);
  }

  /** One-sided losses: `${to}>${from}` while node `to` hears nothing from node `from`, which still hears it (deafen). */
  private readonly deaf = new Set<string>();

  /** Whether node `to` receives what node `from` sends. */
  private hears(to: number, from: number): boolean {
    return this.reachable(to, from) && !this.deaf.has(`${to}>${from}`);
  }

  private reachable(a: number, b: number): boolean {
    const x = this.nodes[a];
    const y = this.nodes[b];
    return x !== undefined && y !== undefined && x.running && y.running && x.linked && y.linked && !x.frozen && !y.frozen;
  }

  private liveness(to: number, peer: number, live: "up" | "dead", at: number): void {
    const n = this.nodes[to];
    if (n !== undefined) this.q.push(at, { kind: "liveness", to, peer, live, epoch: n.epoch });
  }

  deliver(to: number, event: FarmEvent, at: number): void {
    const n = this.nodes[to];
    if (n === undefined) return;
    this.q.push(at, { kind: "deliver", to, event, epoch: n.epoch });
  }

  private apply(i: number, actions: readonly FarmAction[]): void {
    const n = this.nodes[i];
    if (n === undefined) return;
    for (const a of actions) {
      switch (a.type) {
        case "write":
          if (a.rearm !== true && this.now > n.leaseUntil) {
            // The driver's transaction renews the lease only if it still runs: it fails whole (the write after a lapse re-arms it).
            this.deliver(i, { type: "lapsed" }, this.now);
            break;
          }
          n.kernelHeld = [...a.held];
          n.kernelArp = a.arpOwner;
          n.leaseUntil = this.now + LEASE;
          this.checkNoDouble(`after ${this.configs[i]?.nodes[i]?.name} wrote`);
          break;
        case "advertise":
          n.advert = { role: a.role, view: a.view };
          this.sendAdverts(i);
          break;
        case "setup":
          n.table = true;
          n.flows = new Map();
          this.deliver(i, { type: "set-up" }, this.now + 1 + this.jitter(50));
          break;
        case "teardown":
          n.kernelHeld = [];
          n.kernelArp = false;
          n.table = false;
          n.flows = new Map();
          break;
        case "forget-flows":
          n.flows = new Map();
          break;
        case "ask-flows":
          if (!this.flowReports) break;
          for (const to of a.nodes) this.sendMessage(i, to, { type: "flows-asked", node: i, askedAt: a.at });
          break;
        case "tell-flows": {
          if (!this.flowReports) break;
          if (this.readMs > 0) {
            this.q.push(this.now + this.readMs, { kind: "read", node: i, to: a.node, askedAt: a.askedAt, epoch: n.epoch });
            break;
          }
          this.tell(i, a.node, a.askedAt);
          break;
        }
        case "record-flows":
          if (n.table) for (const f of a.flows) n.flows.set(f.client, a.value);
          break;
        case "check-flows": {
          if (!this.flowChecks || !n.table) break;
          const held = new Set(a.held);
          for (const p of a.peers) {
            const flows = [...n.flows].filter(([id, v]) => v === p.value && held.has(this.flowBuckets.get(id) ?? -1)).map(([id]) => ({ client: id, port: 0, vipPort: 0 }));
            for (let k = 0; k < flows.length; k += FLOWS_PER_PART) this.sendMessage(i, p.node, { type: "flows-check", node: i, askedAt: a.at, flows: flows.slice(k, k + FLOWS_PER_PART) });
          }
          break;
        }
        case "disclaim-flows": {
          if (!this.flowChecks || !n.table) break;
          const own = new Set(a.own);
          const notMine = a.flows.filter((f) => n.flows.get(f.client) !== FLOW_SELF && !own.has(this.flowBuckets.get(f.client) ?? -1));
          // To every peer: each may have credited them to us, and must credit them anew.
          if (notMine.length > 0) this.nodes.forEach((_, j) => { if (j !== i) this.sendMessage(i, j, { type: "flows-disclaimed", node: i, flows: notMine }); });
          break;
        }
        case "unrecord-flows":
          if (n.table) for (const f of a.flows) if (n.flows.get(f.client) === a.value) n.flows.delete(f.client);
          break;
        case "ask-witness":
          // The witness sits on the clients' switch: a round reaches it while the node's link does; sent
          // while cut off, it waits for the cut to heal (heal()) until it times out.
          if (n.linked) this.deliver(i, { type: "witness", reachable: true, askedAt: a.at }, this.now + 10 + this.jitter(50));
          else {
            n.pings.push(a.at);
            this.q.push(a.at + PING_TIMEOUT, { kind: "ping", to: i, askedAt: a.at, epoch: n.epoch });
          }
          break;
        case "count-connections":
          this.deliver(i, { type: "connections", count: 0 }, this.now + 200);
          break;
        default:
          break;
      }
    }
  }

  /** The driver reads its table's own records (FLOW_SELF) and sends them in parts. */
  private tell(i: number, to: number, askedAt: number): void {
    const n = this.nodes[i];
    if (n === undefined || !n.table) return;
    const mine = [...n.flows].filter(([, v]) => v === FLOW_SELF).map(([id]) => ({ client: id, port: 0, vipPort: 0 }));
    const parts = Math.max(1, Math.ceil(mine.length / FLOWS_PER_PART));
    for (let part = 0; part < parts; part++) {
      const flows = mine.slice(part * FLOWS_PER_PART, (part + 1) * FLOWS_PER_PART);
      this.sendMessage(i, to, { type: "flows-told", node: i, askedAt, part, parts, flows });
    }
  }

  /** After a step's actions, the driver writes the UDP flow owners (instance.ts queueFlows). */
  private writeFlows(i: number): void {
    const n = this.nodes[i];
    if (n === undefined || !n.table || n.state.mode === "stopped") return;
    const v = flowView(n.state);
    n.flowOwners = v.owners;
    n.flowLive = new Set(v.live);
  }

  /**
   * One datagram of UDP flow `flow` (in bucket `bucket`) reaches every node
   * clients can reach, whose kernel handles it as the table's rules do, frozen
   * daemon or not. Returns the nodes that accepted it.
   */
  datagram(flow: number, bucket: number): number[] {
    this.flowBuckets.set(flow, bucket);
    const out: number[] = [];
    this.nodes.forEach((n, i) => {
      if (!n.linked || !n.table) return;
      const lease = this.now <= n.leaseUntil;
      const v = n.flows.get(flow) ?? 0;
      if (v === FLOW_SELF && lease) out.push(i);
      else if (n.flowLive.has(v)) return;
      else if (lease && n.kernelHeld.includes(bucket)) {
        n.flows.set(flow, FLOW_SELF);
        out.push(i);
      } else {
        const o = n.flowOwners[bucket] ?? 0;
        if (o !== 0) n.flows.set(flow, o);
      }
    });
    return out;
  }

  private sendAdverts(from: number): void {
    const n = this.nodes[from];
    if (n === undefined) return;
    this.nodes.forEach((peer, to) => {
      if (to === from || !this.hears(to, from)) return;
      if (this.rng.nextU32() / 4294967296 < this.lossRate) return;
      const at = Math.max(this.now + 1 + this.jitter(20), n.lastDelivery[to] ?? 0);
      n.lastDelivery[to] = at;
      this.q.push(at, { kind: "advert", from, to, advert: n.advert, echo: n.heard[to], hears: this.heardBy(from), sentAt: this.now, epoch: n.epoch, toEpoch: peer.epoch });
    });
  }

  /** The nodes `from`'s heartbeat lists as heard in its frames (its echoes): the peers its membership has up. */
  private heardBy(from: number): number {
    let set = 0;
    this.nodes[from]?.state.peers.forEach((p, j) => {
      if (j !== from && p.live === "up") set = (set | (1 << j)) >>> 0;
    });
    return set;
  }

  /** A farm flow message over the network: lost like a heartbeat, delayed 1-20 ms. */
  private sendMessage(from: number, to: number, event: FarmEvent): void {
    const n = this.nodes[from];
    const peer = this.nodes[to];
    if (n === undefined || peer === undefined || !this.hears(to, from)) return;
    if (this.messageRng.nextU32() / 4294967296 < this.lossRate) return;
    const delay = 1 + Math.floor((this.messageRng.nextU32() / 4294967296) * 20);
    this.q.push(this.now + delay, { kind: "message", from, to, event, epoch: n.epoch, toEpoch: peer.epoch });
  }

  /** Starts (or restarts) a daemon: a fresh core that learns its peers. */
  start(i: number): void {
    const n = this.nodes[i];
    const cfg = this.configs[i];
    if (n === undefined || cfg === undefined) return;
    n.epoch++;
    n.running = true;
    n.state = initFarmState(cfg);
    n.advert = { role: "stopped", view: 0 };
    n.heard = this.configs.map(() => undefined);
    // Leftovers of a crashed run are removed by setup.
    n.kernelHeld = [];
    n.kernelArp = false;
    n.frozen = false;
    n.deferred = [];
    n.beating = true;
    n.leaseUntil = this.now + LEASE;
    this.deliver(i, { type: "start" }, this.now);
    this.q.push(this.now + this.jitter(INTERVAL), { kind: "beat", from: i, epoch: n.epoch });
    this.q.push(this.now + REFRESH, { kind: "renew", node: i, epoch: n.epoch });
    this.nodes.forEach((_, j) => {
      if (j === i) return;
      if (this.reachable(i, j)) {
        this.liveness(i, j, "up", this.now + 5 + this.jitter(50));
        this.liveness(j, i, "up", this.now + 5 + this.jitter(50));
      } else {
        this.q.push(this.now + INITDEAD, { kind: "initdead", to: i, peer: j, epoch: n.epoch });
      }
    });
  }

  /** SIGKILL: the exit guard removes the kernel table a few ms later. */
  kill(i: number): void {
    const n = this.nodes[i];
    if (n === undefined || !n.running) return;
    n.running = false;
    n.frozen = false;
    n.deferred = [];
    n.epoch++;
    // Its witness rounds die with it: none may answer the next run at the heal.
    n.pings = [];
    n.kernelHeld = [];
    n.kernelArp = false;
    // The exit guard empties the lease too: the node answers none of its UDP flows.
    n.leaseUntil = -Infinity;
    this.observersSee(i, "dead", DEADTIME);
  }

  /**
   * Cut off with carrier up (a dead switch uplink): the node hears no one and
   * no one hears it, clients included, but its interface says nothing.
   */
  cut(i: number): void {
    const n = this.nodes[i];
    if (n === undefined || !n.linked) return;
    this.nodes.forEach((_, j) => {
      if (j !== i && this.reachable(i, j)) this.liveness(i, j, "dead", this.now + DEADTIME + this.jitter(INTERVAL));
    });
    this.observersSee(i, "dead", DEADTIME);
    n.linked = false;
  }

  /**
   * The cut heals: clients reach the node again at once, before any heartbeat
   * says so. `late`: the node hears that peer only `ms` later (its frames
   * lost, or the peer stalled), while the peer hears it at once.
   */
  heal(i: number, late?: { peer: number; ms: number }): void {
    const n = this.nodes[i];
    if (n === undefined || n.linked) return;
    n.linked = true;
    this.checkNoDouble("the moment the cut healed");
    // Rounds sent during the cut get through now, a few ms before the peers' frames may.
    for (const askedAt of n.pings) this.deliver(i, { type: "witness", reachable: true, askedAt }, this.now + 2 + this.jitter(10));
    n.pings = [];
    this.nodes.forEach((_, j) => {
      if (j === i || !this.reachable(i, j)) return;
      const extra = late?.peer === j ? late.ms : 0;
      this.liveness(i, j, "up", this.now + 5 + extra + this.jitter(50));
      this.liveness(j, i, "up", this.now + 5 + this.jitter(50));
    });
  }

  /**
   * The daemon's heartbeat stops (the end of a clean stop, after the farm's
   * own stop): what it sent is still delivered, nothing more is sent, and
   * peers see it dead a deadtime later.
   */
  stopHeartbeat(i: number): void {
    const n = this.nodes[i];
    if (n === undefined || !n.beating) return;
    n.beating = false;
    this.nodes.forEach((o, j) => {
      if (j === i || !o.running || !o.linked) return;
      this.q.push(this.now + DEADTIME + this.jitter(INTERVAL), { kind: "deliver", to: j, event: { type: "peer", node: i, live: "dead" }, epoch: o.epoch });
    });
  }

  /**
   * SIGSTOP: the daemon stops; its kernel keeps accepting until the lease
   * lapses; its peers see it dead a deadtime after its last heartbeat.
   */
  freeze(i: number): void {
    const n = this.nodes[i];
    if (n === undefined || !n.running || n.frozen) return;
    n.frozen = true;
    // An observer frozen too hears the verdict when it resumes, if it is due by then.
    this.nodes.forEach((o, j) => {
      if (j === i || !o.running || !o.linked) return;
      this.liveness(j, i, "dead", n.lastBeatAt + DEADTIME + this.jitter(INTERVAL));
    });
  }

  /** SIGCONT: what it missed is handled now, in order; peers hear it again. */
  thaw(i: number): void {
    const n = this.nodes[i];
    if (n === undefined || !n.frozen) return;
    n.frozen = false;
    for (const d of n.deferred) this.q.push(this.now, d.item);
    n.deferred = [];
    this.nodes.forEach((_, j) => {
      if (j !== i && this.reachable(i, j)) this.liveness(j, i, "up", this.now + 5 + this.jitter(50));
    });
  }

  /**
   * One-sided loss: node `to` stops hearing node `from` (its heartbeats and
   * flow messages), which still hears `to` and every other node: `to` alone
   * calls it dead, a deadtime later. Clients reach both.
   */
  deafen(to: number, from: number): void {
    if (this.deaf.has(`${to}>${from}`)) return;
    if (this.hears(to, from)) this.liveness(to, from, "dead", this.now + DEADTIME + this.jitter(INTERVAL));
    this.deaf.add(`${to}>${from}`);
  }

  /** The one-sided loss ends: `to` hears `from` again. */
  undeafen(to: number, from: number): void {
    if (!this.deaf.delete(`${to}>${from}`)) return;
    if (this.hears(to, from)) this.liveness(to, from, "up", this.now + 5 + this.jitter(50));
  }

  linkDown(i: number): void {
    const n = this.nodes[i];
    if (n === undefined || !n.linked) return;
    // The daemon sees its carrier go at once.
    this.deliver(i, { type: "link", up: false }, this.now);
    this.nodes.forEach((_, j) => {
      if (j !== i && this.reachable(i, j)) this.liveness(i, j, "dead", this.now + DEADTIME + this.jitter(INTERVAL));
    });
    this.observersSee(i, "dead", DEADTIME);
    n.linked = false;
  }

  linkUp(i: number): void {
    const n = this.nodes[i];
    if (n === undefined || n.linked) return;
    n.linked = true;
    this.deliver(i, { type: "link", up: true }, this.now);
    this.nodes.forEach((_, j) => {
      if (j === i || !this.reachable(i, j)) return;
      this.liveness(i, j, "up", this.now + 5 + this.jitter(50));
      this.liveness(j, i, "up", this.now + 5 + this.jitter(50));
    });
  }

  private observersSee(i: number, live: "dead", after: number): void {
    this.nodes.forEach((o, j) => {
      if (j === i || !o.running || !o.linked) return;
      this.liveness(j, i, live, this.now + after + this.jitter(INTERVAL));
    });
  }

  /** Runs the queue up to `until`. */
  runUntil(until: number): void {
    for (;;) {
      const t = this.q.peekTime();
      if (t === undefined || t > until) break;
      const e = this.q.pop();
      if (e === undefined) break;
      this.now = e.time;
      this.handle(e.item);
    }
    this.now = until;
  }

  /** The node an item is handled by, for holding it while that node is frozen. */
  private handler(item: Item): number {
    switch (item.kind) {
      case "deliver":
      case "initdead":
      case "liveness":
      case "advert":
      case "message":
      case "ping":
        return item.to;
      case "beat":
        return item.from;
      case "renew":
      case "read":
        return item.node;
    }
  }

  private handle(item: Item): void {
    const owner = this.nodes[this.handler(item)];
    if (owner?.frozen === true) {
      owner.deferred.push({ time: this.now, item });
      return;
    }
    if (item.kind === "renew") {
      const n = this.nodes[item.node];
      if (n === undefined || !n.running || n.epoch !== item.epoch) return;
      if (this.now > n.leaseUntil) this.deliver(item.node, { type: "lapsed" }, this.now);
      else n.leaseUntil = this.now + LEASE;
      this.q.push(this.now + REFRESH, { kind: "renew", node: item.node, epoch: n.epoch });
      return;
    }
    if (item.kind === "read") {
      const n = this.nodes[item.node];
      if (n !== undefined && n.running && n.epoch === item.epoch) this.tell(item.node, item.to, item.askedAt);
      return;
    }
    if (item.kind === "deliver") {
      const n = this.nodes[item.to];
      if (n === undefined || !n.running || n.epoch !== item.epoch) return;
      const r = farmStep(n.state, item.event, this.now);
      this.log(item.to, item.event, r.actions);
      n.state = r.state;
      this.apply(item.to, r.actions);
      this.writeFlows(item.to);
      const wake = nextWakeAt(r.state);
      if (wake !== undefined && wake > this.now) this.deliver(item.to, { type: "tick" }, wake);
      return;
    }
    if (item.kind === "initdead") {
      const n = this.nodes[item.to];
      if (n === undefined || n.epoch !== item.epoch || this.hears(item.to, item.peer)) return;
      if (n.state.peers[item.peer]?.live !== "unknown") return;
      this.q.push(this.now, { kind: "deliver", to: item.to, event: { type: "peer", node: item.peer, live: "dead" }, epoch: n.epoch });
      return;
    }
    if (item.kind === "ping") {
      const n = this.nodes[item.to];
      if (n === undefined || n.epoch !== item.epoch || !n.pings.includes(item.askedAt)) return;
      n.pings = n.pings.filter((t) => t !== item.askedAt);
      this.deliver(item.to, { type: "witness", reachable: false, askedAt: item.askedAt }, this.now);
      return;
    }
    if (item.kind === "liveness") {
      const n = this.nodes[item.to];
      if (n === undefined || n.epoch !== item.epoch) return;
      if (this.hears(item.to, item.peer) !== (item.live === "up")) return;
      this.q.push(this.now, { kind: "deliver", to: item.to, event: { type: "peer", node: item.peer, live: item.live }, epoch: n.epoch });
      return;
    }
    if (item.kind === "beat") {
      const n = this.nodes[item.from];
      if (n === undefined || !n.running || n.epoch !== item.epoch) return;
      if (!n.beating) return;
      n.lastBeatAt = this.now;
      this.sendAdverts(item.from);
      this.q.push(this.now + INTERVAL, { kind: "beat", from: item.from, epoch: n.epoch });
      return;
    }
    const from = this.nodes[item.from];
    const to = this.nodes[item.to];
    if (from === undefined || to === undefined || from.epoch !== item.epoch || to.epoch !== item.toEpoch) return;
    if (!this.hears(item.to, item.from)) return;
    if (item.kind === "message") {
      const wasWake = nextWakeAt(to.state);
      const r = farmStep(to.state, item.event, this.now);
      this.log(item.to, item.event, r.actions);
      to.state = r.state;
      this.apply(item.to, r.actions);
      this.writeFlows(item.to);
      const wake = nextWakeAt(r.state);
      if (wake !== undefined && wake > this.now && wake !== wasWake) this.deliver(item.to, { type: "tick" }, wake);
      return;
    }
    to.heard[item.from] = item.sentAt;
    const event: FarmEvent = { type: "advert", node: item.from, advert: item.advert, ...(item.echo === undefined ? {} : { echo: item.echo }), hears: item.hears };
    const wasWake = nextWakeAt(to.state);
    const r = farmStep(to.state, event, this.now);
    this.log(item.to, event, r.actions);
    to.state = r.state;
    this.apply(item.to, r.actions);
    this.writeFlows(item.to);
    // As the driver does after every step: an advert can start a listening time too.
    const wake = nextWakeAt(r.state);
    if (wake !== undefined && wake > this.now && wake !== wasWake) this.deliver(item.to, { type: "tick" }, wake);
  }

  private log(i: number, event: FarmEvent, actions: readonly FarmAction[]): void {
    if (actions.length === 0) return;
    const what = actions.map((a) => (a.type === "write" ? `write ${a.held.length}${a.arpOwner ? "+arp" : ""}` : a.type === "advertise" ? `advertise ${a.role} ${a.view.toString(2)}` : a.type)).join(", ");
    const shown = event.type === "flows-told" ? { ...event, flows: event.flows.length } : event;
    this.trace.push(`${this.now} n${i + 1} ${JSON.stringify(shown)} -> ${what}`);
  }

  /** Holders of each bucket among nodes clients can reach. */
  holders(): number[][] {
    const out: number[][] = Array.from({ length: BUCKETS }, () => []);
    this.nodes.forEach((n, i) => {
      if (!n.linked || this.now > n.leaseUntil) return;
      for (const b of n.kernelHeld) out[b]?.push(i);
    });
    return out;
  }

  checkNoDouble(when: string): void {
    const h = this.holders();
    const doubled = h.findIndex((x) => x.length > 1);
    if (doubled < 0) return;
    if (!this.strict && !this.membershipAgrees()) {
      this.disagreementDoubles++;
      return;
    }
    this.violations.push({ at: this.now, what: `bucket ${doubled} held by ${h[doubled]?.join(" and ")} ${when}` });
  }

  /** Once stable: every bucket exactly one holder, one ARP owner among reachable serving nodes. */
  stableProblems(): string[] {
    const problems: string[] = [];
    const serving = this.nodes.some((n) => n.running && n.linked && !n.frozen && n.state.mode === "in");
    const h = this.holders();
    const bad = h.map((x, b) => ({ b, x })).filter(({ x }) => x.length !== (serving ? 1 : 0));
    if (bad.length > 0) problems.push(`${bad.length} buckets without exactly one holder, first ${bad[0]?.b}: [${bad[0]?.x.join(",")}]`);
    const arp = this.nodes.filter((n) => n.linked && n.kernelArp && this.now <= n.leaseUntil).length;
    if (arp !== (serving ? 1 : 0)) problems.push(`${arp} ARP owners`);
    return problems;
  }

  /** `rounds` random faults, each followed by 0.2-2.2 s of running. */
  randomFaults(rounds: number): void {
    const n = this.nodes.length;
    for (let round = 0; round < rounds; round++) {
      const i = this.rng.nextU32() % n;
      const node = this.nodes[i];
      if (node === undefined) continue;
      const pick = this.rng.nextU32() % 6;
      if (!node.running) this.start(i);
      else if (!node.linked) this.linkUp(i);
      else if (pick === 0) this.kill(i);
      else if (pick === 1) this.linkDown(i);
      else if (pick === 2) this.deliver(i, { type: "health", healthy: !node.state.healthy, detail: "sim" }, this.now);
      else if (pick === 3) this.deliver(i, { type: node.state.mode === "stopped" ? "start" : "drain" }, this.now);
      else if (pick === 4) this.deliver(i, { type: "health", healthy: true, detail: "sim" }, this.now);
      this.runUntil(this.now + 200 + (this.rng.nextU32() % 2000));
    }
  }
}
