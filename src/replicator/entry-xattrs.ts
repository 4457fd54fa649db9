/**
 * An entry's xattrs read with libc (Node has no call for them), for the
 * manifests both sides of a resync compare: the SECOND's answers and the
 * PRIM's own scan read them the same way, so the plan and `vigil verify`
 * see what differs, POSIX ACLs and file capabilities included.
 */
import type { FsCalls } from "../sys/ffi/fs-calls.ts";
import type { ManifestEntry, Xattr } from "./resync-types.ts";

/** An entry whose xattrs alone exceed this is listed without them (they are then not compared). */
export const MAX_ENTRY_XATTR_BYTES = 512 * 1024;

/** `e` with the xattrs of the object at `abs` (a path whose last name is not followed); `e` as it is when they cannot be read. */
export function withXattrs(calls: FsCalls, e: ManifestEntry, abs: Uint8Array): ManifestEntry {
  try {
    const xattrs: Xattr[] = [];
    let total = 0;
    for (const name of calls.llistxattr(abs)) {
      const value = calls.lgetxattr(abs, name);
      total += name.length + value.length;
      if (total > MAX_ENTRY_XATTR_BYTES) return e;
      xattrs.push({ name, value });
    }
    xattrs.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
    return { ...e, xattrs };
  } catch {
    // Vanished meanwhile, or a file system without xattrs: not compared.
    return e;
  }
}
