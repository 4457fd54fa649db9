/**
 * Records on a replication link (not answers to our probes) keep a peer
 * alive from the time we read them, but never more than two deadtimes past
 * the deadline its last frame or probe answer gave (RECORD_VOUCH_DEADTIMES): the queues between two
 * processes may hold a record after its sender froze or died
 * ("Records" in src/core/membership/membership.ts).
 */
import { describe, expect, it } from "vitest";
import { PeerWithLinkDriver, T0 } from "./membership-driver.ts";

const VIA = PeerWithLinkDriver.VIA;

class Driver extends PeerWithLinkDriver {
  deaths(): number {
    return this.events().filter((e) => e.scope === "peer" && e.to === "dead").length;
  }
}

describe("records of a peer on a replication link", () => {
  it("keep a peer alive while its frames and answers are late, two deadtimes past their deadline at most", () => {
    const d = new Driver();
    d.heard(1, T0 + 50);
    // Its frames stop (deadline T0 + 550) and nothing answers our probes; records keep coming.
    for (let t = T0 + 60; t <= T0 + 1_540; t += 20) d.record(t);
    // Late (a warning) once within warntime of the bound, never dead before it.
    expect(d.peerState()).toBe("late");
    expect(d.events({ scope: "peer", to: "late" })[0]?.at).toBe(T0 + 1_300);
    expect(d.deaths()).toBe(0);
    // Records still arrive, but the last proven sign was the frame at T0 + 50: dead at T0 + 1550.
    for (let t = T0 + 1_560; t <= T0 + 1_700; t += 20) d.record(t);
    expect(d.peerState()).toBe("dead");
    expect(d.events({ scope: "peer", to: "dead" })[0]?.at).toBe(T0 + 1_550);
  });

  it("count from the time they were read, and stop counting when they stop", () => {
    const d = new Driver();
    d.heard(1, T0 + 50);
    // Read 100 ms before the driver reports it: it vouches for T0 + 300 + 500.
    d.record(T0 + 400, 100);
    d.until(T0 + 799);
    expect(d.peerState()).not.toBe("dead");
    d.until(T0 + 801);
    expect(d.peerState()).toBe("dead");
  });

  it("a frame or a probe's answer moves the bound on", () => {
    const d = new Driver();
    d.heard(1, T0 + 50);
    // An answer to a probe that left at T0 + 600: proven alive then, so records may vouch until T0 + 2100.
    for (let t = T0 + 60; t <= T0 + 590; t += 20) d.record(t);
    d.answer(T0 + 602, 2);
    for (let t = T0 + 620; t <= T0 + 1_840; t += 20) d.record(t);
    expect(d.peerState()).toBe("up");
    for (let t = T0 + 1_860; t <= T0 + 2_080; t += 20) d.record(t);
    expect(d.deaths()).toBe(0);
    d.until(T0 + 2_101);
    expect(d.peerState()).toBe("dead");
  });

  it("bring a late peer up again, and never a dead or never-heard one", () => {
    const d = new Driver();
    d.record(T0 + 10);
    expect(d.peerState()).toBe("unknown");
    d.heard(1, T0 + 50);
    d.until(T0 + 50 + 260);
    expect(d.peerState()).toBe("late");
    d.record(T0 + 320);
    expect(d.peerState()).toBe("up");
    expect(d.events().at(-1)).toMatchObject({ scope: "peer", from: "late", to: "up", reason: "heard-elsewhere", detail: `b is up: its records arrive on ${VIA} (its heartbeat links are silent)` });
    d.until(T0 + 2_000);
    expect(d.peerState()).toBe("dead");
    d.record(T0 + 2_010);
    expect(d.peerState()).toBe("dead");
  });

  it("our own freeze pushes the bound back as it pushes the deadlines", () => {
    const d = new Driver();
    d.heard(1, T0 + 50);
    // We did not run from T0 + 60 to T0 + 1060: the stall credit (gap - interval = 900 ms) moves the bound to T0 + 2450.
    d.record(T0 + 60);
    d.apply({ type: "alive", node: "b", via: VIA, ageMs: 0, proof: "record" }, T0 + 1_060);
    expect(d.log.some((a) => a.type === "stall")).toBe(true);
    for (let t = T0 + 1_080; t <= T0 + 2_440; t += 20) d.record(t);
    expect(d.deaths()).toBe(0);
    d.until(T0 + 2_451);
    expect(d.peerState()).toBe("dead");
  });
});
