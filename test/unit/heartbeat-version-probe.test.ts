/**
 * Frame versions after a rolling upgrade, over the in-memory network with
 * fake timers. Two upgraded nodes that each heard only the other's version 1
 * frames (the first node's version 2 frames were lost, as on a link that
 * came up late) find each other through the probe round and both write
 * version 2; a peer's version 1 frame after version 2 from the same
 * incarnation does not lower it, and a restart in version 1 (a rollback) does.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMemoryNetwork, type MemoryNetwork } from "../../src/net/memory-transport.ts";
import { encodeHeartbeat, HEARTBEAT_VERSION, type HeartbeatFrame } from "../../src/proto/heartbeat.ts";
import { NEWS_PATH_VERSION } from "../../src/core/membership/news-path.ts";
import { engine, KEY } from "./heartbeat-engine-pair.ts";

/** a's and b's addresses on the pair's link. */
const A = "198.51.100.11";
const B = "198.51.100.12";

/** The version byte of every frame each address sends, in order. */
function versionsSent(net: MemoryNetwork): Map<string, number[]> {
  const out = new Map<string, number[]>([[A, []], [B, []]]);
  net.tap((d) => out.get(d.from.address)?.push(d.bytes[4] ?? -1));
  return out;
}

function frameOfB(epoch: bigint, seq: number): HeartbeatFrame {
  return { cluster: "lab", node: "b", epoch, seq, sentAt: seq, link: 0, echoes: [], modules: [] };
}

describe("heartbeat frame versions after an upgrade", () => {
  beforeEach(() => vi.useFakeTimers({ now: 2_000_000 }));
  afterEach(() => vi.useRealTimers());

  it("two upgraded nodes that heard only version 1 from each other end at version 2", async () => {
    const net = createMemoryNetwork();
    const sent = versionsSent(net);
    // b ran beside the previous release of a: it heard a in version 1.
    const b = engine(net, "b");
    await b.e.start();
    net.inject(0, { address: A, port: 7694 }, { address: B, port: 7694 }, encodeHeartbeat({ ...frameOfB(5n, 1), node: "a" }, KEY, 1));
    await vi.advanceTimersByTimeAsync(250);
    expect(sent.get(B)?.at(-1)).toBe(1);

    // a comes back upgraded, but its first frames never reach b.
    net.setFilter((d) => d.from.address !== A);
    const a = engine(net, "a");
    await a.e.start();
    await vi.advanceTimersByTimeAsync(300);
    expect(a.e.peerFrameVersions().get("b")).toBe(1);
    net.setFilter(null);
    await vi.advanceTimersByTimeAsync(1_000);
    // Each takes the other for a node of the previous release.
    expect(sent.get(A)?.slice(-5)).toEqual([1, 1, 1, 1, 1]);
    expect(sent.get(B)?.slice(-5)).toEqual([1, 1, 1, 1, 1]);
    expect(a.e.view().peers[0]?.state).toBe("up");

    // Within one probe period (50 rounds of 100 ms) both write the current version, for good.
    // The newest an engine without news paths writes (version 4 says it reads news from port + 1).
    const V = Math.min(HEARTBEAT_VERSION, NEWS_PATH_VERSION - 1);
    await vi.advanceTimersByTimeAsync(6_000);
    expect(a.e.peerFrameVersions().get("b")).toBe(V);
    expect(b.e.peerFrameVersions().get("a")).toBe(V);
    const settled = { a: sent.get(A)?.length ?? 0, b: sent.get(B)?.length ?? 0 };
    await vi.advanceTimersByTimeAsync(6_000);
    expect(new Set(sent.get(A)?.slice(settled.a))).toEqual(new Set([V]));
    expect(new Set(sent.get(B)?.slice(settled.b))).toEqual(new Set([V]));
    expect(a.lines.some((l) => new RegExp(`info  peer b speaks heartbeat frame version ${V}`).test(l))).toBe(true);
    expect(b.lines.some((l) => new RegExp(`info  peer a speaks heartbeat frame version ${V}`).test(l))).toBe(true);
    expect(a.e.view().peers[0]?.state).toBe("up");
    expect(b.e.view().peers[0]?.state).toBe("up");
    await a.e.stop();
    await b.e.stop();
  });

  it("a version 1 frame after version 2 from the same incarnation keeps version 2; a restart in version 1 lowers it", async () => {
    const net = createMemoryNetwork();
    const sent = versionsSent(net);
    const a = engine(net, "a");
    await a.e.start();
    const fromB = (f: HeartbeatFrame, v: number) => net.inject(0, { address: B, port: 7694 }, { address: A, port: 7694 }, encodeHeartbeat(f, KEY, v));
    fromB(frameOfB(5n, 1), 2);
    fromB(frameOfB(5n, 2), 1);
    await vi.advanceTimersByTimeAsync(250);
    expect(a.e.peerFrameVersions().get("b")).toBe(2);
    expect(sent.get(A)?.at(-1)).toBe(2);
    expect(a.lines.some((l) => /speaks heartbeat frame version 1/.test(l))).toBe(false);

    // b rolled back to the previous release: a new epoch, version 1 only.
    fromB(frameOfB(6n, 1), 1);
    await vi.advanceTimersByTimeAsync(250);
    expect(a.e.peerFrameVersions().get("b")).toBe(1);
    expect(sent.get(A)?.slice(-2)).toEqual([1, 1]);
    expect(a.lines.some((l) => /warn  peer b speaks heartbeat frame version 1/.test(l))).toBe(true);
    await a.e.stop();
  });
});
