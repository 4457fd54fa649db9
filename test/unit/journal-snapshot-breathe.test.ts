import { expect, it } from "vitest";
import { Breather, Turns } from "../../src/replicator/breathe.ts";
import { DirtyTracker, type DirtySet } from "../../src/replicator/journal-dirty.ts";
import { recordsFor } from "../../src/replicator/journal.ts";
import { relPath, relPathText, type MirrorOp } from "../../src/replicator/ops.ts";

function text(d: DirtySet): string[] {
  const lines = d.paths.map((p) => `${relPathText(p.path) || "."}${p.tree ? " tree" : ""}${p.whole ? " whole" : ""}${p.ranges.map((r) => ` ${r.offset}+${r.length}`).join("")}`);
  if (d.full) lines.push(`FULL ${d.fullReason}`);
  return lines.sort();
}

function marked(files: number, limits?: ConstructorParameters<typeof DirtyTracker>[0]): DirtyTracker {
  const t = new DirtyTracker(limits);
  for (let i = 0; i < files; i++) {
    const op: MirrorOp = { op: "write", path: relPath(`d${i % 4}/f${i}`), offset: 0, data: new Uint8Array(8192), mtimeNs: 1n };
    for (const r of recordsFor(op)) t.apply(r);
  }
  return t;
}

/** A clock that moves one unit per question and a turn per 10 units, each turn counted and run by `during`. */
function countedTurns(during: (turn: number) => void = () => undefined): { breather: Breather; yields: () => number } {
  let t = 0;
  let yields = 0;
  const turns = new Turns(() => t++, () => {
    yields++;
    during(yields);
    return new Promise<void>((resolve) => setTimeout(resolve, 0));
  }, 10);
  return { breather: new Breather(turns), yields: () => yields };
}

// The resync's start took the marks of thousands of files in one stretch of the PRIM's main thread
// (12-45 ms on a loaded host), beside heartbeats of a 500 ms deadtime.
it("the journal's set of marks is built while timers run, and is the same set", async () => {
  const t = marked(400);
  const { breather, yields } = countedTurns();
  let timerRan = false;
  setTimeout(() => { timerRan = true; }, 0);
  const d = await t.snapshotBreathing(() => breather.breathe());
  expect(timerRan).toBe(true);
  // 404 marks (400 files and their 4 directories), a clock unit per mark and a turn per 10 units.
  expect(yields()).toBeGreaterThanOrEqual(30);
  expect(text(d)).toEqual(text(t.snapshot()));
  expect(d.paths.length).toBe(404);
});

// A live rename while the link is up moves marks in the journal (Journal.follow); the set must bring
// the moved data's marks under the new name, once, as it would have brought them had the rename come first.
it("marks a rename moves while the set is built come under their new name, once", async () => {
  const t = marked(400);
  const renames: MirrorOp[] = [
    // d0 was reached early (marks in insertion order): its marks leave for a name reached after it.
    { op: "rename", from: relPath("d0"), to: relPath("e0"), flags: 0 },
    // A file not reached yet takes the name of one already reached.
    { op: "rename", from: relPath("d3/f399"), to: relPath("d1/f1"), flags: 0 },
  ];
  const { breather } = countedTurns((turn) => {
    if (turn === 20) for (const op of renames) for (const r of recordsFor(op)) t.apply(r);
  });
  const d = await t.snapshotBreathing(() => breather.breathe());
  const names = d.paths.map((p) => relPathText(p.path));
  expect(new Set(names).size).toBe(names.length);
  const got = text(d);
  expect(got).toContain("e0 tree");
  expect(got).toContain("e0/f0 0+8192");
  expect(got).toContain("e0/f396 0+8192");
  expect(got).toContain("d0 whole");
  expect(got).toContain("d1/f1 tree");
  expect(got).toContain("d3/f399 whole");
  // Everything the set taken after the renames holds is in it (names left behind may come in too).
  for (const line of text(t.snapshot())) expect(got).toContain(line);
});

it("a limit reached while the set is built makes it a full compare", async () => {
  const t = marked(100, { maxPaths: 110, maxBlocksPerFile: 4096, maxBlocks: 1_000_000 });
  const { breather } = countedTurns((turn) => {
    if (turn !== 3) return;
    for (let i = 0; i < 20; i++) for (const r of recordsFor({ op: "chmod", path: relPath(`x/g${i}`), mode: 0o600 })) t.apply(r);
  });
  const d = await t.snapshotBreathing(() => breather.breathe());
  expect(d.full).toBe(true);
  expect(d.paths).toEqual([]);
});
