/** The bound on an owed acknowledgement (src/core/mirror/ack-bound.ts). */
import { describe, expect, it } from "vitest";
import { AckWatch } from "../../src/daemon/mirror/ack-watch.ts";
import { ackCheckEveryMs, ackOverdue, DEFAULT_ACK_TIMEOUT_MS, MAX_RECONNECT_PAUSE_MS, reconnectPauseMs } from "../../src/core/mirror/ack-bound.ts";

describe("ack bound", () => {
  it("nothing owed, or owed within the bound: no drop", () => {
    expect(ackOverdue("h2", null, 10_000)).toBeNull();
    expect(ackOverdue("h2", { seq: 7, ageMs: 9_999 }, 10_000)).toBeNull();
  });

  it("owed for the bound: the link is dropped, and the reason names the peer, the op and the time", () => {
    expect(ackOverdue("h2", { seq: 41, ageMs: 10_000 }, 10_000)).toBe("h2 has not applied op 41 for 10 s (ack_timeout 10 s): link dropped, going on alone");
    expect(ackOverdue("h2", { seq: 3, ageMs: 1_530 }, 1_500)).toBe("h2 has not applied op 3 for 1.5 s (ack_timeout 1.5 s): link dropped, going on alone");
  });

  it("a bound of 0 never drops", () => {
    expect(ackOverdue("h2", { seq: 1, ageMs: 1e9 }, 0)).toBeNull();
  });

  it("the default stays above a slow disk's fsync and below DRBD's 42 s", () => {
    expect(DEFAULT_ACK_TIMEOUT_MS).toBeGreaterThanOrEqual(10_000);
    expect(DEFAULT_ACK_TIMEOUT_MS).toBeLessThanOrEqual(42_000);
  });

  it("looks a tenth of the bound apart, between 100 ms and 1 s", () => {
    expect(ackCheckEveryMs(30_000)).toBe(1_000);
    expect(ackCheckEveryMs(2_000)).toBe(200);
    expect(ackCheckEveryMs(500)).toBe(100);
  });

  it("connects again after the bound, twice as long at each drop in a row, 10 minutes at most", () => {
    expect(reconnectPauseMs(30_000, 1)).toBe(30_000);
    expect(reconnectPauseMs(30_000, 2)).toBe(60_000);
    expect(reconnectPauseMs(30_000, 3)).toBe(120_000);
    expect(reconnectPauseMs(30_000, 6)).toBe(MAX_RECONNECT_PAUSE_MS);
    expect(reconnectPauseMs(30_000, 1_000)).toBe(MAX_RECONNECT_PAUSE_MS);
    expect(MAX_RECONNECT_PAUSE_MS).toBe(600_000);
  });

  it("the watch drops with the reason, pausing longer at each drop in a row, and starts over once the peer acknowledged something", () => {
    const link = { owed: null as { seq: number; ageMs: number } | null, ackedOps: 0, drops: [] as [string, number][] };
    const watch = new AckWatch({ owedAck: () => link.owed, get ackedOps() { return link.ackedOps; }, drop: (r, p) => void link.drops.push([r, p]) }, "h2", 2_000, () => {});
    watch.check();
    link.owed = { seq: 5, ageMs: 1_999 };
    watch.check();
    expect(link.drops).toEqual([]);
    link.owed = { seq: 5, ageMs: 2_000 };
    watch.check();
    link.owed = { seq: 9, ageMs: 2_500 };
    watch.check();
    expect(link.drops).toEqual([
      ["h2 has not applied op 5 for 2.0 s (ack_timeout 2.0 s): link dropped, going on alone", 2_000],
      ["h2 has not applied op 9 for 2.5 s (ack_timeout 2.0 s): link dropped, going on alone", 4_000],
    ]);
    link.ackedOps = 3;
    link.owed = { seq: 12, ageMs: 2_100 };
    watch.check();
    expect(link.drops[2]?.[1]).toBe(2_000);
  });
});
