/**
 * deferFrames: on a node where only the membership reads frames, a frame
 * is kept with its arrival time and fed to the core at the next wake-up,
 * before the tick. Its deadlines then run from its arrival, so verdicts
 * come exactly when they would if it had been fed at once; only its news
 * (a peer up) waits, at most one interval.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { MembershipEvent } from "../../src/core/membership/membership.ts";
import { createMemoryNetwork } from "../../src/net/memory-transport.ts";
import { engine } from "./heartbeat-engine-pair.ts";

const START = 5_000_000;
/** b starts this long after a, so its frames arrive between a's wake-ups. */
const B_OFFSET_MS = 37;

/** When b turned `to`, in ms from `since`. */
function peerEvents(events: readonly MembershipEvent[], to: string, since: number): number[] {
  return events.filter((e) => e.scope === "peer" && e.node === "b" && e.to === to).map((e) => e.at - since);
}

/** a hears b for a while, then b falls silent (no goodbye); what a saw, and when. */
async function scenario(deferFrames: boolean) {
  const since = Date.now();
  const net = createMemoryNetwork();
  const a = engine(net, "a", undefined, deferFrames);
  const b = engine(net, "b");
  let lastFromB = 0;
  net.tap((d) => {
    if (d.from.address === "198.51.100.12") lastFromB = Date.now() - since;
  });
  await a.e.start();
  await vi.advanceTimersByTimeAsync(B_OFFSET_MS);
  await b.e.start();
  // b's first frame has been delivered to a's transport by now.
  await vi.advanceTimersByTimeAsync(1);
  const upRightAfterDelivery = peerEvents(a.e.events.toArray(), "up", since).length;
  await vi.advanceTimersByTimeAsync(2_000);
  const silentFrom = Date.now() - since;
  await b.e.stop();
  await vi.advanceTimersByTimeAsync(1_000);
  const events = a.e.events.toArray();
  await a.e.stop();
  return { upRightAfterDelivery, up: peerEvents(events, "up", since), late: peerEvents(events, "late", since), dead: peerEvents(events, "dead", since), silentFrom, lastFromB };
}

describe("heartbeat driver with deferFrames", () => {
  beforeEach(() => vi.useFakeTimers({ now: START }));
  afterEach(() => vi.useRealTimers());

  it("feeds a frame at the next wake-up, at its arrival time", async () => {
    const deferred = await scenario(true);
    const atOnce = await scenario(false);
    // Fed at once: b is up as soon as its first frame is delivered; deferred: not until a's next wake-up.
    expect(atOnce.upRightAfterDelivery).toBe(1);
    expect(deferred.upRightAfterDelivery).toBe(0);
    // Either way the event carries the frame's arrival (b's start), not a's wake-up (a multiple of 100 ms).
    expect(atOnce.up).toEqual([B_OFFSET_MS]);
    expect(deferred.up).toEqual([B_OFFSET_MS]);
  });

  it("takes the late and dead verdicts at the same times as a driver that feeds each frame at once", async () => {
    const deferred = await scenario(true);
    const atOnce = await scenario(false);
    expect(atOnce.dead).toHaveLength(1);
    expect(deferred.late).toEqual(atOnce.late);
    expect(deferred.dead).toEqual(atOnce.dead);
    // Deadtime (500 ms) after b's last frame arrived: the in-memory network delivers on a zero-delay timer, 1 ms after the send.
    expect(deferred.dead).toEqual([deferred.lastFromB + 1 + 500]);
    expect(deferred.lastFromB).toBeGreaterThan(deferred.silentFrom - 100);
  });

  it("arms one timer per round: feeding the kept frames at a wake-up does not arm one of its own", async () => {
    const net = createMemoryNetwork();
    const a = engine(net, "a", undefined, true);
    const b = engine(net, "b");
    await a.e.start();
    await vi.advanceTimersByTimeAsync(B_OFFSET_MS);
    await b.e.start();
    await vi.advanceTimersByTimeAsync(1_000);
    const onTimer = (a.e as unknown as { onTimer: () => void }).onTimer;
    const armed = vi.spyOn(globalThis, "setTimeout");
    await vi.advanceTimersByTimeAsync(2_000);
    const byA = armed.mock.calls.filter(([fn]) => fn === onTimer).length;
    armed.mockRestore();
    expect(a.e.view().peers[0]?.state).toBe("up");
    await a.e.stop();
    await b.e.stop();
    // 20 rounds in 2 s.
    expect(byA).toBeGreaterThanOrEqual(19);
    expect(byA).toBeLessThanOrEqual(22);
  });
});
