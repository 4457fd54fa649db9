/**
 * A PRIM whose ALONE journal cannot be written (its state dir full) while
 * ops wait for the peer, on two real mirror drivers (real folders, resync,
 * applier and an authenticated TCP link on loopback; no FUSE: the PRIM's
 * live op is handed to the driver as its interception would; the journal's
 * file fails its writes with ENOSPC).
 *
 * The hello and the resync that journal the waiting ops run on their own
 * (`void`): a rejection there nobody handles ends the daemon's process. The
 * marks that fail leave the resync a comparison of every file by checksums;
 * the journal, which cannot be cleared at the resync's end either, must not
 * end the daemon then: the resync ends in order and the calls return.
 * On a full filesystem that can still overwrite the journal's bytes in place,
 * the journal is lost instead (journal.ts): writes made alone do not fail,
 * and the SECOND that comes back is compared in full.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MirrorDriver } from "../../src/daemon/mirror/driver.ts";
import type { SendOutcome } from "../../src/net/replication-link-client.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";
import { loopbackMirrorDriver, pairInSync, until } from "./mirror-driver-pair.ts";
import { tmpDir } from "./resync-fixture.ts";

const KEY = new Uint8Array(32).fill(7);
const PORT = 30_000 + Math.floor(Math.random() * 20_000);

const cleanups: (() => Promise<void>)[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown): void => void unhandled.push(e);
beforeEach(() => {
  unhandled.length = 0;
  process.on("unhandledRejection", onUnhandled);
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  process.off("unhandledRejection", onUnhandled);
});

function driver(self: "h1" | "h2", root: string, lines: string[]): MirrorDriver {
  const d = loopbackMirrorDriver(self, root, { key: KEY, port: PORT, lines });
  cleanups.push(() => d.close());
  return d;
}

interface Insides {
  intercepted(op: MirrorOp): Promise<void>;
  client: { sendNext(op: MirrorOp): Promise<SendOutcome> };
  journal: { file: { write(data: Uint8Array, at: number): Promise<void>; datasync(): Promise<void> } } | null;
}

/** The journal's file refuses to grow from now on, as on a full state dir. */
function fillStateDir(inside: Insides): void {
  const file = inside.journal!.file;
  const full = (): Promise<never> => Promise.reject(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }));
  file.write = full;
  file.datasync = full;
}

/** Its file cannot grow, but bytes it holds can be overwritten: a full ext4, xfs or tmpfs. */
function fillStateDirAppends(inside: Insides): void {
  const file = inside.journal!.file;
  const write = file.write.bind(file);
  file.write = (data, at) => (at === 0 ? write(data, at) : Promise.reject(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" })));
}

const host = { gate: () => {}, republish: () => {}, announce: (sent: () => void) => queueMicrotask(sent) };

/** Two drivers, h1 PRIM, h2 SECOND, once the first sync of 5 files ended on both sides. */
const pair = async (root: string, h1Lines: string[]): Promise<{ h1: MirrorDriver; h2: MirrorDriver }> =>
  await pairInSync(root, { key: KEY, port: PORT, cleanups, h1Lines, files: 5 });

const said = (lines: readonly string[], text: string): number => lines.filter((l) => l.includes(text)).length;

describe("a broken ALONE journal with ops waiting", () => {
  it("the resync that covers them ends in order, though its journal cannot be cleared; nothing rejects unhandled", async () => {
    const root = tmpDir("journal-broken-resync");
    const lines: string[] = [];
    const { h1 } = await pair(root, lines);
    const inside = h1 as unknown as Insides;
    fillStateDir(inside);
    // A live op the SECOND cannot apply (no such directory there): it waits, and a resync must cover it.
    const late: MirrorOp = { op: "write", path: relPath("gone/late"), offset: 0, data: new Uint8Array([1, 2, 3]), mtimeNs: 1n };
    let returned = false;
    void inside.intercepted(late).then(() => (returned = true), () => undefined);
    await until(() => said(lines, "could not be cleared after the resync") > 0 || unhandled.length > 0, "the resync's end").catch((e: unknown) => {
      console.log(lines.join("\n"));
      throw e;
    });
    expect(unhandled).toEqual([]);
    expect(said(lines, "the next resync pass compares every file by checksums")).toBe(1);
    await until(() => said(lines, "mirror resync done") === 2 && returned, "the second resync done and the op's call returned");
    expect(h1.core.link?.data).toBe("uptodate");
    expect(h1.status().waitingOps).toBe(0);
    expect(unhandled).toEqual([]);
  }, 60_000);

  it("a hello with ops the peer may lack brings the link up and the resync ends in order; nothing rejects unhandled", async () => {
    const root = tmpDir("journal-broken-hello");
    const lines: string[] = [];
    const { h1, h2 } = await pair(root, lines);
    const inside = h1 as unknown as Insides;
    // Sent, never answered: the op waits, missing on the SECOND (a gap) when the link goes down.
    const hanging: MirrorOp = { op: "write", path: relPath("f0"), offset: 0, data: new Uint8Array([9]), mtimeNs: 1n };
    const sendNext = inside.client.sendNext.bind(inside.client);
    inside.client.sendNext = (op) => (op === hanging ? new Promise<SendOutcome>(() => {}) : sendNext(op));
    let returned = false;
    void inside.intercepted(hanging).then(() => (returned = true), () => undefined);
    await until(() => h1.status().waitingOps === 1, "the op waits");
    fillStateDir(inside);
    await h2.close();
    await until(() => h1.status().link === "down", "h1 saw the link go down");
    const again = driver("h2", root, []);
    again.attach(host);
    again.peer("up");
    again.role("SECOND", "elected");
    await until(() => said(lines, "could not be cleared after the resync") > 0 || unhandled.length > 0, "the resync's end").catch((e: unknown) => {
      console.log(lines.join("\n"));
      throw e;
    });
    expect(unhandled).toEqual([]);
    await until(() => said(lines, "mirror resync done") === 2 && returned, "the resync done and the op's call returned");
    expect(h1.status().link).toBe("up");
    expect(h1.core.link?.data).toBe("uptodate");
    expect(unhandled).toEqual([]);
  }, 60_000);

  it("writes made alone on a full state dir do not fail; the SECOND that comes back is compared in full and gets them", async () => {
    const root = tmpDir("journal-lost-alone");
    const lines: string[] = [];
    const { h1, h2 } = await pair(root, lines);
    const inside = h1 as unknown as Insides;
    await h2.close();
    h1.peer("dead");
    h1.role("ALONE", "peer dead");
    await until(() => h1.status().writes === "alone", "h1 alone");
    fillStateDirAppends(inside);
    // As the interception would: the write is done in the folder, then handed to the driver before its call returns.
    const data = new TextEncoder().encode("written alone, state dir full\n");
    writeFileSync(join(h1.folder, "f3"), data);
    await inside.intercepted({ op: "write", path: relPath("f3"), offset: 0, data, mtimeNs: 1n });
    writeFileSync(join(h1.folder, "new"), data);
    await inside.intercepted({ op: "create", path: relPath("new"), mode: 0o644, uid: 0, gid: 0 });
    expect(said(lines, "ALONE journal lost")).toBe(1);
    const again = driver("h2", root, []);
    again.attach(host);
    h1.peer("up");
    again.peer("up");
    again.role("SECOND", "elected");
    await until(() => said(lines, "mirror resync done") === 2 && again.status().data === "uptodate", "h2 resynced");
    expect(readFileSync(join(again.folder, "f3"), "utf8")).toBe("written alone, state dir full\n");
    expect(readFileSync(join(again.folder, "new"), "utf8")).toBe("written alone, state dir full\n");
    expect(unhandled).toEqual([]);
  }, 60_000);
});
