/**
 * The completed-I/O counters of the block device beneath a folder
 * (block-device-io.ts), which the disk's watch reads so that a slow disk
 * in one long fsync is not taken for a hung one.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { blockDeviceIo, completedIos, devNumbers } from "../../src/replicator/block-device-io.ts";

// Linux 5.5+: 17 fields (reads, merges, sectors, ticks; writes ...; in_flight, io_ticks, time_in_queue; discards ...; flushes, ticks).
const LINE = "  132174      268 36563014   273423  2116326  2848649 112090759  3599143        0  1531484  4896556        7        0        0        0   979983  1023989\n";

let base: string;
beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-block-io-"));
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

describe("the block device's completed I/O", () => {
  it("sums reads, writes, discards and flushes completed, not sectors, merges or in_flight", () => {
    expect(completedIos(LINE)).toBe(132174 + 2116326 + 7 + 979983);
    // Before 4.18: 11 fields, no discards nor flushes.
    expect(completedIos("5 0 40 1 9 0 72 3 2 4 4")).toBe(14);
  });

  it("refuses what is not a stat line, without throwing", () => {
    for (const bad of ["", "1 2 3", "a b c d e f g h i j k", "1 2 3 4 -5 6 7 8 9 10 11", "1".repeat(30) + " 0 0 0 0 0 0 0 0 0 0"]) expect(completedIos(bad)).toBeNull();
  });

  it("decodes a dev_t's major and minor as Linux encodes them", () => {
    expect(devNumbers(0xfe00n)).toEqual({ major: 254, minor: 0 });
    expect(devNumbers(0x0801n)).toEqual({ major: 8, minor: 1 });
    expect(devNumbers(0x10305n)).toEqual({ major: 259, minor: 5 });
    expect(devNumbers(0x1000_12323445n)).toEqual({ major: 0x1234, minor: 0x12345 });
    expect(devNumbers(0x2dn)).toEqual({ major: 0, minor: 45 });
  });

  it("reads the counters of the folder's device under /sys/dev/block/MAJ:MIN/stat, at each call", () => {
    const folder = path.join(base, "copy");
    fs.mkdirSync(folder);
    const { major, minor } = devNumbers(fs.statSync(folder, { bigint: true }).dev);
    const sys = path.join(base, "sys");
    const stat = path.join(sys, "dev", "block", `${major}:${minor}`, "stat");
    if (major === 0) {
      // This test's folder lies on no block device: nothing to read.
      expect(blockDeviceIo(folder, sys)).toBeNull();
      return;
    }
    expect(blockDeviceIo(folder, sys)).toBeNull();
    fs.mkdirSync(path.dirname(stat), { recursive: true });
    fs.writeFileSync(stat, "5 0 40 1 9 0 72 3 2 4 4\n");
    const io = blockDeviceIo(folder, sys);
    expect(io?.()).toBe(14);
    fs.writeFileSync(stat, "5 0 40 1 12 0 96 3 2 4 4\n");
    expect(io?.()).toBe(17);
    fs.rmSync(stat);
    expect(io?.()).toBeNull();
  });

  it("a folder on no block device (major 0: tmpfs, FUSE, overlay) has no counters", () => {
    if (fs.existsSync("/dev/shm") && devNumbers(fs.statSync("/dev/shm", { bigint: true }).dev).major === 0) expect(blockDeviceIo("/dev/shm")).toBeNull();
    expect(blockDeviceIo(path.join(base, "absent"))).toBeNull();
  });
});
