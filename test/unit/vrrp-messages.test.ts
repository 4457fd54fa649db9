/**
 * What a VRRP transition says is what happened: a takeover from a lower
 * master is not "no advert", and durations are whole milliseconds even on a
 * fractional clock.
 */
import { describe, expect, it } from "vitest";
import { masterDownIntervalMs } from "../../src/core/vrrp/vrrp.ts";
import { transitionOf, VrrpOne, vrrpConfig } from "./vrrp-core-one.ts";

/** Ours at `priority`. */
const one = (priority: number): VrrpOne => new VrrpOne(vrrpConfig({ priority }));

const LOWER = "198.51.100.12";



describe("VRRP transition details", () => {
  it("a preempting backup that heard only lower-priority adverts says so when it takes over", () => {
    const n = one(150);
    n.step({ type: "startup" }, 0.25);
    for (let t = 1000.3; t < 3600; t += 1000) expect(transitionOf(n.advert(LOWER, 100, t))).toBeUndefined();
    const mdi = masterDownIntervalMs(150, 1000, 3);
    const up = transitionOf(n.step({ type: "tick" }, 0.25 + mdi));
    expect(up).toMatchObject({ from: "backup", to: "master", reason: "master-down" });
    expect(up?.detail).toBe(`only lower-priority adverts for ${Math.round(mdi)} ms (Master_Down_Interval; the last from ${LOWER}, priority 100, ours 150): preempting`);
  });

  it("silence is still 'no advert', in whole milliseconds", () => {
    const n = one(100);
    const start = transitionOf(n.step({ type: "startup" }, 0.7));
    expect(start?.detail).toMatch(/^priority 100; master down after \d+ ms without adverts$/);
    const up = transitionOf(n.step({ type: "tick" }, 10_000.123));
    expect(up?.detail).toMatch(/^no advert for \d+ ms \(Master_Down_Interval\)$/);
  });

  it("a lower advert followed by the master's own resets what it says", () => {
    const n = one(150);
    n.step({ type: "startup" }, 0);
    n.advert(LOWER, 100, 500);
    n.advert("198.51.100.13", 200, 900);
    const up = transitionOf(n.step({ type: "tick" }, 900 + masterDownIntervalMs(150, 1000, 3) + 1));
    expect(up?.detail).toMatch(/^no advert for \d+ ms/);
  });
});
