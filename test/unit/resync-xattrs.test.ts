import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const isRoot = process.getuid?.() === 0;

describe("the resync and verify compare xattrs (bun:ffi)", () => {
  // Root: the ACL names another user, and the test folder's file system must keep system.* xattrs as given.
  it.skipIf(!isRoot)("a user xattr and a POSIX ACL missing, different or extra on the target: verify lists them, the resync makes them equal; a file capability survives the resync's write and chown; a journal resync carries xattrs set and removed while alone", () => {
    const bun = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
    const script = path.resolve(import.meta.dirname, "resync-xattrs-child.ts");
    const r = spawnSync(bun, [script], { encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { checks?: { name: string; pass: boolean; detail: string }[] };
    const failed = (out.checks ?? []).filter((c) => !c.pass);
    expect(failed).toEqual([]);
    expect(out.checks?.length).toBe(10);
  });
});
