/**
 * Self-test of the simulator: determinism, and that each network or node
 * fault does what it says. Uses the toy core (every node pings every 10 ms).
 */
import { describe, expect, it } from "vitest";
import { EventQueue } from "./harness/event-queue.ts";
import { perfectLink, type LinkProfile } from "./harness/network.ts";
import { seedsFromEnv } from "./harness/seeds.ts";
import { Sim, SimFailure, type StepRecord } from "./harness/sim.ts";
import { TOY_PERIOD, toyAdapter, type ToyAction, type ToyEvent, type ToyMsg, type ToyState } from "./toy-core.ts";

type ToySim = Sim<ToyState, ToyEvent, ToyAction, ToyMsg>;
type ToyRecord = StepRecord<ToyState, ToyEvent, ToyAction, ToyMsg>;

interface Delivery {
  time: number;
  to: string;
  from: string;
  link: number;
  seq: number;
  sentAt: number;
  late: boolean;
  incarnation: number;
}

function toySim(seed: number, profile: LinkProfile | LinkProfile[], opts: { links?: number; nodes?: string[]; recordTrace?: boolean } = {}) {
  const links = opts.links ?? 2;
  const sim: ToySim = new Sim(toyAdapter(links), {
    seed,
    nodes: opts.nodes ?? ["a", "b", "c"],
    links,
    profile,
    recordTrace: opts.recordTrace ?? false,
  });
  const deliveries: Delivery[] = [];
  const steps: ToyRecord[] = [];
  sim.invariant("collect", (_s, rec) => {
    if (rec.kind === "step") steps.push(rec);
    if (rec.kind === "step" && rec.envelope !== null) {
      const m = rec.envelope.msg;
      deliveries.push({ time: rec.time, to: rec.node, from: m.from, link: m.link, seq: m.seq, sentAt: rec.envelope.sentAt, late: rec.late, incarnation: m.incarnation });
    }
  });
  return { sim, deliveries, steps };
}

/** A run that exercises every fault, for the determinism checks. */
function busyRun(seed: number): readonly string[] {
  const { sim } = toySim(seed, { loss: 0.2, delayMs: [1, 30], duplicate: 0.1 }, { recordTrace: true });
  sim.at(100, "cut link 0", (s) => s.net.partition([["a"], ["b", "c"]], [0]));
  sim.at(150, "pause b", (s) => s.pause("b"));
  sim.at(220, "resume b", (s) => s.resume("b"));
  sim.at(250, "crash c", (s) => s.crash("c"));
  sim.at(300, "restart c, heal", (s) => {
    s.restart("c");
    s.net.heal();
  });
  sim.run(400);
  return sim.trace();
}

describe("event queue", () => {
  it("pops by time, and in insertion order on equal times", () => {
    const q = new EventQueue<string>();
    q.push(5, "e1");
    q.push(1, "a");
    q.push(5, "e2");
    q.push(3, "c");
    q.push(5, "e3");
    q.push(1, "b");
    const out: string[] = [];
    for (let x = q.pop(); x !== undefined; x = q.pop()) out.push(x.item);
    expect(out).toEqual(["a", "b", "c", "e1", "e2", "e3"]);
  });
});

describe("sim determinism", () => {
  it("replays the same seed into an identical trace", () => {
    const first = busyRun(7);
    expect(first.length).toBeGreaterThan(500);
    expect(busyRun(7)).toEqual(first);
  });

  it("gives a different trace for a different seed", () => {
    expect(busyRun(8)).not.toEqual(busyRun(7));
  });

  it("reads SIM_SEED and SIM_SEEDS", () => {
    expect(seedsFromEnv(3, {})).toEqual([1, 2, 3]);
    expect(seedsFromEnv(3, { SIM_SEEDS: "5" })).toEqual([1, 2, 3, 4, 5]);
    expect(seedsFromEnv(3, { SIM_SEED: "42", SIM_SEEDS: "5" })).toEqual([42]);
    expect(() => seedsFromEnv(3, { SIM_SEED: "x" })).toThrow(/SIM_SEED="x" is not an integer/);
  });
});

describe("sim network faults", () => {
  it("loses about the configured fraction, and nothing or everything at 1 and 0", () => {
    const rate = (loss: number) => {
      const { sim, deliveries } = toySim(3, { ...perfectLink, loss });
      sim.run(1000 - 1);
      // 3 nodes x 2 peers x 2 links per period
      return deliveries.length / ((1000 / TOY_PERIOD) * 12);
    };
    expect(rate(0)).toBe(1);
    expect(rate(1)).toBe(0);
    const r = rate(0.3);
    expect(r).toBeGreaterThan(0.62);
    expect(r).toBeLessThan(0.78);
  });

  it("delays within the range, and reorders only when the range is wider than the send period", () => {
    const reorders = (delayMs: [number, number]) => {
      const { sim, deliveries } = toySim(4, { loss: 0, delayMs, duplicate: 0 });
      sim.run(1000);
      for (const d of deliveries) {
        expect(d.time - d.sentAt).toBeGreaterThanOrEqual(delayMs[0]);
        expect(d.time - d.sentAt).toBeLessThanOrEqual(delayMs[1]);
      }
      const last = new Map<string, number>();
      let count = 0;
      for (const d of deliveries) {
        const key = `${d.from}>${d.to}/${d.link}`;
        if ((last.get(key) ?? 0) > d.seq) count++;
        last.set(key, Math.max(last.get(key) ?? 0, d.seq));
      }
      return count;
    };
    expect(reorders([5, 5])).toBe(0);
    expect(reorders([0, 9])).toBe(0);
    expect(reorders([1, 60])).toBeGreaterThan(10);
  });

  it("duplicates every message at probability 1", () => {
    const { sim, deliveries } = toySim(5, { loss: 0, delayMs: [1, 20], duplicate: 1 });
    sim.run(500);
    const counts = new Map<string, number>();
    for (const d of deliveries) counts.set(`${d.from}>${d.to}/${d.link}#${d.seq}`, (counts.get(`${d.from}>${d.to}/${d.link}#${d.seq}`) ?? 0) + 1);
    const settled = [...counts.entries()].filter(([k]) => Number(k.split("#")[1]) < 45);
    expect(settled.length).toBe(44 * 12);
    expect(settled.every(([, n]) => n === 2)).toBe(true);
  });

  it("cuts one link between two sides and heals it", () => {
    const { sim, deliveries } = toySim(6, perfectLink);
    sim.at(100, "cut link 0: a | b c", (s) => s.net.partition([["a"], ["b", "c"]], [0]));
    sim.at(200, "heal", (s) => s.net.heal());
    sim.run(300);
    const during = deliveries.filter((d) => d.sentAt >= 100 && d.sentAt < 200);
    const crosses = (d: Delivery) => (d.from === "a") !== (d.to === "a");
    expect(during.filter((d) => d.link === 0 && crosses(d))).toEqual([]);
    expect(during.filter((d) => d.link === 1 && crosses(d)).length).toBe(10 * 4);
    expect(during.filter((d) => d.link === 0 && !crosses(d)).length).toBe(10 * 2);
    const afterHeal = deliveries.filter((d) => d.sentAt >= 200);
    expect(afterHeal.filter((d) => d.link === 0 && crosses(d)).length).toBeGreaterThan(0);
  });

  it("a full partition cuts every link", () => {
    const { sim, deliveries } = toySim(6, perfectLink);
    sim.at(100, "partition a | b c", (s) => s.net.partition([["a"], ["b", "c"]]));
    sim.run(300);
    const crosses = (d: Delivery) => (d.from === "a") !== (d.to === "a");
    expect(deliveries.filter((d) => d.sentAt >= 100 && crosses(d))).toEqual([]);
    expect(deliveries.filter((d) => d.sentAt >= 100 && !crosses(d)).length).toBeGreaterThan(0);
  });
});

describe("sim node faults", () => {
  it("a paused node runs nothing, then gets its queued events late, in order, and its timer fires late", () => {
    const { sim, deliveries, steps } = toySim(9, { loss: 0, delayMs: [1, 5], duplicate: 0 });
    sim.at(100, "pause b", (s) => s.pause("b"));
    sim.at(300, "resume b", (s) => s.resume("b"));
    sim.run(400);
    const bSteps = steps.filter((r) => r.kind === "step" && r.node === "b");
    expect(bSteps.filter((r) => r.time > 100 && r.time < 300)).toEqual([]);
    const late = bSteps.filter((r) => r.kind === "step" && r.late);
    expect(late.length).toBeGreaterThan(70);
    expect(late.every((r) => r.time === 300)).toBe(true);
    // Queued in arrival order: the timer that expired first, then the pings.
    expect(late[0]?.kind === "step" && late[0].cause).toBe("tick");
    const lateDeliveries = deliveries.filter((d) => d.late);
    const arrival = lateDeliveries.map((d) => d.sentAt);
    expect(arrival).toEqual([...arrival].sort((x, y) => x - y));
    // b sent nothing while frozen; its first send after resume is at resume time.
    const fromB = deliveries.filter((d) => d.from === "b");
    expect(fromB.filter((d) => d.sentAt > 100 && d.sentAt < 300)).toEqual([]);
    expect(fromB.some((d) => d.sentAt === 300)).toBe(true);
  });

  it("a crashed node drops what reaches it and restarts with fresh state", () => {
    const { sim, deliveries, steps } = toySim(10, perfectLink);
    const drops: string[] = [];
    sim.invariant("drops", (_s, rec) => {
      if (rec.kind === "drop") drops.push(`${rec.node}:${rec.reason}`);
    });
    sim.at(100, "crash b", (s) => s.crash("b"));
    sim.at(200, "restart b", (s) => s.restart("b"));
    sim.run(300);
    expect(steps.filter((r) => r.kind === "step" && r.node === "b" && r.time > 100 && r.time < 200)).toEqual([]);
    expect(drops.length).toBeGreaterThan(0);
    expect(drops.every((d) => d === "b:node is down")).toBe(true);
    const b = sim.node("b");
    expect(b.incarnation).toBe(2);
    expect(b.startedAt).toBe(200);
    const afterRestart = deliveries.filter((d) => d.from === "b" && d.incarnation === 2);
    expect(afterRestart[0]?.seq).toBe(1);
    expect(b.state?.received).toBe(deliveries.filter((d) => d.to === "b" && d.time >= 200).length);
  });

  it("gives each node its own clock, kept across restarts", () => {
    const { sim } = toySim(11, perfectLink);
    const offsets = ["a", "b", "c"].map((n) => sim.node(n).clockOffset);
    expect(new Set(offsets).size).toBe(3);
    sim.at(50, "restart a", (s) => s.restart("a"));
    sim.run(60);
    expect(sim.node("a").clockOffset).toBe(offsets[0]);
    expect(sim.localNow("a")).toBe(60 + (offsets[0] ?? 0));
  });
});

describe("sim failure reports", () => {
  it("an invariant failure names the seed, the step, the replay command and the trace tail", () => {
    const { sim } = toySim(12, perfectLink);
    sim.invariant("b gets at most 5 pings", (_s, rec) => {
      if (rec.kind === "step" && rec.node === "b" && rec.after.received > 5) throw new Error(`b got ${rec.after.received}`);
    });
    let caught: unknown;
    try {
      sim.run(1000);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SimFailure);
    const text = (caught as SimFailure).message;
    expect(text).toMatch(/^\[sim seed=12 step=\d+ t=\d+ms\] invariant "b gets at most 5 pings" failed: b got 6/);
    expect(text).toContain("replay: SIM_SEED=12 npx vitest run test/sim/harness.test.ts");
    expect(text).toMatch(/last \d+ trace lines:\n {2}#\d+ t=/);
    expect(text).toContain("ping a#");
  });

  it("a throwing core becomes a SimFailure with the seed", () => {
    const adapter = toyAdapter(1);
    const sim = new Sim({ ...adapter, step: () => { throw new TypeError("boom"); } }, { seed: 13, nodes: ["a"], links: 1, profile: perfectLink });
    expect(() => sim.run(10)).toThrow(/seed=13.*a core or adapter threw TypeError: boom/);
  });

  it("sim.check and sim.fail carry the seed too", () => {
    const { sim } = toySim(14, perfectLink);
    sim.run(20);
    expect(() => sim.check(false, "final state wrong")).toThrow(/\[sim seed=14 step=\d+ t=20ms\] final state wrong/);
  });
});
