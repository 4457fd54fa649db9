/**
 * Refused logins and commands come in floods when someone guesses: each one
 * logged as a line would push the log's and the audit file's history out
 * (both rotate at a size) within minutes. Per kind of refusal and client
 * address, the first few in a minute are logged one by one; the rest of
 * that minute is counted and logged as one line when the minute ends, with
 * the count, so the record stays whole and the history stays.
 *
 * Pure: time comes in as `now` (ms); the caller arms the timer (nextDue).
 */

export const BURST_WINDOW_MS = 60_000;
/** Logged one by one in each window, per key. */
export const BURST_FIRST = 5;
/** Keys kept at once; refusals from further addresses share one key, so a spread of sources cannot grow memory. */
export const BURST_MAX_KEYS = 1000;
const MANY = "many other addresses";

interface Window {
  readonly start: number;
  logged: number;
  held: number;
}

export interface HeldRefusals {
  readonly key: string;
  /** How many were not logged one by one. */
  readonly held: number;
  readonly windowMs: number;
}

export class RefusalBursts {
  private readonly windows = new Map<string, Window>();

  /**
   * True: log this refusal as it is; false: it was counted, and flush()
   * reports it. Call flush(now) first, so a window that ended is reported
   * before the next one begins.
   */
  admit(key: string, now: number): boolean {
    // One place is kept for the shared key.
    if (!this.windows.has(key) && this.windows.size >= BURST_MAX_KEYS - 1) key = burstKey(splitBurstKey(key).event, MANY);
    const w = this.windows.get(key);
    if (w === undefined || now - w.start >= BURST_WINDOW_MS) {
      this.windows.set(key, { start: now, logged: 1, held: 0 });
      return true;
    }
    if (w.logged < BURST_FIRST) {
      w.logged++;
      return true;
    }
    w.held++;
    return false;
  }

  /** The windows that ended by `now` with refusals counted and not logged; those windows are forgotten. */
  flush(now: number): HeldRefusals[] {
    const out: HeldRefusals[] = [];
    for (const [key, w] of this.windows) {
      if (now - w.start < BURST_WINDOW_MS) continue;
      if (w.held > 0) out.push({ key, held: w.held, windowMs: BURST_WINDOW_MS });
      this.windows.delete(key);
    }
    return out;
  }

  /** When flush() next has something to do, or null when nothing is held. */
  nextDue(): number | null {
    let due: number | null = null;
    for (const w of this.windows.values()) if (w.held > 0 && (due === null || w.start + BURST_WINDOW_MS < due)) due = w.start + BURST_WINDOW_MS;
    return due;
  }
}

/** The key's parts, as `flush()` hands them back. */
export function burstKey(event: string, source: string): string {
  return `${event}\u0001${source}`;
}

export function splitBurstKey(key: string): { event: string; source: string } {
  const [event = "", rest = ""] = key.split("\u0001");
  return { event, source: rest };
}
