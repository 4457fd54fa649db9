/**
 * Ops that would leave the copy through a symlink planted in it, for the
 * applier's tests by path (apply.test.ts, under Node) and by directory fd
 * (apply-at-child.ts, under bun). The copy holds `esc` -> the outside folder
 * and `secretlink` -> the outside folder's file `secret`; each op must be
 * refused (EOUTSIDE) and leave the outside folder as it was.
 */
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";

const T1 = 1_700_000_000_123_456_789n;

export const ESCAPES: readonly [string, MirrorOp][] = [
  ["create through a symlinked parent", { op: "create", path: relPath("esc/new"), mode: 0o644, uid: 0, gid: 0 }],
  ["write through a symlinked parent", { op: "write", path: relPath("esc/secret"), offset: 0, data: relPath("PWNED"), mtimeNs: T1 }],
  ["truncate through a symlinked parent", { op: "truncate", path: relPath("esc/secret"), size: 0, mtimeNs: T1 }],
  ["mkdir through a symlinked parent", { op: "mkdir", path: relPath("esc/d"), mode: 0o755, uid: 0, gid: 0 }],
  ["symlink through a symlinked parent", { op: "symlink", path: relPath("esc/l"), target: relPath("/"), uid: 0, gid: 0 }],
  ["unlink through a symlinked parent", { op: "unlink", path: relPath("esc/secret") }],
  ["link from outside", { op: "link", existing: relPath("esc/secret"), path: relPath("stolen") }],
  ["link to outside", { op: "link", existing: relPath("secretlink"), path: relPath("esc/planted") }],
  ["rename out", { op: "rename", from: relPath("secretlink"), to: relPath("esc/moved"), flags: 0 }],
  ["rename in", { op: "rename", from: relPath("esc/secret"), to: relPath("mine"), flags: 0 }],
  ["chmod through a symlinked parent", { op: "chmod", path: relPath("esc/secret"), mode: 0o777 }],
  ["chown through a symlinked parent", { op: "chown", path: relPath("esc/secret"), uid: 1, gid: 1 }],
  ["utimes through a symlinked parent", { op: "utimes", path: relPath("esc/secret"), atimeNs: 0n, mtimeNs: 0n }],
  ["fsync through a symlinked parent", { op: "fsync", path: relPath("esc/secret"), dataOnly: false }],
  ["setxattr through a symlinked parent", { op: "setxattr", path: relPath("esc/secret"), name: relPath("user.pwned"), value: relPath("1"), flags: 0 }],
  ["removexattr through a symlinked parent", { op: "removexattr", path: relPath("esc/secret"), name: relPath("user.keep") }],
  ["mknod through a symlinked parent", { op: "mknod", path: relPath("esc/fifo"), mode: 0o010644, rdev: 0, uid: 0, gid: 0 }],
  ["fallocate through a symlinked parent", { op: "fallocate", path: relPath("esc/secret"), mode: 0, offset: 0, length: 1 << 20, mtimeNs: T1 }],
  ["rmdir through a symlinked parent", { op: "rmdir", path: relPath("esc/sub") }],
  ["a deeper symlinked parent", { op: "create", path: relPath("esc/sub/new"), mode: 0o644, uid: 0, gid: 0 }],
  ["times folded into an op, through a symlinked parent", { op: "mkdir", path: relPath("inside"), mode: 0o755, uid: 0, gid: 0, times: [{ path: relPath("esc/secret"), atimeNs: 0n, mtimeNs: 0n }] }],
];

/** What a refusal's message says of the symlink. */
export const ESCAPE_MESSAGE = /esc: is a symlink; the copy is never left through a symlink/;
