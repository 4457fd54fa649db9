/**
 * Rule 3 (b)'s announcement (src/core/mirror/alone-announce.ts): a PRIM that
 * called its peer dead and runs ALONE acknowledges nothing alone before a
 * heartbeat round carrying its ALONE has left ("announce-alone", answered by
 * "alone-announced"), so a SECOND that never heard ALONE never misses a write
 * acknowledged alone (rule 4 outdates it when it hears ALONE).
 */
import { describe, expect, it } from "vitest";
import { mirrorWakeAt } from "../../src/core/mirror/mirror.ts";
import { ANNOUNCE_RETRY_MS } from "../../src/core/mirror/alone-announce.ts";
import type { MirrorAction } from "../../src/core/mirror/types.ts";
import { inSyncCorePair } from "./mirror-core-node.ts";

const kinds = (acts: readonly MirrorAction[]) => acts.map((x) => (x.type === "writes" ? `writes ${x.mode}` : x.type));

/** a PRIM, b its up-to-date SECOND; a's announcements are answered by hand. */
function pair() {
  const p = inSyncCorePair();
  p.a.announces = false;
  return p;
}

describe("mirror core, rule 3 (b): the ALONE leaves before the first write acknowledged alone", () => {
  it("a PRIM that goes ALONE with its link down holds writes and asks for its ALONE round; once it left, the new gen, then writes alone", () => {
    const { a } = pair();
    a.step({ type: "link-down", detail: "nothing heard for 500 ms" }, 100);
    a.step({ type: "role", role: "ALONE" }, 600);
    const asked = a.step({ type: "peer", liveness: "dead" }, 600);
    expect(kinds(asked)).toContain("announce-alone");
    expect(a.s.writes).toBe("hold");
    expect(asked.some((x) => x.type === "persist" && x.copy.gen !== a.disk?.gen)).toBe(false);
    const genBefore = a.disk?.gen;
    const sent = a.step({ type: "alone-announced" }, 601);
    expect(kinds(sent)).toEqual(["persist", "note", "writes alone"]);
    expect(a.disk?.gen).not.toBe(genBefore);
    expect(a.s.writes).toBe("alone");
    // Asked once: later steps of the same ALONE ask nothing.
    expect(kinds(a.step({ type: "tick" }, 600 + 5 * ANNOUNCE_RETRY_MS))).not.toContain("announce-alone");
  });

  it("asked while the link is still up: replicating meanwhile, and alone at once when the link goes down after the round left", () => {
    const { a } = pair();
    a.step({ type: "role", role: "ALONE" }, 600);
    expect(kinds(a.step({ type: "peer", liveness: "dead" }, 600))).toContain("announce-alone");
    expect(a.s.writes).toBe("replicate");
    a.step({ type: "alone-announced" }, 601);
    expect(a.s.writes).toBe("replicate");
    const down = a.step({ type: "link-down", detail: "reset" }, 700);
    expect(kinds(down)).not.toContain("announce-alone");
    expect(a.s.writes).toBe("alone");
  });

  it("an unanswered ask is asked again after ANNOUNCE_RETRY_MS, and writes stay held until one is answered", () => {
    const { a } = pair();
    a.step({ type: "link-down", detail: "cable pulled" }, 100);
    a.step({ type: "role", role: "ALONE" }, 600);
    a.step({ type: "peer", liveness: "dead" }, 600);
    expect(mirrorWakeAt(a.s)).toBe(600 + ANNOUNCE_RETRY_MS);
    expect(kinds(a.step({ type: "tick" }, 600 + ANNOUNCE_RETRY_MS - 1))).not.toContain("announce-alone");
    expect(a.s.writes).toBe("hold");
    expect(kinds(a.step({ type: "tick" }, 600 + ANNOUNCE_RETRY_MS))).toContain("announce-alone");
    a.step({ type: "alone-announced" }, 600 + ANNOUNCE_RETRY_MS + 1);
    expect(a.s.writes).toBe("alone");
    expect(mirrorWakeAt(a.s)).toBeNull();
  });

  it("an answer outside ALONE counts for nothing; each new ALONE is announced again", () => {
    const { a } = pair();
    a.step({ type: "link-down", detail: "cable pulled" }, 100);
    // Unasked (still PRIM, peer alive): ignored.
    a.step({ type: "alone-announced" }, 150);
    a.step({ type: "role", role: "ALONE" }, 600);
    a.step({ type: "peer", liveness: "dead" }, 600);
    expect(a.s.writes).toBe("hold");
    a.step({ type: "alone-announced" }, 601);
    expect(a.s.writes).toBe("alone");
    // The peer is heard again, the module core makes this node PRIM, then the peer dies again.
    a.step({ type: "peer", liveness: "up" }, 2000);
    a.step({ type: "role", role: "PRIM" }, 2000);
    a.step({ type: "role", role: "ALONE" }, 3000);
    const again = a.step({ type: "peer", liveness: "dead" }, 3000);
    expect(kinds(again)).toContain("announce-alone");
    expect(a.s.writes).toBe("hold");
  });

  it("alone on the peer's persisted outdated mark (rule 3 (a)) needs no announcement", () => {
    const { a } = pair();
    a.step({ type: "link-down", detail: "cut" }, 100);
    const acts = a.step({ type: "peer-mark", mark: "o", running: false }, 900);
    expect(kinds(acts)).not.toContain("announce-alone");
    expect(a.s.writes).toBe("alone");
  });

  it("a PRIM killed right after its first write acknowledged alone: the SECOND heard its ALONE round first and waits, outdated", () => {
    const { a, b } = pair();
    // b stalls: a calls it dead and drops the link.
    a.step({ type: "link-down", detail: "nothing heard for 500 ms" }, 100);
    a.step({ type: "role", role: "ALONE" }, 600);
    const asked = a.step({ type: "peer", liveness: "dead" }, 600);
    expect(kinds(asked)).toContain("announce-alone");
    // The round leaves: b, stalled, takes it when it runs again (with its arrival); only then is a write acknowledged alone.
    const frame = { type: "peer-mark" as const, mark: a.s.mark, running: true, alone: a.s.role === "ALONE", heardAt: 600 };
    a.step({ type: "alone-announced" }, 600);
    expect(a.s.writes).toBe("alone");
    // a is killed now. b runs again: the frame first, then it notices the link gone, then its verdict.
    b.step(frame, 900);
    b.step({ type: "link-down", detail: "reset" }, 900);
    expect(b.disk?.data).toBe("outdated");
    b.step({ type: "peer", liveness: "dead" }, 1500);
    expect(b.s.gate).toMatch(/outdated/);
  });
});
