/**
 * Live ops for paths a pending resync has not created yet, on two real
 * mirror drivers on loopback (as in mirror-ack-timeout.test.ts; no FUSE:
 * the PRIM's write is made in its folder, then handed to the driver as its
 * interception would).
 *
 * The SECOND is outdated (the link was cut while the PRIM ran, and the PRIM
 * wrote alone: a new rec.log, a new folder). The link comes back and the
 * PRIM's service writes at once, to the new rec.log and into the new
 * folder, before the resync has created either on the SECOND: those ops
 * cannot be applied there (ENOENT). That is expected, not a fault: the
 * resync carries the paths, read after the op, and the SECOND's copy is
 * never served before it completes. Neither node logs it as an error or
 * warning; every call returns; the copies end identical. (Before: the
 * SECOND logged `mirror apply failed ... this copy is outdated until a
 * resync` at error level, and the PRIM a warning; and an op whose failure
 * came back between the resync's start and its first pass was covered by
 * no pass: its call waited for ever.)
 */
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { MirrorDriver } from "../../src/daemon/mirror/driver.ts";
import type { SendOutcome } from "../../src/net/replication-link-client.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";
import { type DriverInsides, pairInSync, until } from "./mirror-driver-pair.ts";
import { cutLinkUntilOpened } from "./mirror-live-fixture.ts";
import { tmpDir } from "./resync-fixture.ts";

const KEY = new Uint8Array(32).fill(5);
const PORT = 30_000 + Math.floor(Math.random() * 20_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** What these tests reach inside h1: its link's client, its control questions, the journaling of waiting ops. */
interface PrimInsides extends DriverInsides {
  client: { drop(reason: string, pauseMs?: number): void; connectRound(): Promise<void>; sendNext(op: MirrorOp): Promise<SendOutcome> };
  control(action: string): Promise<unknown>;
  journalOrCompareAll(entries: readonly { readonly op: MirrorOp }[]): Promise<void>;
}

interface Line {
  level: string;
  msg: string;
  detail?: string;
}
const parse = (lines: readonly string[]): Line[] => lines.map((l) => JSON.parse(l) as Line);

/**
 * h1 PRIM, h2 SECOND in sync; then the link is cut and stays cut until
 * `reconnect` is called, h2 declares its copy outdated, h1 goes on alone
 * and writes rec.log and seg/ there.
 */
async function outdatedSecond(tag: string, port: number): Promise<{
  h1: MirrorDriver; h2: MirrorDriver; p1: PrimInsides; h1Lines: string[]; h2Lines: string[]; reconnect: () => void;
}> {
  const root = tmpDir(tag);
  const h1Lines: string[] = [];
  const h2Lines: string[] = [];
  const { h1, h2, p1 } = await pairInSync(root, { key: KEY, port, cleanups, h1Lines, h2Lines, files: 3, h2Timers: { detachGraceMs: 300 } });
  const prim = p1 as PrimInsides;
  // h1's client reconnects only once the test says so.
  const open = cutLinkUntilOpened(prim.client);
  await until(() => h2.status().data === "outdated" && h1.status().writes === "alone", "h2 outdated, h1 alone");
  // Alone: a new recording and a new folder, journaled.
  const first = new TextEncoder().encode("segment 0\n");
  writeFileSync(join(h1.folder, "rec.log"), first);
  await prim.intercepted({ op: "create", path: relPath("rec.log"), mode: 0o644, uid: 0, gid: 0 });
  await prim.intercepted({ op: "write", path: relPath("rec.log"), offset: 0, data: first, mtimeNs: 1n });
  mkdirSync(join(h1.folder, "seg"));
  await prim.intercepted({ op: "mkdir", path: relPath("seg"), mode: 0o755, uid: 0, gid: 0 });
  h1Lines.length = 0;
  h2Lines.length = 0;
  return { h1, h2, p1: prim, h1Lines, h2Lines, reconnect: open };
}

/** The service appends to rec.log and makes seg/1.bin (on h1 first, then the ops); the calls' promise. */
function serviceWrites(h1: MirrorDriver, p1: PrimInsides, sent: Promise<SendOutcome>[]): Promise<void> {
  const more = new TextEncoder().encode("segment 1\n");
  appendFileSync(join(h1.folder, "rec.log"), more);
  const seg = new TextEncoder().encode("first segment\n");
  writeFileSync(join(h1.folder, "seg", "1.bin"), seg);
  const ops: MirrorOp[] = [
    { op: "write", path: relPath("rec.log"), offset: 10, data: more, mtimeNs: 2n },
    { op: "create", path: relPath("seg/1.bin"), mode: 0o644, uid: 0, gid: 0 },
    { op: "write", path: relPath("seg/1.bin"), offset: 0, data: seg, mtimeNs: 3n },
  ];
  const sendNext = p1.client.sendNext.bind(p1.client);
  p1.client.sendNext = (op) => {
    const p = sendNext(op);
    if (ops.includes(op)) sent.push(p);
    return p;
  };
  return Promise.all(ops.map((op) => p1.intercepted(op))).then(() => undefined);
}

async function inSyncAgain(h1: MirrorDriver, h2: MirrorDriver): Promise<void> {
  await until(() => h1.status().link === "up" && h1.core.link?.data === "uptodate" && h2.status().data === "uptodate" && !h1.core.resyncing, "in sync again");
  for (const name of ["rec.log", "seg/1.bin", "f0"]) expect(readFileSync(join(h2.folder, name), "utf8"), name).toBe(readFileSync(join(h1.folder, name), "utf8"));
  expect(readFileSync(join(h2.folder, "rec.log"), "utf8")).toBe("segment 0\nsegment 1\n");
  expect(h1.status().waitingOps).toBe(0);
}

/** The service's calls (`calls`) were sent to h2, which could not apply some (ENOENT); they return, and the copies end equal. */
async function callsReturnAfterENOENT(calls: Promise<void>, sent: Promise<SendOutcome>[], h1: MirrorDriver, h2: MirrorDriver): Promise<void> {
  let returned = false;
  void calls.then(() => (returned = true));
  const outcomes = await Promise.all(sent);
  expect(outcomes.some((o) => o.delivered && !o.result.ok && o.result.errno === "ENOENT")).toBe(true);
  await until(() => returned, "the service's calls return");
  await inSyncAgain(h1, h2);
}

describe("live ops for paths a pending resync has not created yet", () => {
  it("an outdated SECOND whose link is back cannot apply them yet: no error, no warning, the resync carries them and every call returns", async () => {
    const { h1, h2, p1, h1Lines, h2Lines, reconnect } = await outdatedSecond("pending-live", PORT);
    // The service writes as soon as the link is back: before h2 has accepted the resync.
    const sent: Promise<SendOutcome>[] = [];
    let calls: Promise<void> | null = null;
    const control = p1.control.bind(p1);
    p1.control = (action) => {
      if (action === "resync-begin" && calls === null) calls = serviceWrites(h1, p1, sent);
      return control(action);
    };
    reconnect();
    await until(() => calls !== null, "the link is back and the resync about to begin");
    // The case under test: h2 could not apply them (its copy lacks both names yet).
    await callsReturnAfterENOENT(calls!, sent, h1, h2);

    const l1 = parse(h1Lines);
    const l2 = parse(h2Lines);
    expect(l2.filter((l) => l.level === "error" || l.level === "warn"), "h2's errors and warnings").toEqual([]);
    expect(l1.filter((l) => l.level === "error" || l.level === "warn"), "h1's errors and warnings").toEqual([]);
    // Said once, at info, and counted at the end of the resync.
    expect(l2.filter((l) => l.msg === "mirror op left to resync")).toMatchObject([{ level: "info", detail: expect.stringMatching(/ENOENT.*outdated.*h1's resync carries/) }]);
    expect(l2.find((l) => l.msg === "mirror resync done")?.detail).toMatch(/\d+ of h1's operations could not be applied here before the resync carried them/);
  }, 60_000);

  it("a live op whose failure comes back after the resync began and before its first pass is covered by that pass: its call returns", async () => {
    const { h1, h2, p1, reconnect } = await outdatedSecond("pending-live-window", PORT + 1);
    const sent: Promise<SendOutcome>[] = [];
    let begun = false;
    let calls: Promise<void> | null = null;
    const control = p1.control.bind(p1);
    p1.control = async (action) => {
      const answer = await control(action);
      if (action === "resync-begin") begun = true;
      return answer;
    };
    // Right after the resync began (h2's copy is inconsistent now), while the PRIM journals what waits:
    // the service writes, and the failures come back before the first pass starts.
    const journalOrCompareAll = p1.journalOrCompareAll.bind(p1);
    p1.journalOrCompareAll = async (entries) => {
      if (begun && calls === null) {
        calls = serviceWrites(h1, p1, sent);
        await Promise.all(sent);
      }
      await journalOrCompareAll(entries);
    };
    reconnect();
    await until(() => calls !== null, "the resync began");
    await callsReturnAfterENOENT(calls!, sent, h1, h2);
  }, 60_000);
});
