/**
 * The heartbeat driver's part of goodbye, config drift and rolling
 * upgrades, over the in-memory network with fake timers: leave() before
 * stop() makes the peer show the node stopped (never dead); different
 * config digests are warned about by key on both sides; a peer that
 * speaks frame version 1 is answered in version 1.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMemoryNetwork } from "../../src/net/memory-transport.ts";
import { encodeHeartbeat, HEARTBEAT_VERSION } from "../../src/proto/heartbeat.ts";
import { NEWS_PATH_VERSION } from "../../src/core/membership/news-path.ts";
import { digest, engine, KEY, runningPair } from "./heartbeat-engine-pair.ts";

describe("heartbeat driver: goodbye, drift, frame versions", () => {
  beforeEach(() => vi.useFakeTimers({ now: 2_000_000 }));
  afterEach(() => vi.useRealTimers());

  it("leave() then stop(): the peer logs it stopped (info) and never dead", async () => {
    const { a, b } = await runningPair(300, engine);
    expect(a.e.view().peers[0]?.state).toBe("up");
    const leaving = b.e.leave();
    await vi.advanceTimersByTimeAsync(100);
    await leaving;
    await b.e.stop();
    expect(a.e.view().peers[0]?.state).toBe("stopped");
    await vi.advanceTimersByTimeAsync(5_000);
    expect(a.e.view().peers[0]?.state).toBe("stopped");
    expect(a.lines.filter((l) => / peer b /.test(l)).map((l) => l.replace(/^.*(info|warn|error) {1,2}/, "$1 "))).toEqual([
      expect.stringMatching(/^info peer b up /),
      expect.stringMatching(/^info peer b stopped .*reason=said-goodbye/),
    ]);
    expect(b.lines.some((l) => /said goodbye to peers/.test(l))).toBe(true);
    await a.e.stop();
  });

  it("different digests: both sides warn once, naming the key; equal digests: no warning", async () => {
    const { a, b } = await runningPair(2_000, (net, self) => engine(net, self, digest(self === "a" ? "manual" : "auto")));
    for (const [x, peer] of [[a, "b"], [b, "a"]] as const) {
      const warned = x.lines.filter((l) => /config differs/.test(l));
      expect(warned).toHaveLength(1);
      expect(warned[0]).toMatch(new RegExp(`warn  config differs from peer ${peer}: modules\\.web\\.failback `));
      expect(x.e.configDrift().get(peer)).toEqual(["modules.web.failback"]);
    }
    b.e.setConfigDigest(digest("manual"));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(a.lines.some((l) => /info  config of peer b matches this node's/.test(l))).toBe(true);
    expect(a.e.configDrift().get("b")).toEqual([]);
    await a.e.stop();
    await b.e.stop();
  });

  it("a peer speaking frame version 1 is understood, and answered in version 1", async () => {
    const net = createMemoryNetwork();
    const a = engine(net, "a", digest("manual"));
    const sent: number[] = [];
    net.tap((d) => {
      if (d.from.address === "198.51.100.11") sent.push(d.bytes[4] ?? -1);
    });
    await a.e.start();
    await vi.advanceTimersByTimeAsync(150);
    // Version 4 says the node reads news from port + 1; an engine without news paths writes the one before.
    expect(sent.every((v) => v === Math.min(HEARTBEAT_VERSION, NEWS_PATH_VERSION - 1))).toBe(true);
    const old = encodeHeartbeat({ cluster: "lab", node: "b", epoch: 5n, seq: 1, sentAt: 1, link: 0, echoes: [], modules: [{ module: "web", role: "SECOND", generation: 0 }] }, KEY, 1);
    net.inject(0, { address: "198.51.100.12", port: 7694 }, { address: "198.51.100.11", port: 7694 }, old);
    await vi.advanceTimersByTimeAsync(50);
    expect(a.e.view().peers[0]?.state).toBe("up");
    expect(a.lines.some((l) => /warn  peer b speaks heartbeat frame version 1/.test(l))).toBe(true);
    sent.length = 0;
    await vi.advanceTimersByTimeAsync(300);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((v) => v === 1)).toBe(true);
    await a.e.stop();
  });
});
