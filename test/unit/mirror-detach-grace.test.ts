/**
 * Rule 4 of the mirror core (src/core/mirror/mirror.ts): when a SECOND whose
 * replication link is down declares its copy outdated. It must do so as soon
 * as its PRIM may acknowledge writes alone (the PRIM says ALONE), and once it
 * still hears its PRIM after the detach grace (so a PRIM holding its writes
 * goes on); never for a PRIM it no longer hears, however late the
 * heartbeat's dead verdict on it comes (the SECOND's own stall credit, a
 * young PRIM's start-up grace): that SECOND holds every acknowledged write
 * and must take over.
 */
import { describe, expect, it } from "vitest";
import { coreTimers, inSyncCorePair } from "./mirror-core-node.ts";

const GRACE = coreTimers.detachGraceMs;

describe("mirror core, rule 4: the detach grace", () => {
  it("a killed PRIM whose dead verdict comes long after the grace: its SECOND stays up to date and takes over", () => {
    const { b } = inSyncCorePair();
    // The link sees the PRIM go at once (connection refused); its last frames were already here.
    b.step({ type: "peer-mark", mark: "u", running: true, heardAt: 95 }, 98);
    b.step({ type: "link-down", detail: "connection refused" }, 100);
    for (let t = 200; t <= 100 + 3 * GRACE; t += 100) b.step({ type: "tick" }, t);
    expect(b.s.copy.data).toBe("uptodate");
    expect(b.s.mark).toBe("u");
    // The verdict, stretched by this node's stall credit and the PRIM's start-up grace.
    b.step({ type: "peer", liveness: "dead" }, 100 + 3 * GRACE);
    expect(b.s.gate).toBeNull();
    b.step({ type: "role", role: "ALONE" }, 100 + 3 * GRACE + 10);
    expect(b.s.writes).toBe("alone");
  });

  it("frames of the killed PRIM read late (this node stalled) count from their arrival, not from their reading", () => {
    const { b } = inSyncCorePair();
    b.step({ type: "link-down", detail: "connection refused" }, 100);
    // A frame sent just before the kill, on its way as the link went down, and read a stall later.
    b.step({ type: "peer-mark", mark: "u", running: true, heardAt: 104 }, 100 + 2 * GRACE);
    expect(b.s.copy.data).toBe("uptodate");
    b.step({ type: "peer", liveness: "dead" }, 100 + 3 * GRACE);
    expect(b.s.gate).toBeNull();
  });

  it("a PRIM still heard after the grace gets the outdated mark, however late the frame is read; not before the grace", () => {
    const { a, b } = inSyncCorePair();
    a.step({ type: "link-down", detail: "cut" }, 100);
    b.step({ type: "link-down", detail: "cut" }, 100);
    b.step({ type: "peer-mark", mark: "u", running: true, heardAt: 100 + GRACE - 1 }, 100 + GRACE - 1);
    expect(b.s.copy.data).toBe("uptodate");
    // Arrived at the grace's end, read after a stall of this node.
    const acts = b.step({ type: "peer-mark", mark: "u", running: true, heardAt: 100 + GRACE }, 100 + 3 * GRACE);
    expect(acts.map((x) => x.type)).toEqual(["persist", "note", "gate", "mark"]);
    expect(b.disk?.data).toBe("outdated");
    expect(b.s.gate).toMatch(/outdated/);
    // The PRIM, which held its writes, goes on alone on the mark.
    expect(a.s.writes).toBe("hold");
    a.step({ type: "peer-mark", mark: "o", running: false }, 100 + 3 * GRACE + 50);
    expect(a.s.writes).toBe("alone");
  });

  it("a PRIM that says ALONE while the link is down outdates its SECOND at once: its death right after finds that copy waiting", () => {
    const { a, b } = inSyncCorePair();
    // The PRIM called the (stalled) SECOND dead and dropped the link: it acknowledges alone.
    a.step({ type: "link-down", detail: "nothing heard for 500 ms" }, 100);
    a.step({ type: "peer", liveness: "dead" }, 110);
    a.step({ type: "role", role: "ALONE" }, 110);
    expect(a.s.writes).toBe("alone");
    b.step({ type: "link-down", detail: "closed by peer" }, 150);
    const acts = b.step({ type: "peer-mark", mark: "u", running: true, alone: true, heardAt: 160 }, 170);
    expect(acts[0]).toMatchObject({ type: "persist", copy: { data: "outdated" } });
    expect(acts.find((x) => x.type === "note")).toMatchObject({ kind: "outdated", detail: expect.stringContaining("goes on alone") });
    // The PRIM dies within the grace; the verdict comes on time: this copy must not be served.
    b.step({ type: "peer", liveness: "dead" }, 700);
    expect(b.s.gate).toMatch(/outdated/);
  });

  it("an ALONE heard while the link was up counts once the link goes down; the PRIM's next role clears it", () => {
    const { b } = inSyncCorePair();
    b.step({ type: "peer-mark", mark: "u", running: true, alone: true, heardAt: 50 }, 50);
    expect(b.s.copy.data).toBe("uptodate");
    b.step({ type: "link-down", detail: "reset" }, 100);
    expect(b.disk?.data).toBe("outdated");

    const { b: c } = inSyncCorePair();
    c.step({ type: "peer-mark", mark: "u", running: true, alone: true, heardAt: 50 }, 50);
    c.step({ type: "peer-mark", mark: "u", running: true, heardAt: 60 }, 60);
    c.step({ type: "link-down", detail: "reset" }, 100);
    expect(c.disk?.data).toBe("uptodate");
  });

  it("a SECOND that runs the module, or whose PRIM was called dead first, is not outdated by a later frame", () => {
    const { b } = inSyncCorePair();
    b.step({ type: "link-down", detail: "reset" }, 100);
    b.step({ type: "peer", liveness: "dead" }, 600);
    b.step({ type: "role", role: "ALONE" }, 610);
    // The old PRIM comes back (it was frozen) and says ALONE too: the module core settles it; the data waits for the link.
    b.step({ type: "peer", liveness: "up" }, 2000);
    b.step({ type: "peer-mark", mark: "u", running: true, alone: true, heardAt: 2000 }, 2000);
    expect(b.s.copy.data).toBe("uptodate");
  });
});
