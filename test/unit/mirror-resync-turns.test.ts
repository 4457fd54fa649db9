import { describe, expect, it } from "vitest";
import { ResyncTurns } from "../../src/daemon/mirror/resync-turns.ts";
import { Applier } from "../../src/replicator/apply.ts";
import type { ApplyResult } from "../../src/replicator/apply-result.ts";
import { relPathText, type MirrorOp, type RelPath } from "../../src/replicator/ops.ts";
import { Resync } from "../../src/replicator/resync.ts";
import { LocalResyncPeer } from "../../src/replicator/resync-local-peer.ts";
import { expectSameTrees, tmpDirsEachTest, writeFile } from "./resync-fixture.ts";

let src: string;
let dst: string;

tmpDirsEachTest(["turns-src", "turns-dst"], (dirs) => ([src, dst] = dirs));

/** A peer whose ops are counted while in flight, and which can be held (a slow SECOND). */
function watchedPeer(root: string): { peer: LocalResyncPeer; maxInFlight: () => number; sent: () => number } {
  const peer = new LocalResyncPeer(root);
  const real = peer.apply.bind(peer);
  let inFlight = 0;
  let max = 0;
  let sent = 0;
  peer.apply = async (op) => {
    inFlight++;
    sent++;
    max = Math.max(max, inFlight);
    await new Promise((r) => setTimeout(r, 1));
    try {
      return await real(op);
    } finally {
      inFlight--;
    }
  };
  return { peer, maxInFlight: () => max, sent: () => sent };
}

describe("one resync pass at a time (the mirror driver's turns)", () => {
  it("the link going down stops the pass under way; the next turn begins only once it has ended", async () => {
    const turns = new ResyncTurns();
    const log: string[] = [];
    const first = await turns.begin();
    expect(first.stale).toBe(false);
    let finishFirst = (): void => {};
    const firstWork = new Promise<void>((r) => (finishFirst = r)).then(() => {
      log.push(`first ended (stale ${String(first.stale)})`);
      first.end();
    });
    turns.interrupt();
    expect(first.signal.aborted).toBe(true);
    expect(first.stale).toBe(true);
    // The link is back: the core asks for a resync again while the first pass still runs.
    const second = turns.begin().then((t) => {
      log.push("second began");
      return t;
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(log).toEqual([]);
    finishFirst();
    await firstWork;
    const t2 = await second;
    expect(log).toEqual(["first ended (stale true)", "second began"]);
    expect(t2.stale).toBe(false);
    t2.end();
    expect(turns.busy).toBe(false);
  });

  it("turns asked for in a row: each waits for the one before, only the last is not stale", async () => {
    const turns = new ResyncTurns();
    const a = await turns.begin();
    const b = turns.begin();
    const c = turns.begin();
    expect(a.stale).toBe(true);
    a.end();
    const tb = await b;
    expect(tb.stale).toBe(true);
    tb.end();
    const tc = await c;
    expect(tc.stale).toBe(false);
    tc.end();
  });

  it("a pass stopped by the link's outage ends before the next one sends anything: their ops never interleave", async () => {
    for (let i = 0; i < 300; i++) writeFile(src, `many/f${i}`, `file ${i}\n`);
    const { peer, sent } = watchedPeer(dst);
    const turns = new ResyncTurns();
    const order: string[] = [];
    const pass = async (name: string): Promise<{ completed: boolean; stale: boolean }> => {
      const turn = await turns.begin();
      try {
        order.push(`${name} starts`);
        const r = await new Resync({ root: src, peer, signal: turn.signal, concurrency: 8 }).run();
        order.push(`${name} ends`);
        return { completed: r.completed, stale: turn.stale };
      } finally {
        turn.end();
      }
    };
    const first = pass("first");
    // The first pass is well under way when the link drops (the peer's connection to us only: its ops still flow).
    while (sent() < 50) await new Promise((r) => setTimeout(r, 1));
    turns.interrupt();
    const second = pass("second");
    const [r1, r2] = await Promise.all([first, second]);
    expect(order).toEqual(["first starts", "first ends", "second starts", "second ends"]);
    expect(r1).toEqual({ completed: false, stale: true });
    expect(r2).toEqual({ completed: true, stale: false });
    // No create of one pass failed on a file the other one made.
    expect(peer.counters.failures).toBe(0);
    await expectSameTrees(src, dst);
  });
});

describe("the resync's revisit of paths that failed", () => {
  /** Fails the first create of each file under `dir`/ (as a concurrent writer's create would). */
  function failingFirstCreates(peer: LocalResyncPeer, dir: string): void {
    const real = peer.apply.bind(peer);
    const failed = new Set<string>();
    peer.apply = (op) => {
      if (op.op === "create" && relPathText(op.path).startsWith(`${dir}/`) && !failed.has(relPathText(op.path))) {
        failed.add(relPathText(op.path));
        return Promise.resolve({ ok: false, errno: "EEXIST", message: "made meanwhile" });
      }
      return real(op);
    };
  }

  /** Counts the listings of each directory (non-recursive manifests), by path. */
  function countListings(peer: LocalResyncPeer): Map<string, number> {
    const real = peer.manifest.bind(peer);
    const n = new Map<string, number>();
    peer.manifest = (under: RelPath, recursive: boolean) => {
      if (!recursive) n.set(relPathText(under), (n.get(relPathText(under)) ?? 0) + 1);
      return real(under, recursive);
    };
    return n;
  }

  it("lists a directory once per round, however many of its entries are revisited", async () => {
    for (let i = 0; i < 200; i++) writeFile(src, `big/f${i}`, `file ${i}\n`);
    writeFile(src, "other/x", "x\n");
    const peer = new LocalResyncPeer(dst);
    failingFirstCreates(peer, "big");
    const listings = countListings(peer);
    const r = await new Resync({ root: src, peer }).run();
    expect(r.completed).toBe(true);
    expect(r.phaseMs["revisit"]).toBeDefined();
    // Before, the parent was listed once for each of its 200 revisited entries.
    expect(listings.get("big")).toBe(1);
    await expectSameTrees(src, dst);
  });

  it("a pass stopped during the revisit's listings lists no further", async () => {
    for (let i = 0; i < 200; i++) writeFile(src, `big/f${i}`, `file ${i}\n`);
    const peer = new LocalResyncPeer(dst);
    failingFirstCreates(peer, "big");
    const stop = new AbortController();
    const real = peer.manifest.bind(peer);
    let revisitListings = 0;
    peer.manifest = (under: RelPath, recursive: boolean) => {
      // The revisit lists each failed path: stop after the first few.
      if (under.length > 0 && relPathText(under).startsWith("big/") && ++revisitListings === 5) stop.abort();
      return real(under, recursive);
    };
    const r = await new Resync({ root: src, peer, signal: stop.signal }).run();
    expect(r.completed).toBe(false);
    expect(r.error).toBe("interrupted");
    // At most the listings already asked for by the 8 at once when it stopped.
    expect(revisitListings).toBeLessThan(5 + 8);
  });
});

describe("a resync pass stopped between a file's ops", () => {
  it("leaves no copy with the source's size and mtime over missing data: the next pass makes it right", async () => {
    for (let i = 0; i < 20; i++) writeFile(src, `d/f${i}`, `file ${i}\n`, 1_700_000_000 + i);
    writeFile(src, "big", Buffer.alloc(3 << 20, 7), 1_700_000_100);
    // The daemon's applier: it sets the mtimes that data ops carry.
    const applier = new Applier(dst, { fsCalls: null });
    const peer = new LocalResyncPeer(dst);
    const real = (op: MirrorOp): Promise<ApplyResult> => Promise.resolve(applier.apply(op));
    // The link goes down: creates and truncates got there, no data did.
    peer.apply = (op) => (op.op === "write" ? Promise.resolve({ ok: false, errno: "ENOTCONN", message: "link down" }) : real(op));
    const first = await new Resync({ root: src, peer }).run();
    expect(first.completed).toBe(false);
    peer.apply = real;
    // A full pass again: its quick check (size and mtime) must not take the half-made copies as right.
    const second = await new Resync({ root: src, peer }).run();
    expect(second.completed).toBe(true);
    await expectSameTrees(src, dst);
  });
});
