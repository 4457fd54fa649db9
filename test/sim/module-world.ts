/**
 * Failover modules in the simulator. Each member node runs the real
 * membership core and the module core, wired as the daemon wires them:
 * membership peer events go to the module core before the advert of the
 * frame that caused them, and each heartbeat frame carries the module's
 * latest published role. An optional arbiter node runs the witness core.
 *
 * The driver's side is modelled here: resource operations take a random
 * time and are reported back as events; the witness ping and the checkers
 * run at their intervals against world flags the scenario flips (witness
 * reachable, app healthy); lease requests and answers cross the network on
 * their own link (index `links`), which the scenario can cut separately.
 *
 * A crash is a machine crash: what ran there is gone. A pause freezes the
 * daemon only; the watchdog it armed still fires on time (as a separate
 * process or the kernel's watchdog would), killing what ran.
 *
 * Frames are passed as objects: the codec and its MAC have their own tests,
 * and skipping them keeps hundreds of seeds fast.
 */
import { initMembership, nextWakeAt as membershipWake, stepMembership, type HeartbeatTimers, type MembershipAction, type MembershipFrame, type MembershipState } from "../../src/core/membership/membership.ts";
import {
  initModule,
  nextWakeAt as moduleWake,
  stepModule,
  type ArbiterTerms,
  type ModuleAction,
  type ModuleCheckerConfig,
  type ModuleInput,
  type ModuleRole,
  type ModuleState,
} from "../../src/core/module/module.ts";
import type { Stepped } from "../../src/core/step.ts";
import { initWitness, nextWakeAt as witnessWake, stepWitness, type WitnessAction, type WitnessState } from "../../src/core/witness.ts";
import type { LinkProfile } from "./harness/network.ts";
import { Sim, type SimAdapter } from "./harness/sim.ts";

export const MODULE = "vms";
export const ARBITER = "arb";
const CLUSTER = "sim-cluster";
const WALL_CLOCK_AT_ZERO = 1_750_000_000_000;

export interface WorldTiming {
  readonly timers: HeartbeatTimers;
  /** Witness ping and checker interval. */
  readonly checkMs: number;
  /** Delay of a ping or check result after it is started. */
  readonly resultDelayMs: readonly [number, number];
  /** Duration of one resource start or stop. */
  readonly resourceMs: readonly [number, number];
}

export interface WorldOptions {
  readonly seed: number;
  readonly nodes: readonly string[];
  /** Heartbeat links; the lease traffic has one more link of its own. */
  readonly links: number;
  readonly profile: LinkProfile;
  readonly timing: WorldTiming;
  readonly prefer?: string;
  readonly failback: "auto" | "manual";
  readonly failbackDelayMs?: number;
  readonly witnessPing: boolean;
  readonly arbiter?: ArbiterTerms;
  readonly checkers?: readonly ModuleCheckerConfig[];
  /** Probability that a resource start fails. */
  readonly startFailure?: number;
  readonly handoverTimeoutMs?: number;
  /** Default: deadtime + interval, as the daemon derives it. */
  readonly rejoinWaitMs?: number;
}

export interface MemberState {
  readonly kind: "member";
  readonly membership: MembershipState;
  readonly module: ModuleState;
  readonly nextPingAt: number;
  readonly nextCheckAt: number;
}

export interface ArbiterState {
  readonly kind: "arbiter";
  readonly witness: WitnessState;
}

export type WorldState = MemberState | ArbiterState;

export type WorldMsg =
  | { readonly kind: "hb"; readonly frame: MembershipFrame; readonly advert: { readonly role: string; readonly generation: number } | null }
  | { readonly kind: "lease-req"; readonly node: string; readonly request: number }
  | { readonly kind: "lease-rel"; readonly node: string }
  | { readonly kind: "lease-ans"; readonly reply: Extract<WitnessAction, { type: "reply" }> }
  | { readonly kind: "local"; readonly input: ModuleInput }
  /** The daemon stops cleanly: its services have stopped; the heartbeat says goodbye. */
  | { readonly kind: "leave" };

export type WorldEvent =
  | { readonly type: "tick" }
  | { readonly type: "hb"; readonly link: number; readonly frame: MembershipFrame; readonly advert: { readonly role: string; readonly generation: number } | null }
  | { readonly type: "module"; readonly input: ModuleInput }
  | { readonly type: "leave" }
  | { readonly type: "lease-req"; readonly node: string; readonly request: number }
  | { readonly type: "lease-rel"; readonly node: string };

export type WorldAction =
  | { readonly kind: "send-hb"; readonly frame: MembershipFrame; readonly advert: { readonly role: string; readonly generation: number } | null }
  | { readonly kind: "membership"; readonly action: MembershipAction }
  | { readonly kind: "module"; readonly action: ModuleAction }
  | { readonly kind: "ping" }
  | { readonly kind: "check"; readonly checkers: readonly string[] }
  | { readonly kind: "witness"; readonly action: WitnessAction };

export type ModuleSim = Sim<WorldState, WorldEvent, WorldAction, WorldMsg>;

/** What the scenario controls and what the driver model records. */
export class WorldFacts {
  /** Nodes whose ping witness answers. */
  readonly witnessUp = new Set<string>();
  /** Nodes whose app fails its checker. */
  readonly appBroken = new Set<string>();
  /** Sim time the watchdog of each node fires, while armed. */
  readonly fenceAt = new Map<string, number>();
  readonly transitions: { simTime: number; node: string; from: ModuleRole; to: ModuleRole; reason: string; detail: string }[] = [];
  readonly answers: { simTime: number; node: string; id: string; ok: boolean; detail: string }[] = [];
}

function advertOf(m: ModuleState): { role: string; generation: number } | null {
  return m.published === null ? null : { role: m.published.role, generation: m.published.generation };
}

function accepted(before: MembershipState, after: MembershipState, node: string): boolean {
  return (after.counters.peers[node]?.accepted ?? 0) > (before.counters.peers[node]?.accepted ?? 0);
}

function memberStep(timing: WorldTiming, s: MemberState, e: WorldEvent, now: number): Stepped<WorldState, WorldAction> {
  const out: WorldAction[] = [];
  let membership = s.membership;
  let module = s.module;
  let { nextPingAt, nextCheckAt } = s;
  const feed = (input: ModuleInput) => {
    const r = stepModule(module, input, now);
    module = r.state;
    for (const a of r.actions) out.push({ kind: "module", action: a });
  };
  const runMembership = (input: Parameters<typeof stepMembership>[1]) => {
    const r = stepMembership(membership, input, now);
    membership = r.state;
    const sends: MembershipFrame[] = [];
    for (const a of r.actions) {
      if (a.type === "send-heartbeat") sends.push(a.frame);
      else {
        out.push({ kind: "membership", action: a });
        if (a.type === "event" && a.scope === "peer") feed({ type: "peer", node: a.node, liveness: a.to });
      }
    }
    return sends;
  };
  let sends: MembershipFrame[] = [];
  switch (e.type) {
    case "tick":
      sends = runMembership({ type: "tick" });
      feed({ type: "tick" });
      if (now >= nextPingAt) {
        out.push({ kind: "ping" });
        nextPingAt = Math.max(nextPingAt + timing.checkMs, now);
      }
      if (now >= nextCheckAt) {
        if (module.watching.length > 0) out.push({ kind: "check", checkers: module.watching });
        nextCheckAt = Math.max(nextCheckAt + timing.checkMs, now);
      }
      break;
    case "hb": {
      const before = membership;
      sends = runMembership({ type: "frame", link: e.link, frame: e.frame });
      if (accepted(before, membership, e.frame.node)) {
        feed({ type: "advert", node: e.frame.node, role: e.advert?.role ?? null, generation: e.advert?.generation ?? 0 });
      }
      break;
    }
    case "module":
      feed(e.input);
      break;
    case "leave":
      sends = runMembership({ type: "leave" });
      break;
    default:
      break;
  }
  // Frames leave after the module had its say, so they carry its latest role.
  const advert = advertOf(module);
  for (const frame of sends) out.push({ kind: "send-hb", frame, advert });
  return { state: { kind: "member", membership, module, nextPingAt, nextCheckAt }, actions: out };
}

function arbiterStep(s: ArbiterState, e: WorldEvent, now: number): Stepped<WorldState, WorldAction> {
  let input: Parameters<typeof stepWitness>[1];
  if (e.type === "lease-req") input = { type: "request", node: e.node, module: MODULE, request: e.request };
  else if (e.type === "lease-rel") input = { type: "release", node: e.node, module: MODULE };
  else input = { type: "tick" };
  const r = stepWitness(s.witness, input, now);
  return { state: { kind: "arbiter", witness: r.state }, actions: r.actions.map((a) => ({ kind: "witness", action: a })) };
}

export function worldStep(timing: WorldTiming): (s: WorldState, e: WorldEvent, now: number) => Stepped<WorldState, WorldAction> {
  return (s, e, now) => (s.kind === "member" ? memberStep(timing, s, e, now) : arbiterStep(s, e, now));
}

function worldWake(s: WorldState): number | null {
  if (s.kind === "arbiter") return witnessWake(s.witness);
  const m = moduleWake(s.module);
  return Math.min(membershipWake(s.membership), s.nextPingAt, s.nextCheckAt, m ?? Infinity);
}

export function moduleAdapter(opts: WorldOptions, facts: WorldFacts, simRef: () => ModuleSim): SimAdapter<WorldState, WorldEvent, WorldAction, WorldMsg> {
  const { timing, nodes, links } = opts;
  const leaseLink = links;
  const addresses = (i: number) => Array.from({ length: links }, (_, l) => `${["198.51.100", "203.0.113", "192.0.2"][l % 3]}.${10 + i}`);
  const local = (to: string, input: ModuleInput, delay: number) => {
    simRef().inject({ from: to, to, link: leaseLink, msg: { kind: "local", input }, tag: "local" }, delay);
  };
  const range = (r: readonly [number, number]) => simRef().rng.int(r[0], r[1]);
  return {
    step: worldStep(timing),
    start: (node, ctx) => {
      if (node === ARBITER) {
        const lease = opts.arbiter?.leaseMs ?? 1000;
        return { kind: "arbiter", witness: initWitness({ nodes, leaseMs: lease, graceMs: Math.floor(lease / 10) }, { now: ctx.now, quiet: ctx.incarnation > 1 }) };
      }
      facts.fenceAt.delete(node);
      const membership = initMembership(
        { self: node, cluster: CLUSTER, nodes: nodes.map((name, i) => ({ name, links: addresses(i) })), ...timing.timers },
        { now: ctx.now, epoch: (BigInt(WALL_CLOCK_AT_ZERO + Math.floor(ctx.simNow)) << 16n) | BigInt(ctx.rng.int(0, 0xffff)) },
      );
      const module = initModule(
        {
          module: MODULE,
          self: node,
          nodes,
          ...(opts.prefer === undefined ? {} : { prefer: opts.prefer }),
          failback: opts.failback,
          ...(opts.failbackDelayMs === undefined ? {} : { failbackDelayMs: opts.failbackDelayMs }),
          resources: [
            { kind: "vip", address: "198.51.100.100/24", interface: null },
            { kind: "script", start: "/etc/vigil/start_prim.sh", stop: "/etc/vigil/stop_prim.sh" },
          ],
          checkers: opts.checkers ?? [],
          witnessPing: opts.witnessPing,
          ...(opts.arbiter === undefined ? {} : { arbiter: opts.arbiter }),
          ...(opts.handoverTimeoutMs === undefined ? {} : { handoverTimeoutMs: opts.handoverTimeoutMs }),
          rejoinWaitMs: opts.rejoinWaitMs ?? timing.timers.deadtimeMs + timing.timers.intervalMs,
        },
        // Request numbers above any earlier incarnation's, as the driver would make them from the wall clock.
        { now: ctx.now, firstLeaseRequest: ctx.incarnation * 1_000_000 + 1 },
      );
      return { kind: "member", membership, module, nextPingAt: ctx.now, nextCheckAt: ctx.now };
    },
    tick: () => ({ type: "tick" }),
    receive: (_node, env) => {
      const m = env.msg;
      switch (m.kind) {
        case "hb":
          return { ok: true, event: { type: "hb", link: env.link, frame: m.frame, advert: m.advert } };
        case "local":
          return { ok: true, event: { type: "module", input: m.input } };
        case "leave":
          return { ok: true, event: { type: "leave" } };
        case "lease-ans": {
          const r = m.reply;
          return { ok: true, event: { type: "module", input: { type: "lease", request: r.request, granted: r.granted, durationMs: r.durationMs, holder: r.holder, detail: r.detail } } };
        }
        case "lease-req":
          return { ok: true, event: { type: "lease-req", node: m.node, request: m.request } };
        case "lease-rel":
          return { ok: true, event: { type: "lease-rel", node: m.node } };
      }
    },
    nextWakeAt: worldWake,
    perform: (node, actions, io) => {
      const sim = simRef();
      for (const w of actions) {
        switch (w.kind) {
          case "send-hb":
            io.broadcast(w.frame.link, { kind: "hb", frame: w.frame, advert: w.advert });
            break;
          case "ping":
            local(node, { type: "witness", reachable: facts.witnessUp.has(node), detail: "ping" }, range(timing.resultDelayMs));
            break;
          case "check":
            for (const name of w.checkers) {
              const ok = name === "app" ? !facts.appBroken.has(node) : true;
              local(node, { type: "check", checker: name, ok, detail: ok ? "ok" : "connection refused" }, range(timing.resultDelayMs));
            }
            break;
          case "witness":
            if (w.action.type === "reply") io.send(leaseLink, w.action.to, { kind: "lease-ans", reply: w.action });
            break;
          case "module": {
            const a = w.action;
            if (a.type === "start-resource") {
              const ok = !sim.rng.chance(opts.startFailure ?? 0);
              local(node, { type: "resource", run: a.run, ok, detail: ok ? "exit 0" : "exit 1" }, range(timing.resourceMs));
            } else if (a.type === "stop-resource") {
              local(node, { type: "resource", run: a.run, ok: true, detail: "exit 0" }, range(timing.resourceMs));
            } else if (a.type === "lease-request") {
              io.send(leaseLink, ARBITER, { kind: "lease-req", node, request: a.request });
            } else if (a.type === "lease-release") {
              io.send(leaseLink, ARBITER, { kind: "lease-rel", node });
            } else if (a.type === "watchdog") {
              if (a.deadline === null) facts.fenceAt.delete(node);
              else facts.fenceAt.set(node, a.deadline - sim.node(node).clockOffset);
            } else if (a.type === "transition") {
              facts.transitions.push({ simTime: io.simNow, node, from: a.from, to: a.to, reason: a.reason, detail: a.detail });
            } else if (a.type === "answer") {
              facts.answers.push({ simTime: io.simNow, node, id: a.id, ok: a.ok, detail: a.detail });
            }
            break;
          }
          default:
            break;
        }
      }
    },
    describeEvent: (e) => {
      if (e.type === "hb") return `hb ${e.frame.node} #${e.frame.seq} L${e.frame.link} ${e.advert?.role ?? "-"}/${e.advert?.generation ?? 0}`;
      if (e.type === "module") return e.input.type === "command" ? `command ${e.input.command}` : e.input.type === "lease" ? `lease #${e.input.request} ${e.input.granted ? "granted" : `denied (${e.input.holder})`}` : e.input.type;
      return e.type;
    },
    describeAction: (w) => {
      if (w.kind === "module") {
        const a = w.action;
        if (a.type === "transition") return `${a.from}->${a.to} (${a.reason}: ${a.detail})`;
        if (a.type === "start-resource" || a.type === "stop-resource") return `${a.type} ${a.index}`;
        if (a.type === "publish") return `publish ${a.role}/${a.generation}`;
        if (a.type === "event") return `${a.kind}: ${a.detail}`;
        if (a.type === "watchdog") return `watchdog ${a.deadline ?? "off"}`;
        return a.type;
      }
      if (w.kind === "membership") return w.action.type === "event" ? `${w.action.node} ${w.action.from}->${w.action.to}` : w.action.type;
      if (w.kind === "witness") return w.action.type === "reply" ? `reply ${w.action.to} #${w.action.request} ${w.action.granted ? "granted" : "denied"}` : `${w.action.kind} ${w.action.node}`;
      if (w.kind === "send-hb") return "";
      return w.kind;
    },
    describeMsg: (m) => (m.kind === "hb" ? `hb ${m.frame.node} #${m.frame.seq} ${m.advert?.role ?? "-"}` : m.kind === "local" ? `local ${m.input.type}` : m.kind),
  };
}

/**
 * A clean stop of `node`'s daemon, as the supervisor orders it: the module
 * stops (shutdown), and once nothing runs there the heartbeat says goodbye;
 * the process ends `exitAfter` ms later (then it is a crash: nothing is left).
 */
export function cleanStop(sim: ModuleSim, node: string, exitAfter: number, localLink: number): void {
  sim.inject({ from: node, to: node, link: localLink, msg: { kind: "local", input: { type: "command", id: `shutdown-${sim.now}`, command: "stop", shutdown: true } }, tag: "local" });
  const wait = (): void => {
    const m = moduleOf(sim, node);
    if (m === undefined) return;
    if (m.role === "STOP" && m.run === null && m.started === 0) {
      sim.inject({ from: node, to: node, link: localLink, msg: { kind: "leave" }, tag: "local" });
      sim.after(exitAfter, `${node} exits`, (s) => s.crash(node));
      return;
    }
    sim.after(5, `${node} still stopping`, wait);
  };
  sim.after(5, `${node} stopping`, wait);
}

export function createModuleWorld(opts: WorldOptions & { withArbiter: boolean; startAt?: Readonly<Record<string, number | null>> }): { sim: ModuleSim; facts: WorldFacts } {
  const facts = new WorldFacts();
  for (const n of opts.nodes) facts.witnessUp.add(n);
  let sim: ModuleSim | undefined;
  const all = opts.withArbiter ? [...opts.nodes, ARBITER] : [...opts.nodes];
  sim = new Sim(moduleAdapter(opts, facts, () => sim as ModuleSim), {
    seed: opts.seed,
    nodes: all,
    links: opts.links + 1,
    profile: opts.profile,
    ...(opts.startAt === undefined ? {} : { startAt: opts.startAt }),
  });
  return { sim, facts };
}

/** The module state of a member node that is up, or undefined. */
export function moduleOf(sim: ModuleSim, node: string): ModuleState | undefined {
  const n = sim.node(node);
  if (!n.alive || n.state === undefined || n.state.kind !== "member") return undefined;
  return n.state.module;
}

/**
 * Counted as running the module: from the first start-resource until every
 * resource stopped, unless the watchdog has fired since (a machine crash
 * also ends it).
 */
export function serving(sim: ModuleSim, facts: WorldFacts, node: string): boolean {
  const m = moduleOf(sim, node);
  if (m === undefined || m.cleanup) return false;
  const up = m.started > 0 || m.run?.op === "start";
  if (!up) return false;
  const fence = facts.fenceAt.get(node);
  return fence === undefined || sim.now < fence;
}
