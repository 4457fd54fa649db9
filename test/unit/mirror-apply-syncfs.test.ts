import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DirtySet } from "../../src/replicator/apply-sync.ts";
import { tmpDir } from "./resync-fixture.ts";

let dir: string;
beforeEach(() => {
  dir = tmpDir("syncfs");
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function files(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => {
    const p = path.join(dir, `f${i}`);
    fs.writeFileSync(p, "x");
    return Buffer.from(p);
  });
}

describe("the SECOND's full sync", () => {
  it("calls syncfs once when many objects changed, on the copy's root", () => {
    const seen: string[] = [];
    const set = new DirtySet(8192, (fd) => {
      seen.push(fs.readlinkSync(`/proc/self/fd/${fd}`));
      return 0;
    }, () => 0);
    for (const f of files(40)) set.file(f);
    set.syncAll(Buffer.from(dir));
    expect(seen).toEqual([dir]);
    // Nothing left to sync: a second full sync of few objects does not call it.
    set.file(files(1)[0]!);
    set.syncAll(Buffer.from(dir));
    expect(seen.length).toBe(1);
  });

  it("fsyncs each object instead when others left much dirty data on the host (syncfs would write theirs too)", () => {
    let calls = 0;
    const set = new DirtySet(8192, () => {
      calls++;
      return 0;
    }, () => 1 << 30);
    for (const f of files(40)) set.file(f, 4096);
    set.syncAll(Buffer.from(dir));
    expect(calls).toBe(0);
  });

  it("fails the sync when syncfs fails", () => {
    const set = new DirtySet(8192, () => 5, () => 0);
    for (const f of files(40)) set.file(f);
    expect(() => set.syncAll(Buffer.from(dir))).toThrow(/syncfs failed/);
  });
});
