/**
 * Goodbye: a peer whose daemon stops cleanly says so in its last frames;
 * we mark it STOPPED at once instead of waiting deadtime and calling it
 * dead. A goodbye passes the same checks as any frame, and must be fresh
 * (echo one of our recent rounds), so a replayed or forged one cannot make
 * a live peer look stopped.
 */
import { describe, expect, it } from "vitest";
import { deadIfStopped, type MembershipEvent, type MembershipFrame } from "../../src/core/membership/membership.ts";
import { membershipConfig, MembershipDriver, T0 } from "./membership-driver.ts";

const config = membershipConfig();

class Node extends MembershipDriver {
  peerEvents(): MembershipEvent[] {
    return this.events({ scope: "peer" });
  }
  peerState(): string {
    return this.state.peers[0]?.state ?? "?";
  }
}

function frame(seq: number, extra: Partial<MembershipFrame> = {}): MembershipFrame {
  return { cluster: "c1", node: "b", epoch: 7n, seq, sentAt: 500 + seq, link: 0, echoes: [], ...extra };
}

/** b is up and hears us: its frames echo our newest round. */
function upAndHeard(): Node {
  const a = new Node();
  a.until(T0);
  a.apply({ type: "frame", link: 0, frame: frame(1, { echoes: [{ node: "a", sentAt: a.lastSent(), heldMs: 1 }] }) }, T0 + 5);
  expect(a.peerState()).toBe("up");
  return a;
}

describe("goodbye", () => {
  it("a fresh goodbye marks the peer stopped at once, with no dead verdict ever after", () => {
    const a = upAndHeard();
    a.until(T0 + 100);
    const out = a.apply({ type: "frame", link: 0, frame: frame(2, { leaving: true, echoes: [{ node: "a", sentAt: a.lastSent(), heldMs: 2 }] }) }, T0 + 110);
    expect(out).toEqual([
      expect.objectContaining({ type: "event", scope: "peer", node: "b", from: "up", to: "stopped", reason: "said-goodbye" }),
    ]);
    expect(a.peerState()).toBe("stopped");
    // Long past deadtime: still stopped, neither late nor dead, and no link events.
    a.until(T0 + 5_000);
    expect(a.peerEvents().map((e) => e.to)).toEqual(["up", "stopped"]);
    expect(a.log.filter((x) => x.type === "event" && x.scope === "link" && x.to === "down")).toEqual([]);
  });

  it("the second goodbye round changes nothing; the next life of the peer brings it up", () => {
    const a = upAndHeard();
    const echo = () => [{ node: "a", sentAt: a.lastSent(), heldMs: 1 }];
    a.apply({ type: "frame", link: 0, frame: frame(2, { leaving: true, echoes: echo() }) }, T0 + 20);
    expect(a.apply({ type: "frame", link: 0, frame: frame(3, { leaving: true, echoes: echo() }) }, T0 + 40)).toEqual([]);
    a.until(T0 + 3_000);
    const back = a.apply({ type: "frame", link: 0, frame: frame(1, { epoch: 8n }) }, T0 + 3_010);
    expect(back).toContainEqual(expect.objectContaining({ scope: "peer", from: "stopped", to: "up", reason: "restarted" }));
    expect(a.peerState()).toBe("up");
    // Alive as usual: dead after deadtime of silence.
    a.until(T0 + 4_000);
    expect(a.peerState()).toBe("dead");
  });

  it("a replayed goodbye (same seq, or older) is rejected as old-seq and changes nothing", () => {
    const a = upAndHeard();
    const bye = frame(5, { leaving: true, echoes: [{ node: "a", sentAt: a.lastSent(), heldMs: 1 }] });
    // b sends on past its goodbye's seq (the goodbye was captured, not delivered).
    a.apply({ type: "frame", link: 0, frame: frame(6) }, T0 + 30);
    const before = a.state.peers;
    expect(a.apply({ type: "frame", link: 0, frame: bye }, T0 + 40)).toEqual([]);
    expect(a.state.peers).toEqual(before);
    expect(a.state.counters.peers["b"]?.rejected["old-seq"]).toBe(1);
    expect(a.peerState()).toBe("up");
  });

  it("a goodbye of an earlier life of the peer is rejected as stale-epoch", () => {
    const a = upAndHeard();
    const out = a.apply({ type: "frame", link: 0, frame: frame(9, { epoch: 6n, leaving: true, echoes: [{ node: "a", sentAt: a.lastSent(), heldMs: 1 }] }) }, T0 + 30);
    expect(out).toEqual([]);
    expect(a.state.counters.peers["b"]?.rejected["stale-epoch"]).toBe(1);
    expect(a.peerState()).toBe("up");
  });

  it("a goodbye that is not provably fresh (echoes nothing of ours, or an old round) does not stop a live peer", () => {
    // After OUR restart the seq windows are empty: a goodbye captured from the
    // peer's current life would pass them, but it echoes our previous life.
    const a = new Node(config, 100n);
    a.until(T0 + 1_000);
    const out = a.apply({ type: "frame", link: 0, frame: frame(40, { leaving: true, echoes: [{ node: "a", sentAt: 12.5, heldMs: 1 }] }) }, T0 + 1_010);
    expect(out.filter((x) => x.type === "event" && x.scope === "peer")).toEqual([
      expect.objectContaining({ to: "up", reason: "first-heard" }),
    ]);
    expect(a.peerState()).toBe("up");
    const b = upAndHeard();
    const old = b.lastSent();
    b.until(T0 + 800);
    b.apply({ type: "frame", link: 0, frame: frame(2, { echoes: [{ node: "a", sentAt: b.lastSent(), heldMs: 1 }] }) }, T0 + 805);
    // Echoes a round of ours older than deadtime: not fresh, so just a frame.
    b.apply({ type: "frame", link: 0, frame: frame(3, { leaving: true, echoes: [{ node: "a", sentAt: old, heldMs: 1 }] }) }, T0 + 810);
    expect(b.peerState()).toBe("up");
    b.apply({ type: "frame", link: 0, frame: frame(4, { leaving: true }) }, T0 + 820);
    expect(b.peerState()).toBe("up");
    // With no further frames it is dead after deadtime, as before goodbyes existed.
    b.until(T0 + 2_000);
    expect(b.peerState()).toBe("dead");
  });

  it("leave: our goodbye round goes on every link at once, and every frame after it is flagged leaving", () => {
    const cfg = membershipConfig(["b"], 2);
    const a = new Node(cfg);
    a.until(T0 + 30);
    const out = a.apply({ type: "leave" }, T0 + 31);
    const sent = out.flatMap((x) => (x.type === "send-heartbeat" ? [x.frame] : []));
    expect(sent.map((f) => [f.link, f.leaving])).toEqual([[0, true], [1, true]]);
    const later = a.apply({ type: "tick" }, T0 + 100).flatMap((x) => (x.type === "send-heartbeat" ? [x.frame] : []));
    expect(later.length).toBeGreaterThan(0);
    expect(later.every((f) => f.leaving === true)).toBe(true);
  });

  it("consumers that know only liveness see a stopped peer as dead", () => {
    expect(deadIfStopped("stopped")).toBe("dead");
    expect(deadIfStopped("late")).toBe("late");
  });
});
