/**
 * A scripted driver for the module core in unit tests and fixtures: feeds
 * events at given times, answers resource operations and lease requests
 * when told to, and keeps every action as one readable line.
 */
import {
  arbiterTerms,
  initModule,
  nextWakeAt,
  resourceLabel,
  stepModule,
  type ModuleAction,
  type ModuleCommand,
  type ModuleCoreConfig,
  type ModuleInput,
  type ModuleResource,
  type ModuleStart,
  type ModuleState,
} from "../../src/core/module/module.ts";
import type { PeerState } from "../../src/core/membership/types.ts";

export const VIP: ModuleResource = { kind: "vip", address: "198.51.100.100/24", interface: null };
export const SCRIPT: ModuleResource = { kind: "script", start: "/etc/vigil/start_prim.sh", stop: "/etc/vigil/stop_prim.sh" };
export const SERVICE: ModuleResource = { kind: "service", unit: "vms.service" };

/** Heartbeat timers the arbiter terms are derived from in these tests. */
export const TEST_TIMERS = { intervalMs: 100, warntimeMs: 250, deadtimeMs: 500, initdeadMs: 2000 };

export function testConfig(over: Partial<ModuleCoreConfig> = {}): ModuleCoreConfig {
  return {
    module: "vms",
    self: "a",
    nodes: ["a", "b"],
    failback: "manual",
    resources: [VIP, SCRIPT],
    handoverTimeoutMs: 5000,
    ...over,
  };
}

export function testArbiter(leaseMs = 3000) {
  return arbiterTerms(leaseMs, TEST_TIMERS);
}

export function formatAction(a: ModuleAction): string {
  switch (a.type) {
    case "start-resource":
      return `start #${a.run} ${a.index} ${resourceLabel(a.resource, "start")}`;
    case "stop-resource":
      return `stop #${a.run} ${a.index} ${resourceLabel(a.resource, "stop")}${a.cleanup ? " (cleanup)" : ""}`;
    case "publish":
      return `publish ${a.role} gen=${a.generation}${a.starting === true ? " starting" : ""}${a.failure !== undefined ? ` failure=${JSON.stringify(a.failure)}` : ""}`;
    case "transition":
      return `transition ${a.from}->${a.to} ${a.reason}: ${a.detail}`;
    case "event":
      return `note ${a.kind}: ${a.detail}`;
    case "lease-request":
      return `lease-request #${a.request}`;
    case "lease-release":
      return "lease-release";
    case "watchdog":
      return `watchdog ${a.deadline === null ? "off" : a.deadline}`;
    case "watch-checkers":
      return `watch [${a.checkers.join(", ")}]`;
    case "persist":
      return `persist blocked=${a.blocked ?? "none"}`;
    case "answer":
      return `answer ${a.id} ${a.ok ? "ok" : "refused"}: ${a.detail}`;
  }
}

export class ModuleScript {
  state: ModuleState;
  now = 0;
  readonly actions: ModuleAction[] = [];
  private commands = 0;

  constructor(config: ModuleCoreConfig, start: Partial<ModuleStart> = {}) {
    this.state = initModule(config, { now: 0, cleanup: false, ...start });
  }

  /** Ticks at every wake-up the core asks for before `t`, then one event at `t`. */
  at(t: number, input: ModuleInput): ModuleAction[] {
    const out = this.until(t, false);
    out.push(...this.step(input, t));
    return out;
  }

  step(input: ModuleInput, t = this.now): ModuleAction[] {
    if (t < this.now) throw new Error(`time went back: ${t} < ${this.now}`);
    this.now = t;
    const r = stepModule(this.state, input, t);
    this.state = r.state;
    this.actions.push(...r.actions);
    return [...r.actions];
  }

  /** Ticks as the driver's timer would, up to and including `t` (or only before it). */
  until(t: number, inclusive = true): ModuleAction[] {
    const out: ModuleAction[] = [];
    for (let guard = 0; guard < 10_000; guard++) {
      const wake = nextWakeAt(this.state);
      if (wake === null || wake > t || (!inclusive && wake === t)) break;
      out.push(...this.step({ type: "tick" }, Math.max(this.now, wake)));
    }
    if (inclusive && this.now < t) this.now = t;
    return out;
  }

  /** The resource operation waiting for its result, if any. */
  pendingRun(): number | null {
    return this.state.run?.token ?? null;
  }

  resource(t: number, ok: boolean, detail = ok ? "exit 0" : "exit 1"): ModuleAction[] {
    const run = this.pendingRun();
    if (run === null) throw new Error(`no resource operation is running at ${t}`);
    return this.at(t, { type: "resource", run, ok, detail });
  }

  /** Answers every resource operation with ok, as they come, at time t. */
  settle(t: number): ModuleAction[] {
    const out = this.until(t, false);
    if (this.now < t) this.now = t;
    for (let guard = 0; guard < 100 && this.pendingRun() !== null; guard++) {
      out.push(...this.step({ type: "resource", run: this.pendingRun() as number, ok: true, detail: "exit 0" }, t));
    }
    return out;
  }

  peer(t: number, node: string, liveness: PeerState): ModuleAction[] {
    return this.at(t, { type: "peer", node, liveness });
  }

  advert(t: number, node: string, role: string | null, generation = 0, extra: { starting?: boolean; failure?: string } = {}): ModuleAction[] {
    return this.at(t, {
      type: "advert",
      node,
      role,
      generation,
      ...(extra.starting === true ? { starting: true } : {}),
      ...(extra.failure !== undefined ? { failure: extra.failure } : {}),
    });
  }

  /** The peer comes up and its first frame carries this advert. */
  up(t: number, node: string, role: string, generation = 0): ModuleAction[] {
    return [...this.peer(t, node, "up"), ...this.advert(t, node, role, generation)];
  }

  check(t: number, checker: string, ok: boolean, detail = ok ? "ok" : "connection refused"): ModuleAction[] {
    return this.at(t, { type: "check", checker, ok, detail });
  }

  witness(t: number, reachable: boolean): ModuleAction[] {
    return this.at(t, { type: "witness", reachable, detail: reachable ? "198.51.100.1 answered" : "198.51.100.1 silent" });
  }

  lastLeaseRequest(): number {
    const req = [...this.actions].reverse().find((a) => a.type === "lease-request");
    if (req === undefined || req.type !== "lease-request") throw new Error("no lease request was sent");
    return req.request;
  }

  grant(t: number, request = this.lastLeaseRequest(), durationMs = this.state.config.arbiter?.leaseMs ?? 0): ModuleAction[] {
    return this.at(t, { type: "lease", request, granted: true, durationMs, holder: this.state.config.self, detail: "granted" });
  }

  deny(t: number, holder: string | null, request = this.lastLeaseRequest()): ModuleAction[] {
    return this.at(t, { type: "lease", request, granted: false, durationMs: 0, holder, detail: holder === null ? "quiet period" : `held by ${holder}` });
  }

  command(t: number, command: ModuleCommand, shutdown = false): { id: string; actions: ModuleAction[] } {
    this.commands += 1;
    const id = `c${this.commands}`;
    return { id, actions: this.at(t, { type: "command", id, command, ...(shutdown ? { shutdown } : {}) }) };
  }

  answers(id: string): ModuleAction[] {
    return this.actions.filter((a) => a.type === "answer" && a.id === id);
  }

  get role(): string {
    return this.state.role;
  }
}

export function lines(actions: readonly ModuleAction[]): string[] {
  return actions.map(formatAction);
}
