import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { farmsMayHaveLeftovers, forgetFarmsRan, markFarmsRan } from "../../src/daemon/farm/ran-mark.ts";

const dirs: string[] = [];
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), "vigil-farm-mark-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A stand-in for /sys/class/net with these interfaces. */
function netDir(...names: string[]): string {
  const d = dir();
  for (const n of names) mkdirSync(join(d, n));
  return d;
}

describe("whether a start looks for what a crashed farm left", () => {
  it("does not look in a state dir no farm ran with, on a host without farm macvlans", () => {
    expect(farmsMayHaveLeftovers(dir(), netDir("lo", "eth0", "vfoo", "vf01234567"))).toBe(false);
  });

  it("looks once a farm ran, until the mark is forgotten", () => {
    const state = dir();
    const net = netDir("lo");
    expect(markFarmsRan(state)).toBeUndefined();
    expect(farmsMayHaveLeftovers(state, net)).toBe(true);
    expect(markFarmsRan(state)).toBeUndefined();
    forgetFarmsRan(state);
    expect(farmsMayHaveLeftovers(state, net)).toBe(false);
    forgetFarmsRan(state);
  });

  it("looks when a farm's macvlan is there although the state dir has no mark", () => {
    expect(farmsMayHaveLeftovers(dir(), netDir("lo", "vf0123456789"))).toBe(true);
  });

  it("looks when it cannot list the interfaces", () => {
    expect(farmsMayHaveLeftovers(dir(), join(dir(), "missing"))).toBe(true);
  });

  it("says why it cannot leave the mark", () => {
    const state = dir();
    writeFileSync(join(state, "file"), "");
    expect(markFarmsRan(join(state, "file"))).toMatch(/^cannot write .*farms-ran: /);
  });
});
