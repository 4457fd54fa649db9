/**
 * A copy that keeps its changed paths aside during a resync (a first sync
 * above all) answers at once for ops with nothing to keep, so the driver
 * hands them to the applier in the server's turn, in runs, instead of one op
 * per turn after an lstat on the runtime's thread pool
 * (KeepAside.nothingToKeep, MirrorDriver.applyKeeping).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MirrorDriver } from "../../src/daemon/mirror/driver.ts";
import { KeepAside } from "../../src/daemon/mirror/keep-aside.ts";
import type { OpApplier } from "../../src/replicator/apply-threaded.ts";
import type { ApplyResult } from "../../src/replicator/apply-result.ts";
import type { MirrorOp } from "../../src/replicator/ops.ts";
import { loopbackMirrorDriver } from "./mirror-driver-pair.ts";

const p = (s: string): Uint8Array => new TextEncoder().encode(s);
const write = (path: string): MirrorOp => ({ op: "write", path: p(path), offset: 0, data: p("new"), mtimeNs: 0n });
const create = (path: string): MirrorOp => ({ op: "create", path: p(path), mode: 0o644, uid: 0, gid: 0 });

let dir: string;
let root: string;
let dest: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keep-aside-quick-"));
  root = join(dir, "copy");
  dest = join(dir, "conflicts", "t1");
  mkdirSync(join(root, "d"), { recursive: true });
  writeFileSync(join(root, "ours"), "ours");
  writeFileSync(join(root, "d", "x"), "ours: x");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("ops with nothing to keep", () => {
  it("are told at once: new names, names beneath missing or non-directories, metadata; an existing name is not", async () => {
    const k = new KeepAside(root, dest);
    expect(k.nothingToKeep(create("new"))).toBe(true);
    expect(k.nothingToKeep(write("new"))).toBe(true);
    expect(k.nothingToKeep(write("nope/deeper"))).toBe(true);
    expect(k.nothingToKeep(write("ours/beneath-a-file"))).toBe(true);
    expect(k.nothingToKeep({ op: "utimes", path: p("ours"), atimeNs: 0n, mtimeNs: 0n })).toBe(true);
    expect(k.nothingToKeep(write("ours"))).toBe(false);
    expect(k.nothingToKeep({ op: "rename", from: p("new2"), to: p("d"), flags: 0 })).toBe(false);
    // Nothing was kept, so nothing was made.
    expect(existsSync(dest)).toBe(false);
    // The existing name is kept by before(), then needs nothing more.
    expect(await k.before(write("ours"))).toBeNull();
    expect(readFileSync(join(dest, "ours"), "utf8")).toBe("ours");
    expect(k.nothingToKeep(write("ours"))).toBe(true);
  });

  it("a name found missing is remembered as such, as before() remembers it: what the resync then creates is not kept", async () => {
    const k = new KeepAside(root, dest);
    expect(k.nothingToKeep(create("made"))).toBe(true);
    writeFileSync(join(root, "made"), "the resync's");
    expect(k.nothingToKeep(write("made"))).toBe(true);
    expect(await k.before(write("made"))).toBeNull();
    expect(existsSync(join(dest, "made"))).toBe(false);
    expect(k.count).toBe(0);
  });

  it("reach the applier in the caller's turn while a first sync keeps paths aside; a path to keep waits for its copy first", async () => {
    const driver: MirrorDriver = loopbackMirrorDriver("h2", dir, { key: new Uint8Array(32).fill(9), port: 7811 });
    const handed: string[] = [];
    const applier: OpApplier = {
      apply(op: MirrorOp): ApplyResult {
        handed.push(op.op === "write" || op.op === "create" ? Buffer.from(op.path).toString() : op.op);
        return { ok: true };
      },
      mtimeWindowNs: 1,
      forgetCaches() {},
      close() {},
    };
    const inner = driver as unknown as { keeper: KeepAside | null; applyKeeping(a: OpApplier, op: MirrorOp): Promise<ApplyResult> };
    inner.keeper = new KeepAside(root, dest);
    // A run of a first sync's ops, handed over in one turn as the server does.
    const results = [create("f1"), write("f1"), create("f2"), write("f2")].map((op) => inner.applyKeeping(applier, op));
    expect(handed).toEqual(["f1", "f1", "f2", "f2"]);
    // An op that changes an existing file waits for the copy; those after it keep their order.
    const later = [write("ours"), write("f3")].map((op) => inner.applyKeeping(applier, op));
    expect(handed).toEqual(["f1", "f1", "f2", "f2"]);
    await Promise.all([...results, ...later]);
    expect(handed).toEqual(["f1", "f1", "f2", "f2", "ours", "f3"]);
    expect(readFileSync(join(dest, "ours"), "utf8")).toBe("ours");
  });
});
