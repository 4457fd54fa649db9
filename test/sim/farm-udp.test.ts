/**
 * Farm simulation of UDP flows and of isolation with carrier up. Every node's
 * kernel memory of flows is modelled as the table's rules keep it
 * (FarmWorld.datagram), fed by the owners the core computes (flows.ts):
 *
 * - no datagram is ever answered by two nodes;
 * - a flow stays with the node that first answered it through joins, kills,
 *   restarts and drains of other nodes, as long as that node lives;
 * - the flows of a node that dies go to their buckets' new holders;
 * - with a witness it cannot reach, a node cut off with its carrier up holds
 *   nothing, and when the cut heals (clients reach it before any heartbeat
 *   does) no bucket has two holders;
 * - without a witness, the cut node serves every bucket and flow while cut
 *   off, and once the cut heals every flow is answered by one node again.
 */
import { describe, expect, it } from "vitest";
import { witnessesOf } from "../../src/core/farm/deaths.ts";
import { tableOf } from "../../src/core/farm/farm.ts";
import { hasMember } from "../../src/core/farm/members.ts";
import { owners } from "../../src/core/farm/ownership.ts";
import type { FarmCoreConfig } from "../../src/core/farm/types.ts";
import { DEADTIME, FarmWorld, INTERVAL, LEASE } from "./farm-world.ts";
import { replayCommand, seedsFromEnv } from "./harness/seeds.ts";
import { Prng } from "./harness/prng.ts";

function configs(n: number, witness = false): FarmCoreConfig[] {
  const nodes = Array.from({ length: n }, (_, i) => ({ name: `n${i + 1}`, weight: 1 }));
  return nodes.map((_, self) => ({ module: "web", nodes, self, ownershipSeed: 0x5eed1234, drainTimeoutMs: 2000, learnMs: DEADTIME, reportWaitMs: 10 * DEADTIME, witness }));
}

interface Flow {
  readonly id: number;
  readonly bucket: number;
  /** The node that answered it last, and that node's daemon epoch then. */
  answerer?: number;
  epoch?: number;
}

/** Client traffic: every flow sends a datagram every `every` ticks of 20 ms (60 ms by default) while the world runs. */
class Traffic {
  readonly problems: string[] = [];
  readonly flows: Flow[];
  /** Datagrams that went unanswered (allowed while buckets move), and their flows. */
  unanswered = 0;
  readonly unansweredFlows = new Set<number>();

  constructor(
    readonly w: FarmWorld,
    count: number,
    seed: number,
    readonly every = 3,
  ) {
    const rng = Prng.fromSeed(seed ^ 0x55aa);
    this.flows = Array.from({ length: count }, (_, id) => ({ id, bucket: rng.nextU32() % 256 }));
  }

  /** Whether node i still serves what it answered at `epoch`: same daemon, reachable, running its farm. */
  private lives(i: number, epoch: number): boolean {
    const n = this.w.nodes[i];
    return n !== undefined && n.running && n.epoch === epoch && n.linked && !n.frozen && n.table && n.state.mode !== "wait";
  }

  run(ms: number): void {
    const end = this.w.now + ms;
    for (let tick = 0; this.w.now < end; tick++) {
      this.w.runUntil(Math.min(end, this.w.now + 20));
      for (const f of this.flows) if ((tick + f.id) % this.every === 0) this.send(f);
    }
  }

  private send(f: Flow): void {
    const a = this.w.datagram(f.id, f.bucket);
    if (a.length > 1) this.problems.push(`${this.w.now} ms: flow ${f.id} answered by ${a.map((i) => `n${i + 1}`).join(" and ")}`);
    const by = a[0];
    if (by === undefined) {
      this.unanswered++;
      this.unansweredFlows.add(f.id);
      return;
    }
    if (f.answerer !== undefined && f.answerer !== by && f.epoch !== undefined && this.lives(f.answerer, f.epoch)) {
      this.problems.push(`${this.w.now} ms: flow ${f.id} moved from n${f.answerer + 1} to n${by + 1}, which still serves`);
    }
    f.answerer = by;
    f.epoch = this.w.nodes[by]?.epoch ?? 0;
  }

  /** Datagrams left unanswered over the next `ms`, counted afresh (the moves before are over). */
  unansweredOver(ms: number): number {
    this.unanswered = 0;
    this.unansweredFlows.clear();
    this.run(ms);
    return this.unanswered;
  }

  /** Answerers now: flow id to node. */
  snapshot(): Map<number, number | undefined> {
    return new Map(this.flows.map((f) => [f.id, f.answerer]));
  }
}

function failure(seed: number, w: FarmWorld, t: Traffic | undefined): string {
  const v = w.violations.slice(0, 3).map((x) => `${x.at} ms: ${x.what}`);
  const silent = [...(t?.unansweredFlows ?? [])].slice(0, 3).map((id) => {
    const f = t?.flows[id];
    const records = w.nodes.map((n, i) => `n${i + 1} ${n.flows.get(id) ?? "-"}${n.kernelHeld.includes(f?.bucket ?? -1) ? " holds" : ""}`).join(", ");
    return `flow ${id} (bucket ${f?.bucket}, last n${(f?.answerer ?? -1) + 1}) unanswered: ${records}`;
  });
  return `seed ${seed}: ${[...(t?.problems.slice(0, 3) ?? []), ...v, ...silent].join("; ")}\nreplay: ${replayCommand(seed)}`;
}

/** A farm under client traffic: its world, its flows, and what a failed check says. */
interface Run {
  readonly cfgs: FarmCoreConfig[];
  readonly w: FarmWorld;
  readonly t: Traffic;
  /** The failure message: the first problems and violations, the flows left unanswered, the replay command. */
  why(): string;
}

/**
 * `n` nodes (`start`: only those) started and run for 3 s, ten per cent of
 * datagrams lost, with `flows` client flows that send only while the test runs them.
 */
function farmOf(seed: number, n: number, flows: number, opts: { witness?: boolean; readMs?: number; start?: number[]; every?: number } = {}): Run {
  const cfgs = configs(n, opts.witness);
  const w = new FarmWorld(cfgs, seed, { loss: 0.1, strict: true, ...(opts.readMs === undefined ? {} : { readMs: opts.readMs }) });
  const t = new Traffic(w, flows, seed, opts.every);
  for (const i of opts.start ?? cfgs.keys()) w.start(i);
  w.runUntil(3000);
  return { cfgs, w, t, why: () => failure(seed, w, t) };
}

/** The buckets each node's kernel holds now. */
const held = (w: FarmWorld): number[][] => w.nodes.map((x) => [...x.kernelHeld]);

/**
 * No datagram was answered twice and no flow moved off a node that still
 * serves, and the world saw no violation; `stable`: the nodes agree on who
 * holds what; `answered`: over 500 ms more, no datagram goes unanswered.
 */
/**
 * Three nodes whose tables are read slowly (1 s); n3 freezes, n2 freezes just
 * before n3's lease runs out, and n3 resumes past it: n3 has forgotten its
 * flows, and n2 is seen dead late, as the real membership of a stalled node
 * sees it (it credits its own stall to the peers' deadlines).
 */
function n3StalledPastItsLease(seed: number): Run {
  const r = farmOf(seed, 3, 300, { readMs: 1000 });
  const { w, t } = r;
  t.run(1000);
  w.freeze(2);
  t.run(LEASE - 50);
  w.freeze(1);
  t.run(100 + (seed % 5) * 10);
  w.thaw(2);
  return r;
}

function expectSound(r: Run, check: { stable?: boolean; answered?: boolean } = {}): void {
  expect(r.t.problems, r.why()).toEqual([]);
  expect(r.w.violations, r.why()).toEqual([]);
  if (check.stable === true) expect(r.w.stableProblems(), r.why()).toEqual([]);
  if (check.answered === true) expect(r.t.unansweredOver(500), r.why()).toBe(0);
}

/**
 * Two nodes serving 200 flows, then n2 crashes: n1 serves every bucket
 * alone and every flow is answered. `before`: the buckets each held first.
 */
function pairWhoseSecondCrashed(seed: number, witness: boolean): Run & { before: number[][] } {
  const r = farmOf(seed, 2, 200, { witness });
  const { w, t } = r;
  t.run(500);
  const before = held(w);
  w.kill(1);
  t.run(2000);
  expect(w.nodes[0]!.kernelHeld.length, r.why()).toBe(256);
  expect(w.nodes[0]!.state.detail).toContain("serving alone");
  expect(t.unansweredOver(500), r.why()).toBe(0);
  return { ...r, before };
}

describe("farm simulation: UDP flows and isolation", () => {
  it.each(seedsFromEnv(10))("UDP flows stay with their node through a join, a kill, a restart and a drain; a dead node's go to the new holders (seed %i)", (seed) => {
    const r = farmOf(seed, 4, 400, { start: [0, 1, 2] });
    const { cfgs, w, t, why } = r;
    t.run(1000);
    expect(t.problems, why()).toEqual([]);
    expect(t.flows.every((f) => f.answerer !== undefined), why()).toBe(true);

    // n4 joins: it takes a share of the buckets, but none of the flows.
    const beforeJoin = t.snapshot();
    w.start(3);
    t.run(4000);
    expect(t.problems, why()).toEqual([]);
    expect(t.snapshot(), why()).toEqual(beforeJoin);
    expect(w.stableProblems(), why()).toEqual([]);

    // n2 dies: its flows go to the holders of their buckets; nobody else's move.
    const beforeKill = t.snapshot();
    w.kill(1);
    t.run(3000);
    expect(t.problems, why()).toEqual([]);
    const holder = owners(tableOf(cfgs[0]!), 0b1101);
    for (const f of t.flows) {
      const was = beforeKill.get(f.id);
      expect(f.answerer, why()).toBe(was === 1 ? holder[f.bucket] : was);
    }

    // n2 comes back: its buckets return to it; every flow stays where it is.
    const beforeReturn = t.snapshot();
    w.start(1);
    t.run(4000);
    expect(t.problems, why()).toEqual([]);
    expect(t.snapshot(), why()).toEqual(beforeReturn);
    expect(w.stableProblems(), why()).toEqual([]);

    // n3 drains: it keeps its flows until it stops, then they go to their buckets' holders.
    w.deliver(2, { type: "drain" }, w.now);
    t.run(3000);
    expect(w.nodes[2]!.state.mode).toBe("stopped");
    expectSound(r, { answered: true });
  });

  it.each(seedsFromEnv(10))("a node that returns is told the flows its peers kept outside their buckets: after n2 dies and returns and n3 is cut off, no flow is answered twice (seed %i)", (seed) => {
    // At n2's death the quotas move a few buckets between n1 and n3 too; the flows n1 keeps
    // there look, to a node that only watches, like n3's. Once n3 is cut off, n2 gets some of
    // those buckets: had it credited their flows to n3, it would answer them beside n1.
    const r = farmOf(seed, 3, 400, { witness: true });
    const { w, t } = r;
    t.run(1000);
    w.kill(1);
    t.run(3000);
    const beforeReturn = t.snapshot();
    w.start(1);
    t.run(3000);
    expect(t.snapshot(), r.why()).toEqual(beforeReturn);
    w.cut(2);
    t.run(3000);
    w.heal(2);
    t.run(3000);
    expectSound(r, { stable: true });
  });

  it.each(seedsFromEnv(10))("with a witness, a cut that heals while the round asked as n3 fell alone still waits on it: n3 does not take every bucket before it hears its peers (seed %i)", (seed) => {
    // The round's ping waited on the cut and gets through as it heals, a few ms before the
    // peers' frames: counted as the witness answering from the start of the round, it gave
    // n3 every bucket, and its peers gave up theirs to it.
    const r = farmOf(seed, 3, 400, { witness: true });
    const { w, t } = r;
    t.run(1000);
    w.cut(2);
    t.run(1100 + (seed % 5) * 100);
    w.heal(2);
    t.run(3000);
    expectSound(r, { stable: true });
  });

  it.each(seedsFromEnv(10))("checker verdicts flipping 20 ms to 1.8 s apart while new flows start: in the end no flow is unanswered and none answered twice (seed %i)", (seed) => {
    // A flow whose first datagram comes while its bucket changes hands can be credited to a node
    // that never takes the bucket (unanswered), or reach no table but its taker's (answered twice
    // once the bucket moves on). Gaining buckets, a node checks the flows it leaves to peers
    // (the peer named disclaims those it does not answer, to every node) and asks the peers for theirs.
    // The flows here are its own, new ones starting all the while.
    const { w } = farmOf(seed, 3, 0, { witness: true });
    const rng = Prng.fromSeed(seed ^ 0x55aa);
    const flows: { id: number; bucket: number; last: number; lastDouble: number }[] = [];
    let tick = 0;
    const go = (ms: number): void => {
      const end = w.now + ms;
      for (; w.now < end; tick++) {
        w.runUntil(Math.min(end, w.now + 20));
        for (let k = 0; k < 2; k++) flows.push({ id: flows.length, bucket: rng.nextU32() % 256, last: w.now, lastDouble: -Infinity });
        for (const f of flows) {
          if ((tick + f.id) % 3 !== 0) continue;
          const a = w.datagram(f.id, f.bucket);
          if (a.length > 0) f.last = w.now;
          if (a.length > 1) f.lastDouble = w.now;
        }
      }
    };
    go(500);
    const flips = Prng.fromSeed(seed * 7 + 1);
    for (let r = 0; r < 6; r++) {
      const i = flips.nextU32() % 3;
      w.deliver(i, { type: "health", healthy: !w.nodes[i]!.state.healthy, detail: "sim" }, w.now);
      go(flips.nextU32() % 2 === 0 ? 20 + (flips.nextU32() % 100) : 300 + (flips.nextU32() % 1500));
    }
    for (let i = 0; i < 3; i++) if (!w.nodes[i]!.state.healthy) w.deliver(i, { type: "health", healthy: true, detail: "sim" }, w.now);
    go(4000);
    const silent = flows.filter((f) => w.now - f.last > 1000).map((f) => `flow ${f.id} (bucket ${f.bucket}) unanswered since ${f.last}`);
    const doubled = flows.filter((f) => w.now - f.lastDouble <= 1000).map((f) => `flow ${f.id} (bucket ${f.bucket}) answered twice at ${f.lastDouble}`);
    expect([...silent, ...doubled], failure(seed, w, undefined)).toEqual([]);
    expect(w.violations, failure(seed, w, undefined)).toEqual([]);
  });

  it.each(seedsFromEnv(30))("a node joins while new flows start and its peers read their tables slowly: none answered twice (seed %i)", (seed) => {
    // n3 goes in with a view that adds it to n1's and n2's; until they hear it, they still hold
    // its buckets and take the new flows there. Before, n3 counted their view as disagreeing with
    // its own and credited those flows to nobody; once the buckets came to it, it answered them
    // beside n1 or n2 until their answers to its gain's ask came, a second late.
    const { w } = farmOf(seed, 3, 0, { readMs: 1000, start: [0, 1] });
    const rng = Prng.fromSeed(seed ^ 0x55aa);
    const flows: { id: number; bucket: number }[] = [];
    const doubles: string[] = [];
    let tick = 0;
    const go = (ms: number): void => {
      const end = w.now + ms;
      for (; w.now < end; tick++) {
        w.runUntil(Math.min(end, w.now + 20));
        for (let k = 0; k < 2; k++) flows.push({ id: flows.length, bucket: rng.nextU32() % 256 });
        for (const f of flows) {
          if ((tick + f.id) % 10 !== 0) continue;
          const a = w.datagram(f.id, f.bucket);
          if (a.length > 1) doubles.push(`${w.now} ms: flow ${f.id} (bucket ${f.bucket}) answered by ${a.map((i) => `n${i + 1}`).join(" and ")}`);
        }
      }
    };
    go(1000);
    w.start(2);
    go(4000);
    expect(doubles.slice(0, 5), failure(seed, w, undefined)).toEqual([]);
    expect(w.violations, failure(seed, w, undefined)).toEqual([]);
  });

  it.each(seedsFromEnv(20))("n1 stops hearing n2 for 3 s while n3 and n2 hear everyone: n1 takes none of n2's buckets and no flow is answered twice; after, every bucket and flow is served again (seed %i)", (seed) => {
    // n1 alone calls n2 dead (a loss in one direction); n3 still counts n2 in its view, and n2
    // still serves its buckets and answers its flows. Before, n1 took n2's buckets at once (n3's
    // view was n1's plus a node dead in n1's) and answered n2's flows beside it for the 3 s.
    const r = farmOf(seed, 3, 300);
    const { cfgs, w, t } = r;
    t.run(1000);
    const ofN2 = owners(tableOf(cfgs[0]!), 0b111);
    w.deafen(0, 1);
    t.run(3000);
    expect(w.nodes[0]!.state.peers[1]!.live, r.why()).toBe("dead");
    expect(w.nodes[0]!.kernelHeld.filter((b) => ofN2[b] === 1), r.why()).toEqual([]);
    expect(t.problems, r.why()).toEqual([]);
    expect(w.violations, r.why()).toEqual([]);
    w.undeafen(0, 1);
    t.run(3000);
    expectSound(r, { stable: true, answered: true });
  });

  it.each(seedsFromEnv(20))("n1 stops hearing n2 for 10 s while n3 and n2 hear everyone: two deadtimes after n1 calls n2 dead, every bucket has exactly one holder and every flow is answered, none twice, for as long as the loss lasts (seed %i)", (seed) => {
    // n3 still hears n2 and tells so in its heartbeats (the nodes each peer hears), so n1 keeps
    // n2 in its view and n2 keeps its buckets. Before, n2 let go of the buckets that are n1's
    // under n1's view without n2 and nobody took them until the loss ended: about a sixth of the
    // buckets answered no new client for the 10 s.
    const r = farmOf(seed, 3, 300);
    const { w, t } = r;
    t.run(1000);
    w.deafen(0, 1);
    t.run(DEADTIME + INTERVAL + 2 * DEADTIME);
    expect(w.nodes[0]!.state.peers[1]!.live, r.why()).toBe("dead");
    // What status shows: n1 knows n3 hears n2, and n2 knows n1 does not hear it.
    expect(witnessesOf(w.nodes[0]!.state, 1), r.why()).toEqual([2]);
    expect(hasMember(w.nodes[1]!.state.peers[0]!.hears ?? 0b111, 1), r.why()).toBe(false);
    const answeredFrom = t.unanswered;
    for (let at = 0; at < 8000; at += 200) {
      t.run(200);
      expect(w.stableProblems(), `${w.now} ms: ${r.why()}`).toEqual([]);
    }
    expect(t.unanswered - answeredFrom, r.why()).toBe(0);
    expectSound(r);
    w.undeafen(0, 1);
    t.run(3000);
    expectSound(r, { stable: true, answered: true });
  });

  it.each(seedsFromEnv(10))("a frozen node's UDP flows go to the new holders, and it does not answer them once it resumes (seed %i)", (seed) => {
    const r = farmOf(seed, 3, 300);
    const { w, t } = r;
    t.run(1000);
    w.freeze(2);
    t.run(2000);
    w.thaw(2);
    t.run(4000);
    expectSound(r, { answered: true });
  });

  it.each(seedsFromEnv(10))("a node stalled past its lease takes its buckets back only once a peer slow to report has told it its flows: none answered twice (seed %i)", (seed) => {
    // n3 and then n2 freeze; n3 resumes past its lease and forgets its flows. n2's advert stays
    // unknown to n3 until n2 is seen dead, so n3 cannot credit what it watches to n1,
    // and n1's reports come slowly (a loaded host reads its table late): before, n3's listening
    // ended after learnMs without them, and it answered n1's flows in its buckets beside n1.
    const r = n3StalledPastItsLease(seed);
    const { w, t } = r;
    t.run(5000);
    expect(w.nodes[2]!.state.mode, r.why()).toBe("in");
    expectSound(r, { answered: true });
  });

  it.each(seedsFromEnv(10))("two nodes stalled past their leases one after the other, a third frozen: none answered twice (seed %i)", (seed) => {
    // As the stall above, and n1 stalls past its lease too while n3 listens (a loaded host stalls
    // them all). n1 forgets its flows and the peers' adverts and listens in turn; n3 sees n1 wait,
    // ends its own listening and takes the buckets that were n2's under n1's stale view, which under
    // the view both reach once n1 serves again are partly n1's. n3 answers flows there that n1
    // cannot credit to it (their views disagree); n1 must learn them from n3 before it takes them.
    const r = n3StalledPastItsLease(seed);
    const { w, t } = r;
    t.run(200 + (seed % 7) * 40);
    w.freeze(0);
    t.run(LEASE + 50 + (seed % 3) * 40);
    w.thaw(0);
    t.run(6000);
    expectSound(r, { answered: true });
  });

  it.each(seedsFromEnv(10))("with a witness, a cut just past the deadtime: the flows the cut node kept in others' buckets are not lost when it returns (seed %i)", (seed) => {
    const r = farmOf(seed, 3, 300, { witness: true, start: [0, 2] });
    const { cfgs, w, t } = r;
    t.run(500);
    // n2 joins: n1 and n3 keep the flows of its buckets.
    w.start(1);
    t.run(3000);
    const kept = t.flows.filter((f) => f.answerer === 2 && owners(tableOf(cfgs[0]!), 0b111)[f.bucket] === 1);
    expect(kept.length, r.why()).toBeGreaterThan(10);
    // n3 cut off just long enough to be declared dead, not long enough for every flow to send:
    // records of its flows that no datagram replaced must not count as its own again when it returns.
    w.cut(2);
    t.run(DEADTIME + 100 + (seed % 5) * 20);
    w.heal(2);
    t.run(3000);
    expectSound(r, { answered: true });
    expect(kept.every((f) => f.answerer === 1), r.why()).toBe(true);
  });

  it.each(seedsFromEnv(10))("with a witness it cannot reach, a node cut off with its carrier up holds nothing; when the cut heals no bucket or flow has two holders (seed %i)", (seed) => {
    const r = farmOf(seed, 3, 300, { witness: true });
    const { w, t } = r;
    t.run(500);
    const before = held(w);
    w.cut(0);
    t.run(2000);
    expect(w.nodes[0]!.kernelHeld, r.why()).toEqual([]);
    expect(w.nodes[0]!.state.detail).toContain("hears no peer");
    expect(w.stableProblems(), r.why()).toEqual([]);
    w.heal(0);
    t.run(3000);
    expectSound(r, { stable: true });
    expect(held(w), r.why()).toEqual(before);
  });

  it.each(seedsFromEnv(10))("with a witness, a cut heals while the peers read their tables slowly: the cut node takes its buckets back only once they told it their flows, none answered twice (seed %i)", (seed) => {
    // While n1 is cut off, n2 and n3 take its buckets and the flows there. Flows that send about
    // once a second may send nothing while n1 listens after the heal, so watching credits them to
    // no one (as when views disagree or owner maps are written late), and a loaded host reads its
    // table late. Before, the heal's listening ended after settleMs without asking, n1 took its
    // buckets and answered such flows beside n2 and n3 until its gain asks were answered.
    const r = farmOf(seed, 3, 300, { witness: true, readMs: 300 + (seed % 5) * 150, every: 40 + (seed % 4) * 5 });
    const { w, t } = r;
    t.run(500);
    w.cut(0);
    t.run(2000 + (seed % 7) * 50);
    expect(w.nodes[0]!.kernelHeld, r.why()).toEqual([]);
    w.heal(0);
    t.run(6000);
    expect(w.nodes[0]!.state.mode, r.why()).toBe("in");
    expectSound(r, { stable: true, answered: true });
  });

  it.each(seedsFromEnv(10))("with a witness, a cut heals and one peer is heard only past the listening time: the healed node listens on until it hears it and learns its flows, none answered twice (seed %i)", (seed) => {
    // n1 hears n2 at once but n3 only 0.6-1 s later (frames lost, or n3 stalled). Before, n1 ended its
    // listening after settleMs with n3 still dead for it (a death it saw while cut off), took n3's
    // buckets by the dead node's handover rule, as n2 still counted n3 among its members, and
    // answered n3's flows beside it; and once n3 was heard, it took its own buckets without n3's
    // report of the flows n3 answered there.
    const r = farmOf(seed, 3, 300, { witness: true });
    const { w, t } = r;
    t.run(500);
    w.cut(0);
    t.run(2000 + (seed % 7) * 50);
    w.heal(0, { peer: 2, ms: 600 + (seed % 5) * 100 });
    t.run(6000);
    expect(w.nodes[0]!.state.mode, r.why()).toBe("in");
    expectSound(r, { stable: true, answered: true });
  });

  it.each(seedsFromEnv(10))("with a witness, a cut heals and one peer is heard only past the listening's longest wait: meanwhile the healed node takes none of that peer's buckets, none answered twice (seed %i)", (seed) => {
    // n3 unheard by n1 for 9 s after the heal while n2 hears it: n1 gives up waiting after
    // reportWaitMs, but n3's death, seen while n1 was cut off, does not count for the handover rules
    // of a dead node's buckets; before, n1 took them while n3 held them.
    const r = farmOf(seed, 3, 300, { witness: true });
    const { w, t } = r;
    t.run(500);
    w.cut(0);
    t.run(2000 + (seed % 7) * 50);
    w.heal(0, { peer: 2, ms: 9000 + (seed % 5) * 100 });
    t.run(8500);
    expect(t.problems, r.why()).toEqual([]);
    expect(w.violations, r.why()).toEqual([]);
  });

  it.each(seedsFromEnv(10))("without a witness, a node cut off with its carrier up serves every bucket and flow; once the cut heals every flow is answered by one node (seed %i)", (seed) => {
    const r = farmOf(seed, 3, 300);
    const { w, t, why } = r;
    t.run(500);
    const before = held(w);
    w.cut(0);
    t.run(2000);
    expect(w.nodes[0]!.kernelHeld.length, why()).toBe(256);
    expect(w.nodes[0]!.state.detail).toContain("serving alone");
    expect(t.problems, why()).toEqual([]);
    const healedAt = w.now;
    w.heal(0);
    t.run(3000);
    expect(w.stableProblems(), why()).toEqual([]);
    expect(held(w), why()).toEqual(before);
    // The cost: flows both sides answered are answered twice, or move, until the cut node has
    // heard its peers say they served too and listened one deadtime to the flows they answer.
    expect(t.problems.filter((p) => Number.parseInt(p, 10) > healedAt + DEADTIME), why()).toEqual([]);
    t.problems.length = 0;
    expect(t.unansweredOver(500), why()).toBe(0);
    expect(t.problems, why()).toEqual([]);
  });

  it.each(seedsFromEnv(10))("two nodes without a witness: the survivor of a crash serves every bucket and flow; the crashed node returns and no flow moves (seed %i)", (seed) => {
    const r = pairWhoseSecondCrashed(seed, false);
    const { w, t, before } = r;
    const beforeReturn = t.snapshot();
    w.start(1);
    t.run(3000);
    expectSound(r);
    expect(held(w), r.why()).toEqual(before);
    expect(t.snapshot(), r.why()).toEqual(beforeReturn);
  });

  it.each(seedsFromEnv(10))("two nodes without a witness: a frozen node that thaws (its first heartbeat may still say it serves) never makes the survivor stop serving (seed %i)", (seed) => {
    const r = farmOf(seed, 2, 200);
    const { w, t } = r;
    t.run(500);
    const before = held(w);
    w.freeze(0);
    t.run(2000);
    expect(w.nodes[1]!.kernelHeld.length, r.why()).toBe(256);
    w.thaw(0);
    for (let i = 0; i < 60; i++) {
      t.run(50);
      expect(w.nodes[1]!.state.quiet, r.why()).toBeUndefined();
    }
    expectSound(r);
    expect(held(w), r.why()).toEqual(before);
  });

  it.each(seedsFromEnv(10))("two nodes with a ping witness: the survivor of a crash serves every bucket and flow; a node cut off from peers and witness holds nothing, and heals without two holders (seed %i)", (seed) => {
    const r = pairWhoseSecondCrashed(seed, true);
    const { w, t, before } = r;
    w.start(1);
    t.run(3000);
    expect(held(w), r.why()).toEqual(before);
    // Cut off from its peer and from the witness: it holds nothing; its peer, which reaches the witness, serves all.
    w.cut(0);
    t.run(2000);
    expect(w.nodes[0]!.kernelHeld, r.why()).toEqual([]);
    expect(w.nodes[1]!.kernelHeld.length, r.why()).toBe(256);
    w.heal(0);
    t.run(3000);
    expect(held(w), r.why()).toEqual(before);
    expectSound(r, { stable: true, answered: true });
  });
});
