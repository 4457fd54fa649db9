/**
 * The interception handler without the kernel: hand-built requests against
 * a scratch folder (reached through /proc/self/fd/N as on a real mount),
 * checking the replies, the effect on the folder, and the MirrorOps.
 * Runs without bun:ffi, as on Node: the calls that need it fail cleanly.
 */

import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Errno, Fattr, FopenFlag, InitFlag, InitFlag2, MAX_READ, Opcode } from "../../src/sys/fuse/abi.ts";
import { decodeRequest } from "../../src/sys/fuse/decode.ts";
import { InterceptServer, type HandleResult } from "../../src/replicator/intercept-server.ts";
import { InterceptUnavailableError, mountInPlace } from "../../src/replicator/intercept.ts";
import { relPathText, type MirrorOp } from "../../src/replicator/ops.ts";
import type { FsCalls } from "../../src/sys/ffi/fs-calls.ts";
import { request, type Field } from "./fuse-requests.ts";

const isRoot = process.getuid?.() === 0;

let dir: string;
let dirFd: number;
let server: InterceptServer;
let logs: string[];
let unique = 100n;

function call(opcode: number, body: Field[], opts: { nodeid?: bigint; uid?: number; gid?: number } = {}): HandleResult {
  const bytes = request(opcode, body, { unique: ++unique, ...opts });
  return server.handle(decodeRequest(bytes, bytes.length));
}

const errorOf = (r: HandleResult): number => Math.abs(new DataView(r.reply!.buffer).getInt32(4, true));
const nodeidOf = (r: HandleResult): bigint => new DataView(r.reply!.buffer).getBigUint64(16, true);
const fhOfCreate = (r: HandleResult): bigint => new DataView(r.reply!.buffer).getBigUint64(16 + 128, true);
const fhOfOpen = (r: HandleResult): bigint => new DataView(r.reply!.buffer).getBigUint64(16, true);

/** Ops with paths as text, data as its length: easy to compare. */
function show(ops: readonly MirrorOp[]): unknown[] {
  return ops.map((op) => {
    const o: Record<string, unknown> = { ...op };
    for (const k of ["path", "from", "to", "existing", "target", "name"]) if (o[k] instanceof Uint8Array) o[k] = relPathText(o[k] as Uint8Array);
    if (o.data instanceof Uint8Array) o.data = Buffer.from(o.data).toString();
    for (const k of ["mtimeNs", "atimeNs"]) if (typeof o[k] === "bigint") o[k] = "t";
    return o;
  });
}

function lookup(name: string, parent = 1n): bigint {
  const r = call(Opcode.LOOKUP, [name], { nodeid: parent });
  expect(errorOf(r)).toBe(0);
  return nodeidOf(r);
}

function create(name: string, mode = 0o100640, parent = 1n, ids: { uid?: number; gid?: number } = {}): { nodeid: bigint; fh: bigint; r: HandleResult } {
  const r = call(Opcode.CREATE, [0o1 | 0o100, mode, 0o22, 0, name], { nodeid: parent, ...ids });
  expect(errorOf(r)).toBe(0);
  return { nodeid: nodeidOf(r), fh: fhOfCreate(r), r };
}

function write(nodeid: bigint, fh: bigint, offset: number, text: string): HandleResult {
  const data = new TextEncoder().encode(text);
  return call(Opcode.WRITE, [fh, BigInt(offset), data.length, 0, 0n, 0o1, 0, data], { nodeid });
}

beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), "vigil-fuse-server-"));
  dirFd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  logs = [];
  server = new InterceptServer(dirFd, null, (level, msg) => logs.push(`${level} ${msg}`));
});

afterEach(() => {
  server.closeAll();
  fs.closeSync(dirFd);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("InterceptServer", () => {
  it("answers INIT with 7.31, 1 MiB writes and no writeback cache", () => {
    const r = call(Opcode.INIT, [7, 45, 131072, 0xffffffff, 0, ...Array(11).fill(0)]);
    const v = new DataView(r.reply!.buffer);
    expect(v.getUint32(16, true)).toBe(7);
    expect(v.getUint32(20, true)).toBe(31);
    expect(v.getUint32(16 + 12, true) & (1 << 16)).toBe(0);
    // No ACL enforcement without the FFI calls that read ACLs.
    expect(v.getUint32(16 + 12, true) & (1 << 20)).toBe(0);
    expect(v.getUint32(16 + 20, true)).toBe(1 << 20);
    expect(r.ops).toEqual([]);
  });

  it("creates a file for the caller with the exact mode, and emits create + the new times", () => {
    const { r } = create("f", 0o100640, 1n, { uid: 1000, gid: 100 });
    const st = fs.statSync(join(dir, "f"));
    expect(st.mode & 0o7777).toBe(0o640);
    if (isRoot) expect([st.uid, st.gid]).toEqual([1000, 100]);
    expect(show(r.ops)).toEqual([
      { op: "create", path: "f", mode: 0o640, uid: st.uid, gid: st.gid },
      { op: "utimes", path: "f", atimeNs: "t", mtimeNs: "t" },
      { op: "utimes", path: "", atimeNs: "t", mtimeNs: "t" },
    ]);
    // The times carried are the folder's, after the operation.
    const rootTimes = r.ops[2] as Extract<MirrorOp, { op: "utimes" }>;
    expect(rootTimes.mtimeNs).toBe(fs.statSync(dir, { bigint: true }).mtimeNs);
  });

  it("writes through the open file and emits the data with the resulting mtime", () => {
    const { nodeid, fh } = create("f");
    const r = write(nodeid, fh, 3, "abc");
    expect(new DataView(r.reply!.buffer).getUint32(16, true)).toBe(3);
    expect(fs.readFileSync(join(dir, "f"), "latin1")).toBe("\0\0\0abc");
    expect(show(r.ops)).toEqual([{ op: "write", path: "f", offset: 3, data: "abc", mtimeNs: "t" }]);
    expect((r.ops[0] as Extract<MirrorOp, { op: "write" }>).mtimeNs).toBe(fs.statSync(join(dir, "f"), { bigint: true }).mtimeNs);
  });

  it("a large write is written and handed on piece by piece; the last piece comes with the result", () => {
    const { nodeid, fh } = create("big");
    const text = Array.from({ length: 300 * 1024 }, (_, i) => String.fromCharCode(97 + (i % 26))).join("");
    const parts: { ops: MirrorOp[]; onDisk: number }[] = [];
    server.onPart = (ops) => parts.push({ ops, onDisk: fs.statSync(join(dir, "big")).size });
    const r = write(nodeid, fh, 7, text);
    expect(new DataView(r.reply!.buffer).getUint32(16, true)).toBe(text.length);
    // Two 128 KiB pieces ahead, each already written when handed on; the rest with the result.
    expect(parts.map((p) => show(p.ops).map((o) => [(o as { offset: number }).offset, (o as { data: string }).data.length]))).toEqual([[[7, 131072]], [[7 + 131072, 131072]]]);
    expect(parts.map((p) => p.onDisk)).toEqual([7 + 131072, 7 + 2 * 131072]);
    expect(show(r.ops).map((o) => [(o as { offset: number }).offset, (o as { data: string }).data.length])).toEqual([[7 + 2 * 131072, text.length - 2 * 131072]]);
    const all = [...parts.flatMap((p) => p.ops), ...r.ops].map((o) => (o as Extract<MirrorOp, { op: "write" }>).data);
    expect(Buffer.concat(all).toString()).toBe(text);
    expect(fs.readFileSync(join(dir, "big"), "latin1").slice(7)).toBe(text);
    // The last piece carries the file's time after the whole write.
    expect((r.ops[0] as Extract<MirrorOp, { op: "write" }>).mtimeNs).toBe(fs.statSync(join(dir, "big"), { bigint: true }).mtimeNs);
    server.onPart = null;
    // Without a taker of pieces, all of them come with the result, in order.
    const again = write(nodeid, fh, 0, text);
    expect(show(again.ops).map((o) => (o as { offset: number }).offset)).toEqual([0, 131072, 262144]);
  });

  it("answers a failed operation with its errno at once and emits nothing", () => {
    const r = call(Opcode.UNLINK, ["missing"]);
    expect(errorOf(r)).toBe(Errno.ENOENT);
    expect(r.ops).toEqual([]);
    fs.mkdirSync(join(dir, "d"));
    const again = call(Opcode.MKDIR, [0o755, 0o22, "d"]);
    expect(errorOf(again)).toBe(Errno.EEXIST);
    expect(again.ops).toEqual([]);
  });

  it("answers a missing name with a negative entry the kernel may keep, and asks for a read-ahead window of four READs", () => {
    const miss = call(Opcode.LOOKUP, ["missing"]);
    const v = new DataView(miss.reply!.buffer);
    expect(v.getInt32(4, true)).toBe(0);
    expect(nodeidOf(miss)).toBe(0n);
    // entry_valid: how long the kernel may remember the miss.
    expect(v.getBigUint64(16 + 16, true)).toBeGreaterThan(0n);
    expect(miss.ops).toEqual([]);
    // Other failures are still errors.
    fs.writeFileSync(join(dir, "file"), "x");
    const file = lookup("file");
    expect(errorOf(call(Opcode.LOOKUP, ["below"], { nodeid: file }))).toBe(Errno.ENOTDIR);
    const init = call(Opcode.INIT, [7, 45, 131072, 0xffffffff, 0, ...Array(11).fill(0)]);
    expect(new DataView(init.reply!.buffer).getUint32(16 + 8, true)).toBe(4 * MAX_READ);
  });

  it("follows a file through renames: later writes carry the new path", () => {
    const { nodeid, fh } = create("a");
    call(Opcode.MKDIR, [0o755, 0o22, "sub"]);
    const sub = lookup("sub");
    const mv = call(Opcode.RENAME, [sub, "a", "b"]);
    expect(errorOf(mv)).toBe(0);
    expect(show(mv.ops)).toEqual([
      { op: "rename", from: "a", to: "sub/b", flags: 0 },
      { op: "utimes", path: "", atimeNs: "t", mtimeNs: "t" },
      { op: "utimes", path: "sub", atimeNs: "t", mtimeNs: "t" },
    ]);
    expect(show(write(nodeid, fh, 0, "x").ops)).toEqual([{ op: "write", path: "sub/b", offset: 0, data: "x", mtimeNs: "t" }]);
  });

  it("gives every hard link of a file the same nodeid, and keeps it reachable when one name goes", () => {
    const { nodeid } = create("one");
    const ln = call(Opcode.LINK, [nodeid, "two"]);
    expect(errorOf(ln)).toBe(0);
    expect(nodeidOf(ln)).toBe(nodeid);
    expect(show(ln.ops)[0]).toEqual({ op: "link", existing: "one", path: "two" });
    call(Opcode.UNLINK, ["one"]);
    const chmod = call(Opcode.SETATTR, [Fattr.MODE, 0, 0n, 0n, 0n, 0n, 0n, 0n, 0, 0, 0, 0o100600, 0, 0, 0, 0], { nodeid });
    expect(errorOf(chmod)).toBe(0);
    expect(show(chmod.ops)).toEqual([{ op: "chmod", path: "two", mode: 0o600 }]);
  });

  it("keeps serving an unlinked open file, and emits nothing for it", () => {
    const { nodeid, fh } = create("gone");
    call(Opcode.UNLINK, ["gone"]);
    const w = write(nodeid, fh, 0, "still");
    expect(new DataView(w.reply!.buffer).getUint32(16, true)).toBe(5);
    expect(w.ops).toEqual([]);
    const attr = call(Opcode.GETATTR, [1, 0, fh], { nodeid });
    expect(errorOf(attr)).toBe(0);
  });

  it("emits chown, chmod, truncate and utimes for SETATTR, each with the result", () => {
    const { nodeid } = create("s");
    const valid = Fattr.MODE | Fattr.SIZE | Fattr.MTIME | Fattr.ATIME | (isRoot ? Fattr.UID | Fattr.GID : 0);
    const r = call(Opcode.SETATTR, [valid, 0, 0n, 10n, 0n, 5n, 6n, 0n, 7, 8, 0, 0o100604, 0, 1234, 5678, 0], { nodeid });
    expect(errorOf(r)).toBe(0);
    const ops = show(r.ops);
    expect(ops).toContainEqual({ op: "chmod", path: "s", mode: 0o604 });
    expect(ops).toContainEqual({ op: "truncate", path: "s", size: 10, mtimeNs: "t" });
    if (isRoot) expect(ops[0]).toEqual({ op: "chown", path: "s", uid: 1234, gid: 5678 });
    const times = r.ops.find((o) => o.op === "utimes") as Extract<MirrorOp, { op: "utimes" }>;
    // Without FFI, node:fs keeps about a microsecond.
    expect(Number(times.atimeNs - 5_000_000_007n)).toBeLessThan(1000);
    expect(Number(times.mtimeNs - 6_000_000_008n)).toBeLessThan(1000);
  });

  it("hands a directory made in a setgid directory the directory's group and the setgid bit", () => {
    fs.mkdirSync(join(dir, "shared"));
    if (isRoot) fs.chownSync(join(dir, "shared"), 0, 4321);
    fs.chmodSync(join(dir, "shared"), 0o2775);
    const shared = lookup("shared");
    const r = call(Opcode.MKDIR, [0o755, 0o22, "inner"], { nodeid: shared, uid: 1000, gid: 100 });
    expect(errorOf(r)).toBe(0);
    const st = fs.statSync(join(dir, "shared", "inner"));
    expect(st.mode & 0o7777).toBe(0o2755);
    if (isRoot) expect([st.uid, st.gid]).toEqual([1000, 4321]);
    expect(show(r.ops)[0]).toEqual({ op: "mkdir", path: "shared/inner", mode: 0o2755, uid: st.uid, gid: st.gid });
  });

  it("truncates on open with O_TRUNC and emits it", () => {
    const { nodeid, fh } = create("t");
    write(nodeid, fh, 0, "content");
    const r = call(Opcode.OPEN, [0o1 | 0o1000, 0], { nodeid });
    expect(errorOf(r)).toBe(0);
    expect(fhOfOpen(r)).toBeGreaterThan(0n);
    expect(fs.statSync(join(dir, "t")).size).toBe(0);
    expect(show(r.ops)).toEqual([{ op: "truncate", path: "t", size: 0, mtimeNs: "t" }]);
  });

  it("lets a cached open keep the file's pages unless a direct-I/O writer may have changed the file past them", () => {
    const { nodeid, fh } = create("k");
    write(nodeid, fh, 0, "kept");
    const flagsOf = (r: HandleResult): number => new DataView(r.reply!.buffer).getUint32(16 + 8, true);
    const open = (flags: number): HandleResult => call(Opcode.OPEN, [flags, 0], { nodeid });
    const release = (r: HandleResult): void => void call(Opcode.RELEASE, [fhOfOpen(r), 0, 0, 0n], { nodeid });
    const O_DIRECT = 0o40000;
    expect(flagsOf(open(0)) & FopenFlag.KEEP_CACHE).toBe(FopenFlag.KEEP_CACHE);
    // A direct reader changes nothing.
    release(open(O_DIRECT));
    expect(flagsOf(open(0)) & FopenFlag.KEEP_CACHE).toBe(FopenFlag.KEEP_CACHE);
    const writer = open(0o2 | O_DIRECT);
    expect(flagsOf(writer) & FopenFlag.DIRECT_IO).toBe(FopenFlag.DIRECT_IO);
    // While it is open, every cached open drops the pages.
    expect(flagsOf(open(0)) & FopenFlag.KEEP_CACHE).toBe(0);
    expect(flagsOf(open(0)) & FopenFlag.KEEP_CACHE).toBe(0);
    release(writer);
    // Once more after it closed, then the pages are fresh again.
    expect(flagsOf(open(0)) & FopenFlag.KEEP_CACHE).toBe(0);
    expect(flagsOf(open(0)) & FopenFlag.KEEP_CACHE).toBe(FopenFlag.KEEP_CACHE);
    expect(flagsOf(open(0o1 | 0o1000)) & FopenFlag.KEEP_CACHE).toBe(0);
    // The kernel is told to drop kept pages when a file's attributes show it changed beneath.
    const init = call(Opcode.INIT, [7, 45, 131072, 0xffffffff, 0, ...Array(11).fill(0)]);
    expect(new DataView(init.reply!.buffer).getUint32(16 + 12, true) & InitFlag.AUTO_INVAL_DATA).toBe(InitFlag.AUTO_INVAL_DATA);
  });

  it("with directReads answers read-only opens with direct I/O once the kernel maps such files shared; else keeps the page cache and says why", () => {
    const { nodeid } = create("movie");
    const flagsOf = (r: HandleResult): number => new DataView(r.reply!.buffer).getUint32(16 + 8, true);
    const open = (flags: number): number => flagsOf(call(Opcode.OPEN, [flags, 0], { nodeid }));
    const init = (flags2: number): void => void call(Opcode.INIT, [7, 45, 131072, 0xffffffff, flags2, ...Array(11).fill(0)]);
    // Known once the kernel's INIT is answered (status shows it: `read:` in effect on this kernel).
    expect(server.readsServed).toBeNull();
    init(InitFlag2.DIRECT_IO_ALLOW_MMAP);
    // Default (read: cache): the page cache, pages kept.
    expect(open(0) & (FopenFlag.DIRECT_IO | FopenFlag.KEEP_CACHE)).toBe(FopenFlag.KEEP_CACHE);
    expect(server.readsServed).toBe("cache");
    server.directReads = true;
    init(InitFlag2.DIRECT_IO_ALLOW_MMAP);
    expect(open(0) & FopenFlag.DIRECT_IO).toBe(FopenFlag.DIRECT_IO);
    expect(server.readsServed).toBe("direct");
    // Opens for writing are served as with read: cache.
    expect(open(0o2) & (FopenFlag.DIRECT_IO | FopenFlag.KEEP_CACHE)).toBe(FopenFlag.KEEP_CACHE);
    expect(open(0o1) & FopenFlag.DIRECT_IO).toBe(0);
    expect(logs).toEqual([]);
    // A kernel that would refuse a shared mmap of a direct-I/O file (ENODEV): reads stay cached.
    init(0);
    expect(open(0) & FopenFlag.DIRECT_IO).toBe(0);
    expect(server.readsServed).toBe("cache");
    expect(logs).toEqual([expect.stringMatching(/^warn read: direct needs .*FUSE_DIRECT_IO_ALLOW_MMAP.*page cache/)]);
  });

  it("hands fsync to the caller to do off the serving thread, and emits fsync after each write of an O_SYNC file", () => {
    const { nodeid, fh } = create("d");
    const r = call(Opcode.FSYNC, [fh, 1, 0], { nodeid });
    expect(r.reply).toBeNull();
    expect(r.ops).toEqual([]);
    expect(r.sync).toMatchObject({ closeAfter: false, dataOnly: true });
    expect(relPathText(r.sync!.path!)).toBe("d");
    const dirSync = call(Opcode.FSYNCDIR, [0n, 0, 0]);
    expect(dirSync.sync).toMatchObject({ closeAfter: true, dataOnly: false, path: new Uint8Array(0) });
    fs.closeSync(dirSync.sync!.fd);
    const o = call(Opcode.OPEN, [0o1 | 0o4010000, 0], { nodeid });
    expect(show(write(nodeid, fhOfOpen(o), 0, "s").ops)).toEqual([
      { op: "write", path: "d", offset: 0, data: "s", mtimeNs: "t" },
      { op: "fsync", path: "d", dataOnly: false },
    ]);
  });

  it("keeps names with any bytes", () => {
    const raw = new Uint8Array([0x63, 0xe9, 0xff, 0x01]);
    const r = call(Opcode.MKDIR, [0o700, 0, raw, new Uint8Array(1)]);
    expect(errorOf(r)).toBe(0);
    expect(fs.readdirSync(dir, { encoding: "buffer" })).toContainEqual(Buffer.from(raw));
    expect((r.ops[0] as Extract<MirrorOp, { op: "mkdir" }>).path).toEqual(raw);
  });

  it("lists a directory with . and .. and resumes at the offset", () => {
    for (const n of ["x", "y", "z"]) fs.writeFileSync(join(dir, n), n);
    const o = call(Opcode.OPENDIR, [0, 0]);
    const fh = fhOfOpen(o);
    const names = (r: HandleResult): string[] => {
      const out: string[] = [];
      const b = r.reply!;
      const v = new DataView(b.buffer);
      for (let at = 16; at < b.length; ) {
        const len = v.getUint32(at + 16, true);
        out.push(Buffer.from(b.subarray(at + 24, at + 24 + len)).toString());
        at += (24 + len + 7) & ~7;
      }
      return out;
    };
    const all = names(call(Opcode.READDIR, [fh, 0n, 4096, 0, 0n, 0, 0]));
    expect(all.slice(0, 2)).toEqual([".", ".."]);
    expect(all.slice(2).sort()).toEqual(["x", "y", "z"]);
    expect(names(call(Opcode.READDIR, [fh, 4n, 4096, 0, 0n, 0, 0]))).toEqual(all.slice(4));
    // A small buffer ends the batch early; the kernel asks again from the next offset.
    expect(names(call(Opcode.READDIR, [fh, 0n, 40, 0, 0n, 0, 0]))).toEqual(["."]);
  });

  it("without FFI, xattrs and rename flags fail with EOPNOTSUPP, logged once, and emit nothing", () => {
    create("x");
    const set = call(Opcode.SETXATTR, [1, 0, "user.k", new Uint8Array([1])]);
    expect(errorOf(set)).toBe(Errno.EOPNOTSUPP);
    expect(set.ops).toEqual([]);
    call(Opcode.SETXATTR, [1, 0, "user.k", new Uint8Array([1])]);
    expect(errorOf(call(Opcode.GETXATTR, [0, 0, "system.posix_acl_access"]))).toBe(Errno.ENOSYS);
    const ex = call(Opcode.RENAME2, [1n, 2, 0, "x", "y"]);
    expect(errorOf(ex)).toBe(Errno.EOPNOTSUPP);
    expect(logs.filter((l) => l.includes("setxattr"))).toHaveLength(1);
    expect(logs.some((l) => l.includes("rename with flags"))).toBe(true);
  });

  it("a fault of its own while serving answers EIO and logs why, once per opcode and kind; an errno from the system is passed on silently", () => {
    const failing = (e: unknown) => ({ renameat2: () => { throw e; } }) as unknown as FsCalls;
    server.closeAll();
    server = new InterceptServer(dirFd, failing(new TypeError("cannot read properties of undefined")), (level, msg) => logs.push(`${level} ${msg}`));
    create("x");
    const first = call(Opcode.RENAME2, [1n, 2, 0, "x", "y"]);
    expect(errorOf(first)).toBe(Errno.EIO);
    expect(first.ops).toEqual([]);
    call(Opcode.RENAME2, [1n, 2, 0, "x", "y"]);
    const faults = logs.filter((l) => l.includes("failed inside vigil"));
    expect(faults).toHaveLength(1);
    expect(faults[0]).toMatch(/^error FUSE request \(opcode 45\).*application got EIO: TypeError: cannot read properties of undefined/);

    server.closeAll();
    logs = [];
    server = new InterceptServer(dirFd, failing(Object.assign(new Error("ENOENT"), { code: "ENOENT" })), (level, msg) => logs.push(`${level} ${msg}`));
    expect(errorOf(call(Opcode.RENAME2, [1n, 2, 0, "x", "y"]))).toBe(Errno.ENOENT);
    expect(logs).toEqual([]);
  });

  it("answers operations it does not implement with ENOSYS, and FORGET with nothing", () => {
    expect(errorOf(call(Opcode.IOCTL, [0, 0, 0, 0]))).toBe(Errno.ENOSYS);
    const f = call(Opcode.FORGET, [1n], { nodeid: 7n });
    expect(f.reply).toBeNull();
  });
});

describe("mountInPlace outside Bun", () => {
  it.skipIf(typeof (globalThis as { Bun?: unknown }).Bun !== "undefined")("refuses with a clear reason on Node", async () => {
    await expect(mountInPlace({ dir: "/tmp", name: "x", onMutation: async () => {}, log: () => {} })).rejects.toThrow(InterceptUnavailableError);
    await expect(mountInPlace({ dir: "/tmp", name: "x", onMutation: async () => {}, log: () => {} })).rejects.toThrow(/Node .* vigil binary/);
  });
});
