/**
 * Rule 8 of the mirror core (mirror.ts): a copy record that could not be
 * written (a full state dir, an I/O error). Refusing to serve without a
 * durable record is what keeps a stale copy from ever being served; what
 * this file adds is that the refusal ends by itself: the record is written
 * again every `saveRetryMs`, and once it is on disk the copy serves again.
 *
 * Meanwhile the peer is told the copy the disk holds (heartbeat mark,
 * hello), not one a crash would take back, except an outdated or
 * inconsistent mark, which only says less: with it the peer's PRIM goes on
 * alone instead of holding its writes until this state dir has room, and
 * a restart here forgets nothing that matters, since a restarted copy is
 * compared with its peer's before it serves (rule 1). A node that leaves
 * PRIM/ALONE goes back to the record on disk, so a gen bumped for a
 * takeover that never served is forgotten rather than saved later (saved,
 * it would meet the peer's own next gen as a split brain).
 */
import { type CopyRecord, freshCopy } from "./copy.ts";
import type { MirrorState, UnsavedRecord } from "./types.ts";

export const SAVE_RETRY_MS = 1000;

export function saveRetryMs(s: MirrorState): number {
  return s.timers.saveRetryMs ?? SAVE_RETRY_MS;
}

function every(s: MirrorState): string {
  const ms = saveRetryMs(s);
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** What the disk holds while the record is unsaved (a node whose first record failed holds none: a new copy). */
export function copyOnDisk(u: UnsavedRecord): CopyRecord {
  return u.saved ?? freshCopy(u.since);
}

/** The gate while the record is unsaved; `running`: the module runs here (its writes are held meanwhile). */
export function unsavedGate(s: MirrorState, u: UnsavedRecord, running: boolean): string {
  return running
    ? `copy record not saved (${u.detail}): writes that need it are held until it is; retrying every ${every(s)}`
    : `cannot take over: copy record not saved (${u.detail}); retrying every ${every(s)}`;
}

/** The note when a record first fails to be saved. */
export function unsavedNote(s: MirrorState, detail: string, running: boolean): string {
  return `copy record not saved (${detail}): ${running ? "writes that need it are held" : "this copy is not served"} until it is; retrying every ${every(s)}`;
}

/** The note once the record is on disk again. */
export function savedNote(u: UnsavedRecord, now: number): string {
  const s = Math.max(0, Math.round((now - u.since) / 1000));
  return `copy record saved after ${s} s of failures (last: ${u.detail}): this copy may serve again`;
}
