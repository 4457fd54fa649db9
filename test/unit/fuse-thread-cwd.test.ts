import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

describe("a current directory of the FUSE thread's own (bun:ffi)", () => {
  it("moves only the calling thread: its relative paths resolve in the folder, the main thread's where they did", () => {
    const bun = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
    const probe = path.resolve(import.meta.dirname, "fixtures/thread-cwd-probe.ts");
    const a = mkdtempSync(path.join(tmpdir(), "vigil-cwd-a-"));
    const b = mkdtempSync(path.join(tmpdir(), "vigil-cwd-b-"));
    try {
      const r = spawnSync(bun, [probe, a, b], { encoding: "utf8", timeout: 60_000 });
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toEqual({
        worker: { problem: null, reads: "inside" },
        mainCwd: b,
        mainReads: "outside",
        madeInA: true,
        madeInB: false,
      });
    } finally {
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  });
});
