import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const isRoot = process.getuid?.() === 0;

describe("the SECOND's resync answers read through directory fds (bun:ffi), as in the vigil binary", () => {
  it.skipIf(!isRoot)("give what the path scan gives (every kind of entry, odd names, owners, ns mtimes, xattrs, sums), never through a symlink, and leave no fd", () => {
    const bun = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
    const r = spawnSync(bun, [path.resolve(import.meta.dirname, "copy-scan-at-child.ts")], { encoding: "utf8", timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { checks?: { name: string; pass: boolean; detail: string }[] };
    expect((out.checks ?? []).filter((c) => !c.pass)).toEqual([]);
    expect(out.checks?.length).toBe(62);
  });
});
