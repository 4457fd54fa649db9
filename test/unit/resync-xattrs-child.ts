/**
 * The resync and verify with libc's xattr calls (bun:ffi), run by
 * resync-xattrs.test.ts under bun: real folders whose files differ only in
 * xattrs (a user.* one and a POSIX ACL), and one file only in the source.
 * Prints one JSON line: { checks: [{ name, pass, detail }] }.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadFsCalls } from "../../src/sys/ffi/fs-calls.ts";
import { Resync } from "../../src/replicator/resync.ts";
import { LocalResyncPeer } from "../../src/replicator/resync-local-peer.ts";
import { verifyTrees } from "../../src/replicator/verify.ts";
import { DirtyTracker } from "../../src/replicator/journal-dirty.ts";
import { recordsFor } from "../../src/replicator/journal.ts";
import { relPath, type MirrorOp } from "../../src/replicator/ops.ts";

const checks: { name: string; pass: boolean; detail: string }[] = [];
const check = (name: string, pass: boolean, detail: unknown = ""): void => {
  checks.push({ name, pass, detail: typeof detail === "string" ? detail : JSON.stringify(detail, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v)) });
};

const calls = await loadFsCalls("resync xattrs test");
const top = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-resync-xattrs-"));
const src = path.join(top, "src");
const dst = path.join(top, "dst");
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A POSIX ACL as the kernel's xattr holds it: owner rw, user `uid` r, group r, mask r, other none. */
function acl(uid: number): Uint8Array {
  const entries: [number, number, number][] = [[0x01, 6, 0xffffffff], [0x02, 4, uid], [0x04, 4, 0xffffffff], [0x10, 4, 0xffffffff], [0x20, 0, 0xffffffff]];
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    b.writeUInt16LE(tag, 4 + 8 * i);
    b.writeUInt16LE(perm, 6 + 8 * i);
    b.writeUInt32LE(id, 8 + 8 * i);
  });
  return b;
}
const ACL = "system.posix_acl_access";
const CAP = "security.capability";
/** vfs_cap_data revision 2, effective, permitted CAP_NET_BIND_SERVICE. */
const capNetBind = (() => {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(0x02000001, 0);
  b.writeUInt32LE(1 << 10, 4);
  return b;
})();
const set = (p: string, name: string, value: Uint8Array): void => calls.lsetxattr(p, name, value, 0);
const xattrsOf = (p: string): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const n of calls.llistxattr(p)) out[Buffer.from(n).toString()] = Buffer.from(calls.lgetxattr(p, n)).toString("hex");
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
};

try {
  const t = new Date(1_700_000_000_000);
  for (const root of [src, dst]) {
    fs.mkdirSync(path.join(root, "d"), { recursive: true });
    for (const f of ["none-there", "other-there", "extra-there"]) {
      fs.writeFileSync(path.join(root, f), `content of ${f}\n`, { mode: 0o640 });
      fs.utimesSync(path.join(root, f), t, t);
    }
  }
  fs.writeFileSync(path.join(src, "d", "new"), "a new file\n", { mode: 0o640 });
  // A file capability on both sides, which the target's copy loses when the resync writes its data or chowns it.
  for (const root of [src, dst]) {
    fs.writeFileSync(path.join(root, "cap-written"), root === src ? "longer content\n" : "content\n", { mode: 0o750 });
    fs.writeFileSync(path.join(root, "cap-chowned"), "content\n", { mode: 0o750 });
    fs.chownSync(path.join(root, "cap-chowned"), root === src ? 0 : 1234, 0);
    for (const f of ["cap-written", "cap-chowned"]) {
      set(path.join(root, f), CAP, capNetBind);
      fs.utimesSync(path.join(root, f), t, t);
    }
  }
  // The source's xattrs: a user one and an ACL on each, the target without / with others / with one more.
  for (const f of ["none-there", "other-there", "extra-there", "d/new"]) {
    set(path.join(src, f), "user.vigil.tag", enc(`tag of ${f}`));
    set(path.join(src, f), ACL, acl(1234));
  }
  set(path.join(dst, "other-there"), "user.vigil.tag", enc("another value"));
  set(path.join(dst, "other-there"), ACL, acl(4321));
  set(path.join(dst, "extra-there"), "user.vigil.tag", enc("tag of extra-there"));
  set(path.join(dst, "extra-there"), ACL, acl(1234));
  set(path.join(dst, "extra-there"), "user.vigil.extra", enc("only here"));
  for (const root of [src, dst]) for (const f of ["none-there", "other-there", "extra-there"]) fs.chmodSync(path.join(root, f), 0o640);
  for (const root of [src, dst]) fs.utimesSync(path.join(root, "d"), t, t);
  fs.utimesSync(path.join(src, "d", "new"), t, t);

  const before = await verifyTrees(src, new LocalResyncPeer(dst, calls));
  const kinds = (r: typeof before): string[] => r.differences.map((d) => `${d.path}:${d.kind}`).sort();
  check("verify lists the xattr differences", JSON.stringify(kinds(before).filter((k) => k.endsWith(":xattrs"))) === JSON.stringify(["extra-there:xattrs", "none-there:xattrs", "other-there:xattrs"]), before.differences);

  const r = await new Resync({ root: src, peer: new LocalResyncPeer(dst, calls), xattrs: calls }).run();
  check("the resync completes", r.completed && r.failures.length === 0, { error: r.error, failures: r.failures });
  for (const f of ["none-there", "other-there", "extra-there", "d/new"]) {
    const a = xattrsOf(path.join(src, f));
    const b = xattrsOf(path.join(dst, f));
    check(`${f}: the same xattrs after the resync`, JSON.stringify(a) === JSON.stringify(b) && Object.keys(a).length === 2, { src: a, dst: b });
  }
  for (const f of ["cap-written", "cap-chowned"]) {
    const b = xattrsOf(path.join(dst, f));
    check(`${f}: the target's copy keeps its capability`, b[CAP] === capNetBind.toString("hex"), { dst: b, src: xattrsOf(path.join(src, f)) });
  }
  const after = await verifyTrees(src, new LocalResyncPeer(dst, calls));
  check("verify finds nothing after the resync", after.differences.length === 0, after.differences);

  // While the copy is away: one xattr set, one removed, each journaled as the PRIM's journal records the op.
  const tracker = new DirtyTracker();
  calls.lsetxattr(path.join(src, "none-there"), "user.vigil.tag", enc("changed while alone"), 0);
  calls.lremovexattr(path.join(src, "d/new"), "user.vigil.tag");
  const ops: MirrorOp[] = [
    { op: "setxattr", path: relPath("none-there"), name: enc("user.vigil.tag"), value: enc("changed while alone"), flags: 0 },
    { op: "removexattr", path: relPath("d/new"), name: enc("user.vigil.tag") },
  ];
  for (const op of ops) for (const rec of recordsFor(op)) tracker.apply(rec);
  const j = await new Resync({ root: src, peer: new LocalResyncPeer(dst, calls), dirty: tracker.snapshot(), xattrs: calls }).run();
  check("the journal resync carries xattrs changed while alone", j.completed && j.progress.mode === "journal" && JSON.stringify(xattrsOf(path.join(dst, "none-there"))) === JSON.stringify(xattrsOf(path.join(src, "none-there"))) && JSON.stringify(xattrsOf(path.join(dst, "d/new"))) === JSON.stringify(xattrsOf(path.join(src, "d/new"))), { mode: j.progress.mode, error: j.error, dst: [xattrsOf(path.join(dst, "none-there")), xattrsOf(path.join(dst, "d/new"))] });
} catch (e) {
  check("no exception", false, e instanceof Error ? e.stack ?? e.message : String(e));
} finally {
  fs.rmSync(top, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify({ checks }) + "\n");
