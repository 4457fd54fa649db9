/**
 * Checker policy: fall/rise counting of raw results, and what a checker that
 * turns failing makes the module do (restart counting and escalation).
 *
 * - A checker is healthy until `fall` failures in a row; then failing until
 *   `rise` successes in a row. Not reported yet counts as healthy (a booting
 *   node must not sit in WAIT until every checker has run once).
 * - restart: each time the checker turns failing, restarts done within the
 *   last `windowMs` are counted; below `restarts`, restart again; otherwise
 *   do `then`. Restarts older than the window are forgotten, so a service
 *   that fails once a day is restarted every time.
 * - App checkers (every policy but wait) watch the running module: their
 *   counts start afresh whenever it (re)starts here.
 */
import type { CheckerTrack, ResolvedCheckerConfig } from "./types.ts";

export type { CheckerTrack } from "./types.ts";


export type CheckerVerdict = "failing" | "healthy" | null;

/** What a checker that just turned failing asks for. */
export type Escalation =
  | { readonly kind: "restart"; readonly count: number; readonly of: number }
  | { readonly kind: "failover"; readonly afterRestarts: number }
  | { readonly kind: "stop"; readonly afterRestarts: number }
  | { readonly kind: "ignore" }
  | { readonly kind: "wait" };

export function initCheckerTracks(configs: readonly ResolvedCheckerConfig[]): CheckerTrack[] {
  return configs.map((c) => ({ name: c.name, failing: false, streak: 0, detail: "not run yet", restarts: [] }));
}

export function isAppChecker(c: ResolvedCheckerConfig): boolean {
  return c.onFail !== "wait";
}

/** Counts one result; `verdict` says whether it flipped the checker. */
export function countResult(t: CheckerTrack, c: ResolvedCheckerConfig, ok: boolean, detail: string): { track: CheckerTrack; verdict: CheckerVerdict } {
  if (!t.failing) {
    if (ok) return { track: { ...t, streak: 0, detail }, verdict: null };
    const streak = t.streak + 1;
    if (streak >= c.fall) return { track: { ...t, failing: true, streak: 0, detail }, verdict: "failing" };
    return { track: { ...t, streak, detail }, verdict: null };
  }
  if (!ok) return { track: { ...t, streak: 0, detail }, verdict: null };
  const streak = t.streak + 1;
  if (streak >= c.rise) return { track: { ...t, failing: false, streak: 0, detail }, verdict: "healthy" };
  return { track: { ...t, streak, detail }, verdict: null };
}

/** Forgets restarts that left the window. */
export function pruneRestarts(t: CheckerTrack, c: ResolvedCheckerConfig, now: number): CheckerTrack {
  const kept = t.restarts.filter((at) => now - at < c.windowMs);
  return kept.length === t.restarts.length ? t : { ...t, restarts: kept };
}

/** The policy's answer to a checker that just turned failing; a restart is recorded in the track. */
export function escalate(t: CheckerTrack, c: ResolvedCheckerConfig, now: number): { track: CheckerTrack; step: Escalation } {
  switch (c.onFail) {
    case "ignore":
      return { track: t, step: { kind: "ignore" } };
    case "wait":
      return { track: t, step: { kind: "wait" } };
    case "stop":
      return { track: t, step: { kind: "stop", afterRestarts: 0 } };
    case "failover":
      return { track: t, step: { kind: "failover", afterRestarts: 0 } };
    case "restart": {
      const pruned = pruneRestarts(t, c, now);
      if (pruned.restarts.length < c.restarts) {
        const restarts = [...pruned.restarts, now];
        return { track: { ...pruned, restarts }, step: { kind: "restart", count: restarts.length, of: c.restarts } };
      }
      const afterRestarts = pruned.restarts.length;
      return { track: pruned, step: c.then === "stop" ? { kind: "stop", afterRestarts } : { kind: "failover", afterRestarts } };
    }
  }
}

/** Counts start afresh (the module was just (re)started); restart history is kept. */
export function freshCounts(t: CheckerTrack): CheckerTrack {
  return t.failing || t.streak !== 0 ? { ...t, failing: false, streak: 0 } : t;
}

/** `start` clears everything, restart history included. */
export function clearedTrack(t: CheckerTrack): CheckerTrack {
  return { ...t, failing: false, streak: 0, restarts: [] };
}
