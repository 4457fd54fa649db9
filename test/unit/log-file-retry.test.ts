import { mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LOG_FILE_RETRY_MS, RotatingLogFile } from "../../src/daemon/log-file.ts";

const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("RotatingLogFile after a full disk", () => {
  it("writes to the file again once it can, a retry interval after the failure", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-log-retry-"));
    dirs.push(dir);
    const path = join(dir, "vigil.log");
    // /dev/full answers every write with ENOSPC: the disk is full.
    symlinkSync("/dev/full", path);
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    let now = 1_000;
    const f = new RotatingLogFile(path, 1024 * 1024, 1, () => now);
    f.write("lost 1");
    expect(f.problem()).toMatch(/cannot write the log file .*vigil\.log: .*ENOSPC/);

    // Space comes back (here: the link goes, the next open makes a plain file).
    unlinkSync(path);
    now += LOG_FILE_RETRY_MS / 2;
    f.write("lost 2");
    expect(f.problem()).not.toBeNull();

    now += LOG_FILE_RETRY_MS;
    f.write("kept 1");
    f.write("kept 2");
    f.close();
    expect(f.problem()).toBeNull();
    expect(readFileSync(path, "utf8")).toBe("kept 1\nkept 2\n");
    const said = stderr.mock.calls.map((c) => String(c[0])).join("");
    expect(said).toContain("logging to stderr only meanwhile");
    expect(said).toContain("is written again (2 lines could not be written to it)");
  });

  it("keeps trying while the disk stays full, without a line on stderr per attempt", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-log-retry-"));
    dirs.push(dir);
    const path = join(dir, "vigil.log");
    symlinkSync("/dev/full", path);
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    let now = 0;
    const f = new RotatingLogFile(path, 1024 * 1024, 1, () => now);
    for (let i = 0; i < 50; i++) {
      f.write(`line ${i}`);
      now += LOG_FILE_RETRY_MS / 5;
    }
    expect(f.problem()).not.toBeNull();
    expect(stderr.mock.calls.length).toBe(1);
  });
});
