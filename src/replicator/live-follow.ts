/**
 * What a live op (replicated to the SECOND as the service made it) must
 * also tell while the SECOND's copy is not in sync: the ALONE journal, whose
 * marks follow names (Journal.follow), and the resync pass under way.
 *
 * A pass looks at the names it planned from, and reads each file only while
 * its name still names the inode it opened (resync-file.ts); a file renamed
 * away meanwhile keeps, under its new name, any data the pass had still to
 * send. So a live rename during a pass has the pass compare the new name
 * again before it ends (Resync.markDirty): its revisit compares that file
 * by checksums, whatever the marks or the plan said.
 */

import type { Journal } from "./journal.ts";
import { RENAME_EXCHANGE, type MirrorOp } from "./ops.ts";
import type { Resync } from "./resync.ts";

/** Resolves once what the journal needed is durable (null: nothing); call it before the op is acknowledged. */
export function followLive(op: MirrorOp, journal: Journal | null, pass: Resync | null): Promise<void> | null {
  if (pass !== null && op.op === "rename") {
    pass.markDirty(op.to);
    // An exchange: the old name holds the other file now.
    if ((op.flags & RENAME_EXCHANGE) !== 0) pass.markDirty(op.from);
  }
  return journal === null ? null : journal.follow(op);
}
