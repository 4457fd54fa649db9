/**
 * A SECOND whose applier runs on its own thread hands a keeping resync's
 * keeper to that thread (MirrorDriver.setKeeper, apply-threaded.ts): the
 * driver then calls nothing on the copy's disk itself, neither the keeper's
 * look at each path nor its copy, and hands every op over in the server's
 * turn, the keeping being the thread's, before the op, where the disk's
 * watch counts it (apply-thread-keep.test.ts plays that thread).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MirrorDriver } from "../../src/daemon/mirror/driver.ts";
import type { KeepSpec, OpApplier } from "../../src/replicator/apply-threaded.ts";
import type { ApplyResult } from "../../src/replicator/apply-result.ts";
import type { ResyncRequest, ResyncResponse } from "../../src/proto/replication-resync.ts";
import type { MirrorOp } from "../../src/replicator/ops.ts";
import { loopbackMirrorDriver } from "./mirror-driver-pair.ts";

const p = (s: string): Uint8Array => new TextEncoder().encode(s);
const write = (path: string): MirrorOp => ({ op: "write", path: p(path), offset: 0, data: p("new"), mtimeNs: 0n });

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keep-aside-thread-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("a keeping resync on a SECOND whose applier has a thread", () => {
  it("gives the keeper to the thread and hands each op over at once, keeping nothing itself", async () => {
    const driver: MirrorDriver = loopbackMirrorDriver("h2", dir, { key: new Uint8Array(32).fill(9), port: 7812 });
    const folder = join(dir, "h2-data");
    mkdirSync(join(folder, "d"), { recursive: true });
    writeFileSync(join(folder, "ours"), "ours");
    const handed: string[] = [];
    const given: (KeepSpec | null)[] = [];
    const applier: OpApplier = {
      apply(op: MirrorOp): ApplyResult {
        handed.push(op.op === "write" ? Buffer.from(op.path).toString() : op.op);
        return { ok: true };
      },
      mtimeWindowNs: 1,
      forgetCaches() {},
      close() {},
      keepAside(k: KeepSpec | null) {
        given.push(k);
      },
      keptCount: 3,
    };
    const inner = driver as unknown as {
      applier: OpApplier | null;
      answerControl(q: ResyncRequest, reply: (r: ResyncResponse) => boolean): Promise<void>;
      applyFromPeer(op: MirrorOp): Promise<ApplyResult>;
    };
    inner.applier = applier;
    const replies: ResyncResponse[] = [];
    await inner.answerControl({ kind: "control", action: "resync-begin-keep", copy: {} as never }, (r) => replies.push(r) > 0);
    expect(replies.map((r) => r.kind)).toEqual(["control"]);
    expect(given).toHaveLength(2);
    expect(given[0]).toBeNull();
    const k = given[1]!;
    expect(k.root).toBe(folder);
    expect(k.dest).toMatch(/h2-state\/conflicts\/vms\/[^/]+$/);
    expect(typeof k.onFirstKeep).toBe("function");
    // A run of ops, one on a path this copy holds: all handed over in the caller's turn, nothing kept here.
    const results = [write("ours"), write("d/x"), write("ours")].map((op) => inner.applyFromPeer(op));
    expect(handed).toEqual(["ours", "d/x", "ours"]);
    await Promise.all(results);
    expect(existsSync(k.dest)).toBe(false);
    await driver.close();
  });
});
