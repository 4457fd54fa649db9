/**
 * The first sync into a new copy keeps its own files aside (mirror.ts rule
 * 7), and the record of that (the banner) is made only once a path is
 * really kept: an empty new copy's first sync leaves no folder and no
 * banner; a copy with files records it before the first one is copied.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KeepAside } from "../../src/daemon/mirror/keep-aside.ts";
import type { MirrorOp } from "../../src/replicator/ops.ts";

const p = (s: string): Uint8Array => new TextEncoder().encode(s);
const write = (path: string): MirrorOp => ({ op: "write", path: p(path), offset: 0, data: p("theirs"), mtimeNs: 0n });

let dir: string;
let root: string;
let dest: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keep-first-"));
  root = join(dir, "copy");
  dest = join(dir, "conflicts", "vms", "T");
  mkdirSync(root, { recursive: true });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("keeping a new copy's own files at its first sync", () => {
  it("an empty copy: nothing kept, no folder made, nothing recorded", async () => {
    let recorded = 0;
    const k = new KeepAside(root, dest, () => recorded++);
    expect(await k.before({ op: "mkdir", path: p("cams"), mode: 0o755, uid: 0, gid: 0 })).toBeNull();
    expect(await k.before(write("cams/seg1"))).toBeNull();
    expect(await k.before({ op: "unlink", path: p("gone") })).toBeNull();
    expect(recorded).toBe(0);
    expect(existsSync(dest)).toBe(false);
    expect(k.count).toBe(0);
  });

  it("a copy with files: recorded once, before the first file is copied, then each changed file kept", async () => {
    writeFileSync(join(root, "index.db"), "ours: index");
    writeFileSync(join(root, "old.log"), "ours: log");
    const seen: boolean[] = [];
    const k = new KeepAside(root, dest, () => seen.push(existsSync(join(dest, "index.db"))));
    expect(await k.before(write("new-file"))).toBeNull();
    expect(seen).toEqual([]);
    expect(await k.before(write("index.db"))).toBeNull();
    expect(await k.before({ op: "unlink", path: p("old.log") })).toBeNull();
    // Called once, while nothing was kept yet.
    expect(seen).toEqual([false]);
    expect(readFileSync(join(dest, "index.db"), "utf8")).toBe("ours: index");
    expect(readFileSync(join(dest, "old.log"), "utf8")).toBe("ours: log");
    expect(k.count).toBe(2);
  });
});
