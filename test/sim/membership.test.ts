/**
 * The membership core under simulation: 2, 3 and 5 nodes over 2 links with
 * loss, delay, reordering, duplication, partitions, crashes, paused nodes,
 * forged and replayed frames. The invariants in membership-invariants.ts run
 * after every step; each scenario adds its own end-of-run checks.
 *
 * Seeds: each scenario runs seeds 1..N (N below; SIM_SEEDS=<k> overrides);
 * SIM_SEED=<n> replays one seed, as printed in any failure.
 */
import { describe, expect, it } from "vitest";
import { startGraceSeqs, type HeartbeatTimers, type MembershipState, type PeerChangeEvent } from "../../src/core/membership/membership.ts";
import { Prng } from "./harness/prng.ts";
import { perfectLink } from "./harness/network.ts";
import { seedsFromEnv } from "./harness/seeds.ts";
import { installMembershipInvariants, MembershipTruth } from "./membership-invariants.ts";
import { createWorld, injectForgery, injectReplay, membershipConfig, noisyProfile, Recorder, type HbMsg, type MembershipSim, type WorldLog } from "./membership-world.ts";
import type { Envelope } from "./harness/sim.ts";

const timers: HeartbeatTimers = { intervalMs: 100, warntimeMs: 250, deadtimeMs: 500, initdeadMs: 1000 };
const LINKS = 2;
/** The daemon's start-up grace: one deadtime. */
const START_GRACE_MS = timers.deadtimeMs;

const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);

function world(seed: number, n: number, opts: { startAt?: Record<string, number> } = {}) {
  const nodes = names(n);
  const { sim, log } = createWorld({ seed, nodes, links: LINKS, timers, startGraceMs: START_GRACE_MS, profile: perfectLink, ...(opts.startAt === undefined ? {} : { startAt: opts.startAt }) });
  const seqs = startGraceSeqs(membershipConfig(nodes[0] ?? "n1", nodes, LINKS, timers));
  const truth = new MembershipTruth(LINKS, { ms: START_GRACE_MS, initdeadMs: timers.initdeadMs, seqs });
  installMembershipInvariants(sim, timers, truth);
  return { sim, log, truth, nodes };
}

function setNoisy(sim: MembershipSim, limits: { maxLoss: number; maxSpreadMs: number; maxDuplicate: number }): void {
  for (let link = 0; link < LINKS; link++) sim.net.setProfile(link, noisyProfile(sim, limits));
}

/** Two non-empty random sides. */
function split(sim: MembershipSim, nodes: readonly string[]): [string[], string[]] {
  const shuffled = sim.rng.shuffle(nodes);
  const k = sim.rng.int(1, nodes.length - 1);
  return [shuffled.slice(0, k), shuffled.slice(k)];
}

function peerEvents(log: WorldLog, filter: { observer?: string; node?: string; to?: string; reason?: string; after?: number; before?: number }) {
  return log.events.filter(
    (e): e is typeof e & { event: PeerChangeEvent } =>
      e.event.scope === "peer" &&
      (filter.observer === undefined || e.observer === filter.observer) &&
      (filter.node === undefined || e.event.node === filter.node) &&
      (filter.to === undefined || e.event.to === filter.to) &&
      (filter.reason === undefined || e.event.reason === filter.reason) &&
      (filter.after === undefined || e.simTime >= filter.after) &&
      (filter.before === undefined || e.simTime < filter.before),
  );
}

function pairs(a: readonly string[], b: readonly string[]): [string, string][] {
  return a.flatMap((x) => b.filter((y) => y !== x).map((y): [string, string] => [x, y]));
}

const SIZES = [2, 3, 5] as const;

describe("membership under simulation", () => {
  for (const n of SIZES) {
    it(`${n} nodes, noisy links (loss, delay, reordering, duplication), staggered starts`, () => {
      for (const seed of seedsFromEnv(150)) {
        const starts = Prng.fromSeed(seed);
        const startAt: Record<string, number> = {};
        for (const name of names(n)) startAt[name] = starts.int(0, 1500);
        const { sim, truth, nodes } = world(seed, n, { startAt });
        setNoisy(sim, { maxLoss: 0.3, maxSpreadMs: 150, maxDuplicate: 0.2 });
        sim.run(6000);
        for (const [o, p] of pairs(nodes, nodes)) {
          sim.check(truth.get(o, p).news !== null, `${o} never heard ${p} in 6 s`);
        }
      }
    });
  }

  it("one-link partition: degraded links, never a dead or late peer", () => {
    for (const seed of seedsFromEnv(100)) {
      const n = SIZES[seed % SIZES.length] ?? 2;
      const { sim, log, nodes } = world(seed, n);
      const cutLink = sim.rng.int(0, 1);
      sim.net.setProfile(cutLink, { ...noisyProfile(sim, { maxLoss: 0.1, maxSpreadMs: 80, maxDuplicate: 0.2 }) });
      sim.net.setProfile(1 - cutLink, { loss: 0, delayMs: [0, sim.rng.int(0, 50)], duplicate: sim.rng.range(0, 0.2) });
      const [left, right] = split(sim, nodes);
      const from = sim.rng.int(1000, 2000);
      const to = from + sim.rng.int(1000, 3000);
      sim.at(from, `cut link ${cutLink}: ${left} | ${right}`, (s) => s.net.partition([left, right], [cutLink]));
      sim.at(to, "heal", (s) => s.net.heal());
      sim.run(to + 2000);
      const bad = log.events.filter((e) => e.event.scope === "peer" && (e.event.to === "dead" || e.event.to === "late"));
      sim.check(bad.length === 0, () => `a one-link cut produced peer verdicts: ${bad.map((e) => `${e.observer}: ${e.event.detail}`).join("; ")}`);
      for (const [o, p] of [...pairs(left, right), ...pairs(right, left)]) {
        const linkEvents = log.events.filter((e) => e.observer === o && e.event.node === p && e.event.scope === "link" && e.event.link === cutLink);
        sim.check(
          linkEvents.some((e) => e.event.to === "down" && e.simTime >= from && e.simTime < to),
          `${o} never reported link ${cutLink} to ${p} down during the cut`,
        );
        sim.check(linkEvents.some((e) => e.event.to === "up" && e.simTime >= to), `${o} never reported link ${cutLink} to ${p} up after the heal`);
      }
    }
  });

  it("full partition: each side declares the other dead, and takes it back after the heal", () => {
    for (const seed of seedsFromEnv(100)) {
      const n = SIZES[seed % SIZES.length] ?? 2;
      const { sim, log, nodes } = world(seed, n);
      setNoisy(sim, { maxLoss: 0.1, maxSpreadMs: 80, maxDuplicate: 0.1 });
      const [left, right] = split(sim, nodes);
      const from = sim.rng.int(1000, 2000);
      const to = from + sim.rng.int(1000, 3000);
      sim.at(from, `partition ${left} | ${right}`, (s) => s.net.partition([left, right]));
      sim.at(to, "heal", (s) => s.net.heal());
      sim.run(to + 2000);
      for (const [o, p] of [...pairs(left, right), ...pairs(right, left)]) {
        sim.check(peerEvents(log, { observer: o, node: p, to: "dead", after: from, before: to + 200 }).length === 1, `${o} did not declare ${p} dead exactly once during the partition`);
        sim.check(peerEvents(log, { observer: o, node: p, reason: "heard-again", after: to }).length === 1, `${o} did not hear ${p} again after the heal`);
      }
      for (const o of nodes) {
        const dead = sim.node(o).state?.peers.filter((p) => p.state === "dead").map((p) => p.name) ?? [];
        sim.check(dead.length === 0, `${o} still says ${dead.join(", ")} dead 2 s after the heal`);
      }
    }
  });

  it("crash and restart: peers declare the node dead, then see it restart with a new epoch", () => {
    for (const seed of seedsFromEnv(100)) {
      const n = SIZES[seed % SIZES.length] ?? 2;
      // Quick restarts with slow links: frames of the old incarnation still
      // arrive after the new one's, and must be refused as stale.
      const quick = seed % 2 === 0;
      const { sim, log, nodes } = world(seed, n);
      setNoisy(sim, { maxLoss: 0.1, maxSpreadMs: quick ? 300 : 80, maxDuplicate: 0.1 });
      const victim = sim.rng.pick(nodes);
      const crashAt = sim.rng.int(1000, 2500);
      const restartAt = crashAt + (quick ? sim.rng.int(1, 300) : sim.rng.int(800, 2000));
      sim.at(crashAt, `crash ${victim}`, (s) => s.crash(victim));
      sim.at(restartAt, `restart ${victim}`, (s) => s.restart(victim));
      sim.run(restartAt + 2000);
      for (const o of nodes.filter((x) => x !== victim)) {
        if (!quick) {
          sim.check(peerEvents(log, { observer: o, node: victim, to: "dead", after: crashAt, before: restartAt }).length === 1, `${o} did not declare crashed ${victim} dead`);
        }
        sim.check(peerEvents(log, { observer: o, node: victim, reason: "restarted", after: restartAt }).length === 1, `${o} did not report ${victim}'s restart exactly once`);
        sim.check(peerEvents(log, { observer: victim, node: o, reason: "first-heard", after: restartAt }).length === 1, `restarted ${victim} did not hear ${o}`);
      }
    }
  });

  it("start-up grace: a restarted node that stalls in its start-up for less than 2 x deadtime is not called dead; longer, or once its start-up is over, it is", () => {
    for (const seed of seedsFromEnv(100)) {
      const n = SIZES[seed % SIZES.length] ?? 2;
      const { sim, log, nodes } = world(seed, n);
      // No loss: a lost last frame would lengthen the silence the peers hear by an interval.
      for (let link = 0; link < LINKS; link++) sim.net.setProfile(link, { loss: 0, delayMs: [0, sim.rng.int(0, 30)], duplicate: sim.rng.range(0, 0.2) });
      const victim = sim.rng.pick(nodes);
      const restartAt = sim.rng.int(1500, 2500);
      // Kinds: 0 a stall past deadtime within the grace (no verdict), 1 a stall past the grace (dead), 2 the first kind once the start-up is over (dead).
      const kind = seed % 3;
      const stallAt = restartAt + (kind === 2 ? timers.initdeadMs + sim.rng.int(100, 500) : sim.rng.int(50, 400));
      const stallMs = kind === 1 ? sim.rng.int(1100, 2500) : sim.rng.int(620, 850);
      sim.at(restartAt, `restart ${victim}`, (s) => s.restart(victim));
      sim.at(stallAt, `pause ${victim}`, (s) => s.pause(victim));
      sim.at(stallAt + stallMs, `resume ${victim}`, (s) => s.resume(victim));
      sim.run(stallAt + stallMs + 2000);
      for (const o of nodes.filter((x) => x !== victim)) {
        const dead = peerEvents(log, { observer: o, node: victim, to: "dead", after: restartAt });
        const what = `${o} on ${victim} stalled ${stallMs} ms at ${stallAt - restartAt} ms after its restart`;
        if (kind === 0) sim.check(dead.length === 0, () => `${what}: dead verdicts ${dead.map((e) => e.event.detail).join("; ")}`);
        else sim.check(dead.length === 1 && (dead[0]?.simTime ?? Infinity) < stallAt + stallMs, `${what}: ${dead.length} dead verdicts, expected one before it resumed`);
        if (kind === 1) sim.check(dead[0]?.event.detail.includes("start-up grace") === true, `${what}: the verdict does not name the start-up grace`);
        sim.check(sim.node(o).state?.peers.find((p) => p.name === victim)?.state === "up", `${o} does not see ${victim} up at the end`);
      }
    }
  });

  it("clean stop: peers that hear the goodbye say stopped at once, never dead; only a node that said goodbye is ever stopped; its restart is heard; replayed goodbyes change nothing", () => {
    let replays = 0;
    for (const seed of seedsFromEnv(100)) {
      const n = SIZES[seed % SIZES.length] ?? 2;
      const noisy = seed % 3 !== 0;
      const { sim, log, nodes } = world(seed, n);
      if (noisy) setNoisy(sim, { maxLoss: 0.2, maxSpreadMs: 80, maxDuplicate: 0.2 });
      const victim = sim.rng.pick(nodes);
      const stopAt = sim.rng.int(1500, 2500);
      // The daemon says goodbye at its next wake-up, then its process ends a little later.
      const exitAt = stopAt + sim.rng.int(120, 300);
      const restartAt = exitAt + sim.rng.int(1000, 2000);
      sim.invariant("stopped only after a goodbye", (s) => {
        for (const o of s.nodes.values()) {
          for (const p of o.state?.peers ?? []) {
            if (p.state === "stopped" && log.saidGoodbye.get(p.name) === undefined) throw new Error(`${o.name} says ${p.name} stopped, which never said goodbye`);
          }
        }
      });
      // Goodbye frames as delivered, for an attacker to replay once the node is back.
      const goodbyes: { to: string; env: Envelope<HbMsg> }[] = [];
      sim.invariant("record goodbyes", (_s, rec) => {
        if (rec.kind === "step" && rec.envelope !== null && rec.envelope.tag === "genuine" && rec.event.type === "frame" && rec.event.frame.leaving === true) {
          goodbyes.push({ to: rec.node, env: rec.envelope });
        }
      });
      sim.at(stopAt, `stop ${victim} cleanly`, () => log.stopping.add(victim));
      sim.at(exitAt, `${victim} exits`, (s) => s.crash(victim));
      sim.at(restartAt, `restart ${victim}`, (s) => s.restart(victim));
      for (let i = 0; i < 10; i++) {
        sim.at(restartAt + sim.rng.int(300, 1800), "replay a goodbye", (s) => {
          const g = goodbyes.length === 0 ? undefined : s.rng.pick(goodbyes);
          if (g === undefined) return;
          s.inject({ from: "attacker", to: g.to, link: g.env.link, msg: g.env.msg, tag: "replayed" });
          replays++;
        });
      }
      sim.run(restartAt + 2000);
      for (const o of nodes.filter((x) => x !== victim)) {
        sim.check(sim.node(o).state?.peers.find((p) => p.name === victim)?.state === "up", `${o} does not see restarted ${victim} up after replayed goodbyes`);
      }
      for (const o of nodes.filter((x) => x !== victim)) {
        const stopped = peerEvents(log, { observer: o, node: victim, to: "stopped", after: stopAt, before: restartAt });
        const dead = peerEvents(log, { observer: o, node: victim, to: "dead", after: stopAt, before: restartAt });
        // Every goodbye frame may be lost on a noisy wire: then it is dead after deadtime, as before.
        sim.check(stopped.length + dead.length === 1, `${o} gave ${victim} ${stopped.length} stopped and ${dead.length} dead verdicts after its clean stop`);
        if (!noisy) sim.check(stopped.length === 1 && (stopped[0]?.simTime ?? Infinity) < exitAt, `${o} did not mark ${victim} stopped before it exited, on a perfect wire`);
        sim.check(peerEvents(log, { observer: o, node: victim, to: "up", reason: "restarted", after: restartAt }).length === 1, `${o} did not hear ${victim} come back`);
      }
    }
    expect(replays).toBeGreaterThan(100);
  });

  it("paused node: peers declare it dead; on resume it blames nobody and is heard again", () => {
    for (const seed of seedsFromEnv(100)) {
      const n = SIZES[seed % SIZES.length] ?? 2;
      const { sim, log, nodes } = world(seed, n);
      setNoisy(sim, { maxLoss: 0.1, maxSpreadMs: 80, maxDuplicate: 0.1 });
      const frozen = sim.rng.pick(nodes);
      const pauseAt = sim.rng.int(1000, 2000);
      const resumeAt = pauseAt + sim.rng.int(1000, 4000);
      sim.at(pauseAt, `pause ${frozen}`, (s) => s.pause(frozen));
      sim.at(resumeAt, `resume ${frozen}`, (s) => s.resume(frozen));
      sim.run(resumeAt + 2000);
      const blamed = peerEvents(log, { observer: frozen, after: pauseAt }).filter((e) => e.event.to !== "up");
      sim.check(blamed.length === 0, () => `frozen ${frozen} blamed its peers: ${blamed.map((e) => e.event.detail).join("; ")}`);
      sim.check(log.stalls.some((x) => x.node === frozen && x.simTime === resumeAt), `${frozen} reported no stall on resume`);
      for (const o of nodes.filter((x) => x !== frozen)) {
        sim.check(peerEvents(log, { observer: o, node: frozen, to: "dead", after: pauseAt, before: resumeAt }).length === 1, `${o} did not declare paused ${frozen} dead`);
        sim.check(peerEvents(log, { observer: o, node: frozen, reason: "heard-again", after: resumeAt }).length === 1, `${o} did not hear ${frozen} again after resume`);
      }
    }
  });

  it("forged and replayed frames (also of an earlier epoch) never change any node's beliefs", () => {
    for (const seed of seedsFromEnv(100)) {
      const n = seed % 2 === 0 ? 3 : 5;
      const { sim, nodes } = world(seed, n);
      setNoisy(sim, { maxLoss: 0.2, maxSpreadMs: 150, maxDuplicate: 0.2 });
      const recorder = new Recorder(sim);
      let forged = 0;
      let replayed = 0;
      let forgedDropped = 0;
      let replaysProcessed = 0;
      const replayRejections = (st: MembershipState) =>
        Object.values(st.counters.peers).reduce((sum, c) => sum + c.rejected["old-seq"] + c.rejected["stale-epoch"], 0);
      sim.invariant("count attacks", (_s, rec) => {
        if (rec.kind === "drop" && rec.envelope.tag === "forged") forgedDropped++;
        if (rec.kind === "step" && rec.envelope?.tag === "replayed") {
          replaysProcessed++;
          const counted = replayRejections(rec.after) - replayRejections(rec.before);
          if (counted !== 1) throw new Error(`replay #${rec.envelope.id} to ${rec.node} was counted ${counted} times as old-seq/stale-epoch`);
        }
      });
      // A restart midway gives the attacker frames of an earlier epoch to replay.
      const restarted = sim.rng.pick(nodes);
      sim.at(sim.rng.int(1500, 3000), `restart ${restarted}`, (s) => s.restart(restarted));
      for (let i = 0; i < 60; i++) {
        sim.at(sim.rng.int(300, 5500), "forge", (s) => {
          if (injectForgery(s, recorder, [...nodes, "intruder"])) forged++;
        });
        sim.at(sim.rng.int(300, 5500), "replay", (s) => {
          if (injectReplay(s, recorder)) replayed++;
        });
      }
      sim.run(6000);
      sim.check(forged > 0 && forgedDropped === forged, `${forged} forgeries injected but ${forgedDropped} dropped by the codec`);
      sim.check(replayed > 0 && replaysProcessed === replayed, `${replayed} replays injected but ${replaysProcessed} reached a core`);
    }
  });

  it("chaos: crashes, pauses, partitions, forgeries and replays at random on 5 nodes", () => {
    for (const seed of seedsFromEnv(100)) {
      const { sim, nodes } = world(seed, 5);
      setNoisy(sim, { maxLoss: 0.3, maxSpreadMs: 200, maxDuplicate: 0.2 });
      const recorder = new Recorder(sim);
      for (let t = sim.rng.int(200, 800); t < 7000; t += sim.rng.int(200, 800)) {
        sim.at(t, "chaos", (s) => {
          const target = s.rng.pick(nodes);
          const node = s.node(target);
          switch (s.rng.int(0, 7)) {
            case 0:
              if (node.alive) s.crash(target);
              else s.restart(target);
              break;
            case 1:
              if (node.paused) s.resume(target);
              else s.pause(target);
              break;
            case 2: {
              const [a, b] = split(s, nodes);
              s.net.partition([a, b], s.rng.chance(0.5) ? [s.rng.int(0, LINKS - 1)] : undefined);
              break;
            }
            case 3:
              s.net.heal();
              break;
            case 4:
              injectForgery(s, recorder, nodes);
              break;
            default:
              injectReplay(s, recorder);
          }
        });
      }
      sim.run(8000);
    }
  });
});
