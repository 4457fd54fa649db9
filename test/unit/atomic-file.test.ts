import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeFileAtomic } from "../../src/sys/atomic-file.ts";
import { writeBlocked } from "../../src/daemon/module/blocked.ts";

const isRoot = process.getuid?.() === 0;

/** A 64 KiB tmpfs, filled to the last byte: every write on it fails with ENOSPC. */
function withFullDisk(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "vigil-full-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]);
  try {
    mkdirSync(join(dir, "modules"));
    try {
      writeFileSync(join(dir, "filler"), Buffer.alloc(1 << 20));
    } catch {
      // Full now.
    }
    fn(dir);
  } finally {
    execFileSync("umount", [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("writeFileAtomic", () => {
  it("replaces the file and leaves no temporary file", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-atomic-"));
    const file = join(dir, "app.json");
    writeFileAtomic(file, "one\n");
    writeFileAtomic(file, "two\n");
    expect(readFileSync(file, "utf8")).toBe("two\n");
    expect(readdirSync(dir)).toEqual(["app.json"]);
    rmSync(dir, { recursive: true });
  });

  it.skipIf(!isRoot)("on a full disk throws ENOSPC and leaves neither a 0-byte temporary file nor a changed target", () => {
    withFullDisk((dir) => {
      expect(() => writeFileAtomic(join(dir, "x.json"), "x".repeat(100_000))).toThrow(/ENOSPC/);
      expect(readdirSync(dir).sort()).toEqual(["filler", "modules"]);
      // The module engine's blocked record: modules/app.json.tmp must not stay behind.
      expect(() => writeBlocked(dir, "app", "start failed")).toThrow(/ENOSPC/);
      expect(readdirSync(join(dir, "modules"))).toEqual([]);
    });
  });
});
