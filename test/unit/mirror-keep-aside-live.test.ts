/**
 * Live ops that reach a copy before the resync that keeps its divergent
 * files aside has begun there, on two real mirror drivers on loopback (no
 * FUSE: the PRIM's change is made in its folder, then handed to the driver
 * as its interception would).
 *
 * First case: h2 is a new copy whose folder holds files of its own (rule 7: what its
 * first sync replaces or removes is kept aside); h1, preferred, is the
 * source. From the core's decision to resync until h2 has accepted the
 * resync (resync-begin-keep), h1's service truncates and rewrites a file h2
 * also holds, unlinks another and renames a new file over a third. Each of
 * h2's own versions must end in h2's conflicts folder, never lost: before,
 * those live ops were sent and applied on h2 with no keeper yet, so the
 * truncated, unlinked and replaced contents were in neither h2's copy nor
 * conflicts/.
 *
 * Second case: a split brain. h1 and h2 both run alone while their link is
 * cut; h2 writes notes.txt, its own version. h2 gives way, the link comes
 * back, and as h1 is about to ask the keeping resync its service rewrites
 * notes.txt: h2's version must end in h2's conflicts folder.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { MirrorDriver } from "../../src/daemon/mirror/driver.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";
import { type DriverInsides, loopbackMirrorDriver, pairInSync, until } from "./mirror-driver-pair.ts";
import { attachBoth, changeBeforeAsking, cutLinkUntilOpened, expectKeptAside, resyncedAfter, tree } from "./mirror-live-fixture.ts";
import { tmpDir } from "./resync-fixture.ts";

const KEY = new Uint8Array(32).fill(7);
const PORT = 30_000 + Math.floor(Math.random() * 20_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface PrimInsides extends DriverInsides {
  control(action: string, refused?: (why: string) => void): Promise<unknown>;
  client: { drop(reason: string, pauseMs?: number): void; connectRound(): Promise<void> };
}

/** h1's service changes h2's files' names while the resync is pending: on h1 first, then the ops (their calls' promise). */
function serviceChanges(h1: MirrorDriver, p1: PrimInsides): Promise<void> {
  const f = (n: string): string => join(h1.folder, n);
  const live = new TextEncoder().encode("h1 live\n");
  writeFileSync(f("shared.txt"), live);
  unlinkSync(f("doomed.txt"));
  writeFileSync(f("tmp.txt"), "h1 replacement\n");
  renameSync(f("tmp.txt"), f("target.txt"));
  const ops: MirrorOp[] = [
    { op: "truncate", path: relPath("shared.txt"), size: 0, mtimeNs: 1n },
    { op: "write", path: relPath("shared.txt"), offset: 0, data: live, mtimeNs: 2n },
    { op: "unlink", path: relPath("doomed.txt") },
    { op: "create", path: relPath("tmp.txt"), mode: 0o644, uid: 0, gid: 0 },
    { op: "write", path: relPath("tmp.txt"), offset: 0, data: new TextEncoder().encode("h1 replacement\n"), mtimeNs: 3n },
    { op: "rename", from: relPath("tmp.txt"), to: relPath("target.txt"), flags: 0 },
  ];
  return ops.reduce<Promise<void>>((prev, op) => prev.then(() => p1.intercepted(op)), Promise.resolve());
}

describe("live ops before a keeping resync has begun on the copy", () => {
  it("a new copy's own files that the PRIM's live truncate, unlink and rename-over reach first are kept aside, not lost", async () => {
    const root = tmpDir("keep-aside-live");
    const h2Lines: string[] = [];
    // h2's own files, there before its daemon starts; h1's versions of the same names.
    mkdirSync(join(root, "h2-data"), { recursive: true });
    writeFileSync(join(root, "h2-data", "shared.txt"), "h2's own shared\n");
    writeFileSync(join(root, "h2-data", "doomed.txt"), "h2's own doomed\n");
    writeFileSync(join(root, "h2-data", "target.txt"), "h2's own target\n");
    mkdirSync(join(root, "h1-data"), { recursive: true });
    writeFileSync(join(root, "h1-data", "shared.txt"), "h1 shared\n");
    writeFileSync(join(root, "h1-data", "doomed.txt"), "h1 doomed\n");
    writeFileSync(join(root, "h1-data", "target.txt"), "h1 target\n");
    const h1 = loopbackMirrorDriver("h1", root, { key: KEY, port: PORT });
    const h2 = loopbackMirrorDriver("h2", root, { key: KEY, port: PORT, lines: h2Lines });
    await attachBoth(h1, h2, cleanups);
    const p1 = h1 as unknown as PrimInsides;

    // The service writes once h1 has decided to resync, before h2 is asked to begin it.
    const calls = changeBeforeAsking(p1, ["resync-begin-keep"], () => serviceChanges(h1, p1));
    h1.peer("up");
    h2.peer("up");
    h1.role("PRIM", "elected");
    h2.role("SECOND", "elected");
    await resyncedAfter(calls, h1, h2, "h1 about to ask h2 to begin the keeping resync", "the first sync done");

    expect(tree(h2.folder)).toEqual(tree(h1.folder));
    expect(tree(h2.folder)).toEqual({ "shared.txt": "h1 live\n", "target.txt": "h1 replacement\n" });
    // Every one of h2's own versions is in its one conflicts folder, as it was before the first sync.
    expectKeptAside(root, {
      "shared.txt": "h2's own shared\n",
      "doomed.txt": "h2's own doomed\n",
      "target.txt": "h2's own target\n",
    });
    expect(h2.core.copy.conflict).toMatch(/kept in/);
  }, 60_000);

  it("split brain: the loser's file that the winner's live truncate and write reach first is kept aside, not lost", async () => {
    const root = tmpDir("keep-aside-live-split");
    const port = PORT + 1;
    const { h1, h2, p1: d1, p2 } = await pairInSync(root, { key: KEY, port, cleanups, files: 2 });
    const p1 = d1 as PrimInsides;
    const write = async (h: MirrorDriver, p: DriverInsides, text: string): Promise<void> => {
      const data = new TextEncoder().encode(text);
      writeFileSync(join(h.folder, "notes.txt"), data);
      await p.intercepted({ op: "truncate", path: relPath("notes.txt"), size: 0, mtimeNs: 1n });
      await p.intercepted({ op: "write", path: relPath("notes.txt"), offset: 0, data, mtimeNs: 2n });
    };
    writeFileSync(join(h1.folder, "notes.txt"), "shared\n");
    await p1.intercepted({ op: "create", path: relPath("notes.txt"), mode: 0o644, uid: 0, gid: 0 });
    await write(h1, p1, "shared\n");
    await until(() => existsSync(join(h2.folder, "notes.txt")), "notes.txt on h2");
    // The link is cut and stays cut until `open`; each calls the other dead and runs alone.
    const open = cutLinkUntilOpened(p1.client);
    await until(() => h1.status().link !== "up" && h2.status().link !== "up", "the link down on both");
    h1.peer("dead");
    h2.peer("dead");
    h1.role("ALONE", "peer dead");
    h2.role("ALONE", "peer dead");
    await until(() => h1.status().writes === "alone" && h2.status().writes === "alone", "both write alone");
    await write(h2, p2, "h2's own notes, written during the split brain\n");
    await write(h1, p1, "h1's notes, written during the split brain\n");
    // h2 gives way; as h1 is about to ask it to begin the keeping resync, h1's service rewrites notes.txt.
    const calls = changeBeforeAsking(p1, ["resync-begin-keep"], () => write(h1, p1, "h1 live\n"));
    h2.role("SECOND", "the other node keeps the module");
    h1.peer("up");
    h2.peer("up");
    open();
    await resyncedAfter(calls, h1, h2, "h1 about to ask h2 to begin the keeping resync", "h2 resynced");
    expect(tree(h2.folder)).toEqual(tree(h1.folder));
    expect(readFileSync(join(h2.folder, "notes.txt"), "utf8")).toBe("h1 live\n");
    expectKeptAside(root, { "notes.txt": "h2's own notes, written during the split brain\n" });
    expect(h2.core.copy.conflict).toMatch(/this node's copy is in/);
  }, 60_000);
});
