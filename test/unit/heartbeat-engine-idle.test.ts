/**
 * What the heartbeat driver does per round when nothing happens, over the
 * in-memory network with fake timers: one timer armed per wake-up (a frame
 * that moves no deadline earlier does not re-arm it), and a page of the
 * config digest in at most one round a second, while drift is still found.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMemoryNetwork } from "../../src/net/memory-transport.ts";
import { decodeHeartbeat } from "../../src/proto/heartbeat.ts";
import { digest, engine, KEY, pairEngine, runningPair } from "./heartbeat-engine-pair.ts";

describe("heartbeat driver at idle", () => {
  beforeEach(() => vi.useFakeTimers({ now: 5_000_000 }));
  afterEach(() => vi.useRealTimers());

  it("arms about one timer per round, not one more per frame received", async () => {
    const { a, b } = await runningPair(1_000, (net, self) => engine(net, self, digest("auto")));
    expect(a.e.view().peers[0]?.state).toBe("up");
    const armed = vi.spyOn(globalThis, "setTimeout");
    await vi.advanceTimersByTimeAsync(2_000);
    // Two engines, 20 rounds each; re-arming on every frame would double it.
    const byEngines = armed.mock.calls.filter(([, ms]) => typeof ms === "number" && ms > 0).length;
    expect(byEngines).toBeGreaterThanOrEqual(40);
    expect(byEngines).toBeLessThanOrEqual(50);
    armed.mockRestore();
    await a.e.stop();
    await b.e.stop();
  });

  it("sends a config page in at most one round a second, and drift is still found by key", async () => {
    const net = createMemoryNetwork();
    const pages: number[] = [];
    let frames = 0;
    net.tap((d) => {
      const r = decodeHeartbeat(d.bytes, KEY);
      if (!r.ok || r.frame.node !== "a") return;
      frames += 1;
      if (r.frame.config !== undefined) pages.push(Date.now());
    });
    const a = engine(net, "a", digest("manual"));
    const b = engine(net, "b", digest("auto"));
    await a.e.start();
    await b.e.start();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(frames).toBeGreaterThanOrEqual(45);
    expect(pages.length).toBeGreaterThanOrEqual(4);
    expect(pages.length).toBeLessThanOrEqual(6);
    for (let i = 1; i < pages.length; i++) expect((pages[i] ?? 0) - (pages[i - 1] ?? 0)).toBeGreaterThanOrEqual(1_000);
    expect(b.e.configDrift().get("a")).toEqual(["modules.web.failback"]);
    expect(b.lines.filter((l) => /config differs from peer a: modules\.web\.failback/.test(l))).toHaveLength(1);
    await a.e.stop();
    await b.e.stop();
  });

  it("arms its timer in whole milliseconds, rounded up, when the clock has fractions (Bun fires a fractional delay early)", async () => {
    const net = createMemoryNetwork();
    let tick = 0;
    // performance.now() has fractions; here a different one at every reading.
    const clock = (): number => Date.now() + ((tick++ * 0.37) % 1);
    const { e } = pairEngine("a", (l) => net.open(l), { clock });
    const armed = vi.spyOn(globalThis, "setTimeout");
    await e.start();
    await vi.advanceTimersByTimeAsync(1_000);
    const delays = armed.mock.calls.map(([, ms]) => ms).filter((ms): ms is number => typeof ms === "number" && ms > 0);
    armed.mockRestore();
    await e.stop();
    expect(delays.length).toBeGreaterThanOrEqual(9);
    expect(delays.filter((ms) => !Number.isInteger(ms))).toEqual([]);
  });
  it("runs afterRound once per round, after the round's frame went out", async () => {
    const net = createMemoryNetwork();
    let sent = 0;
    net.tap((d) => {
      const r = decodeHeartbeat(d.bytes, KEY);
      if (r.ok && r.frame.node === "a") sent += 1;
    });
    const afterRound: number[] = [];
    const { e } = pairEngine("a", (l) => net.open(l), { afterRound: () => afterRound.push(sent) });
    const b = engine(net, "b");
    await e.start();
    await b.e.start();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(afterRound.length).toBeGreaterThanOrEqual(29);
    expect(afterRound.length).toBeLessThanOrEqual(31);
    // Each call comes after its round's frame: the n-th call sees n frames sent (one link, one peer).
    expect(afterRound).toEqual(afterRound.map((_, i) => i + 1));
    await e.stop();
    await b.e.stop();
  });
});
