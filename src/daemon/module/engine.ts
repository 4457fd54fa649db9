/**
 * The module engine: every failover module of this node (instance.ts),
 * the witness pinger they share, and the control surface (ModuleControl)
 * the CLI, API and console use.
 *
 * Heartbeat wiring: what we publish goes out in every frame (adverts());
 * peer liveness (peer()) and the adverts of each accepted frame (frame())
 * come back in, liveness first, as the core asks.
 *
 * A reload (reload()) touches only the modules whose config changed.
 *
 * With witness addresses, the peer death that leaves this node hearing
 * nobody is held back, with everything after it, until a witness round that
 * started after it has answered: the last round may predate the loss (a
 * node whose own cable was just pulled still has "reachable" from a second
 * ago), and the isolated node must not take the module on that.
 */
import type { PeerState } from "../../core/membership/types.ts";
import { MODULE_ROLES, type ModuleAction, type ModuleTransition } from "../../core/module/types.ts";
import type { ModuleAdvert } from "../../proto/heartbeat.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { ModuleInstance, type ModuleInstanceOptions } from "./instance.ts";
import { answerWithin } from "./answer-within.ts";
import { MIRROR_COMMAND_DOES, type ModuleCommandOutcome, type ModuleCommandRequest, type ModuleControl, type ModuleStatus } from "../../api/modules.ts";
import { WitnessPinger, type WitnessPingerOptions } from "../witness/pinger.ts";
import { forceprimRefusal } from "../../api/refusals.ts";

export interface ModuleEngineOptions {
  /** One per failover module; `reporter` is filled in by the engine. */
  readonly modules: readonly Omit<ModuleInstanceOptions, "reporter">[];
  /** cluster.witness.ping; empty: no pinger. */
  readonly witness?: Omit<WitnessPingerOptions, "onRound">;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** A module's published role or generation changed: the heartbeat should tell peers now, not at its next interval. */
  readonly onPublish?: () => void;
  /** A mirror's ALONE must leave at once, whatever the spacing of extra rounds; `sent` right after it left (Membership.announce). */
  readonly onAnnounce?: (sent: () => void) => void;
  /** A peer answered on a mirror's replication link: it counts as a heartbeat link (Membership.alive). */
  readonly onAlive?: (node: string, via: string, ageMs: number, proof?: "answer" | "record") => void;
}

/** What a reload did to each module, by name. */
export interface ModuleReload {
  readonly kept: readonly string[];
  readonly restarted: readonly string[];
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

export class ModuleEngine implements ModuleControl {
  private instances: ModuleInstance[];
  private readonly reporter: ModuleInstanceOptions["reporter"];
  private started = false;
  private pinger: WitnessPinger | undefined;
  private nextCommand = 0;
  private readonly liveness = new Map<string, PeerState>();
  /** Heartbeat events waiting for a fresh witness round; null when none is awaited. */
  private held: (() => void)[] | null = null;
  private readonly roleGauge: (v: number, l?: Record<string, string>) => void;
  private readonly transitions: (l?: Record<string, string>, by?: number) => void;

  constructor(private readonly o: ModuleEngineOptions) {
    this.roleGauge = o.metrics.gauge("vigil_module_role", "1 for the role this node has for the module (STOP, WAIT, ALONE, PRIM, SECOND), 0 for the others.");
    this.transitions = o.metrics.counter("vigil_module_transitions_total", "Module role changes on this node, by module, new role and reason.");
    const reporter = {
      transition: (t: ModuleTransition) => this.onTransition(t),
      note: (n: Extract<ModuleAction, { type: "event" }>) => this.onNote(n),
      published: () => o.onPublish?.(),
      announce: (sent: () => void) => o.onAnnounce?.(sent),
      alive: (node: string, via: string, ageMs: number, proof?: "answer" | "record") => o.onAlive?.(node, via, ageMs, proof),
    };
    this.reporter = reporter;
    this.instances = o.modules.map((m) => new ModuleInstance({ ...m, reporter }));
    for (const i of this.instances) this.setRole(i.name, i.role);
    this.pinger = this.newPinger(o.witness);
  }

  private newPinger(w: ModuleEngineOptions["witness"]): WitnessPinger | undefined {
    return w === undefined || w.addresses.length === 0 ? undefined : new WitnessPinger({
      ...w,
      onRound: (r) => {
        for (const i of this.instances) i.input({ type: "witness", reachable: r.reachable, detail: r.detail });
      },
    });
  }

  /**
   * Applies new witness ping addresses (cluster.witness.ping) to the running
   * modules in place: the pinger is replaced and each module's core told
   * whether a witness is now required. No module is stopped or moved.
   */
  setWitness(w: ModuleEngineOptions["witness"]): void {
    this.pinger?.stop();
    this.pinger = this.newPinger(w);
    for (const i of this.instances) i.requireWitness(this.pinger !== undefined);
    if (this.started) this.pinger?.start();
  }

  get names(): string[] {
    return this.instances.map((i) => i.name);
  }

  instance(name: string): ModuleInstance | undefined {
    return this.instances.find((i) => i.name === name);
  }

  /** Starts every module (cleanup first) and the witness pinger. `peers`: liveness already known (a restart under a running heartbeat). */
  start(peers: readonly { name: string; liveness: PeerState }[] = []): void {
    this.started = true;
    for (const p of peers) this.liveness.set(p.name, p.liveness);
    for (const i of this.instances) {
      i.start();
      for (const p of peers) i.peer(p.name, p.liveness);
    }
    this.pinger?.start();
  }

  /** Stops every module here (resources in reverse, VIPs removed, STOP published), then the timers. */
  async stop(timeoutMs = 120_000): Promise<void> {
    await Promise.all(this.instances.map((i) => i.stopHere(timeoutMs)));
    this.halt();
  }

  /**
   * Applies a new module list (same nodes, heartbeat and witness; otherwise
   * build a new engine). Modules whose config is unchanged keep running
   * untouched; removed and changed ones are stopped here (stop scripts,
   * VIPs removed); changed and added ones start afresh, cleanup first, with
   * the peers' liveness as we know it.
   */
  async reload(modules: ModuleEngineOptions["modules"], timeoutMs = 120_000): Promise<ModuleReload> {
    const wanted = new Map(modules.map((m) => [m.core.module, m]));
    const same = (i: ModuleInstance): boolean => {
      const m = wanted.get(i.name);
      return m !== undefined && (m.configKey ?? JSON.stringify(m.core)) === i.configKey;
    };
    const leaving = this.instances.filter((i) => !same(i));
    await Promise.all(leaving.map((i) => i.stopHere(timeoutMs)));
    for (const i of leaving) {
      i.halt();
      if (!wanted.has(i.name)) this.setRole(i.name, "");
    }
    const kept = new Map(this.instances.filter(same).map((i) => [i.name, i]));
    const fresh: ModuleInstance[] = [];
    this.instances = modules.map((m) => {
      const old = kept.get(m.core.module);
      if (old !== undefined) return old;
      const inst = new ModuleInstance({ ...m, reporter: this.reporter });
      fresh.push(inst);
      this.setRole(inst.name, inst.role);
      return inst;
    });
    if (this.started) {
      const begin = (): void => {
        for (const i of fresh) {
          i.start();
          for (const [node, liveness] of this.liveness) i.peer(node, liveness);
        }
      };
      // Behind heartbeat events held for a witness round, like everything else.
      if (this.held !== null) this.held.push(begin);
      else begin();
    }
    const names = (list: readonly ModuleInstance[]) => list.map((i) => i.name);
    return {
      kept: [...kept.keys()],
      restarted: names(leaving.filter((i) => wanted.has(i.name))),
      added: names(fresh.filter((i) => !leaving.some((l) => l.name === i.name))),
      removed: names(leaving.filter((i) => !wanted.has(i.name))),
    };
  }

  /** Stops timers and checkers without touching the resources. */
  halt(): void {
    this.held = null;
    this.pinger?.stop();
    for (const i of this.instances) i.halt();
  }

  /** For every heartbeat frame we send. */
  adverts(): ModuleAdvert[] {
    const out: ModuleAdvert[] = [];
    for (const i of this.instances) {
      const a = i.published();
      if (a !== null) out.push(a);
    }
    return out;
  }

  peer(node: string, liveness: PeerState): void {
    const was = this.liveness.get(node);
    this.liveness.set(node, liveness);
    const deliver = (): void => {
      for (const i of this.instances) i.peer(node, liveness);
    };
    if (this.held !== null) {
      this.held.push(deliver);
      return;
    }
    if (this.pinger !== undefined && liveness === "dead" && was !== "dead" && this.hearsNobody()) {
      this.held = [deliver];
      void this.pinger.fresh().then(() => this.release());
      return;
    }
    deliver();
  }

  frame(node: string, adverts: readonly ModuleAdvert[], heardAt?: number): void {
    const deliver = (): void => {
      for (const i of this.instances) i.frame(node, adverts, heardAt);
    };
    if (this.held !== null) this.held.push(deliver);
    else deliver();
  }

  private hearsNobody(): boolean {
    const c = this.instances[0]?.core.config;
    if (c === undefined) return false;
    return c.nodes.filter((n) => n !== c.self).every((n) => this.liveness.get(n) === "dead");
  }

  private release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const fn of held) fn();
  }

  statuses(): ModuleStatus[] {
    return this.instances.map((i) => i.status());
  }

  async command(req: ModuleCommandRequest): Promise<ModuleCommandOutcome> {
    const inst = this.instance(req.module);
    const outcome = (ok: boolean, detail: string): ModuleCommandOutcome => ({
      ok,
      module: req.module,
      command: req.command,
      detail,
      nodes: inst?.nodeViews() ?? [],
    });
    if (inst === undefined) {
      const known = this.names;
      return outcome(false, `no failover module named ${JSON.stringify(req.module)} runs here (${known.length === 0 ? "none configured" : `modules: ${known.join(", ")}`})`);
    }
    if (req.command === "forceprim" && req.yes !== true) return outcome(false, forceprimRefusal({ yes: "--yes", prim: "prim" }));
    const timeoutMs = Number.isFinite(req.timeoutMs) && req.timeoutMs > 0 ? req.timeoutMs : 30_000;
    if (req.command === "verify" || req.command === "resync" || req.command === "ack") {
      const mirror = inst.mirror;
      if (mirror === undefined) return outcome(false, `${inst.name} is not a mirror module: ${MIRROR_COMMAND_DOES[req.command]}`);
      this.o.log.info(`module ${inst.name} command ${req.command}`, { module: inst.name, command: req.command, source: req.source ?? "unknown" });
      const command = req.command;
      const work = (async () => {
        const r = command === "verify" ? await mirror.verify() : command === "resync" ? mirror.resyncAll() : mirror.ack();
        this.o.log.log(r.ok ? "info" : "warn", `module ${inst.name} command ${command} ${r.ok ? "done" : "failed"}`, { module: inst.name, command, detail: r.detail.split("\n")[0] ?? "" });
        return r;
      })();
      // A comparison of a large folder outlasts the caller's timeout: answer at it, and let the log say the result.
      const r = await answerWithin(work, timeoutMs);
      if (r === "late") {
        return { ...outcome(false, `still comparing after ${formatSeconds(timeoutMs)}; the comparison goes on and the daemon's log says its result (module ${inst.name} command ${command} done or failed); a longer --timeout waits for it`), inProgress: true };
      }
      return outcome(r.ok, r.detail);
    }
    const id = `cmd-${++this.nextCommand}`;
    this.o.log.info(`module ${inst.name} command ${req.command}`, { module: inst.name, command: req.command, id, source: req.source ?? "unknown" });
    const a = await inst.command(id, req.command, timeoutMs);
    // Past the caller's patience the command goes on in the core: say how far it got, never "done".
    const progress = inst.progress() ?? `${inst.name} is ${inst.role} on this node`;
    const result: ModuleCommandOutcome = a === null
      ? { ...outcome(false, `still in progress after ${formatSeconds(timeoutMs)}: ${progress}; the command goes on`), inProgress: true }
      : outcome(a.ok, a.detail);
    const verdict = result.ok ? "done" : result.inProgress === true ? "still in progress" : "failed";
    this.o.log.log(result.ok ? "info" : "warn", `module ${inst.name} command ${req.command} ${verdict}`, {
      module: inst.name,
      command: req.command,
      id,
      detail: result.detail,
    });
    return result;
  }

  private setRole(module: string, role: string): void {
    for (const r of MODULE_ROLES) this.roleGauge(r === role ? 1 : 0, { module, role: r });
  }

  private onTransition(t: ModuleTransition): void {
    this.setRole(t.module, t.to);
    this.transitions({ module: t.module, to: t.to, reason: t.reason });
    const level = t.to === "WAIT" || t.reason === "conflict" || t.reason === "start-failed" || t.reason === "stop-failed" ? "warn" : "info";
    this.o.log.log(level, `module ${t.module} ${t.from} -> ${t.to}`, { module: t.module, from: t.from, to: t.to, reason: t.reason, detail: t.detail, module_seq: t.seq });
  }

  private onNote(n: Extract<ModuleAction, { type: "event" }>): void {
    const bad = n.kind === "checker-failing" || n.kind === "restart-limit" || n.kind === "start-failed" || n.kind === "stop-failed" || n.kind === "lease-lost" || n.kind === "fenced" || n.kind === "bad-advert";
    this.o.log.log(bad ? "warn" : "info", `module ${n.module} ${n.kind}`, { module: n.module, kind: n.kind, detail: n.detail, module_seq: n.seq });
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
