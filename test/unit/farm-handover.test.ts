/**
 * The handover rules of src/core/farm/handover.ts for a gone node's buckets:
 * a peer's advert counts for them only if written knowing we serve.
 */
import { describe, expect, it } from "vitest";
import { tableOf } from "../../src/core/farm/farm.ts";
import { mayTake } from "../../src/core/farm/handover.ts";
import { ownerOf } from "../../src/core/farm/ownership.ts";
import { BUCKETS, type FarmPeer } from "../../src/core/farm/types.ts";

const nodes = [
  { name: "web1", weight: 1 },
  { name: "web2", weight: 1 },
  { name: "web3", weight: 1 },
];
const config = { module: "web", nodes, self: 0, ownershipSeed: 77, drainTimeoutMs: 5000 };
const ALL = 0b111;
const SURVIVORS = 0b101;

describe("farm handover rules", () => {
  const t = tableOf(config);
  // A bucket of web2 (dead) that is ours once web2 is out.
  const bucket = Array.from({ length: BUCKETS }, (_, b) => b).find((b) => ownerOf(t, b, ALL) === 1 && ownerOf(t, b, SURVIVORS) === 0) ?? -1;
  const peers = (echo: number): FarmPeer[] => [{ live: "up" }, { live: "dead" }, { live: "up", advert: { role: "in", view: SURVIVORS }, echo }];
  // We turned "in" at 1900 (back from waiting: a lapse, a start) and changed our advert last at 2000.
  const take = (echo: number): boolean => mayTake(t, bucket, 0, SURVIVORS, peers(echo), 2000, 1900);

  it("a dead node's bucket under a peer's advert of our view, not yet acknowledged: only if the peer wrote it knowing we serve", () => {
    expect(bucket).toBeGreaterThanOrEqual(0);
    // Acknowledged: the first rule.
    expect(take(2000)).toBe(true);
    // Written after our turn to "in": the peer saw the same death and knows we serve.
    expect(take(1950)).toBe(true);
    // Written before it: the peer may have heard us wait since, and taken every bucket under a view without us.
    expect(take(1800)).toBe(false);
  });

  it("a bucket of a node that said goodbye, under a peer's advert of our view plus that node: only if the peer wrote it knowing we serve", () => {
    const gone = (echo: number): FarmPeer[] => [{ live: "up" }, { live: "dead", stopped: true }, { live: "up", advert: { role: "in", view: ALL }, echo }];
    expect(mayTake(t, bucket, 0, SURVIVORS, gone(1950), 2000, 1900)).toBe(true);
    expect(mayTake(t, bucket, 0, SURVIVORS, gone(1800), 2000, 1900)).toBe(false);
  });
});
