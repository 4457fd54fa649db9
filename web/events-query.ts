export type AfterQuery = { ok: true; after: number } | { ok: false; error: string };

/**
 * Reads `after` from /api/events?after=<seq>. Absent means "from the start";
 * anything but one non-negative integer is refused, so a client bug shows up
 * as a clear 400 instead of a silently empty list.
 */
export function parseAfter(values: readonly string[] | undefined): AfterQuery {
  if (values === undefined || values.length === 0) return { ok: true, after: 0 };
  if (values.length > 1) {
    return { ok: false, error: `query parameter "after" is given ${values.length} times; expected it at most once` };
  }
  const raw = values[0] ?? "";
  const after = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(after)) {
    return {
      ok: false,
      error: `query parameter "after" is ${JSON.stringify(raw.slice(0, 40))}; expected a non-negative integer event sequence number`,
    };
  }
  return { ok: true, after };
}
