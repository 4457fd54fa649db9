/**
 * The replication connection's silence rule (src/core/link-silence.ts): a
 * tick of ours that runs late does not count its overdue time as the peer's
 * silence; on-time ticks count everything, so a dead peer is found as fast
 * as before. Fake clock: times are plain numbers.
 */
import { describe, expect, it } from "vitest";
import { heardAt, type SilenceState, silenceAt, tickAt } from "../../src/core/link-silence.ts";

/** The lan profile's link: ping 100 ms, deadtime 500 ms, so tick 25 ms and stall 150 ms (LinkSession). */
const T = { tickMs: 25, stallMs: 150 };
const DEADTIME = 500;

/** Runs ticks at the given times; returns the state after each. */
function ticks(s: SilenceState, at: readonly number[]): SilenceState {
  for (const now of at) s = tickAt(s, now, T).state;
  return s;
}

/** Ticks every `step` ms from `from` (exclusive) to `to` (inclusive). */
function every(from: number, to: number, step = T.tickMs): number[] {
  const out: number[] = [];
  for (let t = from + step; t <= to; t += step) out.push(t);
  return out;
}

describe("replication link silence", () => {
  it("ticks on time count the whole silence: a dead peer is found one deadtime after its last record", () => {
    let s = heardAt(silenceAt(0), 0);
    s = ticks(s, every(0, 500));
    expect(s.counted).toBe(500);
    expect(s.counted > DEADTIME).toBe(false);
    s = ticks(s, [525]);
    expect(s.counted).toBe(525);
    expect(s.credited).toBe(0);
  });

  it("jitter of up to one tick is counted, not credited", () => {
    let s = heardAt(silenceAt(0), 0);
    // Each tick 20 ms late (gap 45 ms): ordinary scheduling on a busy host.
    s = ticks(s, every(0, 540, 45));
    expect(s.counted).toBe(540);
    expect(s.credited).toBe(0);
  });

  it("a tick that ran late does not count its overdue time (peer silent 375 ms, our loop held 140 ms)", () => {
    // The case of the small-file resync under load: the PRIM sent nothing for a while, and the
    // SECOND's tick then ran 115 ms late (under the stall threshold) with the PRIM's records
    // waiting unread. Counting the whole 540 ms closed the link of a peer that was running.
    let s = heardAt(silenceAt(0), 0);
    s = ticks(s, every(0, 400));
    const late = tickAt(s, 540, T);
    expect(late.stalled).toBe(false);
    expect(late.state.counted).toBe(425);
    expect(late.state.credited).toBe(115);
    expect(late.state.counted > DEADTIME).toBe(false);
    // The waiting record is read right after: the silence ends.
    s = heardAt(late.state, 541);
    expect(tickAt(s, 565, T).state.counted).toBe(24);
  });

  it("a peer that stays silent is still found: only the overdue spans are left out", () => {
    let s = heardAt(silenceAt(0), 0);
    s = ticks(s, [25, 50, 190, 215, 240, 265, 290, 315, 340, 365, 390, 415, 440, 465, 490, 515, 540, 565, 590, 615]);
    // 190 was 115 ms overdue; 615 - 115 = 500: not yet; one tick more and it is.
    expect(s.credited).toBe(115);
    expect(s.counted).toBe(500);
    expect(tickAt(s, 640, T).state.counted).toBe(525);
  });

  it("a gap longer than the stall threshold forgives everything before it", () => {
    let s = heardAt(silenceAt(0), 0);
    s = ticks(s, every(0, 400));
    const t = tickAt(s, 560, T);
    expect(t.stalled).toBe(true);
    expect(t.state.counted).toBe(0);
    expect(t.state.lastHeard).toBe(560);
  });

  it("a record read inside a late span is not credited twice", () => {
    let s = heardAt(silenceAt(0), 0);
    s = ticks(s, [25]);
    s = heardAt(s, 90);
    const t = tickAt(s, 140, T);
    // Due at 50, ran at 140: the record at 90 ended the silence; nothing before it counts.
    expect(t.state.counted).toBe(0);
    expect(t.state.credited).toBe(50);
    expect(tickAt(t.state, 165, T).state.counted).toBe(25);
  });
});
