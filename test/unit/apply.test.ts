import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Applier } from "../../src/replicator/apply.ts";
import { failure } from "../../src/replicator/apply-errors.ts";
import { DirtySet } from "../../src/replicator/apply-sync.ts";
import type { ApplyResult } from "../../src/replicator/apply-result.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";
import { ESCAPE_MESSAGE, ESCAPES } from "./apply-escapes.ts";

const isRoot = process.getuid?.() === 0;
const raw = (...b: number[]): Uint8Array => new Uint8Array(b);
/** "caf\xe9-\xff" : Latin-1 bytes, not UTF-8. */
const LATIN1 = raw(0x63, 0x61, 0x66, 0xe9, 0x2d, 0xff);
const T1 = 1_700_000_000_123_456_789n;
const T2 = 1_600_000_000_987_654_321n;

let base: string;
let root: string;
let outside: string;
let a: Applier;

beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-apply-"));
  root = path.join(base, "copy");
  outside = path.join(base, "outside");
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, "secret"), "keep");
  a = new Applier(root, { fsCalls: null });
});

afterEach(() => {
  a.close();
  fs.rmSync(base, { recursive: true, force: true });
});

function ok(op: MirrorOp): void {
  expect(a.apply(op), JSON.stringify(op, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).toEqual({ ok: true });
}

function expectFail(r: ApplyResult, kind: string, errno: string): void {
  expect(r.ok).toBe(false);
  if (!r.ok) {
    expect(r.kind).toBe(kind);
    expect(r.errno).toBe(errno);
  }
}

const at = (...parts: (string | Uint8Array)[]): Buffer => Buffer.concat([Buffer.from(root), ...parts.map((p) => Buffer.concat([Buffer.from("/"), Buffer.from(p)]))]);
const lst = (p: Buffer | string): fs.BigIntStats => fs.lstatSync(p, { bigint: true });

function expectNear(actual: bigint, wanted: bigint, windowNs: number): void {
  const d = actual > wanted ? actual - wanted : wanted - actual;
  expect(Number(d)).toBeLessThan(windowNs);
}

describe("applying ops to the SECOND's copy (node:fs only)", () => {
  it("create sets the exact mode and owner, whatever the umask", () => {
    ok({ op: "create", path: relPath("f"), mode: 0o4751, uid: 1234, gid: 5678 });
    const st = lst(at("f"));
    expect(st.isFile()).toBe(true);
    expect(Number(st.mode) & 0o7777).toBe(isRoot ? 0o4751 : 0o751);
    if (isRoot) expect([st.uid, st.gid]).toEqual([1234n, 5678n]);
    // The name was free on the PRIM: a second create of it means the copies differ.
    expectFail(a.apply({ op: "create", path: relPath("f"), mode: 0o644, uid: 0, gid: 0 }), "failed", "EEXIST");
  });

  it("writes land at their offsets, with the PRIM's mtime, under names that are not UTF-8", () => {
    ok({ op: "create", path: LATIN1, mode: 0o644, uid: 0, gid: 0 });
    ok({ op: "write", path: LATIN1, offset: 0, data: relPath("hello world"), mtimeNs: T2 });
    ok({ op: "write", path: LATIN1, offset: 6, data: relPath("WORLD!"), mtimeNs: T1 });
    expect(fs.readFileSync(at(LATIN1)).toString()).toBe("hello WORLD!");
    expectNear(lst(at(LATIN1)).mtimeNs, T1, a.mtimeWindowNs);
    expect(fs.readdirSync(Buffer.from(root), { encoding: "buffer" })).toEqual([Buffer.from(LATIN1)]);
  });

  it("sparse files keep their holes: writes far out and truncate up allocate nothing in between", () => {
    ok({ op: "create", path: relPath("sparse"), mode: 0o600, uid: 0, gid: 0 });
    ok({ op: "write", path: relPath("sparse"), offset: 64 * 1024 * 1024, data: new Uint8Array(4096).fill(1), mtimeNs: T1 });
    ok({ op: "truncate", path: relPath("sparse"), size: 1024 * 1024 * 1024, mtimeNs: T2 });
    const st = lst(at("sparse"));
    expect(st.size).toBe(1024n * 1024n * 1024n);
    expect(Number(st.blocks) * 512).toBeLessThanOrEqual(64 * 1024);
    expectNear(st.mtimeNs, T2, a.mtimeWindowNs);
    ok({ op: "truncate", path: relPath("sparse"), size: 10, mtimeNs: T1 });
    expect(lst(at("sparse")).size).toBe(10n);
  });

  it("mkdir (nested), with set-group-ID and sticky bits exact; rmdir; rmdir of a non-empty directory fails cleanly", () => {
    ok({ op: "mkdir", path: relPath("d"), mode: 0o3750, uid: 10, gid: 20 });
    ok({ op: "mkdir", path: relPath("d/e"), mode: 0o700, uid: 0, gid: 0 });
    const st = lst(at("d"));
    expect(st.isDirectory()).toBe(true);
    expect(Number(st.mode) & 0o7777).toBe(0o3750);
    if (isRoot) expect([st.uid, st.gid]).toEqual([10n, 20n]);
    expectFail(a.apply({ op: "rmdir", path: relPath("d") }), "failed", "ENOTEMPTY");
    ok({ op: "rmdir", path: relPath("d/e") });
    ok({ op: "rmdir", path: relPath("d") });
    expect(fs.existsSync(at("d"))).toBe(false);
  });

  it("symlinks keep their target bytes and owner; utimes sets the link's own times, not the target's", () => {
    ok({ op: "create", path: relPath("target"), mode: 0o644, uid: 0, gid: 0 });
    ok({ op: "utimes", path: relPath("target"), atimeNs: T2, mtimeNs: T2 });
    ok({ op: "symlink", path: relPath("ln"), target: Buffer.concat([Buffer.from("target"), Buffer.from(raw(0xff))]), uid: 7, gid: 8 });
    expect(fs.readlinkSync(at("ln"), { encoding: "buffer" })).toEqual(Buffer.from([...Buffer.from("target"), 0xff]));
    ok({ op: "symlink", path: relPath("ln2"), target: relPath("target"), uid: 7, gid: 8 });
    ok({ op: "utimes", path: relPath("ln2"), atimeNs: T1, mtimeNs: T1 });
    const l = lst(at("ln2"));
    expect(l.isSymbolicLink()).toBe(true);
    if (isRoot) expect([l.uid, l.gid]).toEqual([7n, 8n]);
    expectNear(l.mtimeNs, T1, a.mtimeWindowNs);
    expectNear(lst(at("target")).mtimeNs, T2, a.mtimeWindowNs);
  });

  it("hard links share the inode", () => {
    ok({ op: "create", path: relPath("one"), mode: 0o644, uid: 0, gid: 0 });
    ok({ op: "mkdir", path: relPath("sub"), mode: 0o755, uid: 0, gid: 0 });
    ok({ op: "link", existing: relPath("one"), path: relPath("sub/two") });
    ok({ op: "write", path: relPath("sub/two"), offset: 0, data: relPath("shared"), mtimeNs: T1 });
    expect(fs.readFileSync(at("one"), "utf8")).toBe("shared");
    expect(lst(at("one")).ino).toBe(lst(at("sub", "two")).ino);
    expect(lst(at("one")).nlink).toBe(2n);
    ok({ op: "unlink", path: relPath("one") });
    expect(lst(at("sub", "two")).nlink).toBe(1n);
  });

  it("rename replaces the target; renameat2 flags need the binary and change nothing here", () => {
    ok({ op: "create", path: relPath("x"), mode: 0o644, uid: 0, gid: 0 });
    ok({ op: "write", path: relPath("x"), offset: 0, data: relPath("x"), mtimeNs: T1 });
    ok({ op: "create", path: relPath("y"), mode: 0o644, uid: 0, gid: 0 });
    ok({ op: "write", path: relPath("y"), offset: 0, data: relPath("y"), mtimeNs: T1 });
    expectFail(a.apply({ op: "rename", from: relPath("x"), to: relPath("y"), flags: 2 }), "unsupported", "ENOSYS");
    expect(fs.readFileSync(at("y"), "utf8")).toBe("y");
    ok({ op: "rename", from: relPath("x"), to: relPath("y"), flags: 0 });
    expect(fs.readFileSync(at("y"), "utf8")).toBe("x");
    expect(fs.existsSync(at("x"))).toBe(false);
    // A write after the rename goes to the renamed file, not to a stale cached one.
    ok({ op: "write", path: relPath("y"), offset: 1, data: relPath("!"), mtimeNs: T1 });
    expect(fs.readFileSync(at("y"), "utf8")).toBe("x!");
  });

  it("chmod and chown of the folder itself (the empty path)", () => {
    ok({ op: "chmod", path: new Uint8Array(0), mode: 0o1777 });
    expect(fs.statSync(root).mode & 0o7777).toBe(0o1777);
    if (isRoot) {
      ok({ op: "chown", path: new Uint8Array(0), uid: 42, gid: 43 });
      expect([fs.statSync(root).uid, fs.statSync(root).gid]).toEqual([42, 43]);
    }
  });

  it("ops that need libc give an 'unsupported' result under Node, never a crash", () => {
    ok({ op: "create", path: relPath("f"), mode: 0o644, uid: 0, gid: 0 });
    for (const op of [
      { op: "fallocate", path: relPath("f"), mode: 0, offset: 0, length: 4096, mtimeNs: T1 },
      { op: "setxattr", path: relPath("f"), name: relPath("user.a"), value: raw(1), flags: 0 },
      { op: "removexattr", path: relPath("f"), name: relPath("user.a") },
      { op: "mknod", path: relPath("fifo"), mode: 0o010644, rdev: 0, uid: 0, gid: 0 },
    ] satisfies MirrorOp[]) {
      const r = a.apply(op);
      expectFail(r, "unsupported", "ENOSYS");
      if (!r.ok) expect(r.message).toMatch(/needs the vigil binary/);
    }
    expect(lst(at("f")).size).toBe(0n);
    expect(fs.existsSync(at("fifo"))).toBe(false);
    // A regular file through mknod needs no libc.
    ok({ op: "mknod", path: relPath("reg"), mode: 0o100640, rdev: 0, uid: 0, gid: 0 });
    expect(Number(lst(at("reg")).mode)).toBe(0o100640);
  });

  it("fsync of a file, a directory, and of the whole copy", () => {
    ok({ op: "mkdir", path: relPath("d"), mode: 0o755, uid: 0, gid: 0 });
    ok({ op: "create", path: relPath("d/f"), mode: 0o644, uid: 0, gid: 0 });
    ok({ op: "write", path: relPath("d/f"), offset: 0, data: relPath("data"), mtimeNs: T1 });
    ok({ op: "fsync", path: relPath("d/f"), dataOnly: true });
    ok({ op: "fsync", path: relPath("d"), dataOnly: false });
    ok({ op: "fsync", path: new Uint8Array(0), dataOnly: false });
    ok({ op: "fsync", path: null, dataOnly: false });
    expectFail(a.apply({ op: "fsync", path: relPath("gone"), dataOnly: false }), "failed", "ENOENT");
  });

  it("works on a folder reached through /proc/self/fd/N (the folder beneath a mount), a full sync included", () => {
    const fd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      const b = new Applier(`/proc/self/fd/${fd}`, { fsCalls: null });
      expect(b.apply({ op: "mkdir", path: relPath("d"), mode: 0o755, uid: 0, gid: 0 })).toEqual({ ok: true });
      expect(b.apply({ op: "create", path: relPath("d/f"), mode: 0o644, uid: 0, gid: 0 })).toEqual({ ok: true });
      expect(b.apply({ op: "fsync", path: null, dataOnly: false })).toEqual({ ok: true });
      b.close();
      expect(fs.existsSync(path.join(root, "d", "f"))).toBe(true);
      // Past its limit the set syncs the whole file system with sync -f, run in a child process.
      const dirty = new DirtySet(1);
      dirty.file(Buffer.from(path.join(root, "d", "f")));
      dirty.dir(Buffer.from(path.join(root, "d")));
      expect(() => dirty.syncAll(Buffer.from(`/proc/self/fd/${fd}`))).not.toThrow();
    } finally {
      fs.closeSync(fd);
    }
  });

  it("ops on missing paths fail cleanly (the copies had diverged)", () => {
    expectFail(a.apply({ op: "write", path: relPath("nope"), offset: 0, data: raw(1), mtimeNs: T1 }), "failed", "ENOENT");
    expectFail(a.apply({ op: "unlink", path: relPath("a/b/c") }), "failed", "ENOENT");
    expectFail(a.apply({ op: "rename", from: relPath("nope"), to: relPath("x"), flags: 0 }), "failed", "ENOENT");
  });

  it("a write reaches the file its path names now, after the copy changed outside the applier (this node served the folder meanwhile)", () => {
    ok({ op: "create", path: relPath("a"), mode: 0o644, uid: 0, gid: 0 });
    ok({ op: "write", path: relPath("a"), offset: 0, data: raw(0x6f), mtimeNs: T1 }); // a's fd is cached now
    fs.renameSync(at("a"), at("b"));
    fs.writeFileSync(at("a"), "");
    ok({ op: "write", path: relPath("a"), offset: 0, data: raw(0x6e), mtimeNs: T1 });
    expect(fs.readFileSync(at("a"), "latin1")).toBe("n");
    expect(fs.readFileSync(at("b"), "latin1")).toBe("o");
    fs.unlinkSync(at("a"));
    expectFail(a.apply({ op: "write", path: relPath("a"), offset: 0, data: raw(1), mtimeNs: T1 }), "failed", "ENOENT");
  });

  it("early writeback starts each small file's range before its fd is closed, never on an fd number reused since", () => {
    const started = new Map<bigint, number>();
    let closedFds = 0;
    const wb = new Applier(root, {
      fsCalls: null,
      startWriteback: (fd) => {
        let ino: bigint;
        try {
          ino = fs.fstatSync(fd, { bigint: true }).ino;
        } catch {
          closedFds++;
          return;
        }
        started.set(ino, (started.get(ino) ?? 0) + 1);
      },
    });
    const files = 300; // more than the applier keeps open, more than a MiB in all
    for (let i = 0; i < files; i++) {
      expect(wb.apply({ op: "create", path: relPath(`w${i}`), mode: 0o644, uid: 0, gid: 0 })).toEqual({ ok: true });
      expect(wb.apply({ op: "write", path: relPath(`w${i}`), offset: 0, data: new Uint8Array(4096), mtimeNs: T1 })).toEqual({ ok: true });
    }
    wb.close();
    const inodes = new Set(Array.from({ length: files }, (_, i) => lst(at(`w${i}`)).ino));
    expect(closedFds).toBe(0);
    expect([...started.keys()].filter((ino) => !inodes.has(ino))).toEqual([]);
    expect(started.size).toBe(files);
    expect(Math.max(...started.values())).toBe(1);
  });

  it("storage errors are 'inconsistent', others 'failed'", () => {
    const e = (code: string): Error => Object.assign(new Error(code), { code });
    expect(failure("write f", e("ENOSPC"))).toMatchObject({ ok: false, kind: "inconsistent", errno: "ENOSPC" });
    expect(failure("write f", e("EIO"))).toMatchObject({ kind: "inconsistent", errno: "EIO" });
    expect(failure("write f", e("EDQUOT"))).toMatchObject({ kind: "inconsistent" });
    expect(failure("write f", e("ENOENT"))).toMatchObject({ kind: "failed", errno: "ENOENT", message: "write f: ENOENT" });
    expect(failure("write f", new TypeError("boom"))).toMatchObject({ kind: "failed", errno: "EIO" });
  });
});

describe("the applier never leaves the copy", () => {
  beforeEach(() => {
    fs.symlinkSync(outside, path.join(root, "esc"));
    fs.symlinkSync(path.join(outside, "secret"), path.join(root, "secretlink"));
  });

  it.each(ESCAPES)("refuses %s", (_name, op) => {
    const before = fs.readdirSync(outside).sort();
    const r = a.apply(op);
    expectFail(r, "refused", "EOUTSIDE");
    if (!r.ok) expect(r.message).toMatch(ESCAPE_MESSAGE);
    expect(fs.readdirSync(outside).sort()).toEqual(before);
    expect(fs.readFileSync(path.join(outside, "secret"), "utf8")).toBe("keep");
    expect(fs.statSync(path.join(outside, "secret")).mode & 0o777).not.toBe(0o777);
  });

  it("never follows a symlink in the last component: write, truncate and chmod of a symlink fail, its target is untouched", () => {
    const mode = fs.statSync(path.join(outside, "secret")).mode;
    expectFail(a.apply({ op: "write", path: relPath("secretlink"), offset: 0, data: relPath("PWNED"), mtimeNs: T1 }), "failed", "ELOOP");
    expectFail(a.apply({ op: "truncate", path: relPath("secretlink"), size: 0, mtimeNs: T1 }), "failed", "ELOOP");
    expectFail(a.apply({ op: "chmod", path: relPath("secretlink"), mode: 0o777 }), "failed", "EOPNOTSUPP");
    ok({ op: "chown", path: relPath("secretlink"), uid: 0, gid: 0 });
    ok({ op: "utimes", path: relPath("secretlink"), atimeNs: 0n, mtimeNs: 0n });
    ok({ op: "unlink", path: relPath("secretlink") });
    expect(fs.readFileSync(path.join(outside, "secret"), "utf8")).toBe("keep");
    expect(fs.statSync(path.join(outside, "secret")).mode).toBe(mode);
    expect(fs.statSync(path.join(outside, "secret")).mtimeMs).toBeGreaterThan(0);
  });

  it("a directory checked earlier and then replaced by a symlink is checked again", () => {
    ok({ op: "mkdir", path: relPath("d"), mode: 0o755, uid: 0, gid: 0 });
    ok({ op: "create", path: relPath("d/f"), mode: 0o644, uid: 0, gid: 0 });
    ok({ op: "write", path: relPath("d/f"), offset: 0, data: relPath("in"), mtimeNs: T1 });
    ok({ op: "rename", from: relPath("d"), to: relPath("e"), flags: 0 });
    ok({ op: "symlink", path: relPath("d"), target: Buffer.from(outside), uid: 0, gid: 0 });
    expectFail(a.apply({ op: "create", path: relPath("d/f"), mode: 0o644, uid: 0, gid: 0 }), "refused", "EOUTSIDE");
    expectFail(a.apply({ op: "write", path: relPath("d/secret"), offset: 0, data: relPath("PWNED"), mtimeNs: T1 }), "refused", "EOUTSIDE");
    expect(fs.readdirSync(outside)).toEqual(["secret"]);
    expect(fs.readFileSync(path.join(root, "e", "f"), "utf8")).toBe("in");
  });

  it("after this node served the folder (forgetCaches), a directory its service replaced by a symlink is checked again", () => {
    ok({ op: "mkdir", path: relPath("d"), mode: 0o755, uid: 0, gid: 0 });
    ok({ op: "create", path: relPath("d/f"), mode: 0o644, uid: 0, gid: 0 });
    // The service, not the applier, changes the copy while this node runs the module.
    fs.renameSync(path.join(root, "d"), path.join(root, "e"));
    fs.symlinkSync(outside, path.join(root, "d"));
    a.forgetCaches();
    expectFail(a.apply({ op: "create", path: relPath("d/x"), mode: 0o644, uid: 0, gid: 0 }), "refused", "EOUTSIDE");
    expect(fs.readdirSync(outside)).toEqual(["secret"]);
  });

  it("a directory replaced by a symlink outside the applier's view (a file rmdir'd then symlinked) is caught too", () => {
    ok({ op: "mkdir", path: relPath("d"), mode: 0o755, uid: 0, gid: 0 });
    ok({ op: "create", path: relPath("d/f"), mode: 0o644, uid: 0, gid: 0 });
    ok({ op: "unlink", path: relPath("d/f") });
    ok({ op: "rmdir", path: relPath("d") });
    ok({ op: "symlink", path: relPath("d"), target: Buffer.from(outside), uid: 0, gid: 0 });
    expectFail(a.apply({ op: "create", path: relPath("d/x"), mode: 0o644, uid: 0, gid: 0 }), "refused", "EOUTSIDE");
    expect(fs.readdirSync(outside)).toEqual(["secret"]);
  });
});
