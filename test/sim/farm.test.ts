/**
 * Farm simulation: every bucket has exactly one live holder once membership is
 * stable, and no bucket ever has two reachable holders, through kills,
 * restarts, frozen daemons, link failures, cuts with carrier up, checker
 * failures and drains with lossy, delayed adverts.
 */
import { describe, expect, it } from "vitest";
import { bucketCounts, quotas } from "../../src/core/farm/ownership.ts";
import { tableOf } from "../../src/core/farm/farm.ts";
import type { FarmCoreConfig } from "../../src/core/farm/types.ts";
import { DEADTIME, FarmWorld, INTERVAL } from "./farm-world.ts";
import { replayCommand, seedsFromEnv } from "./harness/seeds.ts";

function configs(weights: readonly number[], witness = false): FarmCoreConfig[] {
  const nodes = weights.map((weight, i) => ({ name: `n${i + 1}`, weight }));
  return nodes.map((_, self) => ({ module: "web", nodes, self, ownershipSeed: 0x5eed1234, drainTimeoutMs: 2000, witness }));
}

function failure(seed: number, w: FarmWorld, problems: readonly string[]): string {
  const v = w.violations.slice(0, 3).map((x) => `${x.at} ms: ${x.what}`);
  return `seed ${seed}: ${[...problems, ...v].join("; ")}\nreplay: ${replayCommand(seed)}`;
}

describe("farm simulation", () => {
  it.each(seedsFromEnv(10))("three nodes 1:2:1 start together and split by weight (seed %i)", (seed) => {
    const cfgs = configs([1, 2, 1]);
    const w = new FarmWorld(cfgs, seed, { strict: true });
    for (let i = 0; i < 3; i++) w.start(i);
    w.runUntil(3000);
    const problems = w.stableProblems();
    expect(problems, failure(seed, w, problems)).toEqual([]);
    expect(w.violations, failure(seed, w, [])).toEqual([]);
    const counts = w.nodes.map((n) => n.kernelHeld.length);
    expect(counts).toEqual(quotas(cfgs[0]!.nodes, 0b111));
  });

  // Several faults can overlap here, so two nodes may briefly see a third
  // differently; a double holder counts as a violation only while membership
  // agrees (FarmWorld.membershipAgrees).
  it.each(seedsFromEnv(20))("faults: kills, restarts, link loss, checkers and drains (seed %i)", (seed) => {
    const n = 3 + (seed % 4);
    const cfgs = configs(Array.from({ length: n }, (_, i) => 1 + (i % 3)));
    const w = new FarmWorld(cfgs, seed, { loss: 0.15 });
    for (let i = 0; i < n; i++) w.start(i);
    w.runUntil(3000);
    w.randomFaults(30);
    // Heal everything, then let membership settle.
    w.nodes.forEach((x, i) => {
      if (!x.running) w.start(i);
      if (!x.linked) w.linkUp(i);
      w.deliver(i, { type: "health", healthy: true, detail: "sim" }, w.now);
      if (x.state.mode === "stopped") w.deliver(i, { type: "start" }, w.now);
    });
    w.runUntil(w.now + 5000);
    const problems = w.stableProblems();
    expect(problems, failure(seed, w, problems)).toEqual([]);
    expect(w.violations, failure(seed, w, [])).toEqual([]);
    // Settled on the full view: everyone holds exactly its quota.
    const full = (2 ** n - 1) >>> 0;
    expect(w.nodes.map((x) => x.kernelHeld.length)).toEqual(bucketCounts(tableOf(cfgs[0]!), full));
  });

  it.each(seedsFromEnv(10))("a killed node's buckets go to the others; back, it takes exactly its own (seed %i)", (seed) => {
    const cfgs = configs([1, 1, 1, 1]);
    const w = new FarmWorld(cfgs, seed, { loss: 0.1, strict: true });
    for (let i = 0; i < 4; i++) w.start(i);
    w.runUntil(3000);
    const before = w.nodes.map((x) => [...x.kernelHeld]);
    w.kill(2);
    w.runUntil(w.now + 2000);
    expect(w.stableProblems(), failure(seed, w, w.stableProblems())).toEqual([]);
    expect(w.nodes[2]!.kernelHeld).toEqual([]);
    w.start(2);
    w.runUntil(w.now + 4000);
    expect(w.stableProblems(), failure(seed, w, w.stableProblems())).toEqual([]);
    expect(w.nodes.map((x) => x.kernelHeld)).toEqual(before);
    expect(w.violations, failure(seed, w, [])).toEqual([]);
  });

  it.each(seedsFromEnv(10))("a node's link goes down and comes back; a drained node hands over; a failing checker takes a node out (seed %i)", (seed) => {
    const cfgs = configs([1, 1, 1]);
    const w = new FarmWorld(cfgs, seed, { loss: 0.1, strict: true });
    for (let i = 0; i < 3; i++) w.start(i);
    w.runUntil(3000);
    const before = w.nodes.map((x) => [...x.kernelHeld]);
    w.linkDown(0);
    w.runUntil(w.now + 2000);
    expect(w.stableProblems(), failure(seed, w, w.stableProblems())).toEqual([]);
    w.linkUp(0);
    w.runUntil(w.now + 3000);
    expect(w.nodes.map((x) => x.kernelHeld), failure(seed, w, [])).toEqual(before);

    w.deliver(1, { type: "health", healthy: false, detail: "tcp 127.0.0.1:80 refused" }, w.now);
    w.runUntil(w.now + 2000);
    expect(w.stableProblems(), failure(seed, w, w.stableProblems())).toEqual([]);
    expect(w.nodes[1]!.kernelHeld).toEqual([]);
    expect(w.nodes[1]!.state.mode).toBe("out");
    w.deliver(1, { type: "health", healthy: true, detail: "ok" }, w.now);
    w.runUntil(w.now + 2000);
    expect(w.nodes.map((x) => x.kernelHeld), failure(seed, w, [])).toEqual(before);

    w.deliver(2, { type: "drain" }, w.now);
    w.runUntil(w.now + 3000);
    expect(w.stableProblems(), failure(seed, w, w.stableProblems())).toEqual([]);
    expect(w.nodes[2]!.state.mode).toBe("stopped");
    w.deliver(2, { type: "start" }, w.now);
    w.runUntil(w.now + 3000);
    expect(w.nodes.map((x) => x.kernelHeld), failure(seed, w, [])).toEqual(before);
    expect(w.violations, failure(seed, w, [])).toEqual([]);
  });

  // A fault on one node of three, for `lasts` ms, then healed: every write is
  // checked (no bucket ever has two holders), and once settled each node holds
  // exactly what it held before. `during` checks the world just before the heal.
  const faultsHealed: readonly {
    what: string;
    /** cluster.witness.ping set (the witness sits on the clients' switch: a cut node cannot reach it). */
    witness?: boolean;
    fault: (w: FarmWorld) => void;
    lasts: number;
    during?: (w: FarmWorld) => void;
    heal: (w: FarmWorld) => void;
  }[] = [
    {
      what: "a frozen daemon's node stops answering before the others take its buckets; resumed, it rejoins",
      fault: (w) => w.freeze(2),
      lasts: 2000,
      // Its core still believes it holds its share; the kernel stopped accepting it.
      during: (w) => expect(w.nodes[2]!.state.held.length).toBeGreaterThan(0),
      heal: (w) => w.thaw(2),
    },
    {
      what: "a short stall (longer than the lease, shorter than the deadtime): the node lets go and takes its share back",
      fault: (w) => w.freeze(1),
      lasts: DEADTIME - 2 * INTERVAL,
      heal: (w) => w.thaw(1),
    },
    {
      what: "a node whose link goes down holds nothing, and nothing when it returns until it has heard its peers",
      fault: (w) => w.linkDown(0),
      lasts: 2000,
      during: (w) => {
        expect(w.nodes[0]!.kernelHeld).toEqual([]);
        expect(w.nodes[0]!.state.peers.filter((p) => p.live === "dead").length).toBe(2);
      },
      heal: (w) => w.linkUp(0),
    },
    {
      what: "with a witness, a node cut off with its carrier up holds nothing, and clients reaching it again before any heartbeat find no bucket held twice",
      witness: true,
      fault: (w) => w.cut(0),
      lasts: 2000,
      during: (w) => expect(w.nodes[0]!.kernelHeld).toEqual([]),
      heal: (w) => w.heal(0),
    },
  ];

  it.each(faultsHealed.flatMap((c) => seedsFromEnv(10).map((seed) => ({ ...c, seed }))))("$what (seed $seed)", ({ witness, fault, lasts, during, heal, seed }) => {
    const cfgs = configs([1, 1, 1], witness);
    const w = new FarmWorld(cfgs, seed, { loss: 0.1, strict: true });
    for (let i = 0; i < 3; i++) w.start(i);
    w.runUntil(3000);
    const before = w.nodes.map((x) => [...x.kernelHeld]);
    fault(w);
    w.runUntil(w.now + lasts);
    if (during !== undefined) {
      during(w);
      expect(w.stableProblems(), failure(seed, w, w.stableProblems())).toEqual([]);
    }
    heal(w);
    w.runUntil(w.now + 4000);
    expect(w.stableProblems(), failure(seed, w, w.stableProblems())).toEqual([]);
    expect(w.nodes.map((x) => x.kernelHeld), failure(seed, w, [])).toEqual(before);
    expect(w.violations, failure(seed, w, [])).toEqual([]);
  });

  it.each(seedsFromEnv(10))("without a witness, a node cut off with its carrier up serves every bucket; once the cut heals, buckets have two holders for at most a heartbeat round, then each node holds its share again (seed %i)", (seed) => {
    const cfgs = configs([1, 1, 1]);
    const w = new FarmWorld(cfgs, seed, { loss: 0.1, strict: true });
    for (let i = 0; i < 3; i++) w.start(i);
    w.runUntil(3000);
    const before = w.nodes.map((x) => [...x.kernelHeld]);
    w.cut(0);
    w.runUntil(w.now + 2000);
    // Both sides serve everything: the cut node alone, its peers between them.
    expect(w.nodes[0]!.kernelHeld.length, failure(seed, w, [])).toBe(256);
    expect(w.nodes[0]!.state.detail).toContain("serving alone");
    expect(w.stableProblems(), failure(seed, w, w.stableProblems())).toEqual([]);
    expect(w.violations, failure(seed, w, [])).toEqual([]);
    const healedAt = w.now;
    w.heal(0);
    w.runUntil(w.now + 4000);
    expect(w.stableProblems(), failure(seed, w, w.stableProblems())).toEqual([]);
    expect(w.nodes.map((x) => x.kernelHeld), failure(seed, w, [])).toEqual(before);
    // The cost: from the heal until both sides have heard each other (one heartbeat, 5-55 ms here, plus an advert).
    expect(w.violations.length, failure(seed, w, [])).toBeGreaterThan(0);
    expect(w.violations.filter((v) => v.at > healedAt + INTERVAL), failure(seed, w, [])).toEqual([]);
  });

  it.each(seedsFromEnv(10))("a stopping node's buckets are taken at once, not after the deadtime (seed %i)", (seed) => {
    const cfgs = configs([1, 2, 1, 1]);
    const w = new FarmWorld(cfgs, seed, { loss: 0, strict: true });
    for (let i = 0; i < 4; i++) w.start(i);
    w.runUntil(3000);
    // Its last heartbeat carries its "stopped" advert; then the heartbeat stops.
    w.deliver(2, { type: "stop" }, w.now);
    w.runUntil(w.now);
    w.stopHeartbeat(2);
    w.runUntil(w.now + DEADTIME - INTERVAL);
    expect(w.nodes[2]!.kernelHeld).toEqual([]);
    expect(w.stableProblems(), failure(seed, w, w.stableProblems())).toEqual([]);
    expect(w.nodes.map((x) => x.kernelHeld.length)).toEqual(bucketCounts(tableOf(cfgs[0]!), 0b1011));
    expect(w.violations, failure(seed, w, [])).toEqual([]);
  });
});
