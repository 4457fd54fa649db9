import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KeepAside, pathsChangedBy } from "../../src/daemon/mirror/keep-aside.ts";
import type { MirrorOp } from "../../src/replicator/ops.ts";

const p = (s: string | Buffer): Uint8Array => (typeof s === "string" ? new TextEncoder().encode(s) : new Uint8Array(s));
const write = (path: string, data = "new"): MirrorOp => ({ op: "write", path: p(path), offset: 0, data: p(data), mtimeNs: 0n });

let dir: string;
let root: string;
let dest: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keep-aside-"));
  root = join(dir, "copy");
  dest = join(dir, "conflicts", "t1");
  mkdirSync(join(root, "cams", "c1"), { recursive: true });
  writeFileSync(join(root, "index.db"), "ours: index");
  chmodSync(join(root, "index.db"), 0o640);
  utimesSync(join(root, "index.db"), 1_000_000, 1_000_000);
  writeFileSync(join(root, "old.log"), "ours: log");
  writeFileSync(join(root, "same.txt"), "untouched");
  writeFileSync(join(root, "cams", "c1", "seg1"), "ours: seg1");
  symlinkSync("cams/c1/seg1", join(root, "latest"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("keeping a giving-way copy's changed paths aside", () => {
  it("names the paths whose content each op changes, none for metadata", () => {
    expect(pathsChangedBy({ op: "rename", from: p("a"), to: p("b"), flags: 0 }).map((x) => Buffer.from(x).toString())).toEqual(["a", "b"]);
    expect(pathsChangedBy({ op: "fsync", path: null, dataOnly: false })).toEqual([]);
    expect(pathsChangedBy({ op: "chmod", path: p("a"), mode: 0o755 })).toEqual([]);
    expect(pathsChangedBy({ op: "utimes", path: p("a"), atimeNs: 0n, mtimeNs: 0n })).toEqual([]);
    expect(pathsChangedBy({ op: "unlink", path: p("x/y") }).map((x) => Buffer.from(x).toString())).toEqual(["x/y"]);
  });

  it("keeps a file before its first change, with its bytes, mode and mtime, and only once", async () => {
    const k = new KeepAside(root, dest);
    expect(await k.before(write("index.db"))).toBeNull();
    writeFileSync(join(root, "index.db"), "theirs: index"); // what the applier then does
    expect(await k.before(write("index.db", "again"))).toBeNull();
    expect(readFileSync(join(dest, "index.db"), "utf8")).toBe("ours: index");
    const st = lstatSync(join(dest, "index.db"));
    expect(st.mode & 0o7777).toBe(0o640);
    expect(st.mtimeMs).toBe(1_000_000_000);
    expect(existsSync(join(dest, "same.txt"))).toBe(false);
    expect(k.count).toBe(1);
  });

  it("keeps what an unlink removes and a symlink's target; a path the resync creates is not kept later", async () => {
    const k = new KeepAside(root, dest);
    expect(await k.before({ op: "unlink", path: p("old.log") })).toBeNull();
    expect(await k.before({ op: "unlink", path: p("latest") })).toBeNull();
    expect(await k.before({ op: "create", path: p("fresh"), mode: 0o644, uid: 0, gid: 0 })).toBeNull();
    writeFileSync(join(root, "fresh"), "theirs");
    expect(await k.before(write("fresh"))).toBeNull();
    expect(readFileSync(join(dest, "old.log"), "utf8")).toBe("ours: log");
    expect(readlinkSync(join(dest, "latest"))).toBe("cams/c1/seg1");
    expect(existsSync(join(dest, "fresh"))).toBe(false);
  });

  it("keeps a renamed directory whole, and nothing beneath it twice", async () => {
    const k = new KeepAside(root, dest);
    expect(await k.before({ op: "rename", from: p("cams"), to: p("cams.old"), flags: 0 })).toBeNull();
    // The applier renames; the resync later recreates cams/c1/seg1 with the peer's bytes and writes it.
    mkdirSync(join(root, "cams", "c1"), { recursive: true });
    writeFileSync(join(root, "cams", "c1", "seg1"), "theirs: seg1");
    expect(await k.before(write("cams/c1/seg1"))).toBeNull();
    expect(readFileSync(join(dest, "cams", "c1", "seg1"), "utf8")).toBe("ours: seg1");
  });

  it("keeps a file whose name is not UTF-8 under the same bytes", async () => {
    const name = Buffer.from([0x66, 0xff, 0x2e, 0x62]);
    writeFileSync(Buffer.concat([Buffer.from(root + "/"), name]), "raw name");
    const k = new KeepAside(root, dest);
    expect(await k.before({ op: "truncate", path: p(name), size: 0, mtimeNs: 0n })).toBeNull();
    const kept = readdirSync(dest, { encoding: "buffer" });
    expect(kept.map((b) => b.toString("hex"))).toEqual([name.toString("hex")]);
  });

  it("a resync resumed after an interruption keeps into the same folder and leaves what is there", async () => {
    const first = new KeepAside(root, dest);
    expect(await first.before(write("index.db"))).toBeNull();
    writeFileSync(join(root, "index.db"), "theirs: index");
    const again = new KeepAside(root, dest);
    expect(await again.before(write("index.db"))).toBeNull();
    expect(await again.before({ op: "unlink", path: p("old.log") })).toBeNull();
    expect(readFileSync(join(dest, "index.db"), "utf8")).toBe("ours: index");
    expect(readFileSync(join(dest, "old.log"), "utf8")).toBe("ours: log");
  });

  it("says why when it cannot keep a path, so the op is not applied", async () => {
    writeFileSync(join(dir, "conflicts"), "a file where the folder should be");
    const k = new KeepAside(root, dest);
    expect(await k.before(write("index.db"))).toMatch(/^cannot keep index\.db aside in .*conflicts\/t1: /);
  });
});
