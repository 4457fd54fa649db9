/**
 * A SECOND's copy that is behind (outdated, or being resynced) and an op of
 * the PRIM it could not apply.
 *
 * The PRIM replicates live ops to a copy that is not up to date only while
 * it resyncs it or is about to (mirror.ts: with the link up and the peer
 * not up to date, writes go alone unless a resync is under way), and every
 * such op it sees fail is marked in its journal and compared again by a
 * pass of that resync that starts after the failure came back (the
 * driver's resync turn): the resync carries the path's final state. So an
 * op that fails because this copy's names are not the PRIM's yet (the
 * name, or its folder, is what the resync has still to create, or holds
 * another kind of file) is expected, and no fault: said once at info,
 * then counted. A failure of another kind (the storage: EIO, ENOSPC...) is
 * a fault of this node whatever the copy's state: said at error, once per
 * link session, then counted too, so a flood cannot fill the log.
 * Reading an op the copy was never going to have (a copy up to date) is
 * mirror.ts's own case: that one outdates the copy.
 */
import type { CopyRecord } from "./copy.ts";
import type { BehindFailures } from "./types.ts";

/** Errno names of an op that met this copy's tree, not the PRIM's: a name or its folder missing, or of another kind. */
const NAMES_DIFFER = new Set(["ENOENT", "ENOTDIR", "EISDIR", "EEXIST", "ENOTEMPTY", "ELOOP", "EOUTSIDE"]);

/** Whether an op that failed with `errno` on a copy behind is what the resync in progress or coming covers. */
export function leftToResync(errno: string | undefined): boolean {
  return errno !== undefined && NAMES_DIFFER.has(errno);
}

export const NO_BEHIND_FAILURES: BehindFailures = { left: 0, faults: 0 };

function state(copy: CopyRecord): string {
  return copy.data === "inconsistent" ? "being resynced" : "outdated";
}

/** The info line of the first expected failure. */
export function leftNote(copy: CopyRecord, peer: string, detail: string): string {
  return `${detail}: this copy is ${state(copy)} and ${peer}'s resync carries this path (further ops it cannot apply before the resync ends are counted)`;
}

/** The error line of the first fault. */
export function faultNote(copy: CopyRecord, detail: string): string {
  return `${detail}: this copy's storage failed while it is ${state(copy)} (further failures before the resync ends are counted)`;
}

/** What the end of the resync says of them ("" when none). */
export function coveredNote(f: BehindFailures, peer: string): string {
  const n = f.left + f.faults;
  return n === 0 ? "" : `; ${n} of ${peer}'s operations could not be applied here before the resync carried them`;
}
