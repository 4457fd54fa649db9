/**
 * A SECOND whose applier never answers (a hung disk, a stuck thread) while
 * its main thread still answers the link's pings: two real mirror drivers
 * on loopback (real folders, journal, resync, applier and TCP link; no
 * FUSE: the PRIM's write is handed to the driver as its interception would).
 * The PRIM drops the link once the op is owed for longer than ack_timeout;
 * its write then returns as after any outage of the link (held until the
 * SECOND declared its copy outdated, then journaled), and once the applier
 * works again the link's reconnection and resync bring the copy in line.
 * Before the bound the write waited for ever. The resync's questions have
 * the same bound: with the service idle, the start of the next resync is
 * what the SECOND leaves unanswered (it lands the held op first), and the
 * resync waited for ever without a word.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { relPath } from "../../src/replicator/ops.ts";
import { hangApplier, pairInSync, until } from "./mirror-driver-pair.ts";
import { tmpDir } from "./resync-fixture.ts";

const KEY = new Uint8Array(32).fill(7);
const PORT = 30_000 + Math.floor(Math.random() * 20_000);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("an acknowledgement owed past ack_timeout", () => {
  it("drops the link to a SECOND whose applier never answers: the PRIM's write completes alone, the resync later brings the copy in line", async () => {
    const root = tmpDir("ack-timeout");
    const h1Lines: string[] = [];
    const { h1, h2, p1, p2 } = await pairInSync(root, { key: KEY, port: PORT, cleanups, h1Lines, h1Timers: { ackTimeoutMs: 1_500 }, h2Timers: { detachGraceMs: 1_000 } });

    // The SECOND's applier hangs: every op it is given waits until released.
    const hang = hangApplier(p2);

    const data = new TextEncoder().encode("written while the SECOND's disk hung\n");
    let returned = false;
    // What the interception does: the change is made here first, then handed to the driver.
    writeFileSync(join(h1.folder, "late"), data);
    void p1.intercepted({ op: "create", path: relPath("late"), mode: 0o644, uid: 0, gid: 0 }).then(() =>
      p1.intercepted({ op: "write", path: relPath("late"), offset: 0, data, mtimeNs: 2n }).then(() => (returned = true)));
    await until(() => hang.held() > 0, "the SECOND's applier holds the op");

    // No acknowledgement for ack_timeout: the link is dropped, status says why, and the write returns alone.
    await until(() => h1.status().link === "down" && /h2 has not applied op \d+ for 1\.\d s \(ack_timeout 1\.5 s\): link dropped, going on alone/.test(h1.status().linkDetail), "status gives the reason of the drop");
    await until(() => returned, "the PRIM's write returns without the SECOND");
    expect(hang.held()).toBeGreaterThan(0);
    expect(h1Lines.some((l) => l.includes("mirror peer does not acknowledge") && /h2 has not applied op \d+ for 1\.\d s \(ack_timeout 1\.5 s\): link dropped, going on alone/.test(l))).toBe(true);
    expect(h1.status().writes).toBe("alone");

    // The applier works again: the link comes back and the resync brings h2's copy in line.
    hang.release();
    await until(() => h1.status().link === "up" && h1.core.link?.data === "uptodate" && h2.status().data === "uptodate" && h1.status().writes === "replicate" && !h1.core.resyncing, "in sync again");
    expect(readFileSync(join(h2.folder, "late"), "utf8")).toBe("written while the SECOND's disk hung\n");
    expect(h1.status().waitingOps).toBe(0);
    expect(h1.status().linkDetail).toBe("connected to h2");
  }, 90_000);

  it("drops the link again when the SECOND leaves the start of the resync unanswered (it lands the held op first), and the resync ends once the applier works", async () => {
    const root = tmpDir("ack-timeout-question");
    const h1Lines: string[] = [];
    const { h1, h2, p1, p2 } = await pairInSync(root, { key: KEY, port: PORT + 1, cleanups, h1Lines, h1Timers: { ackTimeoutMs: 1_500 }, h2Timers: { detachGraceMs: 1_000 } });
    const hang = hangApplier(p2);
    const data = new TextEncoder().encode("written before the SECOND's disk hung for good\n");
    writeFileSync(join(h1.folder, "late"), data);
    let returned = false;
    void p1.intercepted({ op: "create", path: relPath("late"), mode: 0o644, uid: 0, gid: 0 }).then(() =>
      p1.intercepted({ op: "write", path: relPath("late"), offset: 0, data, mtimeNs: 2n }).then(() => (returned = true)));
    await until(() => returned, "the PRIM's write returns alone");

    // The service is idle: at the next connection only the resync's questions are owed, and its start waits for the held op.
    const question = /^h2 has not answered the start of the resync for 1\.\d s \(ack_timeout 1\.5 s\): link dropped, the resync resumes once it is back$/;
    const drops = () => h1Lines.filter((l) => l.includes("mirror peer does not acknowledge")).map((l) => JSON.parse(l) as { detail: string; reconnectInMs: number });
    await until(() => drops().some((d) => question.test(d.detail)), "the link dropped for the unanswered start of the resync");
    expect(hang.held()).toBeGreaterThan(0);
    // h2 acknowledged nothing since the first drop: the pause doubled.
    expect(drops().map((d) => d.reconnectInMs).slice(0, 2)).toEqual([1_500, 3_000]);
    expect(h1Lines.some((l) => l.includes("mirror resync failed") && l.includes("has not answered the start of the resync"))).toBe(true);

    hang.release();
    await until(() => h1.status().link === "up" && h1.core.link?.data === "uptodate" && h2.status().data === "uptodate" && !h1.core.resyncing, "in sync again");
    expect(readFileSync(join(h2.folder, "late"), "utf8")).toBe("written before the SECOND's disk hung for good\n");
    expect(h1.status().linkDetail).toBe("connected to h2");
  }, 90_000);
});
