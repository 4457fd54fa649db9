/**
 * Rule 9 of the mirror core (mirror.ts): what the ALONE journal can and
 * cannot do, as the operator must see it.
 *
 * Lost: the journal no longer holds the changes one by one (its file could
 * not grow on a full state dir and was marked lost in place, it was
 * unreadable at start, it outgrew its limits, or it cannot be written at
 * all). Nothing is lost by it, but the next resync compares every file
 * (size and mtime, then block checksums) instead of sending what the
 * journal named, which on a large tree is hours instead of seconds: status
 * says so, and why, until a completed resync empties the journal.
 *
 * Unopened: the journal could not be opened at start (a full state dir: an
 * empty journal needs its first bytes written, and nothing else on disk
 * would tell a restarted node that writes were made alone). Like an unsaved
 * copy record (rule 8), it holds the copy still and ends by itself: this
 * node does not take the module over (WAIT, its gate saying why) and
 * acknowledges no write alone, while its link and applier run (as a SECOND
 * it needs no journal); the journal is tried again every saveRetryMs, and
 * once it opens everything resumes, with a note. An unreadable journal that
 * does hold bytes is not this case: it already means "compare every file"
 * to any reader, so it opens as lost (see Journal.open).
 */
import { saveRetryMs } from "./unsaved.ts";
import type { JournalTrouble, MirrorState } from "./types.ts";

function every(s: MirrorState): string {
  const ms = saveRetryMs(s);
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** Status: why the next resync to the peer compares every file. */
export function journalLostText(s: MirrorState, l: JournalTrouble): string {
  return `${l.detail}: the next resync to ${s.peer} compares every file (size and mtime, then block checksums)`;
}

/** The gate while the journal is unopened. */
export function journalGate(s: MirrorState, u: JournalTrouble): string {
  return `cannot take over: the ALONE journal cannot be opened (${u.detail}); retrying every ${every(s)}`;
}

/** The note when the journal first fails to open. */
export function journalUnopenedNote(s: MirrorState, detail: string): string {
  return `the ALONE journal cannot be opened (${detail}): this copy is not served until it is; retrying every ${every(s)}`;
}

/** The note once it opened. */
export function journalOpenedNote(u: JournalTrouble, now: number): string {
  const secs = Math.max(0, Math.round((now - u.since) / 1000));
  return `the ALONE journal opened after ${secs} s of failures (last: ${u.detail}): this copy may serve again`;
}
