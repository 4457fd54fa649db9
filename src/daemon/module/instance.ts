/**
 * One failover module on this node: feeds the module core (src/core/module/module.ts)
 * its events and wake-ups, and carries its actions out in the order given.
 *
 * - Resource operations run in the background and come back as "resource"
 *   events; the core never has two outstanding, so nothing else waits.
 * - "persist" is written synchronously before the next action is looked at.
 * - "publish" only changes what the next heartbeat frame lists.
 * - Lease and watchdog actions go to the arbiter link when one is given.
 */
import {
  commandProgress,
  initModule,
  isPrimaryRole,
  nextWakeAt,
  resourceLabel,
  stepModule,
  type ModuleAction,
  type ModuleCommand,
  type ModuleCoreConfig,
  type ModuleInput,
  type ModuleRole,
  type ModuleState,
  type ModuleTransition,
} from "../../core/module/module.ts";
import { deadIfStopped, type PeerState } from "../../core/membership/membership.ts";
import type { ModuleAdvert } from "../../proto/heartbeat.ts";
import { fenceGuard } from "../fence/guard.ts";
import type { Logger } from "../log.ts";
import { readBlocked, writeBlocked } from "./blocked.ts";
import { ModuleChecks, type ModuleCheckSpec } from "./checks.ts";
import type { ModuleNotify } from "./notify.ts";
import { startResource, stopResource, type ResourceRunnerOptions } from "./resources.ts";
import { type MirrorSet, parseMarks, waitsOnlyForCompare } from "../mirror/mirror-set.ts";

/**
 * A mirror module's advert carries its copies' data marks after its role
 * ("SECOND|u", a letter per folder): the heartbeat's role field is free
 * text, and a peer that does not run the module as a mirror never sees one.
 */
function splitRole(role: string | null): { role: string | null; mark: string | null } {
  if (role === null) return { role, mark: null };
  const bar = role.indexOf("|");
  if (bar < 0) return { role, mark: null };
  return { role: role.slice(0, bar), mark: parseMarks(role.slice(bar + 1)) };
}
import type { CheckerStatus, ModuleNodeView, ModuleStatus } from "../../api/modules.ts";

/**
 * A failed start as peers are told it (a frame has room for a short line):
 * script paths by their file name, which the resource label already names.
 */
function shortFailure(text: string): string {
  return text.replace(/(?:\/[^\s/:]+)+\/([^\s/:]+)/g, "$1");
}

/** What the instance reports outward: transitions and notes for the log, metrics and hooks. */
export interface ModuleReporter {
  transition(t: ModuleTransition, wallTime: Date): void;
  note(a: Extract<ModuleAction, { type: "event" }>): void;
  /** What the heartbeat frames list for this module changed (role or generation). */
  published?(advert: ModuleAdvert): void;
  /** A round with the adverts as they are at the end of this turn must leave at once; `sent` right after it left (MirrorHost.announce). */
  announce?(sent: () => void): void;
  /** `node` answered on another channel than the heartbeat (`via`), to a probe sent `ageMs` ago; "record": its records were read (Membership.alive). */
  alive?(node: string, via: string, ageMs: number, proof?: "answer" | "record"): void;
}

/** The arbiter side of a module; absent when no arbiter is configured. */
export interface ModuleArbiterLink {
  /** Sends lease request `request`; `reply` gets the arbiter's answer to it, if one comes. */
  request(module: string, request: number, reply: (answer: Extract<ModuleInput, { type: "lease" }>) => void): void;
  release(module: string): void;
  /** The self-fence deadline (our monotonic ms), null to disarm. */
  watchdog(module: string, deadline: number | null): void;
}

export interface ModuleInstanceOptions {
  readonly core: ModuleCoreConfig;
  readonly type: string;
  readonly checks: readonly ModuleCheckSpec[];
  /** Per checker name: what it looks at and its policy, for the status. */
  readonly checkerInfo: ReadonlyMap<string, { target: string; onFail: string }>;
  readonly resources: ResourceRunnerOptions;
  readonly stateDir: string;
  readonly log: Logger;
  readonly reporter: ModuleReporter;
  readonly notify?: ModuleNotify;
  readonly arbiter?: ModuleArbiterLink;
  /** Monotonic ms; performance.now() by default. */
  readonly clock?: () => number;
  /** Default true. */
  readonly autostart?: boolean;
  /** A mirror module's data side (src/daemon/mirror/mirror-set.ts); it is also the "mirror" resource. */
  readonly mirror?: MirrorSet;
  /**
   * Everything of the config this module depends on, as one string: a
   * reload keeps the module running untouched while it is the same.
   * Default: the core config.
   */
  readonly configKey?: string;
}

type Waiter = (a: { ok: boolean; detail: string }) => void;

export class ModuleInstance {
  private state: ModuleState;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly checks: ModuleChecks;
  private readonly clock: () => number;
  private readonly waiters = new Map<string, Waiter>();
  private readonly settledListeners = new Set<() => void>();
  private lastTransition: { at: Date; t: ModuleTransition } | null = null;
  private advert: ModuleAdvert | null = null;
  private running = false;
  /** What the fencing watchdog was last told: something of this module may run here. */
  private holding = false;

  constructor(private readonly o: ModuleInstanceOptions) {
    this.clock = o.clock ?? (() => performance.now());
    this.checks = new ModuleChecks(o.checks, (name, ok, detail) => this.input({ type: "check", checker: name, ok, detail }));
    const persisted = readBlocked(o.stateDir, o.core.module);
    if (persisted.problem !== null) o.log.warn("module state not read; starting unblocked", { module: o.core.module, detail: persisted.problem });
    this.state = initModule(o.core, {
      now: this.clock(),
      blocked: persisted.blocked,
      autostart: o.autostart !== false,
      // Above every number an earlier run of the daemon used, so a late answer to it is never taken for ours.
      firstLeaseRequest: Date.now() * 1000,
    });
  }

  get name(): string {
    return this.o.core.module;
  }

  /**
   * The witness ping was turned on or off by a reload. Only the flag the
   * election reads changes; role, generation and resources stay as they are.
   */
  requireWitness(on: boolean): void {
    if (this.state.config.witnessPing === on) return;
    this.state = { ...this.state, config: { ...this.state.config, witnessPing: on } };
    if (this.running) this.input({ type: "tick" });
  }

  get configKey(): string {
    return this.o.configKey ?? JSON.stringify(this.o.core);
  }

  /** A mirror module's folders; undefined for a failover module. */
  get mirror(): MirrorSet | undefined {
    return this.o.mirror;
  }

  get role(): ModuleRole {
    return this.state.role;
  }

  /** The pending command and how far it got, in words; null when none is pending. */
  progress(): string | null {
    return commandProgress(this.state);
  }

  /** The current core state; read-only, for status and tests. */
  get core(): ModuleState {
    return this.state;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.o.mirror?.attach({
      gate: (blocked) => this.input({ type: "data", blocked }),
      alive: (peer, ageMs, proof) => this.o.reporter.alive?.(peer, `the replication link of ${this.name}`, ageMs, proof),
      republish: () => {
        if (this.advert === null) return;
        this.advert = { ...this.advert, role: this.advertRole(this.state.role) };
        this.o.reporter.published?.(this.advert);
      },
      // The transition to ALONE is carried out before its publish: the round leaves after this turn, with the advert saying ALONE.
      announce: (sent) => this.o.reporter.announce?.(sent),
    });
    this.input({ type: "tick" });
  }

  private advertRole(role: ModuleRole): string {
    return this.o.mirror === undefined ? role : `${role}|${this.o.mirror.mark}`;
  }

  /** What the heartbeat frames list for this module; null until the first publish. */
  published(): ModuleAdvert | null {
    return this.advert;
  }

  input(ev: ModuleInput): void {
    if (!this.running) return;
    let stepped;
    try {
      stepped = stepModule(this.state, ev, this.clock());
    } catch (e) {
      this.o.log.error("module core rejected an event", { module: this.name, event: ev.type, detail: (e as Error).message });
      return;
    }
    this.state = stepped.state;
    // Before any start is carried out: a daemon killed during it leaves nothing running.
    this.syncHolding();
    for (const a of stepped.actions) this.carryOut(a);
    this.schedule();
    for (const fn of [...this.settledListeners]) fn();
  }

  /** Tells the fencing watchdog (fence/guard.ts) whether this module must be stopped if the daemon dies. */
  private syncHolding(): void {
    const s = this.state;
    const holding = s.started > 0 || s.run !== null || isPrimaryRole(s.role) || s.stopFailed !== null;
    if (holding === this.holding) return;
    this.holding = holding;
    fenceGuard()?.hold(this.name, holding);
  }

  peer(node: string, liveness: PeerState): void {
    this.input({ type: "peer", node, liveness });
    this.o.mirror?.peer(deadIfStopped(liveness));
  }

  /** The adverts of one accepted frame from `node`; `heardAt`: its arrival (performance.now()). */
  frame(node: string, adverts: readonly ModuleAdvert[], heardAt?: number): void {
    const a = adverts.find((x) => x.module === this.name);
    const r = splitRole(a?.role ?? null);
    // A peer in WAIT only until its copy is compared with ours ("n") is about to stand by: while
    // neither node runs the module, count it as a SECOND, so the election waits for the node that
    // goes first instead of both claiming the moment their copies are confirmed.
    const role = r.role === "WAIT" && waitsOnlyForCompare(r.mark) && !isPrimaryRole(this.state.role) ? "SECOND" : r.role;
    this.input({
      type: "advert",
      node,
      role,
      generation: a?.generation ?? 0,
      ...(a?.starting === true ? { starting: true } : {}),
      ...(a?.failure !== undefined ? { failure: a.failure } : {}),
    });
    if (this.o.mirror !== undefined && r.role !== null) this.o.mirror.peerAdvert(r.role, r.mark, heardAt);
  }

  /** Hands the command to the core; resolves with its answer, or null when `timeoutMs` passed first. */
  command(id: string, command: ModuleCommand, timeoutMs: number, shutdown = false): Promise<{ ok: boolean; detail: string } | null> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiters.delete(id);
        resolve(null);
      }, timeoutMs);
      this.waiters.set(id, (a) => {
        clearTimeout(t);
        resolve(a);
      });
      if (!this.running) {
        this.waiters.delete(id);
        clearTimeout(t);
        resolve({ ok: false, detail: `${this.name} is not running on ${this.o.core.self}` });
        return;
      }
      this.input({ type: "command", id, command, ...(shutdown ? { shutdown } : {}) });
    });
  }

  /**
   * For shutdown: stop the module here (resources in reverse, VIP removed,
   * STOP published). Resolves once nothing runs here any more, or after
   * `timeoutMs` if a stop hangs past its own timeouts.
   */
  async stopHere(timeoutMs: number): Promise<void> {
    if (!this.running) return;
    const quiet = (): boolean => this.state.role === "STOP" && this.state.run === null && (this.state.started === 0 || this.state.stopFailed !== null);
    const done = new Promise<void>((resolve) => {
      const check = (): void => {
        if (!quiet()) return;
        this.settledListeners.delete(check);
        resolve();
      };
      this.settledListeners.add(check);
      check();
    });
    void this.command(`shutdown-${this.clock()}`, "stop", timeoutMs, true);
    let t: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<void>((resolve) => (t = setTimeout(resolve, timeoutMs)));
    await Promise.race([done, limit]);
    clearTimeout(t);
    if (!quiet()) this.o.log.error("module did not stop in time", { module: this.name, role: this.state.role, detail: this.state.decision.detail });
  }

  /** Stops timers and checkers; the core is left as it is. */
  halt(): void {
    this.running = false;
    void this.o.mirror?.close();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.checks.stop();
    for (const [id, w] of this.waiters) {
      w({ ok: false, detail: `the module engine stopped before ${id} was answered` });
    }
    this.waiters.clear();
    this.settledListeners.clear();
  }

  nodeViews(): ModuleNodeView[] {
    const s = this.state;
    return s.config.nodes.map((node): ModuleNodeView => {
      if (node === s.config.self) return { node, role: s.role, generation: s.generation };
      const p = s.peers.find((x) => x.name === node);
      if (p === undefined) return { node, role: "unknown", generation: null };
      if (p.liveness === "dead" || p.liveness === "stopped") return { node, role: p.liveness, generation: null };
      if (p.role === "unknown" || p.role === "absent") return { node, role: "unknown", generation: null };
      return { node, role: p.role, generation: p.generation };
    });
  }

  status(): ModuleStatus {
    const s = this.state;
    const c = s.config;
    const now = this.clock();
    const checkers: CheckerStatus[] = c.checkers.map((k, i) => {
      const track = s.checkers[i];
      const last = this.checks.lastResult(k.name);
      const info = this.o.checkerInfo.get(k.name);
      return {
        name: k.name,
        target: info?.target ?? k.name,
        onFail: info?.onFail ?? k.onFail,
        ok: last?.ok ?? null,
        failing: track?.failing ?? false,
        detail: last?.detail ?? track?.detail ?? "not run yet",
        lastCheckedAt: last?.at.toISOString() ?? null,
      };
    });
    const restarts = s.checkers.reduce((n, t, i) => n + t.restarts.filter((at) => now - at < (c.checkers[i]?.windowMs ?? 0)).length, 0);
    const lt = this.lastTransition;
    const lease = c.arbiter === null
      ? null
      : {
        holder: s.lease.validUntil !== null && s.lease.validUntil > now ? c.self : s.lease.deniedBy,
        expiresInMs: s.lease.validUntil === null ? null : Math.max(0, Math.round(s.lease.validUntil - now)),
        detail: s.lease.lost ? "lost" : s.lease.validUntil !== null && s.lease.validUntil > now ? "held" : s.lease.deniedBy !== null ? `denied: ${s.lease.deniedBy} holds it` : "not held",
      };
    return {
      name: c.module,
      type: this.o.type,
      state: s.role,
      prefer: c.prefer,
      failback: c.failback,
      nodes: this.nodeViews(),
      lastTransition: lt === null ? null : { time: lt.at.toISOString(), from: lt.t.from, to: lt.t.to, reason: lt.t.reason, detail: lt.t.detail },
      why: !s.decision.primary && s.decision.rest === s.role && s.decision.detail !== lt?.t.detail ? { reason: s.decision.reason, detail: s.decision.detail } : null,
      checkers,
      blocked: s.blocked,
      restarts,
      pending: s.command === null ? null : { command: s.command.command, since: new Date(Date.now() - (now - s.command.since)).toISOString() },
      witness: c.witnessPing ? { reachable: s.witness?.reachable ?? null, detail: s.witness?.detail ?? "no answer yet" } : null,
      lease,
      ...(this.o.mirror === undefined ? {} : { mirror: this.o.mirror.status() }),
    };
  }

  private schedule(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.running) return;
    const at = nextWakeAt(this.state);
    if (at === null) return;
    // +1: a wake-up that comes a hair early would find nothing due and not re-arm.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.input({ type: "tick" });
    }, Math.max(0, at - this.clock()) + 1);
  }

  private carryOut(a: ModuleAction): void {
    switch (a.type) {
      case "start-resource":
      case "stop-resource": {
        const ctx = { module: this.name, node: this.o.core.self, role: this.state.role, reason: this.state.decision.reason };
        const label = resourceLabel(a.resource, a.type === "start-resource" ? "start" : "stop");
        // Every stop sequence ends with the folders unmounted: writes held now can only fail then,
        // and a process blocked in one cannot even be killed, so the stop script could not end it.
        if (a.type === "stop-resource") this.o.mirror?.stopping();
        const op = a.type === "start-resource" ? startResource(a.resource, ctx, this.o.resources) : stopResource(a.resource, ctx, this.o.resources, a.cleanup);
        this.o.log.debug(`module ${this.name} ${a.type === "start-resource" ? "starting" : "stopping"} ${label}`, { module: this.name, run: a.run });
        void op.then(
          (r) => this.resourceDone(a, label, r.ok, r.detail),
          (e: unknown) => this.resourceDone(a, label, false, `failed: ${e instanceof Error ? e.message : String(e)}`),
        );
        break;
      }
      case "publish": {
        const was = this.advert;
        this.advert = {
          module: a.module,
          role: this.advertRole(a.role),
          generation: a.generation,
          ...(a.starting === true ? { starting: true } : {}),
          ...(a.failure !== undefined ? { failure: shortFailure(a.failure) } : {}),
        };
        const changed = was?.role !== this.advert.role || was.generation !== a.generation || was.starting !== this.advert.starting || was.failure !== this.advert.failure;
        if (changed) this.o.reporter.published?.(this.advert);
        break;
      }
      case "transition":
        this.o.mirror?.role(a.to, a.reason);
        this.lastTransition = { at: new Date(), t: a };
        this.o.reporter.transition(a, this.lastTransition.at);
        this.o.notify?.transition(a, this.lastTransition.at);
        break;
      case "event":
        this.o.reporter.note(a);
        break;
      case "watch-checkers":
        this.checks.watch(a.checkers);
        break;
      case "persist":
        try {
          writeBlocked(this.o.stateDir, a.module, a.blocked);
        } catch (e) {
          this.o.log.error("module state not saved; a restart will forget why this node may not take it", { module: a.module, detail: (e as Error).message });
        }
        break;
      case "answer": {
        const w = this.waiters.get(a.id);
        this.waiters.delete(a.id);
        w?.({ ok: a.ok, detail: a.detail });
        break;
      }
      case "lease-request":
        if (this.o.arbiter === undefined) break;
        this.o.arbiter.request(a.module, a.request, (answer) => this.input(answer));
        break;
      case "lease-release":
        this.o.arbiter?.release(a.module);
        break;
      case "watchdog":
        this.o.arbiter?.watchdog(a.module, a.deadline);
        break;
    }
  }

  private resourceDone(a: Extract<ModuleAction, { type: "start-resource" | "stop-resource" }>, label: string, ok: boolean, detail: string): void {
    const verb = a.type === "start-resource" ? "start" : "stop";
    const fields = { module: this.name, resource: label, run: a.run, detail, ...(a.type === "stop-resource" && a.cleanup ? { cleanup: true } : {}) };
    if (ok) this.o.log.info(`module ${this.name} ${verb} ${label} ok`, fields);
    else this.o.log.warn(`module ${this.name} ${verb} ${label} failed`, fields);
    this.input({ type: "resource", run: a.run, ok, detail });
  }
}
