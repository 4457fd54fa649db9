import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMemoryNetwork, type MemoryNetwork } from "../../src/net/memory-transport.ts";
import { encodeHeartbeat, type ModuleAdvert } from "../../src/proto/heartbeat.ts";
import { pairEngine, pairMembership, runningPair } from "./heartbeat-engine-pair.ts";

/** The pair's lan timers. */
const timers = pairMembership("a");

/** Node `self` of the pair on two links, publishing `modules`. */
function engine(net: MemoryNetwork, self: "a" | "b", modules: { adverts: ModuleAdvert[] } = { adverts: [] }) {
  /** Every accepted frame's module adverts, with our clock at arrival. */
  const heard: { at: number; node: string; roles: string }[] = [];
  const node = pairEngine(self, (l) => net.open(l), {
    modules: () => modules.adverts,
    onFrame: (from, adverts) => heard.push({ at: Date.now(), node: from, roles: adverts.map((a) => `${a.module}=${a.role}`).join(",") }),
  }, 2);
  return { ...node, heard };
}

/** A frame in b's name signed with a key that is not the cluster's. */
const FORGED = encodeHeartbeat({
  cluster: "lab", node: "b", epoch: 1n << 40n, seq: 1, sentAt: 0, link: 0, echoes: [], modules: [],
}, new Uint8Array(32).fill(9));

describe("HeartbeatEngine over the in-memory network", () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it("brings both peers up, then declares a stopped peer dead within deadtime plus one interval", async () => {
    const { a, b } = await runningPair(300, engine);
    expect(a.e.view().peers[0]).toMatchObject({ name: "b", state: "up" });
    expect(a.e.view().peers[0]?.links.map((l) => l.state)).toEqual(["up", "up"]);
    expect(a.lines.some((l) => /info  peer b up /.test(l))).toBe(true);

    await b.e.stop();
    const stoppedAt = Date.now();
    await vi.advanceTimersByTimeAsync(timers.deadtimeMs + timers.intervalMs);
    expect(a.e.view().peers[0]?.state).toBe("dead");
    const dead = a.e.events.toArray().find((ev) => ev.scope === "peer" && ev.to === "dead");
    expect(dead).toBeDefined();
    expect(a.lines.some((l) => /error peer b dead /.test(l))).toBe(true);
    expect(a.metrics.render()).toMatch(/vigil_peer_up\{peer="b"\} 0/);
    // Detection happened no later than deadtime + one interval after the last frame.
    expect(Date.now() - stoppedAt).toBeLessThanOrEqual(timers.deadtimeMs + timers.intervalMs);
    await a.e.stop();
  });

  it("reports a degraded link without declaring the peer dead", async () => {
    const { net, a, b } = await runningPair(300, engine);
    net.setSegment(1, false);
    await vi.advanceTimersByTimeAsync(2000);
    const peer = a.e.view().peers[0];
    expect(peer?.state).toBe("up");
    expect(peer?.links.map((l) => l.state)).toEqual(["up", "down"]);
    expect(a.lines.some((l) => /warn  link 1 to b down/.test(l))).toBe(true);
    await a.e.stop();
    await b.e.stop();
  });

  it("sends a published module change at once instead of with the next periodic frame", async () => {
    const published = { adverts: [{ module: "web", role: "SECOND", generation: 1 }] };
    const { a, b } = await runningPair(230, (net, self) => (self === "a" ? engine(net, self, published) : engine(net, self)));
    // 30 ms after a's periodic round at +200: the next one is due at +300.
    const changedAt = Date.now();
    published.adverts = [{ module: "web", role: "PRIM", generation: 2 }];
    a.e.publish();
    await vi.advanceTimersByTimeAsync(1);
    const news = b.heard.filter((h) => h.node === "a" && h.roles === "web=PRIM");
    // One frame per link, both before the periodic round would have carried it.
    expect(news.map((h) => h.at)).toEqual([changedAt, changedAt]);
    expect(a.metrics.render()).toMatch(/vigil_heartbeat_frames_sent_total\{link="0"\} 4/);
    await a.e.stop();
    await b.e.stop();
  });

  it("sends one round for many publishes in one turn, and at most one more per quarter interval", async () => {
    const { a, b } = await runningPair(210, engine);
    const before = b.heard.length;
    for (let i = 0; i < 5; i++) a.e.publish();
    await vi.advanceTimersByTimeAsync(1);
    expect(b.heard.length - before).toBe(2);
    // A publisher flapping every millisecond until just before the next periodic round.
    for (let t = 0; t < 80; t++) {
      a.e.publish();
      await vi.advanceTimersByTimeAsync(1);
    }
    // Owed rounds at +236, +261 and +286 (a quarter interval apart), one frame per link each.
    expect(b.heard.length - before).toBe(2 + 3 * 2);
    await a.e.stop();
    await b.e.stop();
  });

  it("announce: a round with the adverts of the end of the turn leaves at once, inside the spacing of extra rounds, and `sent` follows it", async () => {
    const published = { adverts: [{ module: "vms", role: "PRIM|u", generation: 2 }] };
    const { a, b } = await runningPair(210, (net, self) => (self === "a" ? engine(net, self, published) : engine(net, self)));
    // An extra round just went out: the spacing holds an ordinary publish back for a quarter interval.
    a.e.publish();
    await vi.advanceTimersByTimeAsync(1);
    const before = b.heard.length;
    const framesSent = (link: number) => Number(new RegExp(`vigil_heartbeat_frames_sent_total\\{link="${link}"\\} (\\d+)`).exec(a.metrics.render())?.[1]);
    const sentBefore = [framesSent(0), framesSent(1)];
    const askedAt = Date.now();
    const sent: number[][] = [];
    a.e.announce(() => sent.push([framesSent(0), framesSent(1)]));
    // Changed in the same turn, after the ask: the round carries it.
    published.adverts = [{ module: "vms", role: "ALONE|u", generation: 3 }];
    a.e.publish();
    expect(sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    // Called once, right after a frame left on each link.
    expect(sent).toEqual([[(sentBefore[0] ?? 0) + 1, (sentBefore[1] ?? 0) + 1]]);
    expect(b.heard.slice(before).map((h) => [h.roles, h.at])).toEqual([["vms=ALONE|u", askedAt], ["vms=ALONE|u", askedAt]]);
    await a.e.stop();
    await b.e.stop();
  });

  it("rejects and counts a frame signed with the wrong key, without treating it as life", async () => {
    const net = createMemoryNetwork();
    const a = engine(net, "a");
    await a.e.start();
    net.inject(0, { address: "198.51.100.12", port: 7694 }, { address: "198.51.100.11", port: 7694 }, FORGED);
    await vi.advanceTimersByTimeAsync(50);
    expect(a.e.view().peers[0]?.state).toBe("unknown");
    expect(a.metrics.render()).toMatch(/vigil_heartbeat_frames_rejected_total\{reason="bad-mac"\} 1/);
    expect(a.lines.some((l) => /heartbeat frame rejected reason=bad-mac/.test(l))).toBe(true);
    await a.e.stop();
  });

  it("names the sender's address in rejection logs, at most one line per reason and period", async () => {
    const net = createMemoryNetwork();
    const a = engine(net, "a");
    await a.e.start();
    for (let i = 0; i < 100; i++) net.inject(0, { address: "198.51.100.12", port: 40000 }, { address: "198.51.100.11", port: 7694 }, FORGED);
    await vi.advanceTimersByTimeAsync(50);
    const logged = a.lines.filter((l) => /heartbeat frame rejected/.test(l));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/sender=198\.51\.100\.12:40000/);
    expect(a.metrics.render()).toMatch(/vigil_heartbeat_frames_rejected_total\{reason="bad-mac"\} 100/);
    await a.e.stop();
  });
});
