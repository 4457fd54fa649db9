/**
 * A copy that is not in sync gets live writes during its resync; each one
 * sets the file's mtime to the source's. Size and mtime then agree while
 * older bytes still differ (the ALONE node's appends are a hole here): the
 * resync must compare such files by blocks, whatever the quick check says.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { pathKey } from "../../src/core/mirror/resync-plan.ts";
import { relPath } from "../../src/replicator/ops.ts";
import { Resync, type ResyncOptions } from "../../src/replicator/resync.ts";
import { LocalResyncPeer } from "../../src/replicator/resync-local-peer.ts";
import { tmpDirsEachTest } from "./resync-fixture.ts";

let src: string;
let dst: string;

tmpDirsEachTest(["live-src", "live-dst"], (dirs) => ([src, dst] = dirs));

const RECORD = (n: number): string => `record ${n} ${"x".repeat(200)}\n`;

/** The source's log of 40 records; the copy has the first 10, a hole, then the last one (a live append). */
function stage(): { log: string; mtime: Date } {
  const log = path.join(src, "rec.log");
  const whole = Array.from({ length: 40 }, (_, i) => RECORD(i + 1)).join("");
  fs.writeFileSync(log, whole);
  const copy = path.join(dst, "rec.log");
  const fd = fs.openSync(copy, "w");
  fs.writeSync(fd, Array.from({ length: 10 }, (_, i) => RECORD(i + 1)).join(""));
  const last = RECORD(40);
  fs.writeSync(fd, last, whole.length - last.length);
  fs.closeSync(fd);
  const mtime = new Date();
  fs.utimesSync(log, mtime, mtime);
  fs.utimesSync(copy, mtime, mtime);
  return { log: whole, mtime };
}

async function run(extra: Partial<ResyncOptions>): Promise<string> {
  const r = await new Resync({ root: src, peer: new LocalResyncPeer(dst), ...extra }).run();
  expect(r.completed).toBe(true);
  return fs.readFileSync(path.join(dst, "rec.log"), "utf8");
}

describe("full resync of files live writes touched", () => {
  it("the quick check alone keeps the hole (why the rule exists)", async () => {
    const { log } = stage();
    expect(await run({})).not.toBe(log);
  });

  it("a path live ops named is compared by blocks and made whole", async () => {
    const { log } = stage();
    const key = pathKey(relPath("rec.log"));
    expect(await run({ liveTouched: (k) => k === key })).toBe(log);
  });

  it("a file changed on the source since the link came up is compared by blocks, whatever names the ops used", async () => {
    const { log, mtime } = stage();
    expect(await run({ liveSinceNs: BigInt(mtime.getTime() - 2000) * 1_000_000n })).toBe(log);
  });

  it("an older file is left to the quick check", async () => {
    const { mtime } = stage();
    const r = await new Resync({ root: src, peer: new LocalResyncPeer(dst), liveSinceNs: BigInt(mtime.getTime() + 60_000) * 1_000_000n }).run();
    expect(r.progress.bytesSent).toBe(0);
  });
});
