/**
 * Rule 8 of the mirror core: a copy record that cannot be saved (a full
 * state dir) holds the copy still, and the hold ends by itself once the
 * record can be written: a takeover waits with the reason and happens when
 * space returns; a SECOND that cannot record "outdated" tells its peer what
 * its disk holds; a PRIM whose new gen cannot be saved holds writes instead
 * of acknowledging them alone.
 */
import { describe, expect, it } from "vitest";
import { genCounter } from "../../src/core/mirror/copy.ts";
import { mirrorWakeAt } from "../../src/core/mirror/mirror.ts";
import type { MirrorAction } from "../../src/core/mirror/types.ts";
import { connectCores as connect, inSyncCorePair as inSyncPair, MirrorCoreNode as Node } from "./mirror-core-node.ts";

const persists = (actions: readonly MirrorAction[]) => actions.filter((x) => x.type === "persist");
const notes = (n: Node, kind: string) => n.log.filter((x) => x.type === "note" && x.kind === kind);

/** Ticks as the driver's timer would, up to `t`. */
function runUntil(n: Node, t: number): MirrorAction[] {
  const out: MirrorAction[] = [];
  for (let guard = 0; guard < 1000; guard++) {
    const at = mirrorWakeAt(n.s);
    if (at === null || at > t) break;
    out.push(...n.step({ type: "tick" }, at));
  }
  return out;
}

describe("mirror core: a copy record that cannot be saved (rule 8)", () => {
  it("a takeover on a full state dir waits with the reason, retries, and happens once space returns, with one gen bump", () => {
    const { b } = inSyncPair();
    const gen = b.s.copy.gen;
    const onDisk = b.disk;
    b.step({ type: "link-down", detail: "connection reset" }, 100);
    b.step({ type: "peer", liveness: "dead" }, 600);
    b.full = true;
    // The module core claims: the record (writing, a new gen) cannot be saved.
    b.step({ type: "role", role: "ALONE" }, 610);
    expect(b.disk).toEqual(onDisk);
    expect(b.s.unsaved?.detail).toBe("state dir /state full (ENOSPC)");
    expect(b.s.gate).toMatch(/copy record not saved \(state dir \/state full \(ENOSPC\)\).*retrying every 1 s/);
    expect(b.s.writes).toBe("hold");
    expect(notes(b, "record-unsaved")).toHaveLength(1);
    // The module core steps back (its mirror start is refused): the unsaved new gen is forgotten.
    b.step({ type: "role", role: "WAIT" }, 611);
    expect(b.s.copy.gen).toBe(gen);
    expect(b.s.gate).toBe("cannot take over: copy record not saved (state dir /state full (ENOSPC)); retrying every 1 s");
    expect(b.s.mark).toBe("u");
    // Retried every second, not sooner, while the disk stays full; logged once.
    expect(persists(b.step({ type: "tick" }, 1000))).toEqual([]);
    expect(persists(runUntil(b, 5000)).length).toBeGreaterThanOrEqual(4);
    expect(b.s.gate).toMatch(/cannot take over/);
    expect(notes(b, "record-unsaved")).toHaveLength(1);
    expect(b.disk).toEqual(onDisk);
    // Space again: the next retry saves it and the gate opens by itself.
    b.full = false;
    runUntil(b, 7000);
    expect(b.s.unsaved).toBeNull();
    expect(b.s.gate).toBeNull();
    expect(notes(b, "record-saved")).toHaveLength(1);
    expect(mirrorWakeAt(b.s)).toBeNull();
    // The takeover: one new gen above the old one, saved before any write is acknowledged alone.
    const out = b.step({ type: "role", role: "ALONE" }, 7001);
    expect(b.disk?.gen).toBe(`${genCounter(gen) + 1}:b`);
    expect(b.disk?.history[0]).toBe(gen);
    expect(b.disk?.writing).toBe(true);
    const order = out.map((x) => x.type);
    expect(order.indexOf("persist")).toBeLessThan(order.lastIndexOf("writes"));
    expect(b.s.writes).toBe("alone");
  });

  it("while unsaved the peer is told the copy on disk: an unsaved new gen never makes it outdated", () => {
    const { a, b } = inSyncPair();
    b.step({ type: "link-down", detail: "connection reset" }, 100);
    b.step({ type: "peer", liveness: "dead" }, 600);
    // Its ALONE leaves once the disk is full: the new gen, decided then, cannot be saved.
    b.announces = false;
    b.step({ type: "role", role: "ALONE" }, 610);
    b.full = true;
    b.step({ type: "alone-announced" }, 610);
    expect(b.s.copy.gen).not.toBe(a.s.copy.gen);
    expect(b.wire().gen).toBe(a.s.copy.gen);
    // A comes back after a crash while B still cannot save: A is compared with what B's disk holds.
    b.step({ type: "role", role: "WAIT" }, 611);
    a.restart(700);
    a.step({ type: "peer", liveness: "up" }, 701);
    b.step({ type: "peer", liveness: "up" }, 701);
    connect(a, b, 702);
    // Same gen: A gives way only because its daemon died while writing, not to a newer gen of B's.
    expect(a.disk?.gen).toBe(b.disk?.gen);
    expect(a.log.filter((x) => x.type === "note" && /newer data/.test(x.detail))).toEqual([]);
    expect(a.log.some((x) => x.type === "note" && /being written when this node's daemon stopped/.test(x.detail))).toBe(true);
  });

  it("a SECOND that cannot record that it is outdated says so all the same, and never serves meanwhile", () => {
    const { a, b } = inSyncPair();
    b.full = true;
    // An op of the PRIM fails here (the driver applies nothing while the record is unsaved).
    b.step({ type: "apply-failed", detail: "write rec.log: ENOSPC" }, 100);
    expect(b.s.copy.data).toBe("outdated");
    expect(b.disk?.data).toBe("uptodate");
    // Saying less than the disk: the PRIM may go on alone on it (point 10), rather than hold its writes.
    expect(b.s.mark).toBe("o");
    expect(b.s.gate).toMatch(/cannot take over: copy record not saved/);
    // The PRIM, told the op failed there, goes on alone: it bumps its gen and acknowledges.
    a.step({ type: "peer-apply-failed", detail: "b applies nothing while its copy record is not saved" }, 101);
    // Its resync is refused by B (the driver takes none while unsaved): A journals and acknowledges alone.
    expect(a.log.some((x) => x.type === "resync")).toBe(true);
    a.step({ type: "resync-failed", detail: "b takes no resync while its copy record is not saved", touched: false }, 102);
    expect(a.s.writes).toBe("alone");
    expect(a.disk?.peerBehind).toBe(true);
    // The PRIM dies: B does not take over while unsaved, nor after, since it is outdated.
    b.step({ type: "link-down", detail: "reset" }, 200);
    b.step({ type: "peer", liveness: "dead" }, 700);
    expect(b.s.gate).not.toBeNull();
    b.full = false;
    runUntil(b, 2000);
    expect(b.disk?.data).toBe("outdated");
    expect(b.s.mark).toBe("o");
    expect(b.s.gate).toMatch(/outdated/);
  });

  it("a copy the peer resynced is not told up to date before that is on disk", () => {
    const { a, b } = inSyncPair();
    a.step({ type: "peer-apply-failed", detail: "EIO" }, 100);
    b.step({ type: "resync-incoming" }, 101);
    expect(b.s.mark).toBe("i");
    b.full = true;
    b.step({ type: "resync-complete", gen: a.s.copy.gen, history: a.s.copy.history }, 102);
    expect(b.s.copy.data).toBe("uptodate");
    expect(b.disk?.data).toBe("inconsistent");
    expect(b.s.mark).toBe("i");
    expect(b.wire().data).toBe("inconsistent");
    b.full = false;
    runUntil(b, 2000);
    expect(b.s.mark).toBe("u");
  });

  it("a SECOND that restarts before it could record that it is outdated waits to compare (rule 1)", () => {
    const { b } = inSyncPair();
    b.full = true;
    b.step({ type: "apply-failed", detail: "write rec.log: ENOSPC" }, 100);
    b.restart(200);
    b.step({ type: "peer", liveness: "dead" }, 800);
    expect(b.s.gate).toMatch(/not known to be up to date/);
  });

  it("a PRIM whose new gen cannot be saved when its peer dies holds writes, and goes on alone once it is saved", () => {
    const { a, b } = inSyncPair();
    const gen = a.s.copy.gen;
    a.full = true;
    a.step({ type: "link-down", detail: "reset" }, 100);
    a.step({ type: "peer", liveness: "dead" }, 600);
    a.step({ type: "role", role: "ALONE" }, 601);
    expect(a.s.writes).toBe("hold");
    expect(a.disk?.gen).toBe(gen);
    expect(a.s.gate).toMatch(/writes that need it are held/);
    a.full = false;
    runUntil(a, 3000);
    expect(a.s.writes).toBe("alone");
    expect(a.disk?.gen).toBe(`${genCounter(gen) + 1}:a`);
    expect(a.disk?.peerBehind).toBe(true);
    expect(a.s.gate).toBeNull();
    void b;
  });
  it("a PRIM whose returning peer cannot save its record (and so refuses the resync) writes alone, not to it", () => {
    const { a, b } = inSyncPair();
    a.step({ type: "link-down", detail: "connection reset" }, 100);
    b.step({ type: "link-down", detail: "connection reset" }, 100);
    a.step({ type: "peer", liveness: "dead" }, 600);
    a.step({ type: "role", role: "ALONE" }, 610);
    expect(a.s.writes).toBe("alone");
    // b comes back on a full state dir: it learns it is outdated but cannot write that down.
    b.full = true;
    b.restart(1000);
    b.step({ type: "peer", liveness: "up" }, 1001);
    a.step({ type: "peer", liveness: "up" }, 1001);
    const told = b.wire();
    b.step({ type: "link-up", peer: a.wire(), gap: false }, 1002);
    expect(b.s.unsaved).not.toBeNull();
    expect(b.s.mark).toBe("o");
    a.step({ type: "peer-mark", mark: b.s.mark, running: false }, 1003);
    // Its hello told the record on disk (up to date, the old gen): a resyncs it, b refuses (rule 8).
    a.step({ type: "link-up", peer: told, gap: true }, 1003);
    expect(a.s.resyncing).toBe(true);
    a.step({ type: "resync-failed", detail: "b did not accept the resync", touched: false }, 1004);
    // Held writes and new ones are journaled and acknowledged here, not left waiting for a resync b refuses.
    expect(a.s.writes).toBe("alone");
    // No new gen for it: a already wrote alone since b left.
    expect(genCounter(a.s.copy.gen)).toBe(genCounter(told.gen) + 1);
  });
});
