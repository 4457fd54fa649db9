/**
 * Who owns what the FUSE server creates and with which mode, and the
 * privileges an unprivileged write takes away: the server runs as root, so
 * every new object is handed to its caller explicitly, and the mode,
 * umask and ACL rules are applied here rather than by the kernel.
 */

import * as fs from "node:fs";
import type { FsCalls } from "../sys/ffi/fs-calls.ts";
import type { MirrorOp } from "./ops.ts";

const S_ISGID = 0o2000;

/** How to create a new object: its mode, and whether a default ACL of the parent decides it. */
export interface NewMode {
  readonly mode: number;
  readonly acl: boolean;
}

/** What ownership needs of the server: the folder beneath, and the FFI calls (null without bun:ffi). */
export interface OwnerContext {
  backing(rel: Uint8Array): Buffer;
  lstat(rel: Uint8Array): fs.BigIntStats;
  readonly ffi: FsCalls | null;
}

export class Ownership {
  /** Whether a directory (by nodeid) has a default ACL; set by newMode, dropped when its ACL xattrs change. */
  private readonly defaultAcl = new Map<bigint, boolean>();

  constructor(private readonly ctx: OwnerContext) {}

  /**
   * The mode to create a new object with. The kernel leaves the umask to us
   * (DONT_MASK with POSIX_ACL): a parent with a default ACL makes the file
   * system derive the mode from that ACL and ignore the umask; otherwise the
   * umask applies.
   */
  newMode(parent: bigint, parentRel: Uint8Array, mode: number, umask: number): NewMode {
    let acl = this.defaultAcl.get(parent);
    if (acl === undefined) {
      acl = false;
      if (this.ctx.ffi !== null) {
        try {
          this.ctx.ffi.lgetxattr(this.ctx.backing(parentRel), "system.posix_acl_default");
          acl = true;
        } catch {
          // ENODATA: no default ACL (or no ACL support).
        }
      }
      this.defaultAcl.set(parent, acl);
    }
    return { mode: acl ? mode & 0o7777 : mode & ~umask & 0o7777, acl };
  }

  /**
   * Hands a new object to the caller: owner uid, group of the caller or of a
   * setgid parent; then the exact mode (chown clears setuid/setgid bits, and
   * our own umask must not apply). Under a default ACL the mode the file
   * system derived is kept.
   */
  giveToCaller(h: { readonly uid: number; readonly gid: number }, parentRel: Uint8Array, path: Buffer, m: NewMode, isDir: boolean, isLink: boolean): fs.BigIntStats {
    // The parent's stat after the creation: its times travel in a utimes op.
    const parent = this.ctx.lstat(parentRel);
    const setgidParent = (Number(parent.mode) & S_ISGID) !== 0;
    const gid = setgidParent ? Number(parent.gid) : h.gid;
    const before = fs.lstatSync(path);
    const derived = before.mode & 0o7777;
    let mode = derived;
    if (before.uid !== h.uid || before.gid !== gid) {
      fs.lchownSync(path, h.uid, gid);
      if (!isLink) mode = fs.lstatSync(path).mode & 0o7777;
    }
    if (isLink) return parent;
    let perm = m.acl ? derived : m.mode;
    if (isDir && setgidParent) perm |= S_ISGID;
    if (mode !== perm) fs.chmodSync(path, perm);
    return parent;
  }

  /**
   * What the kernel leaves to us with HANDLE_KILLPRIV_V2 when an unprivileged
   * caller writes or truncates: clear setuid, setgid when group-executable,
   * and file capabilities. Pushes the ops that carry it; true if anything changed.
   */
  killPrivileges(fd: number | undefined, path: Buffer | null, rel: Uint8Array | null, ops: MirrorOp[]): boolean {
    const st = fd !== undefined ? fs.fstatSync(fd) : path !== null ? fs.lstatSync(path) : null;
    if (st === null || !st.isFile()) return false;
    let changed = false;
    const mode = st.mode & 0o7777;
    const kill = 0o4000 | ((mode & 0o010) !== 0 ? 0o2000 : 0);
    if ((mode & kill) !== 0) {
      if (fd !== undefined) fs.fchmodSync(fd, mode & ~kill);
      else if (path !== null) fs.chmodSync(path, mode & ~kill);
      if (rel !== null) ops.push({ op: "chmod", path: rel, mode: mode & ~kill });
      changed = true;
    }
    if (this.ctx.ffi !== null && rel !== null) {
      try {
        this.ctx.ffi.lremovexattr(this.ctx.backing(rel), "security.capability");
        ops.push({ op: "removexattr", path: rel, name: new TextEncoder().encode("security.capability") });
        changed = true;
      } catch {
        // ENODATA, the usual case: no capabilities to drop.
      }
    }
    return changed;
  }

  /** An access ACL also sets the mode's group bits (the mask): carry the mode that resulted. */
  aclChanged(nodeid: bigint, rel: Uint8Array, name: Uint8Array): MirrorOp[] {
    const text = Buffer.from(name).toString("latin1");
    if (text === "system.posix_acl_default") this.defaultAcl.delete(nodeid);
    if (text !== "system.posix_acl_access") return [];
    return [{ op: "chmod", path: rel, mode: Number(this.ctx.lstat(rel).mode) & 0o7777 }];
  }

  /** The kernel forgot a node: its cached answers go. */
  forgotten(nodeid: bigint): void {
    this.defaultAcl.delete(nodeid);
  }
}
