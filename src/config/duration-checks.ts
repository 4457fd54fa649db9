import { formatDuration, parseDuration } from "./duration.ts";
import type { Segment } from "./key-path.ts";
import type { Problem } from "./problem.ts";
import { isRec } from "./raw.ts";

/** Polling faster than this would spin a core; timeouts of 0 would fail every check. */
export const MIN_POLL_MS = 10;

/** interval and timeout of a polled check (tracks, checkers) must be at least MIN_POLL_MS. */
export function pollTimingProblems(entry: unknown, path: Segment[]): Problem[] {
  if (!isRec(entry)) return [];
  return (["interval", "timeout"] as const).flatMap((key) => {
    const raw = entry[key];
    const ms = typeof raw === "string" ? parseDuration(raw) : undefined;
    if (ms === undefined || ms >= MIN_POLL_MS) return [];
    return [{ path: [...path, key], at: "value" as const, found: JSON.stringify(raw), expected: `at least ${formatDuration(MIN_POLL_MS)}` }];
  });
}
