/**
 * The advert backstop thread (src/net/raw-vrrp-backstop.ts) as the vigil
 * binary runs it: under Bun, in a child (fixtures/vrrp-backstop-probe.ts,
 * loopback only); this file asserts on what it printed.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const BUN = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
const PROBE = path.resolve(import.meta.dirname, "fixtures/vrrp-backstop-probe.ts");

type Line = Record<string, unknown> & { check: string };

function runProbe(): Map<string, Line> {
  const r = spawnSync(BUN, [PROBE], { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`the Bun probe exited ${r.status}: ${r.stderr}`);
  return new Map(r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Line).map((l) => [l.check, l]));
}

describe("VRRP advert backstop thread", () => {
  const seen = runProbe();

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
