/**
 * What the PRIM says of a resync that fails and is tried again. It tries
 * again every resyncRetryMs for as long as the link is up and the peer is
 * not in sync; a peer that refuses for a while (its disk hung, its copy
 * record unsaved) had the try's start, the peer's refusal and the failure
 * logged every 10 s for hours, with nothing new in them. So: a failure
 * is said once, with its reason (the peer's, when it refused); the tries
 * after it are quiet (their start too) while they fail for that same
 * reason; a different reason is said, and so is the try the peer finally
 * accepts, with how many failed before it. `vigil status` shows the link
 * and the peer's data throughout.
 */
import type { MirrorState } from "./types.ts";

/** The failure last said, and the tries since it began failing. */
export type ResyncRetrying = NonNullable<MirrorState["resyncRetrying"]>;

/** After a failed try with reason `detail`: what to remember, and whether to say it (a reason not said last time). */
export function resyncFailed(r: ResyncRetrying | null, detail: string, now: number): { readonly retrying: ResyncRetrying; readonly say: boolean } {
  if (r !== null && r.detail === detail) return { retrying: { ...r, tries: r.tries + 1 }, say: false };
  return { retrying: { detail, tries: (r?.tries ?? 0) + 1, since: r?.since ?? now }, say: true };
}

/** The failure's line: said once, the tries after it are quiet. */
export function resyncFailedNote(peer: string, detail: string, retryMs: number): string {
  return `resync to ${peer} failed: ${detail}; tried again every ${Math.round(retryMs / 1000)} s, said again only when the reason changes or it begins`;
}

/** Whether a try's start is said: not while tries fail quietly. */
export function sayResyncStart(r: ResyncRetrying | null): boolean {
  return r === null;
}

/** The line once the peer accepts a try after failed ones (null: none failed). */
export function resyncBegunNote(r: ResyncRetrying | null, peer: string, now: number): string | null {
  if (r === null) return null;
  const s = Math.round((now - r.since) / 1000);
  return `resync to ${peer} begins after ${r.tries} failed ${r.tries === 1 ? "try" : "tries"} over ${s} s (the last: ${r.detail})`;
}
