/** Trees on disk for the resync and verify tests: build, mutate, compare. */

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { compareKeys, pathKey } from "../../src/core/mirror/resync-plan.ts";
import { relPathText } from "../../src/replicator/ops.ts";
import { collect, hostPath, scanTree } from "../../src/replicator/tree-scan.ts";
import { afterEach, beforeEach, expect } from "vitest";

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `vigil-${tag}-`));
}

/**
 * A fresh temp folder per tag before each test of the file or describe block that calls this, removed
 * after the test; `set` hands their paths to the tests' variables.
 */
export function tmpDirsEachTest<const T extends readonly string[]>(tags: T, set: (dirs: { [K in keyof T]: string }) => void): void {
  let dirs: string[] = [];
  beforeEach(() => {
    dirs = tags.map((t) => tmpDir(t));
    set(dirs as { [K in keyof T]: string });
  });
  afterEach(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
}

/** A deterministic pseudo-random buffer. */
export function noise(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i - (i + 4 > length ? i + 4 - length : 0));
  }
  return out;
}

export function writeFile(root: string, rel: string, data: Buffer | string, mtimeSec?: number): void {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, data);
  if (mtimeSec !== undefined) fs.utimesSync(p, mtimeSec, mtimeSec);
}

/**
 * Everything that must agree between two copies, one line per entry:
 * type, mode, owner, size, mtime (to the microsecond), link target, content
 * hash, and the hard-link group (as the first name of the group).
 */
export async function describeTree(root: string): Promise<string[]> {
  const entries = await collect(scanTree(root, new Uint8Array(), true));
  entries.sort((a, b) => compareKeys(pathKey(a.path), pathKey(b.path)));
  const firstName = new Map<bigint, string>();
  const out: string[] = [];
  for (const e of entries) {
    const name = relPathText(e.path);
    let extra = "";
    if (e.type === "file") {
      const data = fs.readFileSync(hostPath(root, e.path));
      extra = createHash("sha256").update(data).digest("hex").slice(0, 16);
      if (e.nlink > 1) {
        if (!firstName.has(e.ino)) firstName.set(e.ino, name);
        extra += ` link:${firstName.get(e.ino)}`;
      }
    }
    if (e.type === "symlink") extra = `-> ${relPathText(e.target ?? new Uint8Array())}`;
    out.push(`${name || "."} ${e.type} ${e.mode.toString(8)} ${e.uid}:${e.gid} ${e.size} ${extra}`.trim());
  }
  return out;
}

/** mtimes by name (the folder itself excluded: its times are the test's). */
export async function timesOf(root: string): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const e of await collect(scanTree(root, new Uint8Array(), true))) if (e.path.length > 0) out.set(relPathText(e.path), e.mtimeNs);
  return out;
}

/** Both copies alike: every line of describeTree, and mtimes within Node's utimes precision. */
export async function expectSameTrees(a: string, b: string): Promise<void> {
  expect(await describeTree(b)).toEqual(await describeTree(a));
  const ta = await timesOf(a);
  const tb = await timesOf(b);
  const off: string[] = [];
  for (const [name, t] of ta) {
    const u = tb.get(name) ?? 0n;
    if ((t > u ? t - u : u - t) >= 2000n) off.push(`${name}: ${t} vs ${u}`);
  }
  expect(off).toEqual([]);
}

/** Allocated bytes of a file (holes are not). */
export function allocated(file: string): number {
  return fs.statSync(file).blocks * 512;
}
