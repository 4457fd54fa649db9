import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { startApplier } from "../../src/replicator/apply-threaded.ts";
import { relPath } from "../../src/replicator/ops.ts";

describe("the applier on its own thread", () => {
  it("under bun: ops run on the thread, in order, results come back in order, the main thread keeps running", () => {
    const bun = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
    const r = spawnSync(bun, [path.resolve(import.meta.dirname, "apply-threaded-child.ts")], { encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as Record<string, unknown>;
    expect(out).toMatchObject({ threaded: true, why: null, mtimeWindowNs: 1, oks: 101, mode: 0o640, size: 64 * 1024 * 1024, byte50: 0 });
    expect(out["last"]).toMatchObject({ ok: false, kind: "failed", errno: "ENOTDIR" });
    expect(out["ticks"]).toBeGreaterThan(0);
  });

  it("inside a `bun build --compile` binary, with the worker as an extra entry point", () => {
    const repo = path.resolve(import.meta.dirname, "../..");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-apply-bin-"));
    try {
      const bin = path.join(dir, "threaded-child");
      const b = spawnSync(path.join(repo, "node_modules/.bin/bun"), ["build", "--compile", "--format=esm", "test/unit/apply-threaded-child.ts", "src/replicator/apply-worker.ts", "--outfile", bin], { cwd: repo, encoding: "utf8", timeout: 120_000 });
      expect(b.status, b.stderr).toBe(0);
      const r = spawnSync(bin, [], { encoding: "utf8", timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}")).toMatchObject({ threaded: true, oks: 101 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("under Node it falls back to this thread and says why", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-apply-inline-"));
    try {
      const s = await startApplier(root);
      expect(s.threaded).toBe(false);
      if (!s.threaded) expect(s.why).toMatch(/cannot start a Worker from TypeScript sources/);
      expect(await s.applier.apply({ op: "mkdir", path: relPath("d"), mode: 0o755, uid: 0, gid: 0 })).toEqual({ ok: true });
      await s.applier.close();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
