/**
 * One farm module on this node: feeds the farm core (src/core/farm) its
 * events and carries out its actions in order, one at a time, on one queue:
 * the core's ordering (write before advertise before a gaining write) holds
 * because nothing overtakes on the queue. The core's state moves at once;
 * the advert peers see changes only when its action runs.
 *
 * Crash safety: an exit guard (src/sys/farm/exit-guard.ts) is armed before
 * anything is created, so a daemon killed at any point leaves no table that
 * would keep answering for its buckets. A frozen daemon is covered by the
 * kernel lease (src/core/farm/lease.ts): a watch timer renews it every
 * refreshMs, off the action queue and without waiting for the renewal
 * before (on a loaded machine one nft run can take longer than refreshMs;
 * each renewal is atomic and conditional, so their order does not matter),
 * and a renewal or write that finds it lapsed tells the core (`lapsed`),
 * once per lapse. The same timer reads the interface's carrier for the
 * core's `link` event.
 */
import { dirname } from "node:path";
import { advertRole, eligibleView, farmStep, initFarmState, nextWakeAt, parseAdvert, tableOf } from "../../core/farm/farm.ts";
import { type FlowView, flowView, sameFlowView } from "../../core/farm/flows.ts";
import { arpOwnerOf, bucketCounts, bucketsOf, owners } from "../../core/farm/ownership.ts";
import { witnessesOf } from "../../core/farm/deaths.ts";
import { hasMember, withMember } from "../../core/farm/members.ts";
import { BUCKETS, type FarmAction, type FarmEvent, type FarmState, type Members, type PeerLive } from "../../core/farm/types.ts";
import type { PeerState } from "../../core/membership/types.ts";
import { checkerName } from "../../config/checker-name.ts";
import type { ModuleAdvert } from "../../proto/heartbeat.ts";
import { type FarmFlowsMessage, flowParts } from "../../proto/farm-flows.ts";
import { nftBucket } from "../../core/farm/jhash.ts";
import { FLOW_SELF } from "../../sys/farm/ruleset.ts";
import { type FlowKey, flowKeyText, ownFlowsInSlices } from "../../sys/farm/flow-records.ts";
import { filterInSlices, forEachInSlices } from "../../sys/farm/slices.ts";
import type { FarmMemberStatus, FarmStatus } from "../../api/farm.ts";
import { CheckSchedule } from "../../sys/checkers/schedule.ts";
import type { ArpResponder } from "../../sys/farm/arp-responder.ts";
import type { FarmCounters } from "../../sys/farm/counters.ts";
import type { ExitGuard } from "../../sys/farm/exit-guard.ts";
import type { SysctlChange } from "../../sys/farm/link.ts";
import { buildModuleChecker } from "../module/checker-factory.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { CoalescedRead } from "./coalesced-read.ts";
import { type FarmOs, farmOs } from "./os.ts";
import type { FarmModuleSetup } from "./setup.ts";

const COUNTERS_EVERY_MS = 2_000;
/** Renewals at once at most: on a machine so loaded that more pile up, the lease lapses anyway. */
const MAX_RENEWALS = 3;

export interface FarmInstanceDeps {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Adverts changed: send heartbeats now. */
  readonly publish: () => void;
  /** The heartbeat's clock (performance.now in the daemon): echoes are on it. */
  readonly clock: () => number;
  readonly configFile: string;
  /** Sysctls changed by a farm: the engine restores them when the last farm stops. */
  readonly sysctlsChanged: (changes: readonly SysctlChange[]) => void;
  /** The OS side; the real one (os.ts) unless a test gives a fake. */
  readonly os?: FarmOs;
  /** Checkers run unless false (tests that drive health themselves). */
  readonly runCheckers?: boolean;
  /** A witness round that starts now (cluster.witness.ping); absent: no witness. Null when it stopped. */
  readonly witness?: () => Promise<{ readonly reachable: boolean } | null>;
  /** Sends a flow message to a peer (flow-link.ts); absent: no socket, asks and tells go nowhere. */
  readonly sendFlows?: (m: FarmFlowsMessage) => void;
}

/** A flow report part is signed and sent as it is encoded: look at the clock after each. */
const PART_SLICES = { checkEvery: 1 };

function ipv4Text(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function liveOf(l: PeerState): PeerLive {
  return l === "up" || l === "late" ? "up" : l === "stopped" ? "dead" : l;
}

export class FarmInstance {
  private state: FarmState;
  private queue: Promise<void> = Promise.resolve();
  private advert: ModuleAdvert;
  private wakeTimer: ReturnType<typeof setTimeout> | undefined;
  private countersTimer: ReturnType<typeof setInterval> | undefined;
  private watchTimer: ReturnType<typeof setInterval> | undefined;
  /** Renewals running now; a few at most, however slow nft is. */
  private renewals = 0;
  /**
   * Counts the writes that re-armed the lease (after a lapse, and at setup). A
   * renewal or write that started before the last re-arm and found the lease
   * lapsed speaks of a lapse already handled.
   */
  private leaseEpoch = 0;
  /** A lapse was reported and its re-arming write has not run yet. */
  private lapsePending = false;
  /** The table exists (between setup and teardown): there is a lease to renew. */
  private tableUp = false;
  private carrier = true;
  private guard: ExitGuard | undefined;
  private arp: ArpResponder | undefined;
  private arpProblem: string | undefined;
  private counters: FarmCounters | null = null;
  /** Per-bucket connection counts at the last read, to count what came since. */
  private lastSyns: readonly number[] | null = null;
  /** New connections per member (config order) since this farm started here; null before the first read. */
  private memberConnections: number[] | null = null;
  private lastWriteMs: number | null = null;
  private lastRebalanceWall: { time: string; nftMs: number | null } | null = null;
  private readonly checks: CheckSchedule[] = [];
  private readonly failing = new Map<string, string>();
  private readonly os: FarmOs;
  private readonly gauges: {
    held: (v: number, l?: Record<string, string>) => void;
    share: (v: number, l?: Record<string, string>) => void;
    arpOwner: (v: number, l?: Record<string, string>) => void;
    serving: (v: number, l?: Record<string, string>) => void;
    accepted: (v: number, l?: Record<string, string>) => void;
    others: (v: number, l?: Record<string, string>) => void;
    memberConnections: (v: number, l?: Record<string, string>) => void;
  };
  private readonly rebalances: (l?: Record<string, string>, by?: number) => void;
  private stopped = false;
  /**
   * Between the table's creation and the set-up event: holding nothing and no
   * flow, a lease that runs out endangers nothing (the link can take longer
   * than the lease on a loaded host), and it is armed again at the end.
   */
  private settingUp = false;
  /** Peers we are reading our flows for now (tellFlows). */
  private readonly telling = new Set<number>();
  /** The UDP flow owners last queued for the table; null: none since setup. */
  private flows: FlowView | null = null;
  /** Our table's flow records, one read for all the tells, checks and disclaims waiting. */
  private readonly flowReads: CoalescedRead<Awaited<ReturnType<FarmOs["readFlowRecords"]>>>;

  constructor(
    readonly setup: FarmModuleSetup,
    private readonly deps: FarmInstanceDeps,
  ) {
    this.state = initFarmState(setup.core);
    this.advert = { module: setup.name, role: advertRole("stopped"), generation: 0 };
    this.os = deps.os ?? farmOs();
    this.flowReads = new CoalescedRead(() => this.os.readFlowRecords(this.name));
    const m = deps.metrics;
    this.gauges = {
      held: m.gauge("vigil_farm_buckets", "Buckets (of 256) this node holds, by farm module."),
      share: m.gauge("vigil_farm_share_percent", "This node's share of new clients in percent, by farm module."),
      arpOwner: m.gauge("vigil_farm_arp_owner", "1 while this node answers ARP for the farm's VIP, by farm module."),
      serving: m.gauge("vigil_farm_serving", "1 while this node is in the farm's split (not waiting, out, draining or stopped), by farm module."),
      accepted: m.gauge("vigil_farm_connections_accepted", "New TCP connections this node accepted (nft counter), by farm module."),
      others: m.gauge("vigil_farm_connections_left_to_others", "New TCP connections this node left to other nodes (nft counter), by farm module."),
      memberConnections: m.gauge("vigil_farm_member_connections", "New TCP connections the split sent each node since this node's farm started, counted here from every client's SYN, by farm module and node."),
    };
    this.rebalances = m.counter("vigil_farm_rebalances_total", "Changes of this node's buckets, by farm module and reason.");
  }

  get name(): string {
    return this.setup.name;
  }

  /** Sets the farm up and joins; `peers` is what the heartbeat already knows. */
  start(peers: readonly { name: string; liveness: PeerState }[]): void {
    this.stopped = false;
    for (const p of peers) this.peer(p.name, p.liveness);
    this.step({ type: "start" });
    if (this.deps.runCheckers !== false) this.startCheckers();
    this.countersTimer ??= setInterval(() => void this.refreshCounters(), COUNTERS_EVERY_MS);
    this.watchTimer ??= setInterval(() => this.watch(), this.setup.lease.refreshMs);
  }

  peer(node: string, liveness: PeerState): void {
    const i = this.setup.core.nodes.findIndex((n) => n.name === node);
    if (i < 0 || i === this.setup.core.self) return;
    this.step({ type: "peer", node: i, live: liveOf(liveness), ...(liveness === "stopped" ? { stopped: true } : {}) });
  }

  /** A peer's frame: its advert for this module, the send time of ours it echoes, and the nodes it hears (its echoes). */
  frame(node: string, adverts: readonly ModuleAdvert[], echo: number | undefined, hears?: readonly string[]): void {
    const i = this.setup.core.nodes.findIndex((n) => n.name === node);
    if (i < 0 || i === this.setup.core.self) return;
    const a = adverts.find((x) => x.module === this.setup.name);
    if (a === undefined) return;
    const advert = parseAdvert(a.role, a.generation, this.setup.core.nodes.length);
    if (advert === undefined) return;
    const heard = hears === undefined ? undefined : this.membersOf(hears);
    this.step({ type: "advert", node: i, advert, ...(echo === undefined ? {} : { echo }), ...(heard === undefined ? {} : { hears: heard }) });
  }

  /** Node names as a member set over this farm's nodes; names not in the farm are left out. */
  private membersOf(names: readonly string[]): Members {
    let set: Members = 0;
    for (const name of names) {
      const i = this.setup.core.nodes.findIndex((n) => n.name === name);
      if (i >= 0) set = withMember(set, i);
    }
    return set;
  }

  adverts(): ModuleAdvert[] {
    return [this.advert];
  }

  /** A flow message for this module from a peer (checked by flow-link.ts: MAC, cluster, addressed to us). */
  flowMessage(m: FarmFlowsMessage): void {
    const i = this.setup.core.nodes.findIndex((n) => n.name === m.from);
    if (i < 0 || i === this.setup.core.self || this.stopped) return;
    if (m.type === "ask") this.step({ type: "flows-asked", node: i, askedAt: m.askedAt });
    else if (m.type === "tell") this.step({ type: "flows-told", node: i, askedAt: m.askedAt, part: m.part, parts: m.parts, flows: m.flows });
    else if (m.type === "check") this.step({ type: "flows-check", node: i, askedAt: m.askedAt, flows: m.flows });
    else this.step({ type: "flows-disclaimed", node: i, flows: m.flows });
  }

  /**
   * Reads our table and asks each peer about the flows of our buckets that
   * it leaves to that peer (check-flows).
   */
  private async checkFlows(held: readonly number[], peers: readonly { node: number; value: number }[], at: number): Promise<void> {
    const send = this.deps.sendFlows;
    if (send === undefined || !this.tableUp) return;
    const r = await this.flowReads.get();
    if (!r.ok) {
      this.deps.log.warn("farm: cannot check the UDP flows it leaves to peers", { module: this.name, reason: r.message });
      return;
    }
    const mine = new Set(held);
    const s = this.setup;
    // One pass over the records for all peers, in slices: a full map is 65536 records, each hashed to its bucket.
    const byValue = new Map(peers.map((p) => [p.value, { node: p.node, flows: [] as FlowKey[] }]));
    await forEachInSlices(r.records.values(), (x) => {
      const p = byValue.get(x.value);
      if (p !== undefined && mine.has(nftBucket(ipv4Text(x.key.client), s.split === "client_ip" ? undefined : x.key.port, BUCKETS, s.nftSeed))) p.flows.push(x.key);
    });
    for (const p of byValue.values()) {
      const header = this.flowHeader(p.node, at);
      if (header === undefined || p.flows.length === 0) continue;
      const parts = flowParts(p.flows);
      await forEachInSlices(parts, (part, i) => send({ type: "check", ...header, part: i, parts: parts.length, flows: part }), PART_SLICES);
    }
  }

  /** Tells every peer which of the flows a peer checked our table does not answer (disclaim-flows). */
  private async disclaimFlows(node: number, askedAt: number, flows: readonly { client: number; port: number; vipPort: number }[], own: readonly number[]): Promise<void> {
    const send = this.deps.sendFlows;
    const asker = this.flowHeader(node, askedAt);
    if (send === undefined || asker === undefined || !this.tableUp) return;
    const r = await this.flowReads.get();
    if (!r.ok) {
      this.deps.log.warn("farm: cannot answer a peer's check of UDP flows", { module: this.name, peer: asker.to, reason: r.message });
      return;
    }
    const ours = new Set(own);
    const s = this.setup;
    const notMine = await filterInSlices(
      flows,
      (f) =>
        r.records.get(flowKeyText(f))?.value !== FLOW_SELF &&
        !ours.has(nftBucket(ipv4Text(f.client), s.split === "client_ip" ? undefined : f.port, BUCKETS, s.nftSeed)),
    );
    if (notMine.length === 0) return;
    const parts = flowParts(notMine);
    // To every peer: each may have credited them to us, and must credit them anew.
    for (let i = 0; i < this.setup.core.nodes.length; i++) {
      const header = this.flowHeader(i, askedAt);
      if (i === this.setup.core.self || header === undefined) continue;
      await forEachInSlices(parts, (part, k) => send({ type: "disclaim", ...header, part: k, parts: parts.length, flows: part }), PART_SLICES);
    }
    this.deps.log.info("farm: disclaimed UDP flows a peer credited to it", { module: this.name, peer: asker.to, flows: notMine.length });
  }

  private flowHeader(to: number, askedAt: number): { cluster: string; module: string; from: string; to: string; askedAt: number } | undefined {
    const link = this.setup.flowLink;
    const name = this.setup.core.nodes[to]?.name;
    if (link === undefined || name === undefined) return undefined;
    return { cluster: link.cluster, module: this.name, from: link.self, to: name, askedAt };
  }

  /**
   * Reads what our table answers itself and tells it to the peer that asked,
   * in parts. An ask repeated while we still read for the same peer is
   * answered by that reading: a whole report to any of its asks will do.
   */
  private async tellFlows(to: number, askedAt: number): Promise<void> {
    const send = this.deps.sendFlows;
    const header = this.flowHeader(to, askedAt);
    if (send === undefined || header === undefined || !this.tableUp || this.telling.has(to)) return;
    this.telling.add(to);
    const read = await this.flowReads.get().finally(() => this.telling.delete(to));
    const r = read.ok ? { ok: true as const, flows: await ownFlowsInSlices(read.records) } : read;
    if (!r.ok) {
      this.deps.log.warn("farm: cannot tell a starting peer its UDP flows", { module: this.name, peer: header.to, reason: r.message });
      return;
    }
    const parts = flowParts(r.flows);
    await forEachInSlices(parts, (flows, part) => send({ type: "tell", ...header, part, parts: parts.length, flows }), PART_SLICES);
    this.deps.log.info("farm: told a peer the UDP flows it answers", { module: this.name, peer: header.to, flows: r.flows.length });
  }

  /** The checkers' verdict (rise/fall applied): a failing node leaves the split. */
  health(healthy: boolean, detail: string): void {
    this.step({ type: "health", healthy, detail });
  }

  /** Resolves once every action asked for so far has run. */
  settled(): Promise<void> {
    return this.queue;
  }

  /** `vigil stop MODULE`: new clients go elsewhere, established ones finish. */
  drain(): void {
    this.step({ type: "drain" });
  }

  /** `vigil start MODULE` after a drain. */
  resume(peers: readonly { name: string; liveness: PeerState }[]): void {
    if (this.state.mode === "stopped") this.start(peers);
  }

  /** Daemon stop: tear down at once; resolves once the kernel is clean. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const c of this.checks) c.stop();
    this.checks.length = 0;
    if (this.countersTimer !== undefined) clearInterval(this.countersTimer);
    this.countersTimer = undefined;
    if (this.watchTimer !== undefined) clearInterval(this.watchTimer);
    this.watchTimer = undefined;
    this.step({ type: "stop" });
    await this.queue;
    if (this.wakeTimer !== undefined) clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
  }

  /** Every refreshMs: the carrier, and a lease renewal queued behind any write. */
  private watch(): void {
    if (this.stopped) return;
    const carrier = this.os.carrier(this.setup.interface);
    if (carrier !== this.carrier) {
      this.carrier = carrier;
      this.deps.log.warn(carrier ? "farm: the interface has carrier again; listening for peers before taking buckets" : "farm: the interface lost carrier; holding no bucket", {
        module: this.name,
        interface: this.setup.interface,
      });
      this.step({ type: "link", up: carrier });
    }
    if (!this.tableUp || this.renewals >= MAX_RENEWALS) return;
    this.renewals++;
    const epoch = this.leaseEpoch;
    const s = this.setup;
    void this.os
      .renewLease(s.name, s.vip, s.lease.leaseMs)
      .then((r) => {
        if (r.ok || !this.tableUp) return;
        if (r.lapsed === true) this.lapsed("renewal", epoch);
        else this.deps.log.warn("farm: cannot renew its lease", { module: s.name, reason: r.message });
      })
      .finally(() => {
        this.renewals--;
      });
  }

  /**
   * The link, ARP responder and a re-armed lease after the table (the setup
   * action). A lease found out meanwhile is not a lapse (see settingUp).
   */
  private async setUpLink(): Promise<void> {
    const s = this.setup;
    const log = this.deps.log;
    const link = await this.os.setupLink({ module: s.name, interface: s.interface, vip: s.vip, vmac: s.vmac });
    if (!link.ok) {
      this.tableUp = false;
      await this.os.removeTable(s.name);
      return this.failSetup(link.message);
    }
    this.deps.sysctlsChanged(link.changed);
    // Opened now on every node, answering only while this node is the ARP
    // owner: a new owner then answers the moment it knows, with no Worker to start.
    try {
      this.arp = await this.os.openArp({ interface: s.interface, vip: s.vip, vmac: s.vmac, onError: (m) => log.warn(m, { module: s.name }) });
      this.arpProblem = undefined;
    } catch (e) {
      this.arpProblem = e instanceof Error ? e.message : String(e);
      log.warn("farm: no ARP responder on this node; it cannot be the ARP owner", { module: s.name, reason: this.arpProblem });
    }
    // The link can take longer than the lease on a loaded host. Holding nothing and no flow yet,
    // a lease that ran out meanwhile endangered nothing: armed again here (a renewal that found it
    // out meanwhile was ignored, or is of the old epoch: not taken for a lapse of a serving node).
    const rearm = await this.os.writeTable(s.name, s.vip, [], false, s.lease.leaseMs, true);
    if (!rearm.ok) log.warn("farm: cannot arm its lease", { module: s.name, reason: rearm.message });
    this.leaseEpoch++;
    this.lapsePending = false;
    log.info("farm set up", { module: s.name, vip: s.vip, vmac: s.vmac, interface: s.interface, split: s.split, ports: s.ports.join(",") });
    this.step({ type: "set-up" });
  }

  private lapsed(found: string, epoch: number): void {
    if (epoch !== this.leaseEpoch || this.lapsePending || this.settingUp) return;
    this.lapsePending = true;
    this.deps.log.warn("farm: its kernel lease lapsed (the daemon was frozen or stalled): holding nothing, then taking its share back by handover", {
      module: this.name,
      lease_ms: this.setup.lease.leaseMs,
      found_by: found,
    });
    this.step({ type: "lapsed" });
  }

  private startCheckers(): void {
    if (this.checks.length > 0) return;
    const baseDir = dirname(this.deps.configFile);
    this.setup.checkers.forEach((c, i) => {
      const name = checkerName(c, i);
      const s = new CheckSchedule({
        checker: buildModuleChecker(c, baseDir, { module: this.setup.name, node: this.setup.core.nodes[this.setup.core.self]?.name ?? "" }),
        intervalMs: c.interval,
        timeoutMs: c.timeout,
        rise: c.rise,
        fall: c.fall,
        onTransition: (t) => this.checkerTransition(name, c.on_fail, t.to === "failed", t.result.detail),
      });
      this.checks.push(s);
      s.start();
    });
  }

  /**
   * A checker's verdict changed; on_fail says what a farm does with it
   * (config/farm-checks.ts refuses what it cannot do):
   * - failover (the default of a farm's checker), wait, and restart (which
   *   check-config refuses on a farm; taken as failover should it come):
   *   out of the split while it fails, back in once it passes;
   * - stop: also drains the node, as `vigil stop MODULE` does; it stays
   *   stopped until `vigil start MODULE`, and then out until the checker passes;
   * - ignore: logged, nothing else.
   */
  private checkerTransition(name: string, policy: string, failed: boolean, detail: string): void {
    if (policy === "ignore") {
      this.deps.log.warn(failed ? "farm: checker fails; ignored (on_fail: ignore)" : "farm: checker passes again", { module: this.name, checker: name, detail });
      return;
    }
    if (failed) this.failing.set(name, detail);
    else this.failing.delete(name);
    const first = [...this.failing.entries()][0];
    this.health(first === undefined, first === undefined ? "checkers pass" : `${first[0]}: ${first[1]}`);
    if (failed && policy === "stop" && this.state.mode !== "stopped" && this.state.mode !== "drain") {
      this.deps.log.warn("farm: checker fails; draining this node (on_fail: stop); vigil start takes it back", { module: this.name, checker: name, detail });
      this.drain();
    }
  }

  private step(event: FarmEvent): void {
    const r = farmStep(this.state, event, this.deps.clock());
    this.state = r.state;
    for (const a of r.actions) this.enqueue(a);
    this.queueFlows();
    this.scheduleWake();
    const l = { module: this.name };
    this.gauges.serving(r.state.mode === "in" ? 1 : 0, l);
  }

  private scheduleWake(): void {
    if (this.wakeTimer !== undefined) clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    const at = nextWakeAt(this.state);
    if (at === undefined) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.step({ type: "tick" });
    }, Math.max(0, at - this.deps.clock()));
  }

  /**
   * Queues the UDP flow owners when they changed, behind the actions of the
   * same step: who holds what is written first. (Emptying the flow memory is
   * the core's forget-flows action.)
   */
  private queueFlows(): void {
    if (this.state.mode === "stopped") {
      this.flows = null;
      return;
    }
    const v = flowView(this.state);
    if (this.flows !== null && sameFlowView(v, this.flows)) return;
    this.flows = v;
    this.queue = this.queue
      .then(async () => {
        if (!this.tableUp) return;
        const w = await this.os.writeFlows(this.name, v.owners, v.live, false);
        if (!w.ok) this.deps.log.warn("farm: cannot write its UDP flow owners", { module: this.name, reason: w.message });
      })
      .catch((e: unknown) => {
        this.deps.log.error("farm action failed", { module: this.name, action: "flows", error: e instanceof Error ? e.message : String(e) });
      });
  }

  private enqueue(a: FarmAction): void {
    this.queue = this.queue.then(() => this.run(a)).catch((e: unknown) => {
      this.deps.log.error("farm action failed", { module: this.name, action: a.type, error: e instanceof Error ? e.message : String(e) });
    });
  }

  private async run(a: FarmAction): Promise<void> {
    const s = this.setup;
    const log = this.deps.log;
    switch (a.type) {
      case "setup": {
        // Armed first: a crash from here on leaves nothing behind.
        this.guard?.disarm();
        this.guard = this.os.exitGuard(s.name);
        // The table (holding nothing) before the link and VIP: a node that
        // received for the VIP without it would reset the other nodes' connections.
        const table = await this.os.setupTable({ module: s.name, vip: s.vip, ports: s.ports, split: s.split, seed: s.nftSeed, leaseMs: s.lease.leaseMs });
        if (!table.ok) return this.failSetup(table.message);
        this.tableUp = true;
        // A new table comes with its lease armed.
        this.leaseEpoch++;
        this.lapsePending = false;
        this.settingUp = true;
        try {
          await this.setUpLink();
        } finally {
          this.settingUp = false;
        }
        return;
      }
      case "write": {
        const t0 = performance.now();
        const epoch = this.leaseEpoch;
        const w = await this.os.writeTable(s.name, s.vip, a.held, a.arpOwner, s.lease.leaseMs, a.rearm === true);
        if (w.ok && a.rearm === true) {
          // The write after a lapse re-armed the lease (ruleset.ts).
          this.leaseEpoch++;
          this.lapsePending = false;
        }
        this.gauges.arpOwner(w.ok && a.arpOwner ? 1 : 0, { module: s.name });
        this.lastWriteMs = performance.now() - t0;
        if (!w.ok && w.lapsed === true) {
          this.lapsed("write", epoch);
        } else if (!w.ok) {
          log.error("farm: cannot write its buckets; leaving the split", { module: s.name, reason: w.message });
          this.step({ type: "health", healthy: false, detail: w.message });
        }
        return;
      }
      case "advertise":
        this.advert = { module: s.name, role: advertRole(a.role), generation: a.view };
        this.deps.publish();
        return;
      case "arp-responder":
        if (this.arp === undefined) {
          if (a.on) log.error("farm: cannot answer ARP for the VIP; clients that do not know the virtual MAC cannot reach the farm", { module: s.name, reason: this.arpProblem ?? "not open" });
          return;
        }
        this.arp.answer(a.on);
        if (a.on) log.info("farm: this node answers ARP for the VIP", { module: s.name, vip: s.vip, vmac: s.vmac });
        return;
      case "garp":
        // Not awaited: its repeats are 100 ms apart, and the queue must not wait for them.
        void this.arp?.garp(3);
        return;
      case "ask-witness": {
        // Not awaited: a round takes up to the ping timeout, and the queue must not wait for it.
        void this.deps.witness?.().then((r) => {
          if (r !== null && !this.stopped) this.step({ type: "witness", reachable: r.reachable, askedAt: a.at });
        });
        return;
      }
      case "forget-flows": {
        if (!this.tableUp) return;
        const v = this.flows ?? flowView(this.state);
        const w = await this.os.writeFlows(s.name, v.owners, v.live, true);
        if (!w.ok) log.warn("farm: cannot empty its memory of UDP flows", { module: s.name, reason: w.message });
        else log.info("farm: forgot its UDP flows (cut off or frozen: peers may have taken them)", { module: s.name });
        return;
      }
      case "ask-flows": {
        const send = this.deps.sendFlows;
        if (send === undefined) return;
        for (const n of a.nodes) {
          const header = this.flowHeader(n, a.at);
          if (header !== undefined) send({ type: "ask", ...header });
        }
        return;
      }
      case "tell-flows":
        // Not awaited: reading the table must not hold up the writes queued behind it.
        void this.tellFlows(a.node, a.askedAt).catch((e: unknown) => {
          log.error("farm action failed", { module: s.name, action: "tell-flows", error: e instanceof Error ? e.message : String(e) });
        });
        return;
      case "check-flows":
        // Not awaited: reading the table must not hold up the writes queued behind it.
        void this.checkFlows(a.held, a.peers, a.at).catch((e: unknown) => {
          log.error("farm action failed", { module: s.name, action: "check-flows", error: e instanceof Error ? e.message : String(e) });
        });
        return;
      case "disclaim-flows":
        void this.disclaimFlows(a.node, a.askedAt, a.flows, a.own).catch((e: unknown) => {
          log.error("farm action failed", { module: s.name, action: "disclaim-flows", error: e instanceof Error ? e.message : String(e) });
        });
        return;
      case "unrecord-flows": {
        if (!this.tableUp) return;
        const w = await this.os.unrecordFlows(s.name, a.flows, a.value);
        const peer = s.core.nodes[(a.value - 1) % 32]?.name ?? "?";
        if (!w.ok) log.warn("farm: cannot remove UDP flow records a peer disclaimed", { module: s.name, peer, reason: w.message });
        else if (w.changed > 0) log.info("farm: removed UDP flow records a peer disclaimed", { module: s.name, peer, flows: w.changed });
        return;
      }
      case "flows-untold":
        log.warn("farm: took its share without a whole report of the UDP flows a peer answers (it did not tell in time); flows it answers in this node's buckets may be answered twice until the checks after the gain", {
          module: s.name,
          peers: a.nodes.map((n) => s.core.nodes[n]?.name ?? "?").join(", "),
          waited_ms: Math.round(a.waitedMs),
        });
        return;
      case "record-flows": {
        // On the queue: recorded before a later write takes their buckets.
        if (!this.tableUp) return;
        const w = await this.os.recordFlows(s.name, a.flows, a.value);
        const peer = s.core.nodes[(a.value - 1) % 32]?.name ?? "?";
        if (!w.ok) log.warn("farm: cannot record the UDP flows a peer answers", { module: s.name, peer, reason: w.message });
        else log.info("farm: recorded the UDP flows a peer answers", { module: s.name, peer, flows: a.flows.length, changed: w.changed });
        return;
      }
      case "count-connections": {
        const n = await this.os.establishedConnections(s.vip, s.ports);
        this.step({ type: "connections", count: n });
        return;
      }
      case "teardown": {
        this.tableUp = false;
        await this.arp?.close();
        this.arp = undefined;
        // The link first: a node without the table that still received for the VIP would reset other nodes' connections.
        const problems = await this.os.removeLink({ module: s.name, interface: s.interface, vip: s.vip, vmac: s.vmac });
        const t = await this.os.removeTable(s.name);
        if (!t.ok) problems.push(t.message);
        this.guard?.disarm();
        this.guard = undefined;
        if (problems.length > 0) log.warn("farm: removed with problems", { module: s.name, problems: problems.join("; ") });
        else log.info("farm removed", { module: s.name, detail: this.state.detail });
        return;
      }
      case "rebalanced": {
        const r = a.rebalance;
        this.lastRebalanceWall = { time: new Date().toISOString(), nftMs: this.lastWriteMs };
        this.rebalances({ module: s.name, reason: r.reason });
        this.gauges.held(a.held, { module: s.name });
        this.gauges.share(Math.round((1000 * a.held) / BUCKETS) / 10, { module: s.name });
        log.info("farm rebalanced", {
          module: s.name,
          reason: r.reason,
          about: r.node,
          held: a.held,
          gained: r.gained,
          lost: r.lost,
          nft_ms: this.lastWriteMs === null ? null : Number(this.lastWriteMs.toFixed(1)),
        });
        void this.refreshCounters();
        return;
      }
    }
  }

  private failSetup(message: string): void {
    this.deps.log.error("farm: cannot set up; not serving", { module: this.name, reason: message });
    this.step({ type: "stop" });
    this.state = { ...this.state, detail: `setup failed: ${message}` };
  }

  private async refreshCounters(): Promise<void> {
    if (this.stopped || this.state.mode === "stopped") return;
    const c = await this.os.counters(this.name);
    if (!c.ok) return;
    this.counters = c.counters;
    this.attribute(c.counters.bucketSyns);
    this.gauges.accepted(c.counters.connections, { module: this.name });
    this.gauges.others(c.counters.othersConnections, { module: this.name });
  }

  /**
   * Adds each bucket's new connections since the last read to its owner under
   * the current split. A count lower than before means the table was created
   * anew: all of it is new.
   */
  private attribute(syns: readonly number[]): void {
    const cfg = this.state.config;
    const own = owners(tableOf(cfg), eligibleView(this.state));
    const per = this.memberConnections ?? cfg.nodes.map(() => 0);
    syns.forEach((v, b) => {
      const prev = this.lastSyns?.[b] ?? 0;
      const o = own[b] ?? -1;
      if (o >= 0 && o < per.length) per[o] = (per[o] ?? 0) + (v >= prev ? v - prev : v);
    });
    this.lastSyns = syns;
    this.memberConnections = per;
    cfg.nodes.forEach((n, i) => this.gauges.memberConnections(per[i] ?? 0, { module: this.name, node: n.name }));
  }

  status(): FarmStatus {
    const s = this.state;
    const cfg = s.config;
    const t = tableOf(cfg);
    const view = eligibleView(s);
    const counts = bucketCounts(t, view);
    const arp = arpOwnerOf(t, view);
    const members: FarmMemberStatus[] = cfg.nodes.map((n, i) => {
      const p = s.peers[i];
      let state: FarmMemberStatus["state"] = s.mode;
      if (i !== cfg.self) {
        if (p === undefined || p.live === "unknown") state = "unknown";
        else if (p.live === "dead") state = "dead";
        else state = p.advert?.role ?? "wait";
      }
      const buckets = counts[i] ?? 0;
      const connections = this.memberConnections?.[i];
      // A loss in one direction, either way: the operator must see it (deaths.ts).
      const through = i === cfg.self ? [] : witnessesOf(s, i);
      const deafToUs = i !== cfg.self && p?.live === "up" && p.hears !== undefined && !hasMember(p.hears, cfg.self);
      return {
        node: n.name,
        state,
        weight: n.weight,
        buckets,
        sharePct: Math.round((1000 * buckets) / BUCKETS) / 10,
        ...(connections === undefined ? {} : { connections }),
        ...(through.length === 0 ? {} : { heardThrough: through.map((x) => cfg.nodes[x]?.name ?? `#${x}`) }),
        ...(deafToUs ? { hearsUs: false as const } : {}),
      };
    });
    const heldSet = new Set(s.held);
    const waiting = s.mode === "in" ? bucketsOf(t, cfg.self, view).filter((b) => !heldSet.has(b)).length : 0;
    const c = this.counters;
    return {
      module: this.name,
      mode: s.mode,
      detail: s.detail,
      vip: this.setup.vip,
      vmac: this.setup.vmac,
      interface: this.setup.interface,
      split: this.setup.split,
      ports: this.setup.ports,
      held: s.held.length,
      ...(waiting === 0 ? {} : { waiting }),
      sharePct: Math.round((1000 * s.held.length) / BUCKETS) / 10,
      arpOwner: arp < 0 ? null : (cfg.nodes[arp]?.name ?? null),
      members,
      counters:
        c === null
          ? null
          : {
              connections: c.connections,
              othersConnections: c.othersConnections,
              establishedPackets: c.establishedPackets,
              midstreamDropped: c.midstreamDropped,
              udpPackets: c.udpPackets,
              unsplitPackets: c.unsplitPackets,
            },
      lastRebalance:
        s.lastRebalance === undefined
          ? null
          : {
              time: this.lastRebalanceWall?.time ?? new Date().toISOString(),
              reason: s.lastRebalance.reason,
              node: s.lastRebalance.node,
              gained: s.lastRebalance.gained,
              lost: s.lastRebalance.lost,
              nftMs: this.lastRebalanceWall?.nftMs === null || this.lastRebalanceWall === null ? null : Math.round(this.lastRebalanceWall.nftMs * 10) / 10,
            },
    };
  }
}
