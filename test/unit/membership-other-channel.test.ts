/**
 * A mirror module's replication link counts as a heartbeat link: an answer
 * to one of our probes on it keeps an up or late peer alive while its
 * heartbeat links are silent, and never brings back a dead one.
 */
import { describe, expect, it } from "vitest";
import { PeerWithLinkDriver, T0 } from "./membership-driver.ts";

const VIA = PeerWithLinkDriver.VIA;
const Driver = PeerWithLinkDriver;

describe("another channel to a peer (a replication link)", () => {
  it("keeps a peer alive while only the replication link answers; its heartbeat link still goes down", () => {
    const d = new Driver();
    d.heard(1, T0 + 50);
    // Heartbeats stop; the replication link answers a probe every interval (answered 2 ms after it left).
    for (let t = T0 + 150; t <= T0 + 2_950; t += 100) d.step({ type: "alive", node: "b", via: VIA, ageMs: 2 }, t);
    expect(d.peerState()).toBe("up");
    expect(d.events().filter((e) => e.scope === "peer" && e.to === "dead")).toEqual([]);
    expect(d.events().some((e) => e.scope === "link" && e.to === "down")).toBe(true);
    // The answers stop too: dead one deadtime after the last answered probe left (T0 + 2948).
    d.until(T0 + 3_447);
    expect(d.peerState()).not.toBe("dead");
    d.until(T0 + 3_449);
    expect(d.peerState()).toBe("dead");
  });

  it("brings a late peer back up, saying where it was heard", () => {
    const d = new Driver();
    d.heard(1, T0 + 50);
    d.until(T0 + 50 + 260);
    expect(d.peerState()).toBe("late");
    d.step({ type: "alive", node: "b", via: VIA, ageMs: 3 }, T0 + 320);
    expect(d.peerState()).toBe("up");
    expect(d.events().at(-1)).toMatchObject({ scope: "peer", from: "late", to: "up", reason: "heard-elsewhere", detail: `b is up: it answered on ${VIA} (its heartbeat links are silent)` });
  });

  it("never brings back a dead or never-heard peer, and an answer to an old probe moves nothing", () => {
    const d = new Driver();
    d.step({ type: "alive", node: "b", via: VIA, ageMs: 1 }, T0 + 10);
    expect(d.peerState()).toBe("unknown");
    d.heard(1, T0 + 50);
    d.until(T0 + 600);
    expect(d.peerState()).toBe("dead");
    d.step({ type: "alive", node: "b", via: VIA, ageMs: 1 }, T0 + 700);
    expect(d.peerState()).toBe("dead");

    const e = new Driver();
    e.heard(1, T0 + 400);
    const deadAt = e.state.peers[0]?.deadAt;
    // Its probe left before the last frame came: it proves less than the frame did.
    e.step({ type: "alive", node: "b", via: VIA, ageMs: 100 }, T0 + 450);
    expect(e.state.peers[0]?.deadAt).toBe(deadAt);
    e.step({ type: "alive", node: "b", via: VIA, ageMs: -5 }, T0 + 460);
    expect(e.state.peers[0]?.deadAt).toBe(deadAt);
  });
});
