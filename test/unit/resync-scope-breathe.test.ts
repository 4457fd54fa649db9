import * as fs from "node:fs";
import * as path from "node:path";
import { expect, it } from "vitest";
import { Breather, Turns } from "../../src/replicator/breathe.ts";
import type { DirtyPath, DirtySet } from "../../src/replicator/journal-dirty.ts";
import { relPath } from "../../src/replicator/ops.ts";
import { Resync } from "../../src/replicator/resync.ts";
import { LocalResyncPeer } from "../../src/replicator/resync-local-peer.ts";
import { expectSameTrees, noise, tmpDirsEachTest, writeFile } from "./resync-fixture.ts";

let src: string;
let dst: string;

tmpDirsEachTest(["scope-src", "scope-dst"], (dirs) => ([src, dst] = dirs));

// The scope of a journal resync (which marked paths need a listing of their own, which parents are
// listed instead) takes an lstat per marked path and a readdir per parent: thousands of marks held the
// thread past the link's deadtime. A clock that moves one unit per question makes the steps' yields countable.
it("a journal resync of many marks lets timers run while it works out what to list", async () => {
  const dirs = 4;
  const files = 256;
  for (let i = 0; i < files; i++) writeFile(src, `d${i % dirs}/f${i}`, noise(i + 1, 512), 1_700_000_000);
  fs.cpSync(src, dst, { recursive: true, preserveTimestamps: true });
  // cpSync sets a directory's times before it fills it.
  for (const d of ["", ...Array.from({ length: dirs }, (_, i) => `d${i}`)]) {
    const st = fs.statSync(path.join(src, d), { bigint: true });
    fs.utimesSync(path.join(dst, d), Number(st.atimeNs) / 1e9, Number(st.mtimeNs) / 1e9);
  }
  const paths: DirtyPath[] = [];
  for (let i = 0; i < files; i++) {
    if (i % 4 === 3) continue; // a quarter unchanged: the parents are listed, not every mark asked for alone
    writeFile(src, `d${i % dirs}/f${i}`, noise(i + 5000, 512), 1_700_000_100);
    paths.push({ path: relPath(`d${i % dirs}/f${i}`), tree: false, whole: false, ranges: [{ offset: 0, length: 512 }], suspect: [] });
  }
  const dirty: DirtySet = { full: false, fullReason: null, hardLinkRecheck: false, paths };

  let t = 0;
  let yields = 0;
  const turns = new Turns(() => t++, () => {
    yields++;
    return new Promise<void>((resolve) => setTimeout(resolve, 0));
  }, 10);
  let timerRan = false;
  setTimeout(() => { timerRan = true; }, 0);
  let atScopeEnd: { timerRan: boolean; yields: number } | null = null;
  const r = await new Resync({
    root: src, peer: new LocalResyncPeer(dst), dirty, breather: new Breather(turns),
    // The first phase reported is "scanning", once the scopes are known.
    onProgress: () => { atScopeEnd ??= { timerRan, yields }; },
  }).run();

  expect(r.completed).toBe(true);
  expect(atScopeEnd).not.toBeNull();
  expect(atScopeEnd!.timerRan).toBe(true);
  // Over 192 marks, a clock unit per question and a turn per 10 units: the marks' filter and the
  // grouping by parent each take dozens of turns.
  expect(atScopeEnd!.yields).toBeGreaterThanOrEqual(2 * Math.floor(paths.length / 2 / 10));
  await expectSameTrees(src, dst);
});
