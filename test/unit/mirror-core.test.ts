import { describe, expect, it } from "vitest";
import { compareGens, freshCopy } from "../../src/core/mirror/copy.ts";
import { mirrorWakeAt } from "../../src/core/mirror/mirror.ts";
import type { MirrorAction } from "../../src/core/mirror/types.ts";
import { connectCores as connect, inSyncCorePair as inSyncPair, MirrorCoreNode as Node } from "./mirror-core-node.ts";

function writesOf(actions: readonly MirrorAction[]): string | undefined {
  return [...actions].reverse().find((a): a is Extract<MirrorAction, { type: "writes" }> => a.type === "writes")?.mode;
}

describe("mirror core: generations", () => {
  it("orders copies by history", () => {
    expect(compareGens({ gen: "2:a", history: ["1:a"] }, { gen: "1:a", history: [] })).toBe("ours-newer");
    expect(compareGens({ gen: "1:a", history: [] }, { gen: "2:b", history: ["1:a"] })).toBe("peer-newer");
    expect(compareGens({ gen: "2:a", history: ["1:a"] }, { gen: "2:b", history: ["1:a"] })).toBe("diverged");
    expect(compareGens({ gen: "2:a", history: ["1:a"] }, { gen: "2:a", history: ["1:a"] })).toBe("same");
  });

  it("a node that starts alone waits: its copy is not known to be up to date", () => {
    const a = new Node("a", "b", { ...freshCopy(0), gen: "3:a", history: ["2:b"] });
    expect(a.s.gate).toMatch(/not known to be up to date/);
    expect(a.s.mark).toBe("n");
    a.step({ type: "peer", liveness: "dead" }, 10);
    expect(a.s.gate).not.toBeNull();
  });

  it("the PRIM dies as the first resync ends (B already took its gen), B takes over and dies: A comes back alone and must not serve", () => {
    const a = new Node("a", "b", null);
    const b = new Node("b", "a", null);
    a.step({ type: "peer", liveness: "up" }, 1);
    b.step({ type: "peer", liveness: "up" }, 1);
    connect(a, b, 2);
    a.step({ type: "role", role: "PRIM" }, 3);
    b.step({ type: "role", role: "SECOND" }, 3);
    // A wrote without B in sync (the first sync): it is the last writer until the resync ends.
    expect(a.disk?.peerBehind).toBe(true);
    b.step({ type: "resync-incoming" }, 4);
    // A persists that it is about to hand its gen over, then tells B; A dies before it hears back.
    a.step({ type: "resync-ending" }, 5);
    expect(a.disk?.resyncEnding).toBe(true);
    b.step({ type: "resync-complete", gen: a.s.copy.gen, history: a.s.copy.history }, 5);
    b.step({ type: "link-down", detail: "connection reset" }, 100);
    b.step({ type: "peer", liveness: "dead" }, 600);
    b.step({ type: "role", role: "ALONE" }, 610);
    expect(b.disk?.peerBehind).toBe(true);
    a.restart(1000);
    a.step({ type: "peer", liveness: "dead" }, 3000);
    expect(a.s.gate).toMatch(/not known to be up to date/);
    // Once A hears the end itself, it is no longer "about to hand over".
    const { a: a2 } = inSyncPair();
    expect(a2.disk?.resyncEnding === true).toBe(false);
  });

  it("A fails, B takes over and writes, B fails, A comes back alone: A must not serve", () => {
    const { a, b } = inSyncPair();
    const synced = a.s.copy.gen;
    // A's daemon dies; B sees it dead and takes over.
    b.step({ type: "link-down", detail: "connection reset" }, 100);
    b.step({ type: "peer", liveness: "dead" }, 600);
    expect(b.s.gate).toBeNull();
    const acts = b.step({ type: "role", role: "ALONE" }, 610);
    // The new gen is persisted before B writes alone.
    const persistAt = acts.findIndex((x) => x.type === "persist");
    const alone = acts.findIndex((x) => x.type === "writes" && x.mode === "alone");
    expect(persistAt).toBeGreaterThanOrEqual(0);
    expect(alone).toBeGreaterThan(persistAt);
    expect(b.disk?.gen).not.toBe(synced);
    expect(b.disk?.peerBehind).toBe(true);
    // A comes back alone (B is down now): it waits.
    a.restart(1000);
    a.step({ type: "peer", liveness: "dead" }, 2000);
    expect(a.s.gate).toMatch(/not known to be up to date/);
    // B comes back alone too: it was the last writer, so it may serve.
    b.restart(3000);
    b.step({ type: "peer", liveness: "dead" }, 3500);
    expect(b.s.gate).toBeNull();
    // They meet: A learns it is outdated; B resyncs A from its journal.
    a.step({ type: "peer", liveness: "up" }, 4000);
    b.step({ type: "peer", liveness: "up" }, 4000);
    connect(a, b, 4001);
    expect(a.disk?.data).toBe("outdated");
    expect(a.s.mark).toBe("o");
    const r = b.step({ type: "role", role: "PRIM" }, 4002);
    // A died while writing: it may hold writes never acknowledged, which only a full compare finds.
    expect(r.find((x) => x.type === "resync")).toMatchObject({ mode: "full", keepConflicts: false });
  });

  it("a SECOND that loses the link while the PRIM lives declares itself outdated once it hears the PRIM after the grace; the PRIM holds acks until then", () => {
    const { a, b } = inSyncPair();
    expect(writesOf(a.step({ type: "link-down", detail: "reset" }, 100))).toBe("hold");
    b.step({ type: "link-down", detail: "reset" }, 120);
    // The grace's end needs no timer: a frame of the PRIM's ends it.
    expect(mirrorWakeAt(b.s)).toBeNull();
    b.step({ type: "peer-mark", mark: "u", running: true }, 819);
    b.step({ type: "tick" }, 900);
    expect(b.s.copy.data).toBe("uptodate");
    const acts = b.step({ type: "peer-mark", mark: "u", running: true }, 920);
    expect(acts.map((x) => x.type)).toEqual(["persist", "note", "gate", "mark"]);
    expect(b.s.mark).toBe("o");
    // Only once the peer published its persisted mark does the PRIM go on alone, after bumping its gen.
    const genBefore = a.s.copy.gen;
    const w = a.step({ type: "peer-mark", mark: "o", running: false }, 900);
    expect(writesOf(w)).toBe("alone");
    expect(a.s.copy.gen).not.toBe(genBefore);
  });

  it("a PRIM killed while the link is down: its SECOND, which never missed an acknowledged write, takes over", () => {
    const { a, b } = inSyncPair();
    void a;
    b.step({ type: "link-down", detail: "reset" }, 100);
    b.step({ type: "peer", liveness: "dead" }, 600);
    b.step({ type: "tick" }, 2000);
    expect(b.s.copy.data).toBe("uptodate");
    expect(b.s.gate).toBeNull();
  });

  it("split brain: both wrote; the runner keeps its tree and resyncs the other keeping its files aside", () => {
    const { a, b } = inSyncPair();
    a.step({ type: "link-down", detail: "cut" }, 100);
    b.step({ type: "link-down", detail: "cut" }, 100);
    a.step({ type: "peer", liveness: "dead" }, 600);
    b.step({ type: "peer", liveness: "dead" }, 600);
    b.step({ type: "role", role: "ALONE" }, 610);
    a.step({ type: "role", role: "ALONE" }, 610);
    expect(a.s.copy.gen).not.toBe(b.s.copy.gen);
    // Heal: b steps down (the module core settles who runs it), then they compare.
    a.step({ type: "peer", liveness: "up" }, 1000);
    b.step({ type: "peer", liveness: "up" }, 1000);
    b.step({ type: "role", role: "SECOND" }, 1001);
    const ra = a.step({ type: "link-up", peer: b.wire(), gap: false }, 1002);
    b.step({ type: "link-up", peer: a.wire(), gap: false }, 1002);
    expect(a.s.splitBrain).toMatch(/both copies changed/);
    expect(ra.find((x) => x.type === "resync")).toMatchObject({ mode: "full", keepConflicts: true });
    expect(b.s.copy.data).toBe("outdated");
    // Recorded on both sides, kept after the resync, gone only when acknowledged.
    b.step({ type: "conflict-kept", path: "/var/lib/vigil/conflicts/vms/T", cause: "split-brain" }, 1003);
    b.step({ type: "resync-incoming" }, 1004);
    b.step({ type: "resync-complete", gen: a.s.copy.gen, history: a.s.copy.history }, 1005);
    a.step({ type: "resync-done" }, 1005);
    expect(a.disk?.conflict).toMatch(/this node's tree was kept/);
    expect(b.disk?.conflict).toMatch(/this node's copy is in \/var\/lib\/vigil\/conflicts\/vms\/T/);
    expect(b.disk?.conflictKind).toBe("split-brain");
    b.step({ type: "ack" }, 1006);
    expect(b.disk?.conflict).toBeNull();
    expect(b.disk?.conflictKind).toBeUndefined();
  });

  it("split brain: the runner's live writes go no further than its journal until the other side accepted the keeping resync", () => {
    const { a, b } = inSyncPair();
    a.step({ type: "link-down", detail: "cut" }, 100);
    b.step({ type: "link-down", detail: "cut" }, 100);
    a.step({ type: "peer", liveness: "dead" }, 600);
    b.step({ type: "peer", liveness: "dead" }, 600);
    b.step({ type: "role", role: "ALONE" }, 610);
    a.step({ type: "role", role: "ALONE" }, 610);
    // Heal while both still run: b's hello says up to date (its own tree).
    a.step({ type: "peer", liveness: "up" }, 1000);
    b.step({ type: "peer", liveness: "up" }, 1000);
    a.step({ type: "link-up", peer: b.wire(), gap: false }, 1002);
    b.step({ type: "link-up", peer: a.wire(), gap: false }, 1002);
    expect(a.s.link?.data).toBe("uptodate");
    expect(a.s.writes).toBe("alone");
    // b gives way (the module core settled it) and stands by: a decides the keeping resync.
    b.step({ type: "role", role: "SECOND" }, 1010);
    const decided = a.step({ type: "peer-mark", mark: b.s.mark, running: false }, 1011);
    expect(decided.find((x) => x.type === "resync")).toMatchObject({ keepConflicts: true });
    expect(a.s.resyncing).toBe(true);
    // Not before b's keeper exists (its answer to resync-begin-keep) do live ops reach b.
    expect(a.s.writes).toBe("alone");
    expect(writesOf(a.step({ type: "resync-begun" }, 1012))).toBe("replicate");
    // A failed try: alone again until the next one is accepted.
    expect(writesOf(a.step({ type: "resync-failed", detail: "reset", touched: true }, 1013))).toBe("alone");
    a.step({ type: "tick" }, 1013 + a.s.timers.resyncRetryMs);
    expect(a.s.resyncing).toBe(true);
    expect(a.s.writes).toBe("alone");
    a.step({ type: "resync-begun" }, 1013 + a.s.timers.resyncRetryMs + 1);
    expect(a.s.writes).toBe("replicate");
    b.step({ type: "resync-incoming" }, 20_000);
    b.step({ type: "resync-complete", gen: a.s.copy.gen, history: a.s.copy.history }, 20_001);
    a.step({ type: "resync-done" }, 20_001);
    expect(a.s.writes).toBe("replicate");
  });

  it("a resync widened to keep aside (the peer's copy changed since the link came up) holds live ops until it is accepted", () => {
    const { a } = inSyncPair();
    a.step({ type: "link-down", detail: "cut" }, 100);
    a.step({ type: "peer", liveness: "dead" }, 600);
    a.step({ type: "role", role: "ALONE" }, 610);
    a.step({ type: "peer", liveness: "up" }, 1000);
    const { b } = inSyncPair();
    const decided = a.step({ type: "link-up", peer: { ...b.wire(), gen: a.s.copy.history[0]!, history: [], data: "outdated" }, gap: false }, 1002);
    expect(decided.find((x) => x.type === "resync")).toMatchObject({ keepConflicts: false });
    expect(a.s.writes).toBe("replicate");
    expect(writesOf(a.step({ type: "resync-keeps" }, 1003))).toBe("alone");
    expect(writesOf(a.step({ type: "resync-begun" }, 1004))).toBe("replicate");
  });

  it("mode async: an ex-PRIM that may hold unsent writes gets no live op before it accepted the resync that keeps them; an unclean one alone does", () => {
    // a ran the module in mode async and its daemon died; b took over alone (a new gen) and a comes back.
    const returning = (unsent: boolean | undefined) => {
      const { a, b } = inSyncPair();
      b.step({ type: "link-down", detail: "connection reset" }, 100);
      b.step({ type: "peer", liveness: "dead" }, 600);
      b.step({ type: "role", role: "ALONE" }, 610);
      b.step({ type: "peer", liveness: "up" }, 1000);
      const told = unsent === undefined ? {} : { unsent };
      const decided = b.step({ type: "link-up", peer: { ...a.wire(), running: false, unclean: true, ...told }, gap: false }, 1002);
      // Its copy is behind ours plus what we never got: a plain full resync, which it keeps from on its own.
      expect(decided.find((x) => x.type === "resync")).toMatchObject({ mode: "full", keepConflicts: false });
      return b;
    };
    const b = returning(true);
    expect(b.s.writes).toBe("alone");
    expect(writesOf(b.step({ type: "resync-begun" }, 1003))).toBe("replicate");
    // A failed try: alone again until the next one is accepted.
    expect(writesOf(b.step({ type: "resync-failed", detail: "reset", touched: true }, 1004))).toBe("alone");
    b.step({ type: "tick" }, 1004 + b.s.timers.resyncRetryMs);
    expect(b.s.resyncing).toBe(true);
    expect(b.s.writes).toBe("alone");
    b.step({ type: "resync-begun" }, 1005 + b.s.timers.resyncRetryMs);
    b.step({ type: "resync-done" }, 20_000);
    expect(b.s.link?.unsent).toBe(false);
    expect(b.s.writes).toBe("replicate");
    // Unclean only (rebooted while applying, or mode sync), or a peer that does not tell: live ops flow (rule 3).
    expect(returning(false).s.writes).toBe("replicate");
    expect(returning(undefined).s.writes).toBe("replicate");
  });

  it("mode async: what an ex-PRIM kept of its unsent writes is recorded as such, not as a split brain, until acknowledged", () => {
    const { b } = inSyncPair();
    b.step({ type: "conflict-kept", path: "/var/lib/vigil/conflicts/vms/T", cause: "unsent-writes" }, 1003);
    expect(b.disk?.conflict).toMatch(/ran vms in mode async .* before its last writes reached a, which took over; .* kept in \/var\/lib\/vigil\/conflicts\/vms\/T$/);
    expect(b.disk?.conflictKind).toBe("unsent-writes");
    expect(b.s.splitBrain).toBeNull();
    b.step({ type: "ack" }, 1004);
    expect(b.disk?.conflict).toBeNull();
    expect(b.disk?.conflictKind).toBeUndefined();
  });

  it("forceprim serves an outdated copy and records it", () => {
    const a = new Node("a", "b", { ...freshCopy(0), gen: "3:a", history: [], data: "outdated" });
    expect(a.s.gate).toMatch(/outdated/);
    a.step({ type: "forced" }, 50);
    expect(a.disk?.forcedAt).toBe(50);
    expect(a.s.gate).toBeNull();
  });

  it("an apply failure on the SECOND outdates its copy", () => {
    const { b } = inSyncPair();
    b.step({ type: "apply-failed", detail: "ENOSPC writing rec/1.bin" }, 10);
    expect(b.disk?.data).toBe("outdated");
    expect(b.s.gate).toMatch(/outdated/);
  });

  it("a copy being resynced is never served", () => {
    const { b } = inSyncPair();
    b.step({ type: "resync-incoming" }, 10);
    expect(b.disk?.data).toBe("inconsistent");
    expect(b.s.gate).toMatch(/incomplete/);
  });
});

describe("mirror core: a SECOND that cannot apply", () => {
  it("the PRIM journals and acknowledges instead of waiting on it, and resyncs again after a pause", () => {
    const { a, b } = inSyncPair();
    b.step({ type: "apply-failed", detail: "ENOSPC writing rec/9.bin" }, 100);
    expect(b.disk?.data).toBe("outdated");
    // The PRIM learns it from the failed ack: a resync starts at once.
    const first = a.step({ type: "peer-apply-failed", detail: "ENOSPC writing rec/9.bin" }, 101);
    expect(first.find((x) => x.type === "resync")).toBeDefined();
    expect(a.s.writes).toBe("replicate");
    // It fails (the disk is still full): writes go on alone, journaled, and nothing waits on the peer.
    const failed = a.step({ type: "resync-failed", detail: "ENOSPC", touched: true }, 200);
    expect(writesOf(failed)).toBe("alone");
    expect(a.s.resyncing).toBe(false);
    expect(mirrorWakeAt(a.s)).toBe(5200);
    expect(a.step({ type: "tick" }, 5199).find((x) => x.type === "resync")).toBeUndefined();
    const again = a.step({ type: "tick" }, 5200);
    expect(again.find((x) => x.type === "resync")).toBeDefined();
    expect(writesOf(again)).toBe("replicate");
  });
});

describe("mirror core: a peer that still runs the module refuses our ops", () => {
  it("the PRIM does not go on alone: the refused ops are a gap resynced once the peer stands by", () => {
    const { a } = inSyncPair();
    a.step({ type: "peer-mark", mark: "u", running: true }, 50);
    const r = a.step({ type: "peer-refused", detail: "b runs vms" }, 60);
    expect(writesOf(r) ?? a.s.writes).toBe("replicate");
    expect(a.s.writes).not.toBe("alone");
    expect(r.find((x) => x.type === "resync")).toBeUndefined();
    // b steps down: the resync closes the gap.
    const later = a.step({ type: "peer-mark", mark: "u", running: false }, 70);
    expect(later.find((x) => x.type === "resync")).toMatchObject({ mode: "journal" });
  });
});

describe("mirror core: a PRIM cut off from its peer and its witness", () => {
  it("acknowledges nothing while the module core stops it; it goes on alone only once the module core says ALONE", () => {
    const { a } = inSyncPair();
    a.step({ type: "link-down", detail: "cable pulled" }, 10);
    expect(a.s.writes).toBe("hold");
    // The heartbeat says dead, but the module stays PRIM (it is stopping: no witness answered).
    a.step({ type: "peer", liveness: "dead" }, 11);
    expect(a.s.writes).toBe("hold");
    // Another case: the witness answered, so the module core keeps the module here alone.
    const writes = writesOf(a.step({ type: "role", role: "ALONE" }, 12));
    expect(writes).toBe("alone");
    expect(a.log.some((x) => x.type === "persist" && x.copy.gen !== "" && a.s.copy.gen === x.copy.gen)).toBe(true);
  });
});

describe("mirror core: ops that fail on a copy being resynced", () => {
  const notes = (acts: readonly MirrorAction[]) => acts.filter((x) => x.type === "note" && (x.kind === "apply-failed" || x.kind === "op-left-to-resync"));

  it("are logged once and counted, the copy stays being resynced, and the end of the resync says how many it covered", () => {
    const { a, b } = inSyncPair();
    b.step({ type: "resync-incoming" }, 20);
    const first = b.step({ type: "apply-failed", detail: "create many/f1: EEXIST", errno: "EEXIST" }, 21);
    expect(notes(first)).toMatchObject([{ level: "info", kind: "op-left-to-resync", detail: expect.stringContaining("being resynced and a's resync carries this path") }]);
    for (let i = 2; i <= 1000; i++) expect(notes(b.step({ type: "apply-failed", detail: `create many/f${i}: EEXIST`, errno: "EEXIST" }, 21))).toEqual([]);
    expect(b.s.copy.data).toBe("inconsistent");
    const done = b.step({ type: "resync-complete", gen: a.s.copy.gen, history: a.s.copy.history }, 22);
    expect(done.find((x) => x.type === "note" && x.kind === "resync-done")).toMatchObject({ detail: expect.stringContaining("1000 of a's operations could not be applied here before the resync carried them") });
    // Outside a resync a failure outdates the copy and is an error, whatever its errno.
    expect(notes(b.step({ type: "apply-failed", detail: "write x: ENOENT", errno: "ENOENT" }, 30))).toMatchObject([{ level: "error", kind: "apply-failed" }]);
    expect(b.s.copy.data).toBe("outdated");
  });

  it("on a copy outdated before the resync began, a name it lacks yet is left to the resync at info; a storage fault is an error, once per link session", () => {
    const { a, b } = inSyncPair();
    a.step({ type: "link-down", detail: "cut" }, 10);
    b.step({ type: "link-down", detail: "cut" }, 10);
    // The PRIM still heard past the grace (rule 4).
    b.step({ type: "peer-mark", mark: "u", running: true }, 10 + 60_000);
    expect(b.s.copy.data).toBe("outdated");
    // The PRIM hears it and writes alone (a new gen).
    expect(writesOf(a.step({ type: "peer-mark", mark: b.s.mark, running: false }, 60_020))).toBe("alone");
    // The link is back; the PRIM's live ops come before its resync's start.
    connect(a, b, 70_000);
    const left = b.step({ type: "apply-failed", detail: "write rec.log: openat failed: ENOENT", errno: "ENOENT" }, 70_001);
    expect(notes(left)).toMatchObject([{ level: "info", detail: expect.stringMatching(/^write rec\.log: openat failed: ENOENT: this copy is outdated and a's resync carries this path/) }]);
    expect(left.some((x) => x.type === "persist")).toBe(false);
    expect(notes(b.step({ type: "apply-failed", detail: "create seg/1.bin: ENOENT", errno: "ENOENT" }, 70_002))).toEqual([]);
    const fault = b.step({ type: "apply-failed", detail: "write x: EIO", errno: "EIO" }, 70_003);
    expect(notes(fault)).toMatchObject([{ level: "error", kind: "apply-failed", detail: expect.stringContaining("storage failed while it is outdated") }]);
    expect(notes(b.step({ type: "apply-failed", detail: "write y: EIO", errno: "EIO" }, 70_004))).toEqual([]);
    expect(notes(b.step({ type: "resync-incoming" }, 70_005))).toEqual([]);
    expect(notes(b.step({ type: "apply-failed", detail: "write z: ENOENT", errno: "ENOENT" }, 70_006))).toEqual([]);
    // A new link session says it again.
    b.step({ type: "link-down", detail: "cut" }, 70_010);
    expect(notes(b.step({ type: "apply-failed", detail: "write z: ENOENT", errno: "ENOENT" }, 70_011))).toHaveLength(1);
    expect(b.s.copy.data).toBe("inconsistent");
  });
});

describe("mirror core: a gen names one history", () => {
  it("a node whose own gen was replaced by the peer's lower one bumps above its old counter", () => {
    const { a, b } = inSyncPair();
    // B writes alone twice (a split brain it will lose): its own gens climb to 3:b.
    b.step({ type: "link-down", detail: "cut" }, 10);
    b.step({ type: "peer", liveness: "dead" }, 11);
    b.step({ type: "role", role: "ALONE" }, 12);
    const first = b.s.copy.gen;
    b.step({ type: "role", role: "STOP" }, 13);
    b.s = { ...b.s, copy: { ...b.s.copy, peerBehind: false } };
    b.step({ type: "role", role: "ALONE" }, 14);
    const lost = b.s.copy.gen;
    expect(lost).not.toBe(first);
    // Then it takes A's (lower) gen by a resync, and later writes alone once more.
    b.step({ type: "role", role: "SECOND" }, 20);
    b.step({ type: "resync-incoming" }, 21);
    b.step({ type: "resync-complete", gen: a.s.copy.gen, history: a.s.copy.history }, 22);
    expect(b.s.copy.gen).toBe(a.s.copy.gen);
    b.step({ type: "link-down", detail: "cut" }, 30);
    b.step({ type: "peer", liveness: "dead" }, 31);
    b.step({ type: "role", role: "ALONE" }, 32);
    expect(b.s.copy.gen).not.toBe(lost);
    expect(Number(b.s.copy.gen.split(":")[0])).toBeGreaterThan(Number(lost.split(":")[0]));
    expect(b.disk?.topCounter).toBe(Number(b.s.copy.gen.split(":")[0]));
  });
});
