/** The bound on an owed acknowledgement or answer (src/core/mirror/ack-bound.ts). */
import { describe, expect, it } from "vitest";
import { AckWatch } from "../../src/daemon/mirror/ack-watch.ts";
import { ackCheckEveryMs, ackOverdue, DEFAULT_ACK_TIMEOUT_MS, MAX_RECONNECT_PAUSE_MS, type OwedAnswer, owedOverdue, questionText, reconnectPauseMs } from "../../src/core/mirror/ack-bound.ts";
import type { ResyncRequest } from "../../src/proto/replication-resync.ts";
import { relPath } from "../../src/replicator/ops.ts";

const copy = { gen: "3:h1", history: [], data: "uptodate", running: true, unclean: false } as const;
const begin: ResyncRequest = { kind: "control", action: "resync-begin", copy };

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
    const watch = new AckWatch({ owedAck: () => link.owed, owedAnswer: () => null, get ackedOps() { return link.ackedOps; }, drop: (r, p) => void link.drops.push([r, p]) }, "h2", 2_000, () => {});
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

  it("a question not answered for the bound drops the link too, and says which question", () => {
    expect(owedOverdue("h2", { ack: null, answer: { question: begin, ageMs: 1_999 } }, 2_000)).toBeNull();
    expect(owedOverdue("h2", { ack: null, answer: { question: begin, ageMs: 2_000 } }, 2_000)).toBe(
      "h2 has not answered the start of the resync for 2.0 s (ack_timeout 2.0 s): link dropped, the resync resumes once it is back");
    expect(owedOverdue("h2", { ack: null, answer: { question: { kind: "sums", path: relPath("a/b"), blockSize: 4096, offset: 0, count: 8 }, ageMs: 31_000 } }, 30_000)).toBe(
      'h2 has not answered the block sums of "a/b" for 31 s (ack_timeout 30 s): link dropped, the resync resumes once it is back');
    expect(owedOverdue("h2", { ack: null, answer: { question: begin, ageMs: 1e9 } }, 0)).toBeNull();
  });

  it("when both are late, the older one says why", () => {
    const answer: OwedAnswer = { question: begin, ageMs: 3_000 };
    expect(owedOverdue("h2", { ack: { seq: 4, ageMs: 2_500 }, answer }, 2_000)).toMatch(/^h2 has not answered the start of the resync for 3\.0 s/);
    expect(owedOverdue("h2", { ack: { seq: 4, ageMs: 3_500 }, answer }, 2_000)).toMatch(/^h2 has not applied op 4 for 3\.5 s/);
    expect(owedOverdue("h2", { ack: { seq: 4, ageMs: 2_500 }, answer: { question: begin, ageMs: 100 } }, 2_000)).toMatch(/^h2 has not applied op 4 for 2\.5 s/);
    expect(owedOverdue("h2", { ack: { seq: 4, ageMs: 100 }, answer }, 2_000)).toMatch(/^h2 has not answered/);
  });

  it("names each question as an operator reads it", () => {
    expect(questionText({ kind: "control", action: "state", copy })).toBe("what its copy holds");
    expect(questionText({ kind: "control", action: "resync-begin-keep", copy })).toBe("the start of the resync");
    expect(questionText({ kind: "control", action: "resync-end", copy })).toBe("the end of the resync");
    expect(questionText({ kind: "manifest", under: relPath(""), recursive: true })).toBe("the listing of the folder's top");
    expect(questionText({ kind: "manifest", under: relPath("seg"), recursive: false })).toBe('the listing of "seg"');
    expect(questionText({ kind: "entry", path: relPath("rec.log") })).toBe('the question on "rec.log"');
  });

  it("the watch drops for a question owed past the bound, the pause doubling until the peer acknowledges an op", () => {
    const link = { ack: null as { seq: number; ageMs: number } | null, answer: null as OwedAnswer | null, ackedOps: 7, drops: [] as [string, number][] };
    const told: string[] = [];
    const watch = new AckWatch({ owedAck: () => link.ack, owedAnswer: () => link.answer, get ackedOps() { return link.ackedOps; }, drop: (r, p) => void link.drops.push([r, p]) }, "h2", 2_000, (r) => void told.push(r));
    link.answer = { question: begin, ageMs: 1_000 };
    watch.check();
    expect(link.drops).toEqual([]);
    link.answer = { question: begin, ageMs: 2_100 };
    watch.check();
    watch.check();
    link.ack = { seq: 30, ageMs: 2_200 };
    watch.check();
    expect(link.drops.map(([, p]) => p)).toEqual([2_000, 4_000, 8_000]);
    expect(link.drops[0]?.[0]).toBe("h2 has not answered the start of the resync for 2.1 s (ack_timeout 2.0 s): link dropped, the resync resumes once it is back");
    expect(link.drops[2]?.[0]).toBe("h2 has not applied op 30 for 2.2 s (ack_timeout 2.0 s): link dropped, going on alone");
    expect(told).toEqual(link.drops.map(([r]) => r));
    link.ackedOps = 8;
    watch.check();
    expect(link.drops[3]?.[1]).toBe(2_000);
  });
});
