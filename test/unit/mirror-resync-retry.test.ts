/**
 * What the PRIM says of a resync the SECOND keeps refusing
 * (src/core/mirror/resync-retry.ts): the failure once, with its reason, the
 * tries after it quiet while the reason stays, a new reason said, and the
 * try that begins said with the count of those that failed.
 */
import { describe, expect, it } from "vitest";
import { mirrorWakeAt } from "../../src/core/mirror/mirror.ts";
import type { MirrorAction } from "../../src/core/mirror/types.ts";
import { inSyncCorePair } from "./mirror-core-node.ts";

const notes = (actions: readonly MirrorAction[]): string[] =>
  actions.flatMap((a) => (a.type === "note" && (a.kind === "resync-failed" || a.kind === "resync-start") ? [`${a.kind}: ${a.detail}`] : []));

const HUNG = "b refused it: EIO: b takes no resync while its disk is hung: the disk beneath /srv has not finished an op for 10 s";

describe("mirror core: a resync the peer keeps refusing", () => {
  it("is said once with the peer's reason, tried again quietly, said again when the reason changes and when it begins", () => {
    const { a, b } = inSyncCorePair();
    b.step({ type: "apply-failed", detail: "the disk beneath /srv has not finished an op for 10 s" }, 100);
    const first = a.step({ type: "peer-apply-failed", detail: "ETIMEDOUT" }, 101);
    expect(notes(first)).toEqual(["resync-start: resync to b (changes journaled since gen " + a.s.copy.journalBase + ")"]);
    expect(notes(a.step({ type: "resync-failed", detail: HUNG, touched: false }, 200))).toEqual([
      `resync-failed: resync to b failed: ${HUNG}; tried again every 5 s, said again only when the reason changes or it begins`,
    ]);
    expect(a.s.writes).toBe("alone");
    // Tried again every 5 s (coreTimers), refused for the same reason: nothing said, neither the try nor its failure.
    let t = 200;
    for (let i = 0; i < 5; i++) {
      t = mirrorWakeAt(a.s)!;
      const again = a.step({ type: "tick" }, t);
      expect(again.find((x) => x.type === "resync")).toBeDefined();
      expect(notes(again)).toEqual([]);
      expect(notes(a.step({ type: "resync-failed", detail: HUNG, touched: false }, t + 1))).toEqual([]);
    }
    // Another reason is said.
    t = mirrorWakeAt(a.s)!;
    a.step({ type: "tick" }, t);
    const other = "b did not accept the resync";
    expect(notes(a.step({ type: "resync-failed", detail: other, touched: false }, t + 1))).toEqual([
      `resync-failed: resync to b failed: ${other}; tried again every 5 s, said again only when the reason changes or it begins`,
    ]);
    // The try the peer accepts is said, with the failed ones before it.
    t = mirrorWakeAt(a.s)!;
    expect(notes(a.step({ type: "tick" }, t))).toEqual([]);
    expect(notes(a.step({ type: "resync-begun" }, t + 2))).toEqual([
      `resync-start: resync to b begins after 7 failed tries over ${Math.round((t + 2 - 200) / 1000)} s (the last: ${other})`,
    ]);
    a.step({ type: "resync-done" }, t + 3);
    // A later failure for the first reason is said again: the rule starts over.
    a.step({ type: "peer-apply-failed", detail: "ETIMEDOUT" }, t + 4);
    expect(notes(a.step({ type: "resync-failed", detail: HUNG, touched: false }, t + 5))).toHaveLength(1);
  });

  it("a resync that begins at the first try says nothing more than its start", () => {
    const { a } = inSyncCorePair();
    a.step({ type: "peer-apply-failed", detail: "EIO" }, 100);
    expect(notes(a.step({ type: "resync-begun" }, 101))).toEqual([]);
    expect(a.s.resyncRetrying).toBeNull();
  });
});
