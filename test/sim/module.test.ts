/**
 * Failover modules under simulation: 2 and 3 nodes running the real
 * membership and module cores (module-world.ts), with and without an
 * arbiter, over links with seeded loss, delay, reordering and duplication,
 * and seeded partitions, pauses, crashes, witness outages and app failures.
 *
 * Checked after every step:
 * - resting roles are only published once everything is stopped;
 * - with an arbiter: never two nodes running the module, in any partition,
 *   counting a node from its first start until it stopped (or its watchdog
 *   fired, or it crashed);
 * - once the cluster has been whole and calm for the settle time (deadtime +
 *   one checker interval), at most one node wants to run the module, and
 *   once the loser had time to stop, at most one runs it;
 * - a node that hears no peer and whose witness does not answer has decided
 *   to leave PRIM within deadtime + one checker interval (plus the driver's
 *   granularity: one tick interval and the ping's own delay).
 * At the end (everything healed and healthy): exactly one node runs the
 * module, every other one stands by, and failback followed the policy.
 * A node back from isolation never takes the module from a healthy PRIM.
 *
 * Seeds: SIM_SEEDS=<k> runs k seeds per scenario; SIM_SEED=<n> replays one.
 */
import { describe, it } from "vitest";
import type { HeartbeatTimers } from "../../src/core/membership/membership.ts";
import { arbiterTerms, isPrimaryRole, type ModuleCheckerConfig } from "../../src/core/module/module.ts";
import type { LinkProfile } from "./harness/network.ts";
import { seedsFromEnv } from "./harness/seeds.ts";
import { ARBITER, cleanStop, createModuleWorld, moduleOf, serving, type ModuleSim, type WorldFacts, type WorldTiming } from "./module-world.ts";

const timers: HeartbeatTimers = { intervalMs: 100, warntimeMs: 250, deadtimeMs: 500, initdeadMs: 1000 };
const timing: WorldTiming = { timers, checkMs: 200, resultDelayMs: [0, 40], resourceMs: [0, 120] };
const LINKS = 2;
const MAX_DELAY = 60;
const quiet: LinkProfile = { loss: 0.02, delayMs: [1, 20], duplicate: 0.02 };
const appChecker: ModuleCheckerConfig = { name: "app", onFail: "restart", restarts: 2, windowMs: 4000, then: "failover", fall: 2, rise: 1 };
const arbiter = arbiterTerms(1500, timers, MAX_DELAY);

/** The settle time of the brief, and what the driver adds to it in this world. */
const SETTLE = timers.deadtimeMs + timing.checkMs;
const DRIVER_SLACK = timers.intervalMs + timing.resultDelayMs[1] + MAX_DELAY;
const MAX_STOP = 2 * timing.resourceMs[1];

const names = (n: number) => Array.from({ length: n }, (_, i) => `n${i + 1}`);

function noisy(sim: ModuleSim): LinkProfile {
  const lo = sim.rng.int(0, 10);
  return { loss: sim.rng.range(0, 0.15), delayMs: [lo, lo + sim.rng.int(0, MAX_DELAY - 20)], duplicate: sim.rng.range(0, 0.1) };
}

/** Tracks what the invariants need: calm periods, silence and witness outages per node. */
class Calm {
  lastDisturbance = 0;
  cuts = false;
  readonly lastHeard = new Map<string, number>();
  readonly witnessDownSince = new Map<string, number>();
  disturb(sim: ModuleSim): void {
    this.lastDisturbance = sim.now;
  }
}

function install(sim: ModuleSim, facts: WorldFacts, nodes: readonly string[], calm: Calm, withArbiter: boolean): void {
  sim.invariant("rest only once stopped", (s, rec) => {
    if (rec.kind !== "step" || rec.node === ARBITER) return;
    const m = moduleOf(s, rec.node);
    if (m === undefined || m.published === null || isPrimaryRole(m.published.role)) return;
    const up = !m.cleanup && (m.started > 0 || m.run?.op === "start");
    if (up) throw new Error(`${rec.node} publishes ${m.published.role} while resources ${m.started} are up (run ${m.run?.op ?? "none"})`);
  });
  if (withArbiter) {
    sim.invariant("never two running the module", (s) => {
      const running = nodes.filter((n) => serving(s, facts, n));
      if (running.length > 1) throw new Error(`${running.join(" and ")} run the module at once`);
    });
  }
  sim.invariant("one PRIM once calm", (s) => {
    const paused = nodes.some((n) => s.node(n).paused);
    if (paused || calm.cuts || s.now - calm.lastDisturbance < SETTLE + DRIVER_SLACK) return;
    const wanting = nodes.filter((n) => moduleOf(s, n)?.decision.primary === true && isPrimaryRole(moduleOf(s, n)?.role ?? "STOP"));
    if (wanting.length > 1) throw new Error(`${wanting.join(" and ")} both mean to run the module ${s.now - calm.lastDisturbance} ms after the last disturbance`);
    if (s.now - calm.lastDisturbance < SETTLE + DRIVER_SLACK + MAX_STOP) return;
    const running = nodes.filter((n) => serving(s, facts, n));
    if (running.length > 1) throw new Error(`${running.join(" and ")} both run the module ${s.now - calm.lastDisturbance} ms after the last disturbance`);
  });
  sim.invariant("isolated without witness leaves PRIM", (s, rec) => {
    if (rec.kind === "step" && rec.event.type === "hb" && rec.node !== ARBITER) calm.lastHeard.set(rec.node, s.now);
    for (const n of nodes) {
      const node = s.node(n);
      const m = moduleOf(s, n);
      const down = calm.witnessDownSince.get(n);
      if (m === undefined || node.paused || down === undefined) continue;
      // Every peer said goodbye (a clean stop): they run nothing, so no witness is needed.
      const st = node.state;
      if (st?.kind === "member" && st.membership.peers.every((p) => p.state === "stopped")) continue;
      const since = Math.max(calm.lastHeard.get(n) ?? node.startedAt, down, node.startedAt);
      // A pause in the window is the node's own freeze: its clock of events starts over at resume.
      const lastResume = node.pauses.reduce((t, p) => Math.max(t, p.to ?? t), 0);
      const from = Math.max(since, lastResume);
      const bound = timers.deadtimeMs + timing.checkMs + DRIVER_SLACK;
      if (s.now - from > bound && m.decision.primary) {
        throw new Error(`${n} heard nobody since ${since} and its witness is down since ${down}, yet still means to run the module at ${s.now} (${m.role}: ${m.decision.detail})`);
      }
    }
  });
}

function setWitness(sim: ModuleSim, facts: WorldFacts, calm: Calm, node: string, up: boolean): void {
  if (up) {
    facts.witnessUp.add(node);
    calm.witnessDownSince.delete(node);
  } else if (facts.witnessUp.delete(node)) {
    calm.witnessDownSince.set(node, sim.now);
  }
}

/** Random faults until `until`, then everything healed and healthy. */
function chaos(sim: ModuleSim, facts: WorldFacts, calm: Calm, nodes: readonly string[], until: number, opts: { arbiter: boolean; longPauses: boolean }): void {
  const everyone = opts.arbiter ? [...nodes, ARBITER] : [...nodes];
  for (let t = sim.rng.int(1500, 2500); t < until; t += sim.rng.int(300, 1500)) {
    sim.at(t, "fault", (s) => {
      calm.disturb(s);
      const target = s.rng.pick(nodes);
      const node = s.node(target);
      switch (s.rng.int(0, 9)) {
        case 0:
          if (node.alive) s.crash(target);
          else s.restart(target);
          break;
        case 1:
          if (node.paused) s.resume(target);
          else {
            s.pause(target);
            const length = opts.longPauses ? s.rng.int(100, 4000) : s.rng.int(100, 1500);
            s.after(length, `resume ${target}`, (x) => {
              calm.disturb(x);
              x.resume(target);
            });
          }
          break;
        case 2:
        case 3: {
          const shuffled = s.rng.shuffle(nodes);
          const k = s.rng.int(1, nodes.length - 1);
          const a = shuffled.slice(0, k);
          const b = shuffled.slice(k);
          const links = s.rng.chance(0.3) ? [s.rng.int(0, LINKS - 1)] : Array.from({ length: LINKS }, (_, i) => i);
          s.net.partition([a, b], links);
          calm.cuts = true;
          break;
        }
        case 4:
          s.net.heal();
          calm.cuts = false;
          break;
        case 5:
          setWitness(s, facts, calm, target, !facts.witnessUp.has(target));
          break;
        case 6:
          if (facts.appBroken.has(target)) facts.appBroken.delete(target);
          else facts.appBroken.add(target);
          break;
        case 7:
          if (opts.arbiter) {
            // Cut a node from the arbiter, or the arbiter from everyone.
            if (s.rng.chance(0.3)) {
              if (s.node(ARBITER).alive) s.crash(ARBITER);
              else s.restart(ARBITER);
            } else s.net.cut([target], [ARBITER], [LINKS]);
          }
          break;
        default:
          // Isolate one node on every heartbeat link, witness and all.
          s.net.cut([target], everyone.filter((x) => x !== target), Array.from({ length: LINKS }, (_, i) => i));
          setWitness(s, facts, calm, target, false);
          calm.cuts = true;
      }
    });
  }
  sim.at(until, "heal everything", (s) => {
    calm.disturb(s);
    s.net.heal();
    calm.cuts = false;
    for (const n of everyone) {
      if (s.node(n).paused) s.resume(n);
      if (!s.node(n).alive) s.restart(n);
    }
    for (const n of nodes) setWitness(s, facts, calm, n, true);
    facts.appBroken.clear();
  });
}

/** Exactly one node runs the module with everything started; the others stand by. */
function checkOneRunning(sim: ModuleSim, facts: WorldFacts, nodes: readonly string[]): string {
  const running = nodes.filter((n) => serving(sim, facts, n) && moduleOf(sim, n)?.started === 2);
  sim.check(running.length === 1, () => `expected one node running the module at the end, got [${running.join(", ")}]: ${nodes.map((n) => `${n}=${moduleOf(sim, n)?.role}(${moduleOf(sim, n)?.decision.detail})`).join("; ")}`);
  const runner = running[0] as string;
  for (const n of nodes.filter((x) => x !== runner)) {
    const m = moduleOf(sim, n);
    sim.check(m?.role === "SECOND", () => `${n} is ${m?.role} at the end (${m?.decision.detail}), expected SECOND`);
  }
  return runner;
}

function world(seed: number, n: number, opts: { arbiter: boolean; failback?: "auto" | "manual"; failbackDelayMs?: number; startFailure?: number }) {
  const nodes = names(n);
  const { sim, facts } = createModuleWorld({
    seed,
    nodes,
    links: LINKS,
    profile: quiet,
    timing,
    prefer: "n1",
    failback: opts.failback ?? "manual",
    ...(opts.failbackDelayMs === undefined ? {} : { failbackDelayMs: opts.failbackDelayMs }),
    witnessPing: true,
    ...(opts.arbiter ? { arbiter } : {}),
    checkers: [appChecker],
    handoverTimeoutMs: 3000,
    ...(opts.startFailure === undefined ? {} : { startFailure: opts.startFailure }),
    withArbiter: opts.arbiter,
  });
  for (let link = 0; link < LINKS; link++) sim.net.setProfile(link, noisy(sim));
  const calm = new Calm();
  install(sim, facts, nodes, calm, opts.arbiter);
  return { sim, facts, calm, nodes };
}

describe("failover module under simulation", () => {
  for (const n of [2, 3]) {
    it(`${n} nodes, ping witness, no arbiter: partitions, pauses, crashes, witness and app failures`, () => {
      for (const seed of seedsFromEnv(40)) {
        const { sim, facts, calm, nodes } = world(seed, n, { arbiter: false });
        chaos(sim, facts, calm, nodes, 10_000, { arbiter: false, longPauses: false });
        sim.run(14_000);
        checkOneRunning(sim, facts, nodes);
      }
    });

    it(`${n} nodes and an arbiter: never two running the module, whatever is cut, paused or crashed`, () => {
      for (const seed of seedsFromEnv(40)) {
        const { sim, facts, calm, nodes } = world(seed, n, { arbiter: true });
        chaos(sim, facts, calm, nodes, 10_000, { arbiter: true, longPauses: true });
        // After the heal a restarted arbiter grants nothing for lease + grace.
        sim.run(16_000);
        checkOneRunning(sim, facts, nodes);
      }
    });
  }

  it("arbiter: a PRIM that lost the arbiter runs on while it hears its peers, then stops in time when cut off", () => {
    for (const seed of seedsFromEnv(30)) {
      const { sim, facts, calm, nodes } = world(seed, 2 + (seed % 2), { arbiter: true });
      sim.run(3000);
      sim.check(moduleOf(sim, "n1")?.role === "PRIM", `n1 is ${moduleOf(sim, "n1")?.role} at 3 s, expected PRIM`);
      const lostArbiter = sim.rng.int(3000, 4000);
      // Long enough for its lease to run out at the arbiter, so another node can get it.
      const cutOff = lostArbiter + arbiter.leaseMs + sim.rng.int(200, 1500);
      sim.at(lostArbiter, "cut n1 from the arbiter", (s) => s.net.cut(["n1"], [ARBITER], [LINKS]));
      sim.at(cutOff, "cut n1 from its peers", (s) => {
        calm.disturb(s);
        calm.cuts = true;
        s.net.cut(["n1"], nodes.filter((x) => x !== "n1"), Array.from({ length: LINKS }, (_, i) => i));
      });
      sim.run(cutOff - 1);
      sim.check(serving(sim, facts, "n1"), "n1 stopped while it still heard every peer, only because the arbiter was away");
      sim.run(cutOff + 5000);
      const others = nodes.filter((x) => x !== "n1");
      checkOneRunning(sim, facts, others);
      sim.check(moduleOf(sim, "n1")?.role === "WAIT", `n1 is ${moduleOf(sim, "n1")?.role} when cut off from everyone, expected WAIT`);
    }
  });

  it("arbiter: a PRIM frozen for longer than its lease is fenced by its watchdog before another node starts", () => {
    for (const seed of seedsFromEnv(30)) {
      const { sim, facts, calm, nodes } = world(seed, 2 + (seed % 2), { arbiter: true });
      sim.run(3000);
      const freezeAt = sim.rng.int(3000, 4000);
      // Long enough for another node to win the lease (after n1's runs out, plus grace), wait and start.
      const takeover = Math.ceil(arbiter.leaseMs * 1.1) + arbiter.retryMs + arbiter.takeoverWaitMs + MAX_STOP + 200;
      const thawAt = freezeAt + sim.rng.int(takeover, takeover + 2 * arbiter.leaseMs);
      sim.at(freezeAt, "freeze n1", (s) => {
        calm.disturb(s);
        s.pause("n1");
      });
      sim.at(thawAt, "thaw n1", (s) => {
        calm.disturb(s);
        s.resume("n1");
      });
      sim.run(thawAt + 4000);
      const runner = checkOneRunning(sim, facts, nodes);
      sim.check(runner !== "n1", "n1 kept the module although it was frozen for longer than its lease");
    }
  });

  for (const failback of ["auto", "manual"] as const) {
    it(`failback ${failback}: the preferred node crashes, comes back, and ${failback === "auto" ? "takes the module back after the delay" : "stays SECOND"}`, () => {
      for (const seed of seedsFromEnv(30)) {
        const withArbiter = seed % 2 === 0;
        const delay = 1000 + (seed % 3) * 500;
        const { sim, facts, nodes } = world(seed, 2 + (seed % 2), { arbiter: withArbiter, failback, failbackDelayMs: delay });
        sim.run(3000);
        sim.check(moduleOf(sim, "n1")?.role === "PRIM", `n1 (preferred) is ${moduleOf(sim, "n1")?.role} at 3 s, expected PRIM`);
        sim.crash("n1");
        // With an arbiter: n1's lease runs out, then the takeover wait.
        sim.run(8000);
        const other = checkOneRunning(sim, facts, nodes.filter((x) => x !== "n1"));
        const back = 8000;
        sim.restart("n1");
        sim.run(back + 1000);
        const early = facts.transitions.filter((t) => t.node === "n1" && isPrimaryRole(t.to) && t.simTime >= back && t.simTime < back + delay);
        sim.check(early.length === 0, () => `n1 took the module back ${(early[0]?.simTime ?? 0) - back} ms after its return, before the ${delay} ms failback delay`);
        sim.run(back + 1000 + delay + 3000);
        const runner = checkOneRunning(sim, facts, nodes);
        if (failback === "auto") sim.check(runner === "n1", `failback auto: ${runner} runs the module, expected n1`);
        else sim.check(runner === other, `failback manual: ${runner} runs the module, expected ${other} to keep it`);
      }
    });
  }

  it("clean stop of the node that runs the module: another takes it without waiting for deadtime, even with the witness down; never two at once", () => {
    for (const seed of seedsFromEnv(40)) {
      const withArbiter = seed % 3 === 0;
      const { sim, facts, calm, nodes } = world(seed, 2 + (seed % 2), { arbiter: withArbiter });
      sim.run(3000);
      const runner = checkOneRunning(sim, facts, nodes);
      const others = nodes.filter((x) => x !== runner);
      // The witness is down for the others: a dead peer would leave them in WAIT, a stopped one does not.
      if (!withArbiter) for (const n of others) setWitness(sim, facts, calm, n, false);
      calm.disturb(sim);
      const stopAt = sim.now;
      cleanStop(sim, runner, sim.rng.int(20, 200), LINKS);
      sim.run(stopAt + 6000);
      const next = checkOneRunning(sim, facts, others);
      const took = facts.transitions.find((t) => t.node === next && isPrimaryRole(t.to) && t.simTime >= stopAt);
      sim.check(took !== undefined, `${next} never took the module after ${runner}'s clean stop`);
      if (!withArbiter) {
        // No deadtime wait: taken on the STOP advert or the goodbye, long before a dead verdict would allow it.
        sim.check(
          (took?.simTime ?? Infinity) - stopAt < timers.deadtimeMs,
          () => `${next} took the module ${(took?.simTime ?? 0) - stopAt} ms after ${runner}'s clean stop began (${took?.reason}: ${took?.detail})`,
        );
      }
    }
  });

  it("a node back from isolation leaves the module with the healthy PRIM, though its witness answers before its links", () => {
    for (const seed of seedsFromEnv(30)) {
      const { sim, facts, calm, nodes } = world(seed, 2 + (seed % 2), { arbiter: false });
      sim.run(3000);
      sim.check(moduleOf(sim, "n1")?.role === "PRIM", `n1 is ${moduleOf(sim, "n1")?.role} at 3 s, expected PRIM`);
      const isolateAt = sim.rng.int(3000, 3500);
      const backAt = isolateAt + sim.rng.int(1500, 3000);
      // Its links come back a moment after its witness: a witness round and a bit, within one or two heartbeats.
      const healAt = backAt + sim.rng.int(timing.checkMs, timing.checkMs + timers.intervalMs);
      const all = Array.from({ length: LINKS }, (_, i) => i);
      sim.at(isolateAt, "isolate n2, witness and all", (s) => {
        calm.disturb(s);
        calm.cuts = true;
        s.net.cut(["n2"], nodes.filter((x) => x !== "n2"), all);
        setWitness(s, facts, calm, "n2", false);
      });
      sim.at(backAt, "n2's witness answers again", (s) => setWitness(s, facts, calm, "n2", true));
      sim.at(healAt, "n2's links are back", (s) => {
        calm.disturb(s);
        s.net.heal();
        calm.cuts = false;
      });
      sim.run(healAt + 4000);
      const moved = facts.transitions.filter((t) => t.simTime >= isolateAt && (t.node === "n1" ? !isPrimaryRole(t.to) : isPrimaryRole(t.to)));
      sim.check(moved.length === 0, () => `the module moved after n2's isolation: ${moved.map((t) => `${t.node} ${t.from}->${t.to} at ${t.simTime} (${t.detail})`).join("; ")}`);
      const runner = checkOneRunning(sim, facts, nodes);
      sim.check(runner === "n1", `${runner} runs the module at the end, expected n1 to keep it`);
    }
  });

  it("failed starts: a node never takes the module back until cleared, and the rules above still hold", () => {
    for (const seed of seedsFromEnv(30)) {
      const { sim, facts, calm, nodes } = world(seed, 2 + (seed % 2), { arbiter: seed % 2 === 0, startFailure: 0.2 });
      sim.invariant("blocked nodes do not claim", (s, rec) => {
        if (rec.kind !== "step" || rec.node === ARBITER || rec.before.kind !== "member" || rec.after.kind !== "member") return;
        const claimed = !isPrimaryRole(rec.before.module.role) && isPrimaryRole(rec.after.module.role);
        if (claimed && rec.before.module.blocked !== null) throw new Error(`${rec.node} claimed the module although blocked: ${rec.before.module.blocked}`);
      });
      chaos(sim, facts, calm, nodes, 8000, { arbiter: seed % 2 === 0, longPauses: false });
      sim.run(12_000);
    }
  });
});
