/**
 * A peer whose frames come on two sockets of ours: one the event loop
 * watches (read as each frame comes) and one polled (read at our wake-ups,
 * with the kernel's arrival times). Frames of one sender link must be fed
 * in their order whichever socket held them (the core takes a seq only
 * above the last it took from that link), and the engines that read
 * frames (VRRP) must get each frame's arrival, not the time it was read.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { framesFromB, pairEngine } from "./heartbeat-engine-pair.ts";

const START = 7_000_000;

function node() {
  const w = framesFromB(true);
  const frames: { node: string; at: number; readAt: number }[] = [];
  const a = pairEngine("a", () => Promise.resolve(w.transport), {
    onFrame: (n, _m, _echo, _vrrp, at) => void frames.push({ node: n, at, readAt: Date.now() }),
  });
  return { ...a, w, frames };
}

describe("heartbeat driver: a peer's frames on a watched and a polled socket", () => {
  beforeEach(() => vi.useFakeTimers({ now: START }));
  afterEach(() => vi.useRealTimers());

  it("a frame on the watched socket is fed after the older ones waiting in the polled one: none is refused as old", async () => {
    const n = node();
    await n.e.start();
    await vi.advanceTimersByTimeAsync(30);
    n.w.polledFrame();
    await vi.advanceTimersByTimeAsync(10);
    n.w.polledFrame();
    await vi.advanceTimersByTimeAsync(10);
    // b's news comes on the watched socket while its two routine frames still wait.
    n.w.watchedFrame();
    const fed = n.frames.map((f) => f.at - START);
    const refused = n.lines.filter((l) => l.includes("heartbeat frame rejected"));
    await n.e.stop();
    expect(refused).toEqual([]);
    expect(n.metrics.render()).not.toMatch(/vigil_heartbeat_frames_rejected_total\{/);
    expect(fed).toEqual([30, 40, 50]);
  });

  it("hands each frame over with its arrival, not the moment it was read", async () => {
    const n = node();
    await n.e.start();
    await vi.advanceTimersByTimeAsync(37);
    n.w.polledFrame();
    await vi.advanceTimersByTimeAsync(100);
    await n.e.stop();
    expect(n.frames).toHaveLength(1);
    expect(n.frames[0]?.at).toBe(START + 37);
    // Read at a's next round (100 ms), 63 ms after it arrived.
    expect(n.frames[0]?.readAt).toBe(START + 100);
  });

  it("readArrived() reads the polled socket now, between rounds", async () => {
    const n = node();
    await n.e.start();
    await vi.advanceTimersByTimeAsync(20);
    n.w.polledFrame();
    await vi.advanceTimersByTimeAsync(40);
    expect(n.frames).toEqual([]);
    n.e.readArrived();
    expect(n.w.queued()).toBe(0);
    expect(n.frames).toEqual([{ node: "b", at: START + 20, readAt: START + 60 }]);
    await n.e.stop();
  });
});
