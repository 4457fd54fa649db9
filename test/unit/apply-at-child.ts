/**
 * The applier as the vigil binary runs it (bun:ffi: the copy reached through
 * `*at` calls relative to its directories' fds, apply-folder-at.ts), run by
 * apply-at.test.ts under bun. Once with the folder's own path as the root and
 * once with `/proc/self/fd/N/.` (the folder beneath a mount, as the mirror
 * driver gives it). Prints one JSON line: { checks: [{ name, pass, detail }] }.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Applier, cacheDrops } from "../../src/replicator/apply.ts";
import { DIR_FDS } from "../../src/replicator/apply-folder-at.ts";
import type { ApplyResult } from "../../src/replicator/apply-result.ts";
import { loadFsCalls } from "../../src/sys/ffi/fs-calls.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";
import { ESCAPE_MESSAGE, ESCAPES } from "./apply-escapes.ts";

const checks: { name: string; pass: boolean; detail: string }[] = [];
const check = (name: string, pass: boolean, detail: unknown = ""): void => {
  checks.push({ name, pass, detail: typeof detail === "string" ? detail : JSON.stringify(detail, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v)) });
};
const T = 1_700_000_000_123_456_789n;
const calls = await loadFsCalls("apply test");
const raw = (...b: number[]): Uint8Array => new Uint8Array(b);
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p))));
const openFds = (): number => fs.readdirSync("/proc/self/fd").length;

async function suite(label: string, viaProc: boolean): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-apply-at-"));
  const root = path.join(base, "copy");
  const outside = path.join(base, "outside");
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, "secret"), "keep");
  calls.lsetxattr(path.join(outside, "secret"), "user.keep", relPath("1"), 0);
  const rootFd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  const fdsBefore = openFds();
  const a = await Applier.open(viaProc ? `/proc/self/fd/${rootFd}/.` : root);
  const at = (...parts: (string | Uint8Array)[]): Buffer => Buffer.concat([Buffer.from(root), ...parts.map((p) => Buffer.concat([Buffer.from("/"), Buffer.from(p)]))]);
  const name = (what: string): string => `${label}: ${what}`;
  const run = (op: MirrorOp): ApplyResult => a.apply(op);
  const ok = (what: string, op: MirrorOp): boolean => {
    const r = run(op);
    if (!r.ok) check(name(what), false, r);
    return r.ok;
  };
  const fails = (what: string, op: MirrorOp, kind: string, errno: string): void => {
    const r = run(op);
    check(name(what), !r.ok && r.kind === kind && r.errno === errno, r);
  };
  const outsideIntact = (): boolean =>
    JSON.stringify(fs.readdirSync(outside).sort()) === JSON.stringify(["secret"]) &&
    fs.readFileSync(path.join(outside, "secret"), "utf8") === "keep" &&
    (fs.statSync(path.join(outside, "secret")).mode & 0o777) !== 0o777 &&
    fs.statSync(path.join(outside, "secret")).uid === 0 &&
    fs.statSync(path.join(outside, "secret")).mtimeMs > 1000 &&
    calls.llistxattr(path.join(outside, "secret")).length === 1;
  try {
    check(name("the copy is reached by directory fd"), a.byDirectoryFd && a.mtimeWindowNs === 1, [a.byDirectoryFd, a.mtimeWindowNs]);

    // ---- never leaves the copy ----
    fs.symlinkSync(outside, path.join(root, "esc"));
    fs.symlinkSync(path.join(outside, "secret"), path.join(root, "secretlink"));
    for (const [what, op] of ESCAPES) {
      const r = run(op);
      check(name(`refuses ${what}`), !r.ok && r.kind === "refused" && r.errno === "EOUTSIDE" && ESCAPE_MESSAGE.test(r.message) && outsideIntact(), r);
    }
    fails("write to a symlink fails, its target untouched", { op: "write", path: relPath("secretlink"), offset: 0, data: relPath("PWNED"), mtimeNs: T }, "failed", "ELOOP");
    fails("truncate of a symlink fails", { op: "truncate", path: relPath("secretlink"), size: 0, mtimeNs: T }, "failed", "ELOOP");
    fails("chmod of a symlink fails (never its target)", { op: "chmod", path: relPath("secretlink"), mode: 0o777 }, "failed", "EOPNOTSUPP");
    fails("create over a planted symlink fails, nothing made outside", { op: "create", path: relPath("esc"), mode: 0o644, uid: 0, gid: 0 }, "failed", "EEXIST");
    ok("chown of a symlink itself", { op: "chown", path: relPath("secretlink"), uid: 3, gid: 4 });
    ok("utimes of a symlink itself", { op: "utimes", path: relPath("secretlink"), atimeNs: T, mtimeNs: T });
    check(name("chown and utimes changed the link, not its target"), fs.lstatSync(at("secretlink")).uid === 3 && fs.lstatSync(at("secretlink"), { bigint: true }).mtimeNs === T && outsideIntact());
    ok("unlink of a symlink", { op: "unlink", path: relPath("secretlink") });
    check(name("after all of it, the outside folder is as it was"), outsideIntact());

    // A directory opened (cached) and then renamed away and replaced by a symlink.
    ok("mkdir d", { op: "mkdir", path: relPath("d"), mode: 0o755, uid: 0, gid: 0 });
    ok("create d/f", { op: "create", path: relPath("d/f"), mode: 0o644, uid: 0, gid: 0 });
    ok("write d/f", { op: "write", path: relPath("d/f"), offset: 0, data: relPath("in"), mtimeNs: T });
    ok("rename d e", { op: "rename", from: relPath("d"), to: relPath("e"), flags: 0 });
    ok("symlink d", { op: "symlink", path: relPath("d"), target: Buffer.from(outside), uid: 0, gid: 0 });
    fails("a directory opened earlier, then replaced by a symlink, is refused", { op: "create", path: relPath("d/x"), mode: 0o644, uid: 0, gid: 0 }, "refused", "EOUTSIDE");
    check(name("and the renamed directory kept its file"), fs.readFileSync(at("e", "f"), "utf8") === "in" && outsideIntact());

    // The same, done by the service while this node served the folder, then forgetCaches.
    ok("mkdir g", { op: "mkdir", path: relPath("g"), mode: 0o755, uid: 0, gid: 0 });
    ok("create g/f", { op: "create", path: relPath("g/f"), mode: 0o644, uid: 0, gid: 0 });
    fs.renameSync(at("g"), at("h"));
    fs.symlinkSync(outside, at("g"));
    a.forgetCaches();
    fails("after forgetCaches, a directory replaced by a symlink outside the applier is refused", { op: "create", path: relPath("g/x"), mode: 0o644, uid: 0, gid: 0 }, "refused", "EOUTSIDE");
    check(name("nothing was written outside"), outsideIntact());

    // ---- cached directories follow the names, not the inodes ----
    ok("mkdir m", { op: "mkdir", path: relPath("m"), mode: 0o755, uid: 0, gid: 0 });
    ok("create m/one", { op: "create", path: relPath("m/one"), mode: 0o644, uid: 0, gid: 0 });
    ok("rename m n", { op: "rename", from: relPath("m"), to: relPath("n"), flags: 0 });
    ok("mkdir m again", { op: "mkdir", path: relPath("m"), mode: 0o755, uid: 0, gid: 0 });
    ok("create m/two", { op: "create", path: relPath("m/two"), mode: 0o644, uid: 0, gid: 0 });
    check(name("a file made after a directory's rename lands under its new name's directory"), fs.readdirSync(at("m")).join() === "two" && fs.readdirSync(at("n")).join() === "one");
    ok("unlink m/two", { op: "unlink", path: relPath("m/two") });
    ok("rmdir m", { op: "rmdir", path: relPath("m") });
    ok("mkdir m once more", { op: "mkdir", path: relPath("m"), mode: 0o700, uid: 0, gid: 0 });
    ok("create m/three", { op: "create", path: relPath("m/three"), mode: 0o644, uid: 0, gid: 0 });
    check(name("after rmdir and mkdir, the new directory is used"), fs.readdirSync(at("m")).join() === "three");
    ok("mkdir p", { op: "mkdir", path: relPath("p"), mode: 0o755, uid: 0, gid: 0 });
    ok("create p/pf", { op: "create", path: relPath("p/pf"), mode: 0o644, uid: 0, gid: 0 });
    ok("exchange m and p", { op: "rename", from: relPath("m"), to: relPath("p"), flags: 2 });
    ok("create m/after", { op: "create", path: relPath("m/after"), mode: 0o644, uid: 0, gid: 0 });
    check(name("RENAME_EXCHANGE of two directories: later ops follow the names"), fs.readdirSync(at("m")).sort().join() === "after,pf" && fs.readdirSync(at("p")).join() === "three");
    // A second applier (the other side of a threaded one) that opened m before: told by cacheDrops.
    const other = await Applier.open(viaProc ? `/proc/self/fd/${rootFd}/.` : root);
    const cross = (op: MirrorOp): ApplyResult => {
      const r = other.apply(op);
      a.dropCaches(cacheDrops(op));
      return r;
    };
    ok("create m/seen", { op: "create", path: relPath("m/seen"), mode: 0o644, uid: 0, gid: 0 });
    check(name("the other applier renames m away"), cross({ op: "rename", from: relPath("m"), to: relPath("q"), flags: 0 }).ok && cross({ op: "mkdir", path: relPath("m"), mode: 0o755, uid: 0, gid: 0 }).ok);
    ok("create m/new after the other's rename", { op: "create", path: relPath("m/new"), mode: 0o644, uid: 0, gid: 0 });
    check(name("an op after the other applier's rename lands in the new directory"), fs.readdirSync(at("m")).join() === "new" && fs.readdirSync(at("q")).sort().join() === "after,pf,seen");
    other.close();

    // ---- many directories: bounded fds, every op still right ----
    for (let i = 0; i < DIR_FDS * 2; i++) ok(`mkdir many/${i}`, { op: "mkdir", path: relPath(i === 0 ? "many" : `many/d${i}`), mode: 0o755, uid: 0, gid: 0 });
    for (let i = 1; i < DIR_FDS * 2; i++) ok(`create many/d${i}/f`, { op: "create", path: relPath(`many/d${i}/f`), mode: 0o644, uid: 0, gid: 0 });
    for (let i = 1; i < DIR_FDS * 2; i++) ok(`write many/d${i}/f`, { op: "write", path: relPath(`many/d${i}/f`), offset: 0, data: relPath(`${i}`), mtimeNs: T });
    let right = 0;
    for (let i = 1; i < DIR_FDS * 2; i++) if (fs.readFileSync(at(`many/d${i}/f`), "utf8") === `${i}`) right++;
    const held = openFds() - fdsBefore;
    check(name("128 directories: every write right, open fds bounded"), right === DIR_FDS * 2 - 1 && held <= DIR_FDS + 64 + 4, { right, held });

    // ---- a path of many directories, walked at once ----
    let deep = "deep";
    let made = ok("mkdir deep", { op: "mkdir", path: relPath(deep), mode: 0o755, uid: 0, gid: 0 });
    for (let i = 0; i < 300 && made; i++) {
      deep += "/d";
      made = run({ op: "mkdir", path: relPath(deep), mode: 0o755, uid: 0, gid: 0 }).ok;
    }
    a.forgetCaches();
    const openBefore = openFds();
    ok("create at the bottom of 301 directories", { op: "create", path: relPath(`${deep}/bottom`), mode: 0o644, uid: 0, gid: 0 });
    const deepHeld = openFds() - openBefore;
    check(name("301 directories deep: made, walked in one op with at most DIR_FDS directories open"), made && fs.existsSync(at(deep, "bottom")) && deepHeld <= DIR_FDS + 1, { made, deepHeld });

    // ---- names with any bytes ----
    const odd = raw(0x61, 0x0a, 0x62, 0xff, 0x01); // "a\nb\xff\x01"
    const latin = raw(0x63, 0x61, 0x66, 0xe9);
    ok("mkdir with newline and non-UTF-8", { op: "mkdir", path: odd, mode: 0o755, uid: 0, gid: 0 });
    ok("create beneath it", { op: "create", path: cat(odd, raw(0x2f), latin), mode: 0o644, uid: 0, gid: 0 });
    ok("write beneath it", { op: "write", path: cat(odd, raw(0x2f), latin), offset: 0, data: relPath("bytes"), mtimeNs: T });
    ok("hard link across directories", { op: "link", existing: cat(odd, raw(0x2f), latin), path: relPath("hl") });
    ok("rename beneath it", { op: "rename", from: cat(odd, raw(0x2f), latin), to: cat(odd, raw(0x2f), raw(0x0a)), flags: 0 });
    const moved = fs.lstatSync(at(odd, raw(0x0a)));
    check(name("odd names: the file is where its bytes say, hard-linked"), fs.readFileSync(at(odd, raw(0x0a)), "utf8") === "bytes" && moved.nlink === 2 && moved.ino === fs.lstatSync(at("hl")).ino, moved.nlink);
    ok("symlink with a raw target", { op: "symlink", path: cat(odd, raw(0x2f), relPath("ln")), target: raw(0x2e, 0x2e, 0xff), uid: 0, gid: 0 });
    check(name("symlink target bytes kept"), fs.readlinkSync(at(odd, relPath("ln")), { encoding: "buffer" }).equals(Buffer.from([0x2e, 0x2e, 0xff])));
    ok("link of a symlink links the symlink itself", { op: "link", existing: cat(odd, raw(0x2f), relPath("ln")), path: relPath("ln2") });
    check(name("the new name is the symlink"), fs.lstatSync(at("ln2")).isSymbolicLink());

    // ---- rename flags, special files, xattrs, the root ----
    ok("create r1", { op: "create", path: relPath("r1"), mode: 0o644, uid: 0, gid: 0 });
    fails("RENAME_NOREPLACE onto an existing name", { op: "rename", from: relPath("r1"), to: relPath("hl"), flags: 1 }, "failed", "EEXIST");
    fails("unknown rename flags", { op: "rename", from: relPath("r1"), to: relPath("r2"), flags: 4 }, "failed", "EINVAL");
    ok("mknod fifo in a subdirectory", { op: "mknod", path: relPath("e/fifo"), mode: 0o010640, rdev: 0, uid: 9, gid: 9 });
    const fifo = fs.lstatSync(at("e/fifo"));
    check(name("fifo with mode and owner"), fifo.isFIFO() && (fifo.mode & 0o7777) === 0o640 && fifo.uid === 9, fifo.mode);
    const w = run({ op: "write", path: relPath("e/fifo"), offset: 0, data: relPath("x"), mtimeNs: T });
    check(name("a write to a FIFO fails and never blocks"), !w.ok, w);
    ok("chmod of a fifo", { op: "chmod", path: relPath("e/fifo"), mode: 0o600 });
    check(name("fifo mode"), (fs.lstatSync(at("e/fifo")).mode & 0o7777) === 0o600);
    ok("setxattr in a subdirectory", { op: "setxattr", path: relPath("e/f"), name: relPath("user.v"), value: raw(0, 0xff), flags: 0 });
    check(name("xattr stored on the file"), Buffer.from(calls.lgetxattr(at("e/f"), "user.v")).equals(Buffer.from([0, 0xff])));
    ok("removexattr in a subdirectory", { op: "removexattr", path: relPath("e/f"), name: relPath("user.v") });
    ok("setxattr on the root", { op: "setxattr", path: new Uint8Array(0), name: relPath("trusted.r"), value: relPath("r"), flags: 0 });
    check(name("xattr of the folder itself"), Buffer.from(calls.lgetxattr(root, "trusted.r")).toString() === "r");
    ok("chmod of the root", { op: "chmod", path: new Uint8Array(0), mode: 0o1770 });
    ok("chown of the root", { op: "chown", path: new Uint8Array(0), uid: 11, gid: 12 });
    ok("utimes of the root", { op: "utimes", path: new Uint8Array(0), atimeNs: T, mtimeNs: T + 1n });
    const r = fs.statSync(root, { bigint: true });
    check(name("the folder's own mode, owner and times"), (Number(r.mode) & 0o7777) === 0o1770 && r.uid === 11n && r.mtimeNs === T + 1n, [r.mode, r.uid, r.mtimeNs]);
    ok("create with set-user-ID", { op: "create", path: relPath("e/suid"), mode: 0o4755, uid: 5, gid: 5 });
    check(name("set-user-ID kept after the chown"), (fs.statSync(at("e/suid")).mode & 0o7777) === 0o4755);

    // ---- parents that are missing or not directories ----
    fails("a missing parent", { op: "create", path: relPath("nope/f"), mode: 0o644, uid: 0, gid: 0 }, "failed", "ENOENT");
    fails("a parent that is a file", { op: "create", path: relPath("r1/f"), mode: 0o644, uid: 0, gid: 0 }, "failed", "ENOTDIR");
    fails("'..' in a path", { op: "create", path: relPath("e/../x"), mode: 0o644, uid: 0, gid: 0 }, "refused", "EOUTSIDE");
    fails("the root where it is not allowed", { op: "unlink", path: new Uint8Array(0) }, "refused", "EOUTSIDE");

    // ---- syncs ----
    ok("fsync of a file", { op: "fsync", path: relPath("e/f"), dataOnly: true });
    ok("fsync of a directory", { op: "fsync", path: relPath("e"), dataOnly: false });
    ok("fsync of the root", { op: "fsync", path: new Uint8Array(0), dataOnly: false });
    ok("fsync of the whole copy", { op: "fsync", path: null, dataOnly: false });
    fails("fsync of a missing file", { op: "fsync", path: relPath("gone"), dataOnly: false }, "failed", "ENOENT");
  } catch (e) {
    check(name("no exception"), false, e instanceof Error ? (e.stack ?? e.message) : String(e));
  } finally {
    a.close();
    check(name("close leaves no fd behind"), openFds() === fdsBefore, [openFds(), fdsBefore]);
    const after = a.apply({ op: "create", path: relPath("late"), mode: 0o644, uid: 0, gid: 0 });
    check(name("an op after close fails cleanly"), !after.ok && after.errno === "EBADF", after);
    fs.closeSync(rootFd);
    fs.rmSync(base, { recursive: true, force: true });
  }
}

try {
  await suite("by path", false);
  await suite("through /proc/self/fd", true);
} catch (e) {
  check("no exception", false, e instanceof Error ? (e.stack ?? e.message) : String(e));
}
process.stdout.write(JSON.stringify({ checks }) + "\n");
