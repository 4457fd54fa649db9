/**
 * The advert backstop thread (src/net/raw-vrrp-backstop.ts) as the vigil
 * binary runs it: under Bun, in a child (fixtures/vrrp-backstop-probe.ts,
 * loopback only); this file asserts on what it printed.
 */
import { describe, expect, it } from "vitest";
import { runBunProbe } from "./bun-probe.ts";

describe("VRRP advert backstop thread", () => {
  const seen = runBunProbe("vrrp-backstop-probe.ts", 60_000);

  it("ran every check", () => {
    expect(seen.has("done")).toBe(true);
  });

  it("sends the main thread's advert, byte for byte, while the main thread is silent, and stops when the lease ends", () => {
    const s = seen.get("silent");
    expect(s?.["accepted"]).toBe(true);
    expect(s?.["reached"]).toBe(true);
    expect(s?.["same"]).toBe(true);
    expect(s?.["grewAfterLease"]).toBe(0);
    expect(s?.["counted"]).toBe(true);
  });

  it("fills every gap of a main thread that sends every 200 ms where it promised 20, the first time soon after the promised 20 ms", () => {
    const l = seen.get("late");
    expect(l?.["gapsFilled"]).toBe(6);
    // 25 ms is due; the least of six is well under 25 + the ~30 ms a thread's own clock is off by.
    expect(l?.["firstFillMinMs"]).toBeGreaterThanOrEqual(24);
    expect(l?.["firstFillMinMs"]).toBeLessThan(45);
    expect(l?.["received"]).toBe(l?.["filled"]);
  });

  it("sends nothing for an instance disarmed right after it was armed", () => {
    expect(seen.get("disarmed")).toMatchObject({ received: 0, counted: 0 });
  });

  it("sends the newest advert only, and nothing once closed", () => {
    expect(seen.get("replaced")).toMatchObject({ reached: true, priorities: [120], grewAfterClose: 0 });
  });

  it("refuses what it cannot cover: too many destinations, an advert too long, a slot out of range", () => {
    expect(seen.get("refused")).toMatchObject({ tooMany: false, tooLong: false, badSlot: false });
  });
});
