import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const isRoot = process.getuid?.() === 0;

describe("the applier by directory fd (bun:ffi `*at` calls), as in the vigil binary", () => {
  it.skipIf(!isRoot)("never leaves the copy, follows renamed directories, keeps odd names, links, flags, special files, xattrs; by path and through /proc/self/fd", () => {
    const bun = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
    // 256 fds at most: a walk that kept one fd per directory of a 301-deep path would run out.
    const r = spawnSync("prlimit", ["--nofile=256:256", bun, path.resolve(import.meta.dirname, "apply-at-child.ts")], { encoding: "utf8", timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { checks?: { name: string; pass: boolean; detail: string }[] };
    expect((out.checks ?? []).filter((c) => !c.pass)).toEqual([]);
    expect(out.checks?.length).toBe(116);
  });
});
