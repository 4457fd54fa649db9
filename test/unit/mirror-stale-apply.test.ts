/**
 * An op of a dropped connection still on its way to the SECOND's disk when
 * the resync after it begins: two real mirror drivers on loopback (as in
 * mirror-ack-timeout.test.ts). The PRIM's create of a file hangs in the
 * SECOND's applier, the link is dropped (ack_timeout), the PRIM removes the
 * file alone; the resync must not read the copy before that create landed,
 * or it finds both sides without the file, and the create then lands after
 * its look: the copy keeps a file the PRIM does not have, called up to date.
 */
import { existsSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { relPath } from "../../src/replicator/ops.ts";
import type { ResyncRequest, ResyncResponse } from "../../src/proto/replication-resync.ts";
import { hangApplier, pairInSync, until } from "./mirror-driver-pair.ts";
import { tmpDir } from "./resync-fixture.ts";

const KEY = new Uint8Array(32).fill(9);
const PORT = 30_000 + Math.floor(Math.random() * 20_000);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Answerer {
  folderAnswerer: { request(id: number, q: ResyncRequest, reply: (r: ResyncResponse) => boolean): Promise<void> };
}

describe("an op of a dropped connection, still being applied when the next resync begins", () => {
  it("lands before the resync reads the copy: a file the PRIM made and then removed alone is not left on the copy", async () => {
    const root = tmpDir("stale-apply");
    const { h1, h2, p1, p2 } = await pairInSync(root, { key: KEY, port: PORT, cleanups, h1Timers: { ackTimeoutMs: 1_500 }, h2Timers: { detachGraceMs: 1_000 } });
    const hang = hangApplier(p2);

    // The disk comes back as soon as the resync has read anything of the copy (a read that
    // waited for the create sees it; one that did not, misses it), or after 8 s at the latest.
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      hang.release();
    };
    const answerer = (h2 as unknown as Answerer).folderAnswerer;
    const answer = answerer.request.bind(answerer);
    answerer.request = async (id, q, reply) => {
      await answer(id, q, reply);
      release();
    };

    writeFileSync(join(h1.folder, "tmp"), "");
    const created = p1.intercepted({ op: "create", path: relPath("tmp"), mode: 0o644, uid: 0, gid: 0 });
    await until(() => hang.held() > 0, "the SECOND's applier holds the create");
    await until(() => h1.status().link === "down", "the link dropped: the create was owed past ack_timeout");
    await created;
    const fallback = setTimeout(release, 8_000);
    cleanups.push(async () => clearTimeout(fallback));
    // Alone: the file goes away again.
    unlinkSync(join(h1.folder, "tmp"));
    await p1.intercepted({ op: "unlink", path: relPath("tmp") });
    expect(h1.status().writes).toBe("alone");

    await until(() => released && h1.status().link === "up" && h1.core.link?.data === "uptodate" && h2.status().data === "uptodate" && !h1.core.resyncing, "in sync again");
    expect(existsSync(join(h1.folder, "tmp"))).toBe(false);
    expect(existsSync(join(h2.folder, "tmp")), "the create that landed after the resync's look").toBe(false);
  }, 90_000);
});
