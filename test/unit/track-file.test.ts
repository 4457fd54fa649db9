import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { effectivePriority, faultingTracks } from "../../src/core/vrrp/track.ts";
import { fileTrackEffect, fileTrackHealth, fileTrackParts, readTrackFile } from "../../src/sys/track-file.ts";

const dir = mkdtempSync(join(tmpdir(), "vigil-track-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe("readTrackFile", () => {
  it("reads one integer, whitespace allowed", () => {
    expect(readTrackFile(file("a", "42\n"))).toEqual({ ok: true, value: 42 });
    expect(readTrackFile(file("b", "  -7  "))).toEqual({ ok: true, value: -7 });
  });

  it("names the file and the problem otherwise", () => {
    expect(readTrackFile(join(dir, "missing"))).toEqual({ ok: false, message: `track file ${join(dir, "missing")}: no such file` });
    expect(readTrackFile(file("c", "high"))).toEqual({ ok: false, message: `track file ${join(dir, "c")}: holds "high", not an integer` });
    expect(readTrackFile(file("d", ""))).toMatchObject({ ok: false });
    expect(readTrackFile(file("e", "1.5"))).toMatchObject({ ok: false });
    expect(readTrackFile(file("f", "9".repeat(5000)))).toMatchObject({ ok: false, message: expect.stringContaining("too big") });
    expect(readTrackFile(dir)).toMatchObject({ ok: false, message: expect.stringContaining("cannot read it (EISDIR)") });
  });
});

describe("keepalived's track_file rules", () => {
  it("weight 0: any non-zero value (or no value) is a fault", () => {
    expect(fileTrackEffect(0, 0)).toEqual({ delta: 0, fault: false });
    expect(fileTrackEffect(3, 0)).toEqual({ delta: 0, fault: true });
    expect(fileTrackEffect(null, 0)).toEqual({ delta: 0, fault: true });
  });

  it("other weights: value x weight moves the priority; below -253 is a fault; unreadable changes nothing", () => {
    expect(fileTrackEffect(5, 10)).toEqual({ delta: 50, fault: false });
    expect(fileTrackEffect(-2, 10)).toEqual({ delta: -20, fault: false });
    expect(fileTrackEffect(-254, 1)).toEqual({ delta: 0, fault: true });
    expect(fileTrackEffect(1000, 1)).toEqual({ delta: 255, fault: false });
    expect(fileTrackEffect(null, 10)).toEqual({ delta: 0, fault: false });
  });

  it("the binary parts make the core add exactly the amount, for every amount", () => {
    const parts = fileTrackParts("file /run/prio", 1);
    expect(parts).toHaveLength(17);
    for (let delta = -255; delta <= 255; delta++) {
      const health = fileTrackHealth("file /run/prio", 1, { delta, fault: false });
      expect(effectivePriority(100, parts, health)).toBe(Math.min(254, Math.max(1, 100 + delta)));
      expect(faultingTracks(parts, health)).toEqual([]);
    }
    const faulty = fileTrackHealth("file /run/prio", 1, { delta: 0, fault: true });
    expect(faultingTracks(parts, faulty)).toEqual(["file /run/prio#fault"]);
  });

  it("weight 0 is one object that faults", () => {
    expect(fileTrackParts("f", 0)).toEqual([{ name: "f", weight: 0 }]);
    expect(fileTrackHealth("f", 0, { delta: 0, fault: true })).toEqual({ f: false });
    expect(fileTrackHealth("f", 0, { delta: 0, fault: false })).toEqual({ f: true });
  });
});
