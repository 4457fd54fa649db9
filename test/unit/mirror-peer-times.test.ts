import { describe, expect, it } from "vitest";
import { combineOutcomes, PeerTimes } from "../../src/daemon/mirror/peer-times.ts";
import { LINK_FEATURE, LINK_FEATURES_ALL, NO_FEATURES, ourFeatures } from "../../src/core/link-features.ts";
import type { SendOutcome } from "../../src/net/replication-link-client.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";

const folded: MirrorOp = { op: "unlink", path: relPath("d/x"), times: [{ path: relPath("d"), atimeNs: 1n, mtimeNs: 2n }] };
const plain: MirrorOp = { op: "unlink", path: relPath("d/y") };
const applied: SendOutcome = { delivered: true, result: { ok: true } };
const lostInFlight: SendOutcome = { delivered: false, maybeApplied: true, reason: "connection closed" };
const neverSent: SendOutcome = { delivered: false, maybeApplied: false, reason: "link down" };

describe("whether the SECOND reads namespace ops with their times", () => {
  it("a connection that ends with a folded op in flight before any was acknowledged: unfolded from then on, until the peer is seen gone", () => {
    const t = new PeerTimes();
    expect(t.wire(folded)).toEqual([folded]);
    expect(t.outcome(folded, [folded], lostInFlight)).toMatch(/earlier release/);
    expect(t.state).toBe("no");
    expect(t.wire(folded)).toEqual([{ op: "unlink", path: relPath("d/x") }, { op: "utimes", path: relPath("d"), atimeNs: 1n, mtimeNs: 2n }]);
    expect(t.wire(plain)).toEqual([plain]);
    // Unfolded sends teach nothing.
    expect(t.outcome(folded, t.wire(folded), applied)).toBeNull();
    expect(t.state).toBe("no");
    t.peerGone();
    expect(t.wire(folded)).toEqual([folded]);
  });

  it("once one folded op is acknowledged, a lost connection changes nothing; ops without times and ops never sent teach nothing", () => {
    const t = new PeerTimes();
    expect(t.outcome(plain, [plain], lostInFlight)).toBeNull();
    expect(t.outcome(folded, [folded], neverSent)).toBeNull();
    expect(t.state).toBe("unknown");
    expect(t.outcome(folded, [folded], applied)).toBeNull();
    expect(t.state).toBe("yes");
    expect(t.outcome(folded, [folded], lostInFlight)).toBeNull();
    expect(t.wire(folded)).toEqual([folded]);
  });

  it("a peer that announces foldedTimes gets folded ops from the start, and no lost connection makes them unfolded", () => {
    const t = new PeerTimes();
    t.session({ peer: ourFeatures(), common: LINK_FEATURES_ALL });
    expect(t.state).toBe("yes");
    expect(t.wire(folded)).toEqual([folded]);
    // Before any folded op was acknowledged: the guess would have said "no" here.
    expect(t.outcome(folded, [folded], lostInFlight)).toBeNull();
    expect(t.state).toBe("yes");
    expect(t.wire(folded)).toEqual([folded]);
  });

  it("a peer that announces features without foldedTimes gets them unfolded from its first op, with no connection lost to learn it", () => {
    const t = new PeerTimes();
    t.session({ peer: { version: 2, bits: LINK_FEATURE.listingWithoutXattrs }, common: LINK_FEATURE.listingWithoutXattrs });
    expect(t.state).toBe("no");
    expect(t.wire(folded)).toEqual([{ op: "unlink", path: relPath("d/x") }, { op: "utimes", path: relPath("d"), atimeNs: 1n, mtimeNs: 2n }]);
  });

  it("a peer that announces none (a release before the exchange) is guessed at as before; after one that announced (a rollback), afresh", () => {
    const t = new PeerTimes();
    t.session(NO_FEATURES);
    expect(t.state).toBe("unknown");
    expect(t.outcome(folded, [folded], lostInFlight)).toMatch(/earlier release/);
    // Its next session (no features again) keeps what was learnt of it.
    t.session(NO_FEATURES);
    expect(t.state).toBe("no");
    // Upgraded: it tells.
    t.session({ peer: ourFeatures(), common: LINK_FEATURES_ALL });
    expect(t.state).toBe("yes");
    // Rolled back without being seen gone: no longer told, guessed again.
    t.session(NO_FEATURES);
    expect(t.state).toBe("unknown");
    expect(t.wire(folded)).toEqual([folded]);
    expect(t.outcome(folded, [folded], applied)).toBeNull();
    expect(t.state).toBe("yes");
  });

  it("parts sent in a row: not delivered if one was not (maybe applied if any may be), else the first failure, else applied", () => {
    const failed: SendOutcome = { delivered: true, result: { ok: false, kind: "failed", errno: "ENOENT", message: "utimes d" } };
    expect(combineOutcomes([applied, applied])).toEqual(applied);
    expect(combineOutcomes([applied, failed, applied])).toEqual(failed);
    expect(combineOutcomes([applied, neverSent])).toEqual({ delivered: false, maybeApplied: true, reason: "link down" });
    expect(combineOutcomes([neverSent, neverSent])).toEqual({ delivered: false, maybeApplied: false, reason: "link down" });
  });
});
