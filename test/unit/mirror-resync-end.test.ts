/**
 * The end of a resync against live ops, on two real mirror drivers (real
 * folders, journal, resync, applier and an authenticated TCP link on
 * loopback; no FUSE: the PRIM's live op is handed to the driver as its
 * interception would).
 *
 * A live op sent after the last pass, just before `resync-end`, that the
 * SECOND cannot apply: its failure comes back once no pass of this resync
 * can cover it, while the SECOND takes the PRIM's gen. It must not be
 * acknowledged to the application then, and it must not be forgotten
 * either: another resync covers it and its call returns. (Before: the
 * failure marked the peer outdated, resync-done marked it in sync again a
 * moment later, nothing resynced it, and the call waited for ever.)
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { MirrorDriver } from "../../src/daemon/mirror/driver.ts";
import type { SendOutcome } from "../../src/net/replication-link-client.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";
import { loopbackMirrorDriver, until } from "./mirror-driver-pair.ts";
import { tmpDir } from "./resync-fixture.ts";

const KEY = new Uint8Array(32).fill(9);
const PORT = 30_000 + Math.floor(Math.random() * 20_000);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function driver(self: "h1" | "h2", root: string): MirrorDriver {
  const d = loopbackMirrorDriver(self, root, { key: KEY, port: PORT });
  cleanups.push(() => d.close());
  return d;
}

/** The driver's insides this test reaches into: its interception entry, its control questions, its link and journal. */
interface Insides {
  intercepted(op: MirrorOp): Promise<void>;
  control(action: string): Promise<unknown>;
  client: { sendNext(op: MirrorOp): Promise<SendOutcome> };
  journal: { clear(): Promise<void> } | null;
}

describe("the end of a resync and the live ops around it", () => {
  it("a live op that fails on the SECOND as the resync ends is resynced again, and its call returns", async () => {
    const root = tmpDir("resync-end");
    const h1 = driver("h1", root);
    const h2 = driver("h2", root);
    for (let i = 0; i < 20; i++) writeFileSync(join(h1.folder, `f${i}`), `file ${i}\n`.repeat(100));
    const inside = h1 as unknown as Insides;
    // The live op: a write under a directory neither copy has (the service's own write would be to
    // a file it just made; this one fails on the SECOND as such a write fails there while its
    // name is not there yet). Sent right before `resync-end`, after the last pass.
    const late: MirrorOp = { op: "write", path: relPath("gone/late"), offset: 0, data: new Uint8Array([1, 2, 3]), mtimeNs: 1n };
    let call: Promise<void> | null = null;
    let outcome: Promise<SendOutcome> | null = null;
    let returned = false;
    const sendNext = inside.client.sendNext.bind(inside.client);
    inside.client.sendNext = (op) => {
      const p = sendNext(op);
      if (op === late) outcome = p;
      return p;
    };
    const control = inside.control.bind(h1);
    inside.control = (action) => {
      if (action === "resync-end" && call === null) {
        call = inside.intercepted(late);
        void call.then(() => (returned = true));
      }
      return control(action);
    };
    const host = { gate: () => {}, republish: () => {}, announce: (sent: () => void) => queueMicrotask(sent) };
    h1.attach(host);
    h2.attach(host);
    await until(() => inside.journal !== null, "h1's mirror started");
    // The op's failure is in before the PRIM ends the resync on its side (the window the test is about).
    const journal = inside.journal!;
    const clear = journal.clear.bind(journal);
    journal.clear = async () => {
      if (outcome !== null) await outcome;
      await clear();
    };
    h1.peer("up");
    h2.peer("up");
    h1.role("PRIM", "elected");
    h2.role("SECOND", "elected");

    await until(() => call !== null, "the first sync's last pass ended and resync-end is asked");
    const failed = await outcome!;
    expect(failed.delivered && !failed.result.ok).toBe(true);
    // Never acknowledged while the SECOND may hold the PRIM's gen without it; returned once another resync covered it.
    await until(() => returned, "the late op's call returns", 30_000);
    await until(() => h1.status().resync?.phase === "done" && h2.status().data === "uptodate" && h1.core.link?.data === "uptodate", "both copies in sync again");
    expect(h1.status().waitingOps).toBe(0);
  }, 60_000);
});
