/**
 * Polled sockets (the transport's readArrived): a peer's frames wait in the
 * kernel until the driver's next wake-up and come with the kernel's receive
 * time. Deadlines must run from those times, so verdicts come exactly when
 * they would if each frame had been fed as it arrived; and frames that
 * waited while this node did not run must not read as moments it ran.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { MembershipEvent } from "../../src/core/membership/membership.ts";
import { framesFromB, pairEngine } from "./heartbeat-engine-pair.ts";

const START = 5_000_000;
/** b's frames arrive at this phase of a's 100 ms rounds: between a's wake-ups. */
const PHASE_MS = 37;

function node(polled: boolean, perRead = Infinity) {
  const frames = framesFromB(polled, perRead);
  const a = pairEngine("a", () => Promise.resolve(frames.transport), { deferFrames: polled });
  /** b's frames reach a's socket at `at`, polled or handed over as they come. */
  const w = { queued: frames.queued, arrive: (at = Date.now()) => (polled ? frames.polledFrame(at) : frames.watchedFrame(at)) };
  return { ...a, w };
}

function peerEvents(events: readonly MembershipEvent[], to: string, since = START): number[] {
  return events.filter((ev) => ev.scope === "peer" && ev.node === "b" && ev.to === to).map((ev) => ev.at - since);
}

/** b sends every 100 ms from PHASE_MS for 2 s, then falls silent. */
async function silentPeer(polled: boolean) {
  const since = Date.now();
  const n = node(polled);
  await n.e.start();
  let last = 0;
  await vi.advanceTimersByTimeAsync(PHASE_MS);
  for (let i = 0; i < 20; i++) {
    n.w.arrive();
    last = Date.now() - since;
    await vi.advanceTimersByTimeAsync(100);
  }
  await vi.advanceTimersByTimeAsync(1_000);
  const events = n.e.events.toArray();
  await n.e.stop();
  return { up: peerEvents(events, "up", since), late: peerEvents(events, "late", since), dead: peerEvents(events, "dead", since), last };
}

describe("heartbeat driver on polled sockets", () => {
  beforeEach(() => vi.useFakeTimers({ now: START }));
  afterEach(() => vi.useRealTimers());

  it("takes up, late and dead at the same times as a driver fed each frame as it arrived", async () => {
    const polled = await silentPeer(true);
    const atOnce = await silentPeer(false);
    expect(atOnce.dead).toHaveLength(1);
    expect(polled.up).toEqual(atOnce.up);
    expect(polled.late).toEqual(atOnce.late);
    expect(polled.dead).toEqual(atOnce.dead);
    // From the kernel's arrival of b's first and last frames, not from a's wake-ups (multiples of 100 ms).
    expect(polled.up).toEqual([PHASE_MS]);
    expect(polled.dead).toEqual([polled.last + 500]);
  });

  it("a freeze of this node is one stall, found when it runs again; the frames that waited meanwhile keep b alive", async () => {
    const n = node(true);
    await n.e.start();
    await vi.advanceTimersByTimeAsync(PHASE_MS);
    for (let i = 0; i < 10; i++) {
      n.w.arrive();
      await vi.advanceTimersByTimeAsync(100);
    }
    // a does not run for 2 s (its timer fires that much late); b's frames reach the socket every 100 ms meanwhile.
    const frozenAt = Date.now();
    for (let t = 100; t <= 2_000; t += 100) n.w.arrive(frozenAt + t);
    vi.setSystemTime(frozenAt + 2_000);
    await vi.advanceTimersByTimeAsync(150);
    const events = n.e.events.toArray();
    await n.e.stop();
    const stalls = n.lines.filter((l) => l.includes("this node ran late"));
    expect(stalls).toHaveLength(1);
    expect(stalls[0]).toMatch(/gap_ms=(19|20|21)\d\d/);
    expect(peerEvents(events, "late")).toEqual([]);
    expect(peerEvents(events, "dead")).toEqual([]);
  });

  it("a burst larger than a read (a flood from b's address) is read on at the next turns of the event loop, not a round later", async () => {
    const n = node(true, 32);
    await n.e.start();
    await vi.advanceTimersByTimeAsync(PHASE_MS);
    for (let i = 0; i < 200; i++) n.w.arrive();
    // a's next round comes at 100 ms and reads 32; the rest follows at the next turns (1 ms apart under fake
    // timers), all of it well before the round after (200 ms).
    await vi.advanceTimersByTimeAsync(100 - PHASE_MS + 10);
    const left = n.w.queued();
    await n.e.stop();
    expect(left).toBe(0);
  });
});
