import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../src/config/duration.ts";

describe("durations", () => {
  it("reads the units operators write", () => {
    expect(parseDuration("100ms")).toBe(100);
    expect(parseDuration("2s")).toBe(2_000);
    expect(parseDuration("1.5s")).toBe(1_500);
    expect(parseDuration("1.1s")).toBe(1_100);
    expect(parseDuration("0.25s")).toBe(250);
    expect(parseDuration("1m")).toBe(60_000);
    expect(parseDuration("1.5m")).toBe(90_000);
    expect(parseDuration("2h")).toBe(7_200_000);
    expect(parseDuration("0s")).toBe(0);
  });

  it("refuses anything else rather than guessing", () => {
    for (const bad of ["", "100", "0", "fast", "1 s", "1S", "-1s", "1.s", ".5s", "1.5ms", "0.0001s", "1s500ms", "1e3ms", " 1s", "99999999999999999999h"]) {
      expect(parseDuration(bad), bad).toBeUndefined();
    }
  });

  it("writes the most readable exact form", () => {
    expect(formatDuration(0)).toBe("0s");
    expect(formatDuration(20)).toBe("20ms");
    expect(formatDuration(100)).toBe("100ms");
    expect(formatDuration(1_000)).toBe("1s");
    expect(formatDuration(1_500)).toBe("1.5s");
    expect(formatDuration(1_001)).toBe("1.001s");
    expect(formatDuration(90_000)).toBe("90s");
    expect(formatDuration(120_000)).toBe("2m");
    expect(formatDuration(3_600_000)).toBe("1h");
  });

  it("round-trips every formatted value", () => {
    const samples = [0, 1, 9, 10, 99, 250, 999, 1_000, 1_010, 1_234, 5_000, 59_999, 60_000, 61_000, 3_599_999, 3_600_000, 86_400_000];
    for (let ms = 0; ms < 5_000; ms += 7) samples.push(ms);
    for (const ms of samples) expect(parseDuration(formatDuration(ms)), String(ms)).toBe(ms);
    for (const text of ["100ms", "1.5s", "2m", "1h", "40.95s"]) expect(formatDuration(parseDuration(text) as number)).toBe(text);
  });
});
