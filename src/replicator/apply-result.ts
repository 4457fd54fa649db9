/**
 * What applying one MirrorOp on the SECOND gave. The SECOND acknowledges
 * every operation with one of these; any failure means the SECOND's copy no
 * longer matches the PRIM's, and `kind` says how bad that is:
 *
 * - "refused": nothing was changed (a path that would leave the folder, an
 *   operation this copy cannot represent). The copy only misses this op.
 * - "failed": the system call failed cleanly (ENOENT, EEXIST, ENOTEMPTY...):
 *   the copies had already diverged before this op.
 * - "inconsistent": a storage failure (EIO, ENOSPC, EDQUOT, EROFS...) that may
 *   have left the object half-changed (a short write, a torn file).
 * - "unsupported": this runtime cannot carry the op out (no FFI under Node
 *   for xattrs, mknod, renameat2 flags, fallocate); nothing was changed.
 *
 * The mirror policy marks the SECOND outdated on every one of them; the kind
 * tells the operator why, and "inconsistent" tells resync not to trust the
 * sizes and times of what the op touched. A result is also a resync-types
 * ApplyResult (ok, errno, message), so the resync takes it unchanged.
 */
export type ApplyFailureKind = "refused" | "failed" | "inconsistent" | "unsupported";

export const APPLY_FAILURE_KINDS: readonly ApplyFailureKind[] = ["refused", "failed", "inconsistent", "unsupported"];

export type ApplyResult =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly kind: ApplyFailureKind;
      /** errno name ("ENOSPC"), or a short code of ours ("EESCAPE", "ENOFFI"). */
      readonly errno: string;
      /** For the operator: the op, the path, the reason. */
      readonly message: string;
    };

export const APPLIED: ApplyResult = { ok: true };

/** Longest errno name and detail the wire carries. */
export const MAX_ERRNO_NAME_BYTES = 32;
export const MAX_MESSAGE_BYTES = 1024;
