/**
 * The applier with libc (bun:ffi), run by apply-ffi.test.ts under bun in a
 * private mount namespace (`unshare -m`): the copy is a 4 MiB tmpfs mounted
 * there, so a full disk is real and the mount vanishes with the process.
 * Prints one JSON line: { checks: [{ name, pass, detail }] }.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadFsCalls } from "../../src/sys/ffi/fs-calls.ts";
import { Applier } from "../../src/replicator/apply.ts";
import type { ApplyResult } from "../../src/replicator/apply-result.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";

const checks: { name: string; pass: boolean; detail: string }[] = [];
const check = (name: string, pass: boolean, detail: unknown = ""): void => {
  checks.push({ name, pass, detail: typeof detail === "string" ? detail : JSON.stringify(detail, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v)) });
};

const root = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-apply-ffi-"));
const mount = spawnSync("mount", ["-t", "tmpfs", "-o", "size=4m", "vigil-apply-test", root]);
if (mount.status !== 0) {
  process.stdout.write(JSON.stringify({ error: `mount tmpfs: ${mount.stderr.toString()}` }) + "\n");
  process.exit(0);
}
const calls = await loadFsCalls("apply test");
const a = await Applier.open(root);
const T = 1_700_000_000_123_456_789n;
const at = (p: string): string => path.join(root, p);
const run = (op: MirrorOp): ApplyResult => a.apply(op);
const okRun = (name: string, op: MirrorOp): boolean => {
  const r = run(op);
  if (!r.ok) check(name, false, r);
  return r.ok;
};

try {
  check("the applier found libc", a.mtimeWindowNs === 1, a.mtimeWindowNs);

  okRun("create", { op: "create", path: relPath("f"), mode: 0o640, uid: 0, gid: 0 });
  okRun("write", { op: "write", path: relPath("f"), offset: 0, data: new Uint8Array(64 * 1024).fill(1), mtimeNs: T });
  check("write sets mtime to the nanosecond", fs.lstatSync(at("f"), { bigint: true }).mtimeNs === T, fs.lstatSync(at("f"), { bigint: true }).mtimeNs);

  okRun("symlink", { op: "symlink", path: relPath("ln"), target: relPath("f"), uid: 0, gid: 0 });
  okRun("utimes symlink", { op: "utimes", path: relPath("ln"), atimeNs: T - 5n, mtimeNs: T + 7n });
  const l = fs.lstatSync(at("ln"), { bigint: true });
  check("utimes of a symlink sets its own times to the nanosecond", l.mtimeNs === T + 7n && l.atimeNs === T - 5n, [l.atimeNs, l.mtimeNs]);
  check("and leaves the target's alone", fs.lstatSync(at("f"), { bigint: true }).mtimeNs === T);

  const value = new Uint8Array([0, 0xff, 1, 2]);
  okRun("setxattr", { op: "setxattr", path: relPath("f"), name: relPath("user.vigil"), value, flags: 0 });
  check("setxattr stores the raw value", Buffer.from(calls.lgetxattr(at("f"), "user.vigil")).equals(Buffer.from(value)));
  const again = run({ op: "setxattr", path: relPath("f"), name: relPath("user.vigil"), value, flags: 1 });
  check("XATTR_CREATE on an existing attribute fails with EEXIST", !again.ok && again.errno === "EEXIST" && again.kind === "failed", again);
  okRun("setxattr on the root", { op: "setxattr", path: new Uint8Array(0), name: relPath("trusted.root"), value: relPath("r"), flags: 0 });
  check("xattr of the folder itself", Buffer.from(calls.lgetxattr(root, "trusted.root")).toString() === "r");
  okRun("removexattr", { op: "removexattr", path: relPath("f"), name: relPath("user.vigil") });
  check("removexattr removes", !calls.llistxattr(at("f")).some((n) => Buffer.from(n).toString() === "user.vigil"));

  okRun("mknod fifo", { op: "mknod", path: relPath("fifo"), mode: 0o010600, rdev: 0, uid: 5, gid: 6 });
  const fifo = fs.lstatSync(at("fifo"));
  check("mknod makes a FIFO with the exact mode and owner", fifo.isFIFO() && (fifo.mode & 0o7777) === 0o600 && fifo.uid === 5 && fifo.gid === 6, [fifo.mode, fifo.uid]);
  const rdev = (1 << 8) | 3; // /dev/null's number
  okRun("mknod chardev", { op: "mknod", path: relPath("null"), mode: 0o020666, rdev, uid: 0, gid: 0 });
  const dev = fs.lstatSync(at("null"));
  check("mknod makes a char device with its rdev", dev.isCharacterDevice() && dev.rdev === rdev, [dev.mode, dev.rdev]);

  okRun("create y", { op: "create", path: relPath("y"), mode: 0o644, uid: 0, gid: 0 });
  okRun("write y", { op: "write", path: relPath("y"), offset: 0, data: relPath("Y"), mtimeNs: T });
  const noreplace = run({ op: "rename", from: relPath("f"), to: relPath("y"), flags: 1 });
  check("RENAME_NOREPLACE onto an existing name fails with EEXIST and changes nothing", !noreplace.ok && noreplace.errno === "EEXIST" && fs.readFileSync(at("y"), "utf8") === "Y", noreplace);
  okRun("rename exchange", { op: "rename", from: relPath("f"), to: relPath("y"), flags: 2 });
  check("RENAME_EXCHANGE swaps", fs.readFileSync(at("f"), "utf8") === "Y" && fs.statSync(at("y")).size === 64 * 1024);

  const before = fs.statSync(at("y")).blocks;
  okRun("punch hole", { op: "fallocate", path: relPath("y"), mode: 0x03, offset: 0, length: 32 * 1024, mtimeNs: T + 1n });
  const punched = fs.statSync(at("y"), { bigint: true });
  check("fallocate PUNCH_HOLE|KEEP_SIZE frees blocks and keeps the size", Number(punched.blocks) < before && punched.size === 65536n && punched.mtimeNs === T + 1n, [before, punched.blocks]);
  check("the hole reads as zeros", fs.readFileSync(at("y")).subarray(0, 32 * 1024).every((b) => b === 0) && fs.readFileSync(at("y"))[40000] === 1);
  okRun("preallocate", { op: "fallocate", path: relPath("y"), mode: 0x01, offset: 65536, length: 65536, mtimeNs: T });
  check("fallocate KEEP_SIZE allocates past the end without growing it", fs.statSync(at("y")).size === 65536);

  okRun("fsync whole", { op: "fsync", path: null, dataOnly: false });

  okRun("create big", { op: "create", path: relPath("big"), mode: 0o644, uid: 0, gid: 0 });
  let full: ApplyResult = { ok: true };
  for (let i = 0; i < 8 && full.ok; i++) full = run({ op: "write", path: relPath("big"), offset: i * 1024 * 1024, data: new Uint8Array(1024 * 1024).fill(2), mtimeNs: T });
  check("a full disk gives an 'inconsistent' ENOSPC result", !full.ok && full.kind === "inconsistent" && full.errno === "ENOSPC", full);
} catch (e) {
  check("no exception", false, e instanceof Error ? e.stack ?? e.message : String(e));
} finally {
  a.close();
  spawnSync("umount", [root]);
  fs.rmSync(root, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify({ checks }) + "\n");
