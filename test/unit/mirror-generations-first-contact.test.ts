/**
 * Rule 7 of the mirror core (src/core/mirror/mirror.ts): new copies (gen
 * "0:") at their first contact. Exactly one is the source of the first
 * sync; the other is inconsistent (persisted before its gate or mark
 * changes) until a first sync completes into it, so a source that dies in
 * the first-sync window never leaves a never-synced copy to take over.
 */
import { describe, expect, it } from "vitest";
import { type CopyRecord, freshCopy } from "../../src/core/mirror/copy.ts";
import { firstSyncSource } from "../../src/core/mirror/mirror.ts";
import type { MirrorAction } from "../../src/core/mirror/types.ts";
import { MirrorCoreNode as Node } from "./mirror-core-node.ts";

function meet(a: Node, b: Node, now: number): void {
  a.step({ type: "peer", liveness: "up" }, now);
  b.step({ type: "peer", liveness: "up" }, now);
  const wa = a.wire();
  const wb = b.wire();
  a.step({ type: "link-up", peer: wb, gap: false }, now);
  b.step({ type: "link-up", peer: wa, gap: false }, now);
}

function resyncOf(actions: readonly MirrorAction[]): Extract<MirrorAction, { type: "resync" }> | undefined {
  return actions.find((x): x is Extract<MirrorAction, { type: "resync" }> => x.type === "resync");
}

describe("mirror core, rule 7: two new copies meet", () => {
  it("both nodes name the same source: the preferred node, else the lower name", () => {
    expect(firstSyncSource("a", "b", null).source).toBe("a");
    expect(firstSyncSource("b", "a", null).source).toBe("a");
    expect(firstSyncSource("a", "b", "b").source).toBe("b");
    expect(firstSyncSource("b", "a", "b").source).toBe("b");
    // A preferred node that is neither of the two (a config naming a third node): the lower name.
    expect(firstSyncSource("b", "a", "c").source).toBe("a");
  });

  it("the other copy is inconsistent from the first contact on, persisted before its gate and mark say so", () => {
    const a = new Node("a", "b", null);
    const b = new Node("b", "a", null);
    b.step({ type: "peer", liveness: "up" }, 1);
    const acts = b.step({ type: "link-up", peer: a.wire(), gap: false }, 2);
    expect(b.disk?.data).toBe("inconsistent");
    expect(b.disk?.gen).toBe("0:");
    const persistAt = acts.findIndex((x) => x.type === "persist" && x.copy.data === "inconsistent");
    const gateAt = acts.findIndex((x) => x.type === "gate");
    const markAt = acts.findIndex((x) => x.type === "mark");
    expect(persistAt).toBeGreaterThanOrEqual(0);
    expect(gateAt).toBeGreaterThan(persistAt);
    expect(markAt).toBeGreaterThan(persistAt);
    expect(b.s.gate).toMatch(/never received its first sync from a/);
    expect(b.s.mark).toBe("i");
    // The source may serve: it is confirmed, ungated, "u".
    a.step({ type: "peer", liveness: "up" }, 1);
    a.step({ type: "link-up", peer: b.wire(), gap: false }, 2);
    expect(a.s.gate).toBeNull();
    expect(a.s.mark).toBe("u");
    expect(a.disk?.data).toBe("uptodate");
  });

  it("prefer names the source: with prefer b, a's copy waits", () => {
    const a = new Node("a", "b", null, "b");
    const b = new Node("b", "a", null, "b");
    meet(a, b, 1);
    expect(a.s.copy.data).toBe("inconsistent");
    expect(a.s.gate).not.toBeNull();
    expect(b.s.gate).toBeNull();
  });

  it("the same answer whichever side compares first, and whatever the peer's copy said in its hello", () => {
    // b's hello reached a while b was still "up to date" (b had not compared yet): a is the source either way.
    const a = new Node("a", "b", null);
    const b = new Node("b", "a", null);
    const staleB = b.wire();
    b.step({ type: "link-up", peer: a.wire(), gap: false }, 1);
    a.step({ type: "link-up", peer: staleB, gap: false }, 2);
    expect(a.s.gate).toBeNull();
    expect(b.s.gate).not.toBeNull();
    // And a fresh hello from b now (inconsistent) changes nothing for a.
    a.step({ type: "link-down", detail: "blip" }, 3);
    a.step({ type: "link-up", peer: b.wire(), gap: false }, 4);
    expect(a.s.gate).toBeNull();
  });

  it("the source dies in the first-sync window (gen bumped, no byte sent yet): the other copy never takes over on its own", () => {
    const a = new Node("a", "b", null);
    const b = new Node("b", "a", null);
    meet(a, b, 1);
    a.step({ type: "role", role: "PRIM" }, 2);
    expect(a.disk?.gen).toBe("1:a");
    expect(resyncOf(a.log)).toMatchObject({ mode: "full", keepConflicts: true });
    b.step({ type: "role", role: "WAIT" }, 2);
    // a's daemon is SIGKILLed before its resync-begin reached b.
    b.step({ type: "link-down", detail: "reset" }, 5);
    b.step({ type: "peer", liveness: "dead" }, 600);
    b.step({ type: "tick" }, 5000);
    expect(b.s.gate).toMatch(/never received its first sync/);
    // b restarts alone: its record still says so.
    b.restart();
    b.step({ type: "peer", liveness: "dead" }, 600);
    expect(b.s.gate).toMatch(/never received its first sync/);
    expect(b.s.mark).toBe("i");
    // a comes back: its gen is newer; its resync keeps b's own files aside first.
    a.restart();
    expect(a.s.gate).toBeNull(); // the last writer (peerBehind)
    meet(a, b, 6000);
    expect(b.s.gate).not.toBeNull();
    a.step({ type: "role", role: "PRIM" }, 6001);
    expect(resyncOf(a.log)).toMatchObject({ mode: "full", keepConflicts: true });
  });

  it("the source dies before it ever ran (nothing persisted): it is the source again when it comes back, and keeps the other's files aside", () => {
    const a = new Node("a", "b", null);
    const b = new Node("b", "a", null);
    meet(a, b, 1);
    b.step({ type: "role", role: "WAIT" }, 2);
    b.step({ type: "link-down", detail: "reset" }, 3);
    b.step({ type: "peer", liveness: "dead" }, 600);
    expect(b.s.gate).not.toBeNull();
    a.restart();
    expect(a.disk?.gen).toBe("0:");
    expect(a.s.gate).not.toBeNull(); // alone, a new copy waits too
    meet(a, b, 1000);
    expect(a.s.gate).toBeNull();
    expect(b.s.gate).not.toBeNull();
    a.step({ type: "role", role: "PRIM" }, 1001);
    expect(resyncOf(a.log)).toMatchObject({ mode: "full", keepConflicts: true });
    b.step({ type: "resync-incoming" }, 1002);
    b.step({ type: "resync-complete", gen: a.s.copy.gen, history: a.s.copy.history }, 1003);
    a.step({ type: "resync-done" }, 1003);
    expect(b.s.gate).toBeNull();
    expect(b.s.copy).toMatchObject({ gen: "1:a", data: "uptodate" });
    // Now in sync: b may take over when a dies.
    a.step({ type: "role", role: "PRIM" }, 1004);
    expect(a.s.writes).toBe("replicate");
  });

  it("a brand-new pair runs: the source is elected, the first sync completes, then the other is an ordinary SECOND", () => {
    const a = new Node("a", "b", null);
    const b = new Node("b", "a", null);
    meet(a, b, 1);
    a.step({ type: "role", role: "PRIM" }, 2);
    b.step({ type: "role", role: "WAIT" }, 2);
    // The PRIM journals while the target's copy is known incomplete and no resync runs, and until the target
    // accepted the first sync (which keeps its own files aside: its keeper exists from then on); replicates after.
    expect(a.s.writes).toBe("alone");
    a.step({ type: "resync-begun" }, 3);
    expect(a.s.writes).toBe("replicate");
    b.step({ type: "resync-incoming" }, 3);
    b.step({ type: "resync-complete", gen: a.s.copy.gen, history: a.s.copy.history }, 10);
    a.step({ type: "resync-done" }, 10);
    expect(b.s.gate).toBeNull();
    expect(b.s.mark).toBe("u");
    // The PRIM dies now: b holds every acknowledged write and takes over.
    b.step({ type: "link-down", detail: "reset" }, 20);
    b.step({ type: "peer", liveness: "dead" }, 600);
    expect(b.s.gate).toBeNull();
  });

  it("two new copies neither of which is up to date: none serves until forceprim", () => {
    const rec = { ...freshCopy(0), data: "inconsistent" as const };
    const a = new Node("a", "b", rec);
    const b = new Node("b", "a", rec);
    meet(a, b, 1);
    expect(a.s.gate).not.toBeNull();
    expect(b.s.gate).not.toBeNull();
    expect(a.disk?.data).toBe("inconsistent");
  });
});

describe("mirror core, rule 7: a new copy and a copy with data", () => {
  it("a new node joins a peer with real data: its copy is inconsistent (never synced), and the resync keeps its own files aside", () => {
    const held: CopyRecord = { ...freshCopy(0), gen: "3:a", history: ["2:b", "1:a", "0:"], topCounter: 3 };
    const a = new Node("a", "b", held);
    const b = new Node("b", "a", null);
    meet(a, b, 1);
    expect(b.s.copy.data).toBe("inconsistent");
    expect(b.s.gate).toMatch(/never received its first sync/);
    a.step({ type: "role", role: "PRIM" }, 2);
    // Old rule: "ours-newer" gave keepConflicts false, and the new copy's files went without a trace.
    expect(resyncOf(a.log)).toMatchObject({ mode: "full", keepConflicts: true });
  });

  it("a new copy never outranks a copy that held data, even an outdated one: neither serves on its own", () => {
    // a was the SECOND and is outdated (the old b wrote alone); b's machine was replaced by a new one.
    const outdated: CopyRecord = { ...freshCopy(0), gen: "3:a", history: ["2:a", "0:"], data: "outdated", topCounter: 3 };
    const a = new Node("a", "b", outdated);
    const b = new Node("b", "a", null);
    meet(a, b, 1);
    expect(b.s.gate).not.toBeNull();
    expect(b.s.copy.data).not.toBe("uptodate");
    expect(a.s.gate).toMatch(/outdated and b's is new/);
    // forceprim on a: the operator names the data; b is then resynced from it, its own files kept aside.
    a.step({ type: "forced" }, 2);
    a.step({ type: "role", role: "PRIM" }, 2);
    expect(a.disk?.forcedAt).toBe(2);
    expect(resyncOf(a.log)).toMatchObject({ keepConflicts: true });
  });
});

describe("mirror core, rule 7: forceprim and the record of what was kept", () => {
  it("forceprim serves a never-synced copy, records it, and moves to a gen of its own", () => {
    const a = new Node("a", "b", null);
    const b = new Node("b", "a", null);
    meet(a, b, 1);
    a.step({ type: "role", role: "PRIM" }, 2); // a's gen 1:a, persisted; a dies
    b.step({ type: "link-down", detail: "reset" }, 3);
    b.step({ type: "peer", liveness: "dead" }, 600);
    const forced = b.step({ type: "forced" }, 700);
    expect(forced.find((x) => x.type === "note" && x.kind === "forced")).toMatchObject({ level: "warn", detail: expect.stringMatching(/never received its first sync from a: its folder becomes the cluster's data/) });
    expect(b.disk).toMatchObject({ data: "uptodate", forcedAt: 700 });
    b.step({ type: "role", role: "ALONE" }, 700);
    expect(b.disk?.gen).toBe("1:b");
    expect(b.s.writes).toBe("alone");
    // a comes back with its own gen: both moved on from "0:", a split brain that keeps a's divergent files.
    a.restart();
    meet(a, b, 800);
    expect(a.s.splitBrain).not.toBeNull();
    expect(a.s.copy.data).toBe("outdated");
  });

  it("files a new copy held before its first sync are recorded as such when kept", () => {
    const b = new Node("b", "a", null);
    b.step({ type: "conflict-kept", path: "/state/conflicts/vms/T", cause: "first-sync" }, 1);
    expect(b.disk).toMatchObject({ conflictKind: "first-sync" });
    expect(b.disk?.conflict).toMatch(/held files of its own before its first sync from a: .* kept in \/state\/conflicts\/vms\/T/);
    b.step({ type: "ack" }, 2);
    expect(b.disk?.conflict).toBeNull();
  });
});

describe("mirror core, rule 7: which new copy holds files", () => {
  it("both nodes name the same source from the same facts, whichever side computes it", () => {
    const facts = [true, false, null];
    for (const prefer of [null, "a", "b"]) {
      for (const fa of facts) {
        for (const fb of facts) {
          expect(firstSyncSource("a", "b", prefer, fa, fb).source).toBe(firstSyncSource("b", "a", prefer, fb, fa).source);
        }
      }
    }
    expect(firstSyncSource("a", "b", null, false, true).source).toBe("b");
    expect(firstSyncSource("a", "b", null, true, false).source).toBe("a");
    expect(firstSyncSource("a", "b", null, false, false).source).toBe("a");
    expect(firstSyncSource("a", "b", null, true, true).source).toBeNull();
    // prefer wins over files: the operator said so (the other's files are kept aside at its first sync).
    expect(firstSyncSource("a", "b", "a", false, true).source).toBe("a");
    expect(firstSyncSource("a", "b", "b", true, true).source).toBe("b");
    // A peer that does not tell (the previous release) leaves that release's rule: the lower name.
    expect(firstSyncSource("a", "b", null, false, null).source).toBe("a");
    expect(firstSyncSource("b", "a", null, null, false).source).toBe("a");
  });

  it("an empty node with the lower name never becomes the source over a node whose folders hold files", () => {
    const a = new Node("a", "b", null, null, false);
    const b = new Node("b", "a", null, null, true);
    meet(a, b, 1);
    expect(a.disk?.data).toBe("inconsistent");
    expect(a.s.gate).toMatch(/never received its first sync from b/);
    expect(a.s.mark).toBe("i");
    expect(b.s.gate).toBeNull();
    expect(b.s.mark).toBe("u");
    expect(b.log.find((x) => x.type === "note" && x.kind === "first-contact")).toMatchObject({ detail: expect.stringMatching(/this one is the source .*only b's folders hold files/) });
    // b runs and syncs its files to a; a's own (none here) would be kept aside.
    b.step({ type: "role", role: "PRIM" }, 2);
    expect(resyncOf(b.log)).toMatchObject({ mode: "full", keepConflicts: true });
    a.step({ type: "resync-incoming" }, 3);
    a.step({ type: "resync-complete", gen: b.s.copy.gen, history: b.s.copy.history }, 4);
    b.step({ type: "resync-done" }, 4);
    expect(a.s.copy).toMatchObject({ gen: "1:b", data: "uptodate" });
    expect(a.s.gate).toBeNull();
  });

  it("the answer holds across a restart of the empty node before its first sync", () => {
    const a = new Node("a", "b", null, null, false);
    const b = new Node("b", "a", null, null, true);
    meet(a, b, 1);
    a.restart();
    meet(a, b, 2);
    expect(a.s.gate).toMatch(/never received its first sync from b/);
    expect(b.s.gate).toBeNull();
  });

  it("both folders hold files and no node is preferred: neither is served, the gate names the choice, forceprim on one resolves it", () => {
    const a = new Node("a", "b", null, null, true);
    const b = new Node("b", "a", null, null, true);
    meet(a, b, 1);
    for (const n of [a, b]) {
      expect(n.s.gate).toMatch(/both new copies hold files of their own: set prefer: or run `vigil forceprim vms` on the node whose folder is the cluster's data/);
      expect(n.s.mark).toBe("n");
      // Nothing is given up on either side: both stay new and up to date on disk.
      expect(n.disk).toMatchObject({ gen: "0:", data: "uptodate" });
      expect(n.log.find((x) => x.type === "note" && x.kind === "first-contact")).toMatchObject({ level: "warn" });
    }
    // The link blips: still the same answer.
    a.step({ type: "link-down", detail: "blip" }, 2);
    a.step({ type: "link-up", peer: b.wire(), gap: false }, 3);
    expect(a.s.gate).toMatch(/both new copies hold files/);
    // forceprim on b: its folder is the data; a gets the first sync and keeps its own files aside.
    b.step({ type: "forced" }, 10);
    expect(b.s.gate).toBeNull();
    b.step({ type: "role", role: "PRIM" }, 10);
    expect(b.disk?.gen).toBe("1:b");
    expect(resyncOf(b.log)).toMatchObject({ mode: "full", keepConflicts: true });
    expect(a.s.gate).not.toBeNull();
    a.step({ type: "resync-incoming" }, 11);
    expect(a.disk?.data).toBe("inconsistent");
    expect(a.s.gate).toMatch(/being resynced|never received/);
    a.step({ type: "resync-complete", gen: b.s.copy.gen, history: b.s.copy.history }, 12);
    b.step({ type: "resync-done" }, 12);
    expect(a.s.copy).toMatchObject({ gen: "1:b", data: "uptodate" });
    expect(a.s.gate).toBeNull();
  });

  it("both hold files and b dies after forceprim named it, before a's first sync: a still waits", () => {
    const a = new Node("a", "b", null, null, true);
    const b = new Node("b", "a", null, null, true);
    meet(a, b, 1);
    b.step({ type: "forced" }, 2);
    b.step({ type: "role", role: "PRIM" }, 2);
    a.step({ type: "link-down", detail: "reset" }, 3);
    a.step({ type: "peer", liveness: "dead" }, 600);
    a.step({ type: "tick" }, 5000);
    expect(a.s.gate).not.toBeNull();
    a.restart();
    a.step({ type: "peer", liveness: "dead" }, 6000);
    expect(a.s.gate).not.toBeNull();
    // b returns with its gen: a is behind it and is resynced, keeping its files.
    b.restart();
    meet(a, b, 7000);
    expect(a.s.copy.data).toBe("inconsistent");
    expect(b.s.gate).toBeNull();
  });

  it("prefer names an empty node: it is the source anyway (the other's files are kept aside at its first sync)", () => {
    const a = new Node("a", "b", null, "a", false);
    const b = new Node("b", "a", null, "a", true);
    meet(a, b, 1);
    expect(b.disk?.data).toBe("inconsistent");
    expect(a.s.gate).toBeNull();
    a.step({ type: "role", role: "PRIM" }, 2);
    expect(resyncOf(a.log)).toMatchObject({ keepConflicts: true });
  });

  it("both folders empty: the lower name", () => {
    const a = new Node("a", "b", null, null, false);
    const b = new Node("b", "a", null, null, false);
    meet(a, b, 1);
    expect(a.s.gate).toBeNull();
    expect(b.disk?.data).toBe("inconsistent");
  });

  it("a peer of the previous release does not tell: the lower name, as that release decides itself", () => {
    // b (files, higher name) is new; a (empty, lower name) runs the previous release and sends no fact.
    const a = new Node("a", "b", null, null, null);
    const b = new Node("b", "a", null, null, true);
    meet(a, b, 1);
    expect(b.disk?.data).toBe("inconsistent");
    expect(a.s.gate).toBeNull();
  });

  it("a running node stays the source when the new copies' facts would name none (a folder added to a running module)", () => {
    const a = new Node("a", "b", null, null, true);
    const b = new Node("b", "a", null, null, true);
    a.step({ type: "forced" }, 0);
    a.step({ type: "role", role: "PRIM" }, 0);
    meet(a, b, 1);
    expect(a.s.gate).toBeNull();
    expect(resyncOf(a.log)).toMatchObject({ keepConflicts: true });
  });
});
