import { afterEach, describe, expect, it, vi } from "vitest";
import { paceOptionsFor, startupPace } from "../../src/daemon/startup-pace.ts";
import { Supervisor } from "../../src/daemon/supervisor.ts";
import type { Engine } from "../../src/daemon/engine.ts";

/** A heartbeat whose rounds the test sends by hand, on a clock the test moves. */
function fakeRounds(running = true) {
  let t = 0;
  const riders: (() => void)[] = [];
  return {
    rounds: { afterRound: (fn: () => void) => void riders.push(fn), running: () => running },
    now: () => t,
    advance(ms: number) { t += ms; },
    round() { for (const f of riders) f(); },
  };
}

const settle = () => new Promise((r) => setImmediate(r));

afterEach(() => { vi.useRealTimers(); });

describe("start-up pace", () => {
  it("waits for the next round when the last one is not fresh", async () => {
    const h = fakeRounds();
    const pace = startupPace(h.rounds, { freshMs: 25, limitMs: 10_000, now: h.now });
    let went = false;
    void pace.beforeStep().then(() => { went = true; });
    await settle(); await settle();
    expect(went).toBe(false);
    h.round();
    await settle(); await settle();
    expect(went).toBe(true);
  });

  it("lets a step run at once right after a round, and not once the round is old", async () => {
    const h = fakeRounds();
    const pace = startupPace(h.rounds, { freshMs: 25, limitMs: 10_000, now: h.now });
    h.round();
    h.advance(10);
    let first = false;
    await pace.beforeStep().then(() => { first = true; });
    expect(first).toBe(true);
    h.advance(20);
    let second = false;
    void pace.beforeStep().then(() => { second = true; });
    await settle(); await settle();
    expect(second).toBe(false);
    h.round();
    await settle(); await settle();
    expect(second).toBe(true);
  });

  it("does not wait when heartbeats are off", async () => {
    const h = fakeRounds(false);
    const pace = startupPace(h.rounds, { freshMs: 25, limitMs: 10_000, now: h.now });
    let went = false;
    await pace.beforeStep().then(() => { went = true; });
    expect(went).toBe(true);
  });

  it("waits no longer than its limit when no round comes", async () => {
    vi.useFakeTimers();
    const h = fakeRounds();
    const pace = startupPace(h.rounds, { freshMs: 25, limitMs: 250, now: h.now });
    let went = false;
    void pace.beforeStep().then(() => { went = true; });
    await vi.advanceTimersByTimeAsync(249);
    expect(went).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(went).toBe(true);
  });

  it("is bounded for slow presets and scales with fast ones", () => {
    expect(paceOptionsFor(100)).toEqual({ freshMs: 25, limitMs: 110 });
    expect(paceOptionsFor(1_000)).toEqual({ freshMs: 250, limitMs: 250 });
    expect(paceOptionsFor(20)).toEqual({ freshMs: 5, limitMs: 30 });
  });

  it("puts a heartbeat round between engines' starts", async () => {
    const h = fakeRounds();
    const pace = startupPace(h.rounds, { freshMs: 25, limitMs: 10_000, now: h.now });
    const order: string[] = [];
    const engine = (name: string): Engine => ({
      name, tier: "service",
      async start() { order.push(name); h.advance(200); },
      async stop() {}, async reload() { return "kept" as const; }, status: () => ({}),
    } as unknown as Engine);
    let done = false;
    const started = new Supervisor([engine("a"), engine("b")]).start(() => undefined, () => pace.beforeStep()).then(() => { done = true; });
    // A round on every turn of the event loop: an engine's start that does not yield lets none through.
    for (let i = 0; i < 50 && !done; i++) {
      await settle();
      order.push("round");
      h.round();
    }
    await started;
    expect(order.filter((x) => x !== "round")).toEqual(["a", "b"]);
    expect(order.indexOf("round")).toBeLessThan(order.indexOf("a"));
    expect(order.slice(order.indexOf("a") + 1, order.indexOf("b"))).toContain("round");
  });
});
