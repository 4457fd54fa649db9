/**
 * Mode async: a PRIM whose daemon died with writes its peer never got comes
 * back as the SECOND; the resync that makes its copy the new PRIM's keeps
 * those files aside first ("unsent-writes"). Live ops of the new PRIM must
 * not reach that copy before the resync has begun there: on two real mirror
 * drivers on loopback (no FUSE: the PRIM's change is made in its folder,
 * then handed to the driver as its interception would), just before h1 asks
 * h2 to begin the resync its service rewrites one of h2's unsent files and
 * unlinks another. h2's unsent versions must end in h2's conflicts folder.
 * Before, h2 decided to keep on its own and h1 did not know: those live ops
 * were sent and applied on h2 with no keeper yet, and the unsent contents
 * were in neither h2's copy nor conflicts/ (writes h2 had acknowledged,
 * silently lost).
 *
 * The flag travels in the hello's copy only where the link's feature
 * exchange agreed on unsentWrites: a node of the previous release refuses
 * the extra byte and is never sent it.
 */
import { mkdirSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type AgreedFeatures, LINK_FEATURE, LINK_FEATURES_ALL } from "../../src/core/link-features.ts";
import type { CopyRecord } from "../../src/core/mirror/copy.ts";
import { ByteDecodeError } from "../../src/proto/bytes.ts";
import type { CopyWire } from "../../src/proto/mirror-control.ts";
import { writeCopyRecord } from "../../src/daemon/mirror/copy-file.ts";
import type { MirrorDriver } from "../../src/daemon/mirror/driver.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";
import { type DriverInsides, loopbackMirrorDriver } from "./mirror-driver-pair.ts";
import { attachBoth, changeBeforeAsking, expectKeptAside, resyncedAfter, tree } from "./mirror-live-fixture.ts";
import { tmpDir } from "./resync-fixture.ts";
import { decodeCopy as decode, encodeCopy as encode } from "./codec-test-helpers.ts";

const KEY = new Uint8Array(32).fill(9);
const PORT = 30_000 + Math.floor(Math.random() * 20_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface PrimInsides extends DriverInsides {
  control(action: string, refused?: (why: string) => void): Promise<unknown>;
}

const record = (o: Partial<CopyRecord> & Pick<CopyRecord, "gen" | "history">): CopyRecord => ({
  data: "uptodate", since: Date.now(), peerBehind: false, journalBase: null, forcedAt: null, writing: false, applyingBoot: null, conflict: null, ...o,
});

/** h1's service rewrites notes.txt and unlinks ledger.txt: on h1 first, then the ops (their calls' promise). */
function serviceChanges(h1: MirrorDriver, p1: PrimInsides): Promise<void> {
  const live = new TextEncoder().encode("h1 live\n");
  writeFileSync(join(h1.folder, "notes.txt"), live);
  unlinkSync(join(h1.folder, "ledger.txt"));
  const ops: MirrorOp[] = [
    { op: "truncate", path: relPath("notes.txt"), size: 0, mtimeNs: 1n },
    { op: "write", path: relPath("notes.txt"), offset: 0, data: live, mtimeNs: 2n },
    { op: "unlink", path: relPath("ledger.txt") },
  ];
  return ops.reduce<Promise<void>>((prev, op) => prev.then(() => p1.intercepted(op)), Promise.resolve());
}

describe("mode async: live ops before the resync that keeps unsent writes has begun", () => {
  it("the returning node's unsent files that the new PRIM's live rewrite and unlink reach first are kept aside, not lost", async () => {
    const root = tmpDir("async-unsent-live");
    // h2 ran the module at gen 1:h2 in mode async; its daemon died (its record still says writing) with
    // notes.txt and ledger.txt written and acknowledged there, never sent. h1 took over: gen 2:h1.
    for (const [h, files] of [
      ["h1", { "notes.txt": "notes as h1 got them\n", "ledger.txt": "ledger as h1 got it\n", "same.txt": "same\n" }],
      ["h2", { "notes.txt": "h2's unsent notes\n", "ledger.txt": "h2's unsent ledger\n", "same.txt": "same\n" }],
    ] as const) {
      mkdirSync(join(root, `${h}-data`), { recursive: true });
      for (const [n, text] of Object.entries(files)) writeFileSync(join(root, `${h}-data`, n), text);
    }
    writeCopyRecord(join(root, "h1-state"), "vms", record({ gen: "2:h1", history: ["1:h2"], peerBehind: true, journalBase: "1:h2", topCounter: 2 }));
    writeCopyRecord(join(root, "h2-state"), "vms", record({ gen: "1:h2", history: [], writing: true, topCounter: 1 }));
    const h1 = loopbackMirrorDriver("h1", root, { key: KEY, port: PORT, mode: "async" });
    const h2 = loopbackMirrorDriver("h2", root, { key: KEY, port: PORT, mode: "async" });
    await attachBoth(h1, h2, cleanups);
    const p1 = h1 as unknown as PrimInsides;

    // The service writes once h1 has decided to resync, before h2 is asked to begin it.
    const calls = changeBeforeAsking(p1, ["resync-begin", "resync-begin-keep"], () => serviceChanges(h1, p1));
    h1.peer("up");
    h2.peer("up");
    h1.role("PRIM", "elected");
    h2.role("SECOND", "elected");
    await resyncedAfter(calls, h1, h2, "h1 about to ask h2 to begin the resync", "h2 resynced");

    expect(tree(h2.folder)).toEqual(tree(h1.folder));
    expect(tree(h2.folder)).toEqual({ "notes.txt": "h1 live\n", "same.txt": "same\n" });
    // One folder kept; both unsent versions are there, as they were when h2's daemon died.
    expectKeptAside(root, {
      "notes.txt": "h2's unsent notes\n",
      "ledger.txt": "h2's unsent ledger\n",
    });
    expect(h2.core.copy.conflictKind).toBe("unsent-writes");
  }, 60_000);
});

describe("the hello's unsent flag and mixed releases", () => {
  const copy: CopyWire = { gen: "1:h2", history: [], data: "uptodate", running: false, unclean: true };

  it("is one byte after the copy, absent when not told: the copy's bytes are then the previous release's", () => {
    const plain = encode(copy);
    expect(encode({ ...copy, unsent: true })).toEqual(Uint8Array.from([...plain, 1]));
    expect(encode({ ...copy, unsent: false })).toEqual(Uint8Array.from([...plain, 0]));
    expect(decode(encode({ ...copy, unsent: true }))).toEqual({ ...copy, unsent: true });
    expect(decode(encode({ ...copy, unsent: false }))).toEqual({ ...copy, unsent: false });
    expect(decode(plain)).toEqual(copy);
    expect(() => decode(Uint8Array.from([...plain, 2]))).toThrow(ByteDecodeError);
    expect(() => decode(Uint8Array.from([...plain, 2]))).toThrow(/unsent at offset \d+ is 2; expected 0 or 1/);
  });

  it("is told only on a connection that agreed on unsentWrites, and is exactly mode async with the copy written by a run that did not end cleanly", () => {
    const root = tmpDir("async-unsent-wire");
    writeCopyRecord(join(root, "h2-state"), "vms", record({ gen: "1:h2", history: [], writing: true, topCounter: 1 }));
    const none: AgreedFeatures = { peer: null, common: 0 };
    const older: AgreedFeatures = { peer: { version: 2, bits: LINK_FEATURE.listingWithoutXattrs | LINK_FEATURE.foldedTimes }, common: LINK_FEATURE.listingWithoutXattrs | LINK_FEATURE.foldedTimes };
    const both: AgreedFeatures = { peer: { version: 2, bits: LINK_FEATURES_ALL }, common: LINK_FEATURES_ALL };
    const wire = (mode: "sync" | "async", agreed: AgreedFeatures): CopyWire => {
      const d = loopbackMirrorDriver("h2", root, { key: KEY, port: PORT + 1, mode });
      cleanups.push(() => d.close());
      return (d as unknown as { wire(a: AgreedFeatures): CopyWire }).wire(agreed);
    };
    expect(wire("async", none).unsent).toBeUndefined();
    expect(wire("async", older).unsent).toBeUndefined();
    expect(wire("async", both).unsent).toBe(true);
    // Mode sync: a copy written when the daemon died holds nothing acknowledged that the peer lacks (rule 3).
    expect(wire("sync", both).unsent).toBe(false);
  });
});
