/**
 * An abort reaches the connection whose fusectl directory was held, never a
 * newer connection that was given the same device number (and so the same
 * directory name) after ours ended. Played on a directory tree shaped like
 * fusectl's: a held directory that is removed has no "abort" any more.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { holdConnectionControl } from "../../src/sys/fuse/mount.ts";

const ENTRY = { major: 0, minor: 61 };
let root = "";
afterEach(() => rmSync(root, { recursive: true, force: true }));

function connection(): string {
  const dir = join(root, "61");
  mkdirSync(dir);
  writeFileSync(join(dir, "abort"), "");
  return dir;
}

describe("holding a FUSE connection's control directory", () => {
  it("writes the abort of the connection it holds", async () => {
    root = mkdtempSync(join(tmpdir(), "vigil-fusectl-"));
    const dir = connection();
    const control = await holdConnectionControl(ENTRY, root);
    expect(control).toBeDefined();
    expect(control?.abort()).toBe(true);
    expect(readFileSync(join(dir, "abort"), "utf8")).toBe("1");
    control?.close();
  });

  it("once that connection is gone, does not reach a newer one of the same number", async () => {
    root = mkdtempSync(join(tmpdir(), "vigil-fusectl-"));
    const ours = connection();
    const control = await holdConnectionControl(ENTRY, root);
    // Our mount ends (the kernel removes its directory); the next mount gets our number.
    rmSync(ours, { recursive: true });
    const newer = connection();
    expect(control?.abort()).toBe(false);
    expect(readFileSync(join(newer, "abort"), "utf8")).toBe("");
    control?.close();
  });

  it("after close, writes nothing", async () => {
    root = mkdtempSync(join(tmpdir(), "vigil-fusectl-"));
    const dir = connection();
    const control = await holdConnectionControl(ENTRY, root);
    control?.close();
    expect(control?.abort()).toBe(false);
    expect(readFileSync(join(dir, "abort"), "utf8")).toBe("");
  });

  it("is undefined where the connection's directory cannot be opened", async () => {
    root = mkdtempSync(join(tmpdir(), "vigil-fusectl-"));
    expect(await holdConnectionControl(ENTRY, root)).toBeUndefined();
  });
});
