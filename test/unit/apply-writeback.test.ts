import { describe, expect, it } from "vitest";
import { EarlyWriteback } from "../../src/replicator/apply-writeback.ts";

describe("early writeback on the SECOND", () => {
  it("starts the writeback of each fd's written range once enough bytes were written, then starts over", () => {
    const started: [number, number, number][] = [];
    const wb = new EarlyWriteback((fd, offset, length) => started.push([fd, offset, length]), 100);
    wb.wrote(3, 0, 40);
    wb.wrote(4, 1000, 10);
    wb.wrote(3, 40, 40);
    expect(started).toEqual([]);
    wb.wrote(4, 500, 20);
    expect(started).toEqual([
      [3, 0, 80],
      [4, 500, 510],
    ]);
    wb.wrote(3, 80, 99);
    expect(started.length).toBe(2);
    wb.wrote(3, 179, 1);
    expect(started.slice(2)).toEqual([[3, 80, 100]]);
  });

  it("flush starts what is collected, and nothing twice", () => {
    const started: [number, number, number][] = [];
    const wb = new EarlyWriteback((fd, offset, length) => started.push([fd, offset, length]), 1 << 20);
    wb.wrote(7, 4096, 4096);
    wb.flush();
    wb.flush();
    expect(started).toEqual([[7, 4096, 4096]]);
  });

  it("a range whose fd is closed starts at the close, never later under that fd number", () => {
    const started: [number, number, number][] = [];
    const wb = new EarlyWriteback((fd, offset, length) => started.push([fd, offset, length]), 1 << 20);
    wb.wrote(9, 0, 4096);
    wb.wrote(10, 0, 4096);
    wb.closing(9);
    wb.closing(11);
    expect(started).toEqual([[9, 0, 4096]]);
    // fd 9 reused for another file: its earlier range is not started again.
    wb.wrote(9, 8192, 4096);
    wb.flush();
    expect(started).toEqual([
      [9, 0, 4096],
      [10, 0, 4096],
      [9, 8192, 4096],
    ]);
  });
});
