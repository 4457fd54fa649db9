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
 * for the usual advert intervals. Where heartbeat rounds come often enough,
 * the poll runs in the wake-up of a round instead of one of its own
 * (link-rides.ts).
 *
 * The folder: setup.ts turns the config into instance specs and real I/O;
 * spec.ts is what this engine is given; build.ts makes the instances, their
 * units (units.ts: a standalone instance or a sync group) and shared sockets;
 * addresses.ts carries out the VIP, accept_mode and GARP side of actions.
 */
import {
  type VrrpAction,
  type VrrpCounters,
  type VrrpInput,
  type VrrpHeld,
  type VrrpMisconfiguration,
  type VrrpRole,
  type VrrpState,
  type VrrpTransition,
  vrrpDiscardReasons,
} from "../../core/vrrp/vrrp.ts";
import { decodeVrrp, encodeAdvert, verifyVrrpAuth, VRRP_MULTICAST_V4, type VrrpAdvert } from "../../proto/vrrp.ts";
import type { VrrpMasterClaim } from "../../proto/heartbeat.ts";
import { notifyCommands, type NotifyCommand, type NotifyState } from "../../sys/notify.ts";
import type { ScriptRunResult } from "../../sys/track-script.ts";
import type { VrrpStatus } from "../../api/status.ts";
import { acceptTraffic, type AddressEffects, addVips, dropTraffic, garpBurst, removeLeftovers, removeVips } from "./addresses.ts";
import { buildInstances } from "./build.ts";
import { takeInNewThreads } from "../realtime.ts";
import { type Instance, NOT_CHECKED, type SocketEntry, type VrrpMetrics, vrrpMetrics } from "./instance.ts";
import type { TrackProbe, TrackReading, VrrpEngineOptions } from "./spec.ts";
import type { Unit } from "./units.ts";
import { linkRide, type LinkRide } from "./link-rides.ts";


const DEFAULT_LINK_POLL_MS = 500;
/** Rate limit for repeated warnings of one kind: one per this many ms. */
const WARN_EVERY_MS = 10_000;
/** How long stop() waits for notify scripts still running. */
const STOP_NOTIFY_GRACE_MS = 2_000;

const ROLE_CODE: Readonly<Record<VrrpRole, number>> = { initialize: 0, backup: 1, master: 2, fault: 3 };
const NOTIFY_STATE: Readonly<Record<VrrpRole, NotifyState>> = { initialize: "STOP", backup: "BACKUP", master: "MASTER", fault: "FAULT" };

/** How many times a timer waits 1 ms for packets already read (see onTimer). */
const MAX_TIMER_DEFERRALS = 20;
/** At most this many datagrams are read from a socket's kernel queue before a timer acts (a flood is not read to its end). */
const MAX_READ_BEFORE_TICK = 256;
/**
 * How long the advert backstop may stand in for a silent main thread, in
 * adverts (see raw-vrrp-backstop.ts): it covers stalls of the main thread
 * up to this long; a main thread silent for longer is taken for hung, and
 * its adverts stop so that the backup takes over.
 */
const BACKSTOP_LEASE_ADVERTS = 10;

export class VrrpEngine {
  private readonly instances: ReadonlyMap<string, Instance>;
  private readonly units: readonly Unit[];
  private readonly sockets: ReadonlyMap<string, SocketEntry>;
  /** The pending timer of each poll loop (tracked objects, links), by loop. */
  private readonly pollers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Link polls that ride the heartbeat's rounds (afterRound). */
  private readonly rides: LinkRide[] = [];
  private readonly abort = new AbortController();
  private readonly clock: () => number;
  private readonly wallClock: () => Date;
  private readonly lastWarn = new Map<string, number>();
  private running = false;
  private stopping: Promise<void> | undefined;
  private readonly m: VrrpMetrics;
  private readonly fx: AddressEffects;
  /** The instances this node is MASTER of, once their addresses are up (see vrrpClaims). */
  private claims: VrrpMasterClaim[] = [];
  /** Per socket: adverts its backstop thread had sent when last looked at. */
  private readonly backstopSeen = new Map<string, number>();

  /** Throws RangeError for specs the cores refuse (the config loader reports those first). */
  constructor(private readonly opts: VrrpEngineOptions) {
    this.clock = opts.clock ?? (() => performance.now());
    this.wallClock = opts.wallClock ?? (() => new Date());
    const now = this.clock();
    const built = buildInstances(opts, now, (name, command, result) => this.notified(name, command, result));
    this.instances = built.instances;
    this.units = built.units;
    this.sockets = built.sockets;
    this.m = vrrpMetrics(opts.metrics);
    this.fx = { io: opts.io, log: opts.log, m: this.m, warnEvery: (key, msg, fields) => this.warnEvery(key, msg, fields) };
    for (const inst of this.instances.values()) this.publishGauges(inst);
  }

  /**
   * Opens the sockets of the interfaces that are up, removes VIPs left by an
   * earlier run, checks every tracked object once, then starts the instances
   * (those whose interface is missing or down in FAULT). Rejects with a
   * one-line message when this runtime cannot do VRRP, or naming the instance
   * and the cause when a socket on an interface that is up cannot be opened.
   */
  /** `between`: awaited between the pieces of start-up that each hold the main thread a while (Engine.start). */
  async start(between: () => Promise<void> = async () => {}): Promise<void> {
    // Loading libc through FFI compiles its bindings: tens of ms of the main thread, more on a loaded host.
    await this.opts.io.checkRuntime?.();
    const entries = [...this.sockets.values()];
    let failed: SocketEntry | undefined;
    try {
      for (const entry of entries) {
        await between();
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
    await between();
    await Promise.all([...this.instances.values()].map((inst) => removeLeftovers(this.fx, inst)));
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
    for (const r of this.rides) r.stop();
    this.rides.length = 0;
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
  peerDead(node: string, addresses: readonly string[], everHeard: boolean): void {
    for (const unit of this.units) this.feed(unit, undefined, { type: "peer-dead", node, addresses, everHeard });
  }

  /**
   * The instances this node is MASTER of, for its heartbeat frames. An
   * instance is listed from the moment its transition to MASTER is carried
   * out (its addresses are up) until its transition away from MASTER is
   * (its addresses are gone): a BACKUP that acts on a node no longer
   * saying so never finds the addresses still held there.
   */
  vrrpClaims(): VrrpMasterClaim[] {
    return this.claims;
  }

  /**
   * What a peer's heartbeat frame says: the instances it is MASTER of, or
   * undefined when its frame version does not say. Each instance's core is
   * told when what that node says about it changes; how recent it is, the
   * core is told before a tick (see onTimer), not at every frame.
   * `heardAt`: when the frame arrived (our clock), which is earlier than now
   * for a frame the heartbeat read late; a hold is judged on it.
   */
  heartbeatFrame(node: string, claims: readonly VrrpMasterClaim[] | undefined, heardAt?: number): void {
    if (!this.running) return;
    const now = heardAt ?? this.clock();
    for (const inst of this.instances.values()) {
      const vrid = inst.spec.core.vrid;
      const claim = claims?.find((c) => c.instance === inst.name && c.vrid === vrid);
      const says = claims === undefined ? "unknown" : claim === undefined ? "not-master" : "master";
      const address = claim?.address ?? "";
      const was = inst.peers.get(node);
      if (was !== undefined && was.says === says && was.address === address) {
        if (now > was.heardAt) was.heardAt = now;
        continue;
      }
      // Nothing to say about a node that never claimed anything here.
      if (was === undefined && says !== "master") continue;
      inst.peers.set(node, { says, address, heardAt: now, fedAt: now });
      this.feed(inst.unit, inst.name, { type: "peer-vrrp", node, says, address, heardAt: now });
    }
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
    // At once, before any queued action runs: an instance that stopped being
    // MASTER must not have its adverts sent on by the backstop thread.
    for (const name of unit.names) {
      const inst = this.instances.get(name);
      if (inst !== undefined && unit.state(name).role !== "master") inst.entry.socket?.stopAdvertising?.(this.slotOf(inst));
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
    unit.timer = setTimeout(() => this.onTimer(unit, 0), delay);
  }

  /**
   * A timer of the unit ran out. Adverts that arrived before it are handled
   * first: after this thread stalled (start-up work, a long collection, CPU
   * starvation, SIGSTOP) the master's adverts can wait behind the timer, and
   * a BACKUP acting on the timer first would take over from a master that is
   * there, for the few milliseconds until it reads them. Those the receive
   * Worker has already read get a few 1 ms deferrals; those still in the
   * kernel (the Worker stalled too, and the timer won the race when both
   * resumed) are read here, on this thread, before the tick. So are the
   * heartbeat's frames that wait unread (readHeartbeat): a claim is as
   * recent as its frame's arrival, and a hold judged without the frames
   * that came since the heartbeat's last read would take over from a
   * master whose node still says it is there.
   */
  private onTimer(unit: Unit, deferred: number): void {
    unit.timer = undefined;
    if (deferred < MAX_TIMER_DEFERRALS && this.packetsWaiting(unit)) {
      unit.timer = setTimeout(() => this.onTimer(unit, deferred + 1), 1);
      return;
    }
    this.readQueued(unit);
    this.opts.readHeartbeat?.();
    this.refreshClaims(unit);
    this.feed(unit, undefined, { type: "tick" });
  }

  /** Before a BACKUP's tick: how recently each node that says it is MASTER was heard (a hold is judged on it). */
  private refreshClaims(unit: Unit): void {
    for (const name of unit.names) {
      const inst = this.instances.get(name);
      if (inst === undefined || inst.peers.size === 0 || unit.state(name).role !== "backup") continue;
      for (const [node, p] of inst.peers) {
        if (p.says !== "master" || p.heardAt <= p.fedAt) continue;
        p.fedAt = p.heardAt;
        this.feed(unit, name, { type: "peer-vrrp", node, says: "master", address: p.address, heardAt: p.heardAt });
      }
    }
  }

  private packetsWaiting(unit: Unit): boolean {
    return unit.names.some((n) => (this.instances.get(n)?.entry.socket?.pending?.() ?? 0) > 0);
  }

  private readQueued(unit: Unit): void {
    const sockets = new Set(unit.names.map((n) => this.instances.get(n)?.entry.socket));
    for (const socket of sockets) socket?.readNow?.(MAX_READ_BEFORE_TICK);
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
    const { auth, version } = inst.unit.state(inst.name).config;
    // Another version is the core's to report as a version mismatch: a v2
    // packet on a v3 instance says nothing about a password.
    const bad = p.version === 2 && version === 2 ? verifyVrrpAuth(p, auth) : null;
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
        if (!a.acceptMode) await dropTraffic(this.fx, inst, a.vips);
        await addVips(this.fx, inst, a.vips);
        return;
      case "remove-vips":
        this.stopGarpTimers(inst);
        await removeVips(this.fx, inst, a.vips);
        if (inst.dropping) await acceptTraffic(this.fx, inst, true);
        return;
      case "send-garp":
        await garpBurst(this.fx, inst, a.addresses);
        this.armSecondGarp(inst, a.addresses);
        this.armGarpRefresh(inst, a.addresses);
        return;
      case "transition":
        this.transitioned(inst, a);
        return;
      case "misconfiguration":
        this.misconfigured(a);
        return;
      case "held":
        this.held(a);
        return;
    }
  }

  private sendAdvert(inst: Instance, advert: VrrpAdvert, src: string): void {
    const socket = inst.entry.socket;
    if (socket === undefined) return;
    // A unicast_peer list shared by every node names us too.
    const destinations = inst.spec.unicastPeers.length > 0 ? inst.spec.unicastPeers.filter((p) => p !== src) : [VRRP_MULTICAST_V4];
    const sent: { bytes: Uint8Array; dst: string }[] = [];
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
      sent.push({ bytes, dst });
      this.m.sent({ instance: inst.name });
      if (advert.priority === 0) this.m.zeroSent({ instance: inst.name });
    }
    this.backstop(inst, socket, advert, sent);
  }

  /** Hands a MASTER's adverts to the socket's backstop thread, and says when it had to send some. */
  private backstop(inst: Instance, socket: NonNullable<SocketEntry["socket"]>, advert: VrrpAdvert, sent: readonly { bytes: Uint8Array; dst: string }[]): void {
    if (socket.keepAdvertising === undefined) return;
    const s = inst.unit.state(inst.name);
    const slot = this.slotOf(inst);
    if (advert.priority === 0 || s.role !== "master" || sent.length === 0) {
      socket.stopAdvertising?.(slot);
      return;
    }
    const intervalMs = s.config.advertIntCs * 10;
    socket.keepAdvertising(slot, sent, intervalMs, BACKSTOP_LEASE_ADVERTS * intervalMs);
    const total = socket.advertsByBackstop?.() ?? 0;
    const seen = this.backstopSeen.get(inst.entry.key) ?? 0;
    if (total > seen) {
      this.backstopSeen.set(inst.entry.key, total);
      this.warnEvery(`backstop-${inst.entry.key}`, "VRRP adverts sent by the backstop thread: this node's main thread ran late", {
        interface: inst.spec.interface,
        adverts: total,
      });
    }
  }

  /** The instance's place among its socket's instances: its slot in the socket's backstop. */
  private slotOf(inst: Instance): number {
    return inst.entry.instances.indexOf(inst);
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
      this.enqueue(inst, () => garpBurst(this.fx, inst, addresses));
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
      this.enqueue(inst, () => garpBurst(this.fx, inst, addresses));
    }, delay);
  }

  private transitioned(inst: Instance, t: VrrpTransition): void {
    inst.lastTransition = { time: this.wallClock().toISOString(), from: t.from, to: t.to, reason: t.reason, detail: t.detail };
    this.claims = [...this.instances.values()]
      .filter((i) => i.lastTransition?.to === "master")
      .map((i) => ({ instance: i.name, vrid: i.spec.core.vrid, address: i.unit.state(i.name).config.primaryAddress }));
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

  private held(h: VrrpHeld): void {
    this.m.held({ instance: h.instance });
    this.opts.log.warn(`vrrp ${h.instance} takeover held`, { instance: h.instance, vrid: h.vrid, node: h.node, detail: h.detail });
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
    // Its receive Worker reads the master's adverts: it must not wait behind a loaded CPU either.
    takeInNewThreads();
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
    const everyMs = this.opts.linkPollMs ?? DEFAULT_LINK_POLL_MS;
    const job = async (): Promise<void> => {
      if (!this.running) return;
      if (inst.entry.socket === undefined && this.opts.io.linkState(inst.spec.interface).up) await this.reopen(inst.entry);
      if (this.running) this.checkLink(inst);
    };
    const rounds = this.opts.roundIntervalMs;
    if (rounds === undefined) this.poll(`${inst.name}|link`, everyMs, job);
    else this.rides.push(linkRide({ everyMs, roundIntervalMs: rounds, clock: this.clock, job }));
  }

  /** After each heartbeat round (when roundIntervalMs was given): the link checks that are due run now. */
  afterRound(): void {
    if (!this.running) return;
    for (const r of this.rides) r.round();
  }

  private warnEvery(key: string, msg: string, fields: Record<string, string | number>): void {
    const now = this.clock();
    const last = this.lastWarn.get(key);
    if (last !== undefined && now - last < WARN_EVERY_MS) return;
    this.lastWarn.set(key, now);
    this.opts.log.warn(msg, fields);
  }
}
