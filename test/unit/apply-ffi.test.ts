import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const isRoot = process.getuid?.() === 0;

describe("the applier with libc (bun:ffi), in a private mount namespace", () => {
  it.skipIf(!isRoot)("xattrs, mknod, renameat2 flags, fallocate, nanosecond times, and a real full disk", () => {
    const bun = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
    const script = path.resolve(import.meta.dirname, "apply-ffi-child.ts");
    const r = spawnSync("unshare", ["-m", "--propagation", "private", bun, script], { encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { error?: string; checks?: { name: string; pass: boolean; detail: string }[] };
    expect(out.error).toBeUndefined();
    const failed = (out.checks ?? []).filter((c) => !c.pass);
    expect(failed).toEqual([]);
    expect(out.checks?.length).toBe(16);
  });
});
