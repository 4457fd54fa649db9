/**
 * Folded times as a feature of the replication link (peer-times.ts), on two
 * real mirror drivers of this release on loopback (no FUSE, as in
 * mirror-resync-pending-live.test.ts): the PRIM knows from the session's
 * start that its SECOND reads namespace ops with their times folded in, so
 * a connection lost with such an op in flight before any was acknowledged
 * (what made the previous rule guess "an earlier release") changes nothing.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { MirrorDriver } from "../../src/daemon/mirror/driver.ts";
import type { PeerTimes } from "../../src/daemon/mirror/peer-times.ts";
import { relPath } from "../../src/replicator/ops.ts";
import { pairInSync } from "./mirror-driver-pair.ts";
import { tmpDir } from "./resync-fixture.ts";

const KEY = new Uint8Array(32).fill(6);
const PORT = 30_000 + Math.floor(Math.random() * 20_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const timesOf = (d: MirrorDriver): PeerTimes => (d as unknown as { peerTimes: PeerTimes }).peerTimes;

describe("folded times agreed at the link's start", () => {
  it("two drivers of this release: folded from the first op, and a connection lost before any was acknowledged does not make them unfolded", async () => {
    const lines: string[] = [];
    const { h1 } = await pairInSync(tmpDir("peer-times-link"), { key: KEY, port: PORT, cleanups, h1Lines: lines });
    const t = timesOf(h1);
    expect(t.state).toBe("yes");
    expect(lines.some((l) => /"msg":"mirror link connected".*"features":"listingWithoutXattrs, foldedTimes, unsentWrites"/.test(l))).toBe(true);
    const folded = { op: "unlink" as const, path: relPath("d/x"), times: [{ path: relPath("d"), atimeNs: 1n, mtimeNs: 2n }] };
    expect(t.outcome(folded, [folded], { delivered: false, maybeApplied: true, reason: "connection closed" })).toBeNull();
    expect(t.wire(folded)).toEqual([folded]);
  });
});
