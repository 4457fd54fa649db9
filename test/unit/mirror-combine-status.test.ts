/**
 * A module of several folders: its one status line (what `vigil status`
 * heads the module with and the console's banner shows) sums the folders up.
 * Each folder keeps its files aside under a path of its own, so the line
 * names every one, not only the first folder's.
 */
import { describe, expect, it } from "vitest";
import type { MirrorStatus } from "../../src/api/modules.ts";
import { combineStatus } from "../../src/daemon/mirror/mirror-set.ts";

const folder = (name: string, over: Partial<MirrorStatus> = {}): MirrorStatus => ({
  folder: name, data: "uptodate", gen: "2:a", since: "2026-12-07T00:00:00.000Z", serving: null, link: "up", linkDetail: "connected to b",
  peerData: "uptodate", writes: "standby", waitingOps: 0, mode: "async", asyncLag: { bytes: 0, seconds: 0 }, resync: null,
  splitBrain: null, forcedAt: null, ...over,
});

const keptIn = (path: string): string => `this node ran vms in mode async and its daemon died before its last writes reached b, which took over; what the resync replaces here is kept in ${path}`;

describe("the status line of a module of several folders", () => {
  it("names where each folder's files were kept aside", () => {
    const a = folder("/srv", { splitBrain: keptIn("/state/conflicts/vms/T1/%2Fsrv"), keptKind: "unsent-writes" });
    const b = folder("/srv2", { splitBrain: keptIn("/state/conflicts/vms/T2/%2Fsrv2"), keptKind: "unsent-writes" });
    const line = combineStatus([a, b]);
    expect(line.splitBrain).toContain("/state/conflicts/vms/T1/%2Fsrv");
    expect(line.splitBrain).toContain("/state/conflicts/vms/T2/%2Fsrv2");
    expect(line.keptKind).toBe("unsent-writes");
  });

  it("says a text once when folders say the same, and nothing when none kept anything", () => {
    const same = "both copies changed while apart (ours gen 3:a, b's gen 3:b)";
    expect(combineStatus([folder("/srv", { splitBrain: same }), folder("/srv2", { splitBrain: same })]).splitBrain).toBe(same);
    expect(combineStatus([folder("/srv"), folder("/srv2")]).splitBrain).toBeNull();
    expect(combineStatus([folder("/srv"), folder("/srv2", { splitBrain: same })]).splitBrain).toBe(same);
  });
});
