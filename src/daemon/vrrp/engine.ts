/**
 * The VRRP driver: runs every VRRP instance of this node (and their sync
 * groups) around the pure cores in src/core/vrrp/.
 *
 * It owns what the cores must not touch: the raw sockets, the clock and
 * timers, the virtual addresses, gratuitous ARP, the tracked objects and
 * the notify scripts. It feeds the cores received adverts, timer wake-ups,
 * track results and link changes, and carries their actions out in the
 * order given (see VrrpAction in src/core/vrrp/types.ts):
 *
 * - Each instance has one action queue, run strictly in order, one action
 *   at a time: a GARP never goes out before its `ip addr` finished, and the
 *   priority-0 advert of a resigning master never before its addresses are
 *   gone.
 * - Notify scripts run in a queue of their own, in order, after the actions
 *   that came before the transition; a slow script never holds up the
 *   addresses.
 * - Timers: one OS timer per instance (or sync group) at the core's next
 *   deadline, re-armed after every step.
 *
 * At start, addresses (and accept_mode filters) left by an earlier run that
 * was killed are removed first, so a node that restarts as BACKUP does not go
 * on answering for a VIP. On stop, a MASTER removes its addresses and sends a
 * priority-0 advert, so a backup takes over after its skew time.
 *
 * An interface that is missing or down at start does not stop the daemon:
 * its instances start in FAULT, saying which interface and why, and the
 * socket is opened (and the interface's own address learned) once the link
 * poll sees it up. The poll reads sysfs every linkPollMs: a couple of file
 * reads per interface, cheaper than a netlink listener through FFI, and a
 * link change is noticed within one poll, well inside Master_Down_Interval
 * for the usual advert intervals.
 */
import {
  initVrrp,
  nextWakeAt,
  stepVrrp,
  type VrrpAction,
  type VrrpCounters,
  type VrrpInput,
  type VrrpInstanceConfig,
  type VrrpMisconfiguration,
  type VrrpRole,
  type VrrpState,
  type VrrpTransition,
  vrrpDiscardReasons,
} from "../../core/vrrp/vrrp.ts";
import { initSyncGroup, stepSyncGroup, syncGroupNextWakeAt, type SyncGroupState } from "../../core/vrrp/sync-group.ts";
import type { VrrpSocket, VrrpSocketOptions } from "../../net/raw-vrrp.ts";
import { decodeVrrp, encodeAdvert, verifyVrrpAuth, VRRP_MULTICAST_V4, type VrrpAdvert } from "../../proto/vrrp.ts";
import { vipAddress } from "../../core/vrrp/config.ts";
import { NotifyQueue, notifyCommands, type NotifyCommand, type NotifyScripts, type NotifyState } from "../../sys/notify.ts";
import type { ScriptRunner, ScriptRunResult } from "../../sys/track-script.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { VrrpStatus } from "../../api/status.ts";

export type IoResult = { readonly ok: true } | { readonly ok: false; readonly message: string };
export type VipRemoval = { readonly ok: true; readonly removed: boolean } | { readonly ok: false; readonly message: string };

/** The OS effects, injectable so tests run over the in-memory twins. */
export interface VrrpIo {
  openSocket(opts: VrrpSocketOptions): Promise<VrrpSocket>;
  /** Adds (or keeps) a VIP, "a.b.c.d" or "a.b.c.d/len", on the interface. */
  addVip(vip: string, iface: string): Promise<IoResult>;
  /** Removes a VIP; `removed` is false when it was not there. */
  removeVip(vip: string, iface: string): Promise<VipRemoval>;
  /** `count` gratuitous ARPs for `address`, `intervalMs` apart. */
  sendGarp(iface: string, address: string, count: number, intervalMs: number): Promise<IoResult>;
  /** Whether the interface's link is usable now; `present` false when it does not exist. */
  linkState(iface: string): { readonly up: boolean; readonly detail: string; readonly present?: boolean };
  /** The IPv4 addresses of an interface that is up, primary first. */
  interfaceAddresses(iface: string): readonly string[];
  /** accept_mode false: drop IPv4 packets addressed to `addresses` (bare IPv4) while we are MASTER. */
  dropVipTraffic(iface: string, vrid: number, addresses: readonly string[]): Promise<IoResult>;
  /** Undoes dropVipTraffic; succeeds when there was nothing to undo. */
  acceptVipTraffic(iface: string, vrid: number): Promise<IoResult>;
  /** Rejects with a one-line reason when this runtime cannot speak VRRP at all (no FFI). */
  checkRuntime?(): Promise<void>;
}

export type SourceChoice = { readonly ok: true; readonly address: string } | { readonly ok: false; readonly why: string };

export interface TrackReading {
  /** For status: is the object healthy. */
  readonly up: boolean;
  readonly detail: string;
  /** What to tell the core: up/down per core tracked-object name this probe stands for. */
  readonly health: Readonly<Record<string, boolean>>;
}

/** One configured tracked object, checked every `intervalMs`. */
export interface TrackProbe {
  /** For logs and status, e.g. "process node_exporter". */
  readonly name: string;
  readonly weight: number;
  readonly intervalMs: number;
  /** Never rejects; `signal` aborts a running check at stop. */
  check(signal: AbortSignal): Promise<TrackReading>;
}

export interface GarpPolicy {
  /** ARPs per VIP in a burst. */
  readonly repeat: number;
  readonly intervalMs: number;
  /** A second burst this long after becoming master; 0 = none. */
  readonly delayMs: number;
  /** While master, a burst every this many ms (keepalived's garp_master_refresh); 0 or absent = none. */
  readonly refreshMs?: number;
}

export interface VrrpInstanceSpec {
  /** The core's config; its `track` lists the core objects the probes report on. */
  readonly core: VrrpInstanceConfig;
  readonly interface: string;
  /**
   * Picks the advert source among the interface's addresses once it is up;
   * absent = core.primaryAddress as given. core.primaryAddress is then only
   * a stand-in until the interface is seen.
   */
  readonly sourceAddress?: (addresses: readonly string[]) => SourceChoice;
  /** Unicast destinations (our own address is skipped when sending); empty = multicast to 224.0.0.18. */
  readonly unicastPeers: readonly string[];
  readonly syncGroup?: string;
  readonly probes: readonly TrackProbe[];
  readonly notify: NotifyScripts;
  readonly garp: GarpPolicy;
}

export interface VrrpEngineOptions {
  readonly instances: readonly VrrpInstanceSpec[];
  readonly io: VrrpIo;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Monotonic ms; injectable for tests. */
  readonly clock?: () => number;
  readonly wallClock?: () => Date;
  /** How often each instance's interface link is checked; default 500 ms. */
  readonly linkPollMs?: number;
  /** Runs notify scripts; runScript by default. */
  readonly runScript?: ScriptRunner;
  readonly notifyTimeoutMs?: number;
}

const DEFAULT_LINK_POLL_MS = 500;
/** Rate limit for repeated warnings of one kind: one per this many ms. */
const WARN_EVERY_MS = 10_000;
/** How long stop() waits for notify scripts still running. */
const STOP_NOTIFY_GRACE_MS = 2_000;
const NOT_CHECKED = "not checked yet";
const VIP_RETRY_MS = 50;

const ROLE_CODE: Readonly<Record<VrrpRole, number>> = { initialize: 0, backup: 1, master: 2, fault: 3 };
const NOTIFY_STATE: Readonly<Record<VrrpRole, NotifyState>> = { initialize: "STOP", backup: "BACKUP", master: "MASTER", fault: "FAULT" };

type Emitted = { readonly instance: string; readonly action: VrrpAction };

/** A standalone instance or a sync group: what one timer and one core step drive. */
interface Unit {
  readonly names: readonly string[];
  timer: ReturnType<typeof setTimeout> | undefined;
  state(name: string): VrrpState;
  step(instance: string | undefined, input: VrrpInput, now: number): Emitted[];
  nextWake(): number | null;
}

function singleUnit(initial: VrrpState): Unit {
  let s = initial;
  const name = initial.config.name;
  return {
    names: [name],
    timer: undefined,
    state: () => s,
    step(_instance, input, now) {
      const r = stepVrrp(s, input, now);
      s = r.state;
      return r.actions.map((action) => ({ instance: name, action }));
    },
    nextWake: () => nextWakeAt(s),
  };
}

function groupUnit(initial: SyncGroupState): Unit {
  let g = initial;
  return {
    names: [...initial.config.members],
    timer: undefined,
    state: (name) => g.members[name] as VrrpState,
    step(instance, input, now) {
      const r = stepSyncGroup(g, instance === undefined ? { input } : { instance, input }, now);
      g = r.state;
      return [...r.actions];
    },
    nextWake: () => syncGroupNextWakeAt(g),
  };
}

interface TrackView {
  name: string;
  weight: number;
  up: boolean;
  detail: string;
}

interface Instance {
  readonly spec: VrrpInstanceSpec;
  readonly name: string;
  unit: Unit;
  /** The socket this instance sends and receives on (shared by instances on one interface and source). */
  readonly entry: SocketEntry;
  /** The tail of the action queue. */
  queue: Promise<void>;
  readonly notify: NotifyQueue;
  garpTimer: ReturnType<typeof setTimeout> | undefined;
  refreshTimer: ReturnType<typeof setInterval> | undefined;
  /** An accept_mode filter may be installed: remove it with the VIPs. */
  dropping: boolean;
  lastTransition: VrrpStatus["lastTransition"];
  readonly tracks: TrackView[];
  linkUp: boolean | undefined;
}

interface SocketEntry {
  readonly key: string;
  opts: VrrpSocketOptions;
  socket: VrrpSocket | undefined;
  readonly instances: Instance[];
  /** Why the socket is not open yet (interface missing or down, no address). */
  waiting: string | undefined;
  /** An open attempt is under way. */
  opening: boolean;
}

type Count = (labels?: Record<string, string>, by?: number) => void;
type Gauge = (value: number, labels?: Record<string, string>) => void;

export class VrrpEngine {
  private readonly instances = new Map<string, Instance>();
  private readonly units: Unit[] = [];
  private readonly sockets = new Map<string, SocketEntry>();
  /** The pending timer of each poll loop (tracked objects, links), by loop. */
  private readonly pollers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly abort = new AbortController();
  private readonly clock: () => number;
  private readonly wallClock: () => Date;
  private readonly lastWarn = new Map<string, number>();
  private running = false;
  private stopping: Promise<void> | undefined;
  private readonly m: {
    sent: Count;
    received: Count;
    zeroSent: Count;
    zeroReceived: Count;
    discarded: Count;
    rejected: Count;
    transitions: Count;
    vipFailures: Count;
    garps: Count;
    notifyFailures: Count;
    state: Gauge;
    priority: Gauge;
    trackUp: Gauge;
  };

  /** Throws RangeError for specs the cores refuse (the config loader reports those first). */
  constructor(private readonly opts: VrrpEngineOptions) {
    this.clock = opts.clock ?? (() => performance.now());
    this.wallClock = opts.wallClock ?? (() => new Date());
    const now = this.clock();
    const states = new Map<string, VrrpState>();
    for (const spec of opts.instances) {
      const name = spec.core.name;
      if (states.has(name)) throw new RangeError(`VRRP instance "${name}" is configured twice`);
      states.set(name, initVrrp(spec.core, now));
    }
    // Sync groups first, so each member is driven by its group's unit.
    const groups = new Map<string, string[]>();
    for (const spec of opts.instances) {
      if (spec.syncGroup === undefined) continue;
      groups.set(spec.syncGroup, [...(groups.get(spec.syncGroup) ?? []), spec.core.name]);
    }
    const unitOf = new Map<string, Unit>();
    for (const [group, members] of groups) {
      const unit = members.length >= 2
        ? groupUnit(initSyncGroup({ name: group, members }, members.map((n) => states.get(n) as VrrpState)))
        : singleUnit(states.get(members[0] as string) as VrrpState);
      this.units.push(unit);
      for (const n of members) unitOf.set(n, unit);
    }
    for (const spec of opts.instances) {
      const name = spec.core.name;
      let unit = unitOf.get(name);
      if (unit === undefined) {
        unit = singleUnit(states.get(name) as VrrpState);
        this.units.push(unit);
      }
      const multicast = spec.unicastPeers.length === 0;
      const key = `${spec.interface}|${spec.core.primaryAddress}|${multicast ? "multicast" : "unicast"}`;
      let entry = this.sockets.get(key);
      if (entry === undefined) {
        entry = {
          key,
          opts: { interface: spec.interface, sourceAddress: spec.core.primaryAddress, multicast },
          socket: undefined,
          instances: [],
          waiting: undefined,
          opening: false,
        };
        this.sockets.set(key, entry);
      }
      const inst: Instance = {
        spec,
        name,
        unit,
        entry,
        queue: Promise.resolve(),
        notify: new NotifyQueue({
          ...(opts.runScript === undefined ? {} : { run: opts.runScript }),
          ...(opts.notifyTimeoutMs === undefined ? {} : { timeoutMs: opts.notifyTimeoutMs }),
          onDone: (command, result) => this.notified(name, command, result),
        }),
        garpTimer: undefined,
        refreshTimer: undefined,
        dropping: false,
        lastTransition: null,
        tracks: spec.probes.map((p) => ({ name: p.name, weight: p.weight, up: true, detail: NOT_CHECKED })),
        linkUp: undefined,
      };
      this.instances.set(name, inst);
      entry.instances.push(inst);
    }
    const met = opts.metrics;
    this.m = {
      sent: met.counter("vigil_vrrp_adverts_sent_total", "VRRP adverts sent, by instance (one per destination)."),
      received: met.counter("vigil_vrrp_adverts_received_total", "VRRP adverts for our VRIDs that passed the packet checks, by instance."),
      zeroSent: met.counter("vigil_vrrp_priority_zero_sent_total", "Priority-0 adverts sent (we resigned as MASTER), by instance."),
      zeroReceived: met.counter("vigil_vrrp_priority_zero_received_total", "Priority-0 adverts received (the MASTER resigned), by instance."),
      discarded: met.counter("vigil_vrrp_adverts_discarded_total", "Adverts the state machine ignored, by instance and reason."),
      rejected: met.counter("vigil_vrrp_packets_rejected_total", "VRRP packets that failed the checks (TTL, checksum, authentication...), by interface and reason."),
      transitions: met.counter("vigil_vrrp_transitions_total", "VRRP state changes, by instance and new state."),
      vipFailures: met.counter("vigil_vrrp_vip_failures_total", "Failed VIP additions or removals, by instance and operation."),
      garps: met.counter("vigil_vrrp_garp_bursts_total", "Bursts of gratuitous ARP sent, by instance and result."),
      notifyFailures: met.counter("vigil_vrrp_notify_failures_total", "Notify scripts that failed or timed out, by instance."),
      state: met.gauge("vigil_vrrp_state", "VRRP state by instance: 0 init, 1 backup, 2 master, 3 fault."),
      priority: met.gauge("vigil_vrrp_priority", "Effective VRRP priority by instance (configured priority moved by tracked objects)."),
      trackUp: met.gauge("vigil_vrrp_track_up", "1 while a tracked object is healthy, by instance and track."),
    };
    for (const inst of this.instances.values()) this.publishGauges(inst);
  }

  /**
   * Opens the sockets of the interfaces that are up, removes VIPs left by an
   * earlier run, checks every tracked object once, then starts the instances
   * (those whose interface is missing or down in FAULT). Rejects with a
   * one-line message when this runtime cannot do VRRP, or naming the instance
   * and the cause when a socket on an interface that is up cannot be opened.
   */
  async start(): Promise<void> {
    await this.opts.io.checkRuntime?.();
    const entries = [...this.sockets.values()];
    let failed: SocketEntry | undefined;
    try {
      for (const entry of entries) {
        failed = entry;
        await this.openEntry(entry);
      }
    } catch (e) {
      await Promise.all(entries.map(async (entry) => {
        await entry.socket?.close();
        entry.socket = undefined;
      }));
      const names = (failed?.instances ?? []).map((i) => i.name).join(", ");
      throw new Error(`VRRP ${names}: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.running = true;
    await Promise.all([...this.instances.values()].map((inst) => this.removeLeftovers(inst)));
    await Promise.all([...this.instances.values()].flatMap((inst) => inst.spec.probes.map((p, i) => this.runProbe(inst, p, i))));
    for (const inst of this.instances.values()) this.checkLink(inst);
    for (const unit of this.units) this.feed(unit, undefined, { type: "startup" });
    for (const inst of this.instances.values()) {
      inst.spec.probes.forEach((p, i) => this.pollProbe(inst, p, i));
      this.pollLink(inst);
    }
  }

  /** Resigns every MASTER (addresses removed, then priority 0), runs notify_stop, closes the sockets. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const wasRunning = this.running;
    this.abort.abort();
    for (const t of this.pollers.values()) clearTimeout(t);
    this.pollers.clear();
    if (wasRunning) for (const unit of this.units) this.feed(unit, undefined, { type: "shutdown" });
    this.running = false;
    for (const unit of this.units) if (unit.timer !== undefined) clearTimeout(unit.timer);
    for (const inst of this.instances.values()) this.stopGarpTimers(inst);
    await Promise.all([...this.instances.values()].map((i) => i.queue));
    const notified = Promise.all([...this.instances.values()].map((i) => i.notify.idle()));
    let grace: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([notified, new Promise<void>((r) => (grace = setTimeout(r, STOP_NOTIFY_GRACE_MS)))]);
    if (grace !== undefined) clearTimeout(grace);
    for (const inst of this.instances.values()) inst.notify.cancel();
    await Promise.all([...this.sockets.values()].map(async (entry) => {
      await entry.socket?.close();
      entry.socket = undefined;
    }));
  }

  /**
   * The heartbeat declared cluster node `node` dead; `addresses` are its
   * cluster addresses. Every instance hears it: a BACKUP whose MASTER sends
   * from one of them takes over early (see "Heartbeat takeover" in
   * src/core/vrrp/vrrp.ts); the others ignore it.
   */
  peerDead(node: string, addresses: readonly string[]): void {
    for (const unit of this.units) this.feed(unit, undefined, { type: "peer-dead", node, addresses });
  }

  /** Resolves once every action queued so far has been carried out (for tests and orderly hand-offs). */
  async settled(): Promise<void> {
    await Promise.all([...this.instances.values()].map((i) => i.queue));
  }

  /** The core state of one instance (read-only; for tests and diagnostics). */
  state(name: string): VrrpState | undefined {
    const inst = this.instances.get(name);
    return inst?.unit.state(name);
  }

  status(): VrrpStatus[] {
    return [...this.instances.values()].map((inst) => {
      const s = inst.unit.state(inst.name);
      const c = inst.spec.core;
      return {
        name: inst.name,
        vrid: c.vrid,
        version: s.config.version,
        interface: inst.spec.interface,
        primaryAddress: s.config.primaryAddress,
        role: s.role,
        priority: c.priority,
        effectivePriority: s.priority,
        masterAddress: s.role === "master" ? s.config.primaryAddress : s.role === "backup" ? (s.master?.address ?? null) : null,
        vips: [...c.vips],
        syncGroup: inst.spec.syncGroup ?? null,
        unicastPeers: [...inst.spec.unicastPeers],
        lastTransition: inst.lastTransition,
        tracks: inst.tracks.map((t) => ({ ...t })),
        advertsSent: s.counters.advertsSent,
        advertsReceived: s.counters.advertsReceived,
        becameMaster: s.counters.becameMaster,
      };
    });
  }

  // ---- feeding the cores ------------------------------------------------------

  private feed(unit: Unit, instance: string | undefined, input: VrrpInput): void {
    if (!this.running) return;
    const before = new Map(unit.names.map((n) => [n, unit.state(n).counters]));
    const emitted = unit.step(instance, input, this.clock());
    for (const name of unit.names) {
      const inst = this.instances.get(name);
      const was = before.get(name);
      if (inst !== undefined && was !== undefined) this.countDeltas(inst, was, unit.state(name).counters);
    }
    for (const { instance: name, action } of emitted) {
      const inst = this.instances.get(name);
      if (inst !== undefined && action.type !== "set-timer") this.enqueue(inst, () => this.execute(inst, action));
    }
    for (const name of unit.names) {
      const inst = this.instances.get(name);
      if (inst !== undefined) this.publishGauges(inst);
    }
    this.schedule(unit);
  }

  private schedule(unit: Unit): void {
    if (unit.timer !== undefined) clearTimeout(unit.timer);
    unit.timer = undefined;
    if (!this.running) return;
    const at = unit.nextWake();
    if (at === null) return;
    // Rounded up: a timer that fires before the deadline would only be re-armed.
    const delay = Math.max(0, Math.ceil(at - this.clock()));
    unit.timer = setTimeout(() => {
      unit.timer = undefined;
      this.feed(unit, undefined, { type: "tick" });
    }, delay);
  }

  private onPacket(entry: SocketEntry, bytes: Uint8Array): void {
    if (!this.running) return;
    const iface = entry.opts.interface;
    const d = decodeVrrp(bytes);
    if (!d.ok) {
      this.m.rejected({ interface: iface, reason: d.error.kind });
      this.warnEvery(`reject-${iface}-${d.error.kind}`, "VRRP packet rejected", { interface: iface, reason: d.error.kind, detail: d.error.detail });
      return;
    }
    const p = d.packet;
    const inst = entry.instances.find((i) => i.spec.core.vrid === p.vrid);
    // Other VRIDs on the segment are other routers' business.
    if (inst === undefined) return;
    const auth = inst.unit.state(inst.name).config.auth;
    const bad = p.version === 2 ? verifyVrrpAuth(p, auth) : null;
    if (bad !== null) {
      this.m.rejected({ interface: iface, reason: bad.kind });
      this.warnEvery(`reject-${inst.name}-auth`, "VRRP packet rejected", { instance: inst.name, reason: bad.kind, detail: bad.detail });
      return;
    }
    this.feed(inst.unit, inst.name, { type: "advert", advert: p });
  }

  private countDeltas(inst: Instance, was: VrrpCounters, now: VrrpCounters): void {
    const labels = { instance: inst.name };
    if (now.advertsReceived > was.advertsReceived) this.m.received(labels, now.advertsReceived - was.advertsReceived);
    if (now.priorityZeroReceived > was.priorityZeroReceived) this.m.zeroReceived(labels, now.priorityZeroReceived - was.priorityZeroReceived);
    for (const reason of vrrpDiscardReasons) {
      const by = now.discarded[reason] - was.discarded[reason];
      if (by > 0) this.m.discarded({ instance: inst.name, reason }, by);
    }
  }

  private publishGauges(inst: Instance): void {
    const s = inst.unit.state(inst.name);
    this.m.state(ROLE_CODE[s.role], { instance: inst.name });
    this.m.priority(s.priority, { instance: inst.name });
  }

  // ---- carrying out actions ---------------------------------------------------

  private enqueue(inst: Instance, job: () => Promise<void> | void): void {
    inst.queue = inst.queue.then(job).catch((e: unknown) => {
      this.opts.log.error("VRRP action failed", { instance: inst.name, error: e instanceof Error ? e.message : String(e) });
    });
  }

  private async execute(inst: Instance, a: Exclude<VrrpAction, { type: "set-timer" }>): Promise<void> {
    switch (a.type) {
      case "send-advert":
        this.sendAdvert(inst, a.advert, a.src);
        return;
      case "add-vips":
        // The filter first: there must be no moment when we hold a VIP and accept its traffic.
        if (!a.acceptMode) await this.dropTraffic(inst, a.vips);
        await this.addVips(inst, a.vips);
        return;
      case "remove-vips":
        this.stopGarpTimers(inst);
        await this.removeVips(inst, a.vips);
        if (inst.dropping) await this.acceptTraffic(inst, true);
        return;
      case "send-garp":
        await this.garpBurst(inst, a.addresses);
        this.armSecondGarp(inst, a.addresses);
        this.armGarpRefresh(inst, a.addresses);
        return;
      case "transition":
        this.transitioned(inst, a);
        return;
      case "misconfiguration":
        this.misconfigured(a);
        return;
    }
  }

  private sendAdvert(inst: Instance, advert: VrrpAdvert, src: string): void {
    const socket = inst.entry.socket;
    if (socket === undefined) return;
    // A unicast_peer list shared by every node names us too.
    const destinations = inst.spec.unicastPeers.length > 0 ? inst.spec.unicastPeers.filter((p) => p !== src) : [VRRP_MULTICAST_V4];
    for (const dst of destinations) {
      let bytes: Uint8Array;
      try {
        // Per destination: the VRRPv3 checksum covers it.
        bytes = encodeAdvert(advert, { src, dst });
      } catch (e) {
        this.warnEvery(`encode-${inst.name}`, "VRRP advert cannot be encoded", { instance: inst.name, error: e instanceof Error ? e.message : String(e) });
        return;
      }
      socket.send(bytes, dst);
      this.m.sent({ instance: inst.name });
      if (advert.priority === 0) this.m.zeroSent({ instance: inst.name });
    }
  }

  /** One retry after a short pause: `ip` can fail for a passing reason (killed with our process group at shutdown, a busy netlink). */
  private async twice<R extends { ok: boolean }>(op: () => Promise<R>): Promise<R> {
    const first = await op();
    if (first.ok) return first;
    await new Promise((r) => setTimeout(r, VIP_RETRY_MS));
    return op();
  }

  private async addVips(inst: Instance, vips: readonly string[]): Promise<void> {
    const results = await Promise.all(vips.map((v) => this.twice(() => this.opts.io.addVip(v, inst.spec.interface))));
    results.forEach((r, i) => {
      if (r.ok) return;
      this.m.vipFailures({ instance: inst.name, op: "add" });
      this.opts.log.error("cannot add VIP", { instance: inst.name, vip: vips[i] ?? "", interface: inst.spec.interface, error: r.message });
    });
  }

  private async removeVips(inst: Instance, vips: readonly string[]): Promise<number> {
    const results = await Promise.all(vips.map((v) => this.twice(() => this.opts.io.removeVip(v, inst.spec.interface))));
    let removed = 0;
    results.forEach((r, i) => {
      if (r.ok) {
        if (r.removed) removed += 1;
        return;
      }
      this.m.vipFailures({ instance: inst.name, op: "remove" });
      this.opts.log.error("cannot remove VIP", { instance: inst.name, vip: vips[i] ?? "", interface: inst.spec.interface, error: r.message });
    });
    return removed;
  }

  private async removeLeftovers(inst: Instance): Promise<void> {
    // A filter can be left whatever accept_mode says now: the config may have changed since.
    await this.acceptTraffic(inst, inst.spec.core.acceptMode === false);
    if (this.opts.io.linkState(inst.spec.interface).present === false) return;
    const vips = inst.spec.core.vips;
    const removed = await this.removeVips(inst, vips);
    if (removed > 0) {
      this.opts.log.warn("removed VIPs left on the interface by an earlier run", { instance: inst.name, interface: inst.spec.interface, vips: vips.join(" ") });
    }
  }

  private async dropTraffic(inst: Instance, vips: readonly string[]): Promise<void> {
    inst.dropping = true;
    const r = await this.opts.io.dropVipTraffic(inst.spec.interface, inst.spec.core.vrid, vips.map(vipAddress));
    // The VIPs go on anyway: clients reaching a master that also accepts beat clients reaching nobody.
    if (!r.ok) this.opts.log.error("cannot stop accepting traffic to the VIPs", { instance: inst.name, interface: inst.spec.interface, error: r.message });
  }

  /** `loud`: a failure matters (a filter we installed may stay); otherwise it is only worth a debug line. */
  private async acceptTraffic(inst: Instance, loud: boolean): Promise<void> {
    const r = await this.opts.io.acceptVipTraffic(inst.spec.interface, inst.spec.core.vrid);
    if (r.ok) {
      inst.dropping = false;
      return;
    }
    const fields = { instance: inst.name, interface: inst.spec.interface, error: r.message };
    if (loud) this.opts.log.error("cannot remove the accept_mode filter of the VIPs", fields);
    else this.opts.log.debug("no accept_mode filter removed", fields);
  }

  private async garpBurst(inst: Instance, addresses: readonly string[]): Promise<void> {
    const g = inst.spec.garp;
    const results = await Promise.all(addresses.map((a) => this.opts.io.sendGarp(inst.spec.interface, a, g.repeat, g.intervalMs)));
    results.forEach((r, i) => {
      this.m.garps({ instance: inst.name, result: r.ok ? "ok" : "failed" });
      if (!r.ok) this.warnEvery(`garp-${inst.name}`, "gratuitous ARP failed", { instance: inst.name, address: addresses[i] ?? "", error: r.message });
    });
  }

  private stopGarpTimers(inst: Instance): void {
    if (inst.garpTimer !== undefined) clearTimeout(inst.garpTimer);
    if (inst.refreshTimer !== undefined) clearInterval(inst.refreshTimer);
    inst.garpTimer = undefined;
    inst.refreshTimer = undefined;
  }

  /** keepalived's garp_master_refresh: keep announcing while master, for switches and hosts that forget. */
  private armGarpRefresh(inst: Instance, addresses: readonly string[]): void {
    const every = inst.spec.garp.refreshMs ?? 0;
    if (every <= 0 || !this.running) return;
    if (inst.refreshTimer !== undefined) clearInterval(inst.refreshTimer);
    inst.refreshTimer = setInterval(() => {
      if (!this.running || inst.unit.state(inst.name).role !== "master") return;
      this.enqueue(inst, () => this.garpBurst(inst, addresses));
    }, every);
  }

  /** keepalived's garp_master_delay: repeat the announcement once switches and hosts have settled. */
  private armSecondGarp(inst: Instance, addresses: readonly string[]): void {
    const delay = inst.spec.garp.delayMs;
    if (delay <= 0 || !this.running) return;
    if (inst.garpTimer !== undefined) clearTimeout(inst.garpTimer);
    inst.garpTimer = setTimeout(() => {
      inst.garpTimer = undefined;
      if (!this.running || inst.unit.state(inst.name).role !== "master") return;
      this.enqueue(inst, () => this.garpBurst(inst, addresses));
    }, delay);
  }

  private transitioned(inst: Instance, t: VrrpTransition): void {
    inst.lastTransition = { time: this.wallClock().toISOString(), from: t.from, to: t.to, reason: t.reason, detail: t.detail };
    this.m.transitions({ instance: inst.name, to: t.to });
    const level = t.to === "fault" ? "warn" : "info";
    this.opts.log.log(level, `vrrp ${inst.name} ${NOTIFY_STATE[t.to]}`, {
      instance: inst.name,
      vrid: t.vrid,
      from: t.from,
      to: t.to,
      reason: t.reason,
      priority: t.priority,
      detail: t.detail,
    });
    inst.notify.push(notifyCommands(inst.spec.notify, "INSTANCE", inst.name, NOTIFY_STATE[t.to], t.priority));
  }

  private misconfigured(m: VrrpMisconfiguration): void {
    this.opts.log.warn("VRRP peer disagrees with our configuration", { instance: m.instance, vrid: m.vrid, kind: m.kind, source: m.source, detail: m.detail });
  }

  private notified(instance: string, command: NotifyCommand, result: ScriptRunResult): void {
    const fields = { instance, script: command.path, args: command.args.join(" "), result: result.message };
    if (result.ok) {
      this.opts.log.debug("notify script ran", fields);
      return;
    }
    this.m.notifyFailures({ instance });
    this.opts.log.warn("notify script failed", fields);
  }

  // ---- tracked objects and links ----------------------------------------------

  private async runProbe(inst: Instance, probe: TrackProbe, index: number): Promise<void> {
    let reading: TrackReading;
    try {
      reading = await probe.check(this.abort.signal);
    } catch (e) {
      reading = { up: false, detail: `check failed: ${e instanceof Error ? e.message : String(e)}`, health: {} };
    }
    if (!this.running) return;
    const view = inst.tracks[index];
    if (view !== undefined) {
      // A change, or an object already down at the first check.
      const first = view.detail === NOT_CHECKED;
      if (first ? !reading.up : view.up !== reading.up) {
        this.opts.log.log(reading.up ? "info" : "warn", `vrrp ${inst.name} track ${probe.name} ${reading.up ? "up" : "down"}`, {
          instance: inst.name,
          track: probe.name,
          weight: probe.weight,
          detail: reading.detail,
        });
      }
      view.up = reading.up;
      view.detail = reading.detail;
      this.m.trackUp(reading.up ? 1 : 0, { instance: inst.name, track: probe.name });
    }
    for (const [name, up] of Object.entries(reading.health)) {
      // Repeats change nothing in the core; skipping them saves a step per poll.
      if (inst.unit.state(inst.name).health[name] === up) continue;
      this.feed(inst.unit, inst.name, { type: "track", name, up });
    }
  }

  /** Runs `job` every `everyMs`, never two at once, until stop. */
  private poll(key: string, everyMs: number, job: () => Promise<void> | void): void {
    const loop = (): void => {
      this.pollers.set(key, setTimeout(() => {
        void Promise.resolve(job()).then(() => {
          if (this.running) loop();
        });
      }, everyMs));
    };
    loop();
  }

  private pollProbe(inst: Instance, probe: TrackProbe, index: number): void {
    this.poll(`${inst.name}|track|${index}`, probe.intervalMs, () => this.runProbe(inst, probe, index));
  }

  /**
   * Opens the entry's socket when its interface is up and has an address to
   * send from; otherwise notes why not in `waiting`. Rejects when the open
   * itself fails (permissions, no FFI).
   */
  private async openEntry(entry: SocketEntry): Promise<void> {
    const iface = entry.opts.interface;
    const link = this.opts.io.linkState(iface);
    if (!link.up) {
      entry.waiting = link.detail;
      return;
    }
    const choose = entry.instances[0]?.spec.sourceAddress;
    if (choose !== undefined) {
      const src = choose(this.opts.io.interfaceAddresses(iface));
      if (!src.ok) {
        entry.waiting = src.why;
        return;
      }
      entry.opts = { ...entry.opts, sourceAddress: src.address };
    }
    const socket = await this.opts.io.openSocket(entry.opts);
    entry.socket = socket;
    entry.waiting = undefined;
    socket.onPacket((bytes) => this.onPacket(entry, bytes));
    socket.onError((err) => this.warnEvery(`socket-${entry.key}-${err.kind}`, "VRRP socket error", { interface: iface, kind: err.kind, error: err.message }));
  }

  /** A later attempt, from the link poll: a failure is logged and retried at the next poll. */
  private async reopen(entry: SocketEntry): Promise<void> {
    if (entry.opening) return;
    entry.opening = true;
    try {
      await this.openEntry(entry);
    } catch (e) {
      entry.waiting = e instanceof Error ? e.message : String(e);
      this.warnEvery(`open-${entry.key}`, "VRRP socket cannot be opened yet", { interface: entry.opts.interface, error: entry.waiting });
    } finally {
      entry.opening = false;
    }
    if (!this.running) {
      await entry.socket?.close();
      entry.socket = undefined;
    }
  }

  private checkLink(inst: Instance): void {
    const entry = inst.entry;
    const link = this.opts.io.linkState(inst.spec.interface);
    if (link.present === false && entry.socket !== undefined) {
      // The interface was deleted: the socket is tied to its old index. Open a new one when it is back.
      const gone = entry.socket;
      entry.socket = undefined;
      void gone.close();
    }
    const up = link.up && entry.socket !== undefined;
    if (up === inst.linkUp) return;
    const detail = !link.up ? link.detail : up ? link.detail : (entry.waiting ?? `${inst.spec.interface}: waiting for the VRRP socket`);
    const first = inst.linkUp === undefined;
    inst.linkUp = up;
    if (!first || !up) {
      this.opts.log.log(up ? "info" : "warn", `vrrp ${inst.name} interface ${up ? "up" : "down"}`, { instance: inst.name, detail });
    }
    this.feed(inst.unit, inst.name, up ? { type: "interface", up, primaryAddress: entry.opts.sourceAddress } : { type: "interface", up, detail });
  }

  private pollLink(inst: Instance): void {
    this.poll(`${inst.name}|link`, this.opts.linkPollMs ?? DEFAULT_LINK_POLL_MS, async () => {
      if (!this.running) return;
      if (inst.entry.socket === undefined && this.opts.io.linkState(inst.spec.interface).up) await this.reopen(inst.entry);
      if (this.running) this.checkLink(inst);
    });
  }

  private warnEvery(key: string, msg: string, fields: Record<string, string | number>): void {
    const now = this.clock();
    const last = this.lastWarn.get(key);
    if (last !== undefined && now - last < WARN_EVERY_MS) return;
    this.lastWarn.set(key, now);
    this.opts.log.warn(msg, fields);
  }
}
