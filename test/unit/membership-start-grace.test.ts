/**
 * "Start-up grace" (src/core/membership/membership.ts): a peer's incarnation
 * met young gets startGraceMs on top of deadtime while it starts up, for at
 * most initdead after its first frame and while its seq shows at most
 * initdead / interval rounds; warntime is unchanged.
 */
import { describe, expect, it } from "vitest";
import { startGraceBoundMs, startGraceSeqs, type MembershipConfig } from "../../src/core/membership/membership.ts";
import { membershipConfig, MembershipDriver, T0 } from "./membership-driver.ts";

/** a and b over two links at lan timers (interval 100, warntime 250, deadtime 500, initdead 2000), grace one deadtime. */
const config: MembershipConfig = { ...membershipConfig(["b"], 2), startGraceMs: 500 };

class Driver extends MembershipDriver {
  /** b's epoch and next seq. */
  private epoch = 7n;
  private seq = 1;

  constructor(cfg: MembershipConfig = config) {
    super(cfg);
  }

  /** b restarts: its frames carry `epoch` and seq from 1 (or from `firstSeq`). */
  life(epoch: bigint, firstSeq = 1): this {
    this.epoch = epoch;
    this.seq = firstSeq;
    return this;
  }

  /** b sends one round (a frame per link) every `everyMs` from `from` to `to`. */
  sends(from: number, to: number, everyMs = config.intervalMs): void {
    for (let t = from; t <= to; t += everyMs) {
      for (const link of [0, 1]) {
        this.step({ type: "frame", link, frame: { cluster: "c1", node: "b", epoch: this.epoch, seq: this.seq, sentAt: t, link, echoes: [] } }, t);
        this.seq++;
      }
    }
  }

  /** b's peer and link verdicts from `after` on, as [time, scope, to]. */
  verdicts(after: number): [number, string, string][] {
    return this.events()
      .filter((e) => e.at >= after && e.to !== "up")
      .map((e) => [e.at - after, e.scope === "link" ? `link ${e.link}` : "peer", e.to]);
  }
}

/** b ran for a long time before we started: its frames carry a high seq. */
function runningPeer(cfg: MembershipConfig = config): Driver {
  const d = new Driver(cfg).life(7n, 10_000);
  d.sends(T0, T0 + 1000);
  return d;
}

describe("start-up grace of a peer", () => {
  it("a restarted peer silent in its start-up is late after warntime and dead only after deadtime + the grace", () => {
    const d = runningPeer().life(8n);
    d.sends(T0 + 1100, T0 + 1400);
    const last = T0 + 1400;
    d.until(last + 3000);
    expect(d.verdicts(last)).toEqual([
      [250, "peer", "late"],
      [1000, "link 0", "down"],
      [1000, "link 1", "down"],
      [1000, "peer", "dead"],
    ]);
    expect(d.events({ to: "dead" })[0]?.detail).toContain("(deadtime 500 ms + 500 ms of start-up grace)");
    expect(startGraceBoundMs(config, 500)).toBe(1100);
  });

  it("without a grace configured (absent), the same peer is dead after deadtime", () => {
    const { startGraceMs: _, ...none } = config;
    const d = runningPeer(none).life(8n);
    d.sends(T0 + 1100, T0 + 1400);
    d.until(T0 + 4400);
    expect(d.verdicts(T0 + 1400)).toEqual([
      [250, "peer", "late"],
      [500, "link 0", "down"],
      [500, "link 1", "down"],
      [500, "peer", "dead"],
    ]);
  });

  it("a peer heard first at its start (both nodes starting) has it too", () => {
    const d = new Driver();
    d.sends(T0 + 300, T0 + 600);
    d.until(T0 + 3600);
    expect(d.verdicts(T0 + 600).filter(([, scope]) => scope === "peer")).toEqual([
      [250, "peer", "late"],
      [1000, "peer", "dead"],
    ]);
  });

  it("a peer that ran before we heard it (first frame with a seq past initdead / interval rounds) has none", () => {
    expect(startGraceSeqs(config)).toBe(40);
    const d = new Driver().life(7n, 41);
    d.sends(T0 + 300, T0 + 600);
    d.until(T0 + 3600);
    expect(d.verdicts(T0 + 600).filter(([, scope]) => scope === "peer")).toEqual([
      [250, "peer", "late"],
      [500, "peer", "dead"],
    ]);
  });

  it("ends initdead after the incarnation's first frame, however few rounds it sent", () => {
    const d = runningPeer().life(8n);
    // One round every 300 ms: 16 frames by T0 + 3200, far below 40, but 2100 ms after its first.
    d.sends(T0 + 1100, T0 + 3200, 300);
    d.until(T0 + 6000);
    expect(d.verdicts(T0 + 3200).filter(([, scope]) => scope === "peer")).toEqual([
      [250, "peer", "late"],
      [500, "peer", "dead"],
    ]);
  });

  it("ends once the epoch's seq shows more than initdead / interval rounds, however soon", () => {
    const d = runningPeer().life(8n);
    // Rounds every 25 ms (a peer publishing news): seq 42 by T0 + 1600.
    d.sends(T0 + 1100, T0 + 1600, 25);
    d.until(T0 + 4000);
    expect(d.verdicts(T0 + 1600).filter(([, scope]) => scope === "peer")).toEqual([
      [250, "peer", "late"],
      [500, "peer", "dead"],
    ]);
  });

  it("a young frame replayed after our own restart is ended by the peer's next genuine frame", () => {
    const d = new Driver().life(7n, 3);
    d.sends(T0 + 100, T0 + 100);
    expect(d.peer("b").startGraceUntil).toBe(T0 + 100 + config.initdeadMs);
    d.life(7n, 5000);
    d.sends(T0 + 200, T0 + 400);
    d.until(T0 + 3000);
    expect(d.verdicts(T0 + 400).filter(([, scope]) => scope === "peer")).toEqual([
      [250, "peer", "late"],
      [500, "peer", "dead"],
    ]);
  });

  it("a peer heard again within its start-up keeps the grace; heard again after it, has none", () => {
    const d = runningPeer().life(8n);
    d.sends(T0 + 1100, T0 + 1200);
    // Silent 1200 ms: dead at 1000, heard again at T0 + 2400, then silent again.
    d.sends(T0 + 2400, T0 + 2500);
    d.until(T0 + 5000);
    expect(d.verdicts(T0 + 2500).filter(([, scope]) => scope === "peer")).toEqual([
      [250, "peer", "late"],
      [1000, "peer", "dead"],
    ]);
    d.sends(T0 + 5000, T0 + 5100);
    d.until(T0 + 8000);
    expect(d.verdicts(T0 + 5100).filter(([, scope]) => scope === "peer")).toEqual([
      [250, "peer", "late"],
      [500, "peer", "dead"],
    ]);
  });
});
