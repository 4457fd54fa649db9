/** Polling with an overall deadline: for conditions, never for measuring time. */

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Describes the condition in the timeout error. */
  what?: string;
}

export class WaitTimeout extends Error {
  override name = "WaitTimeout";
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with the first truthy value of `probe`, or rejects with WaitTimeout naming `what`. */
export async function waitUntil<T>(
  probe: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 50, what = "condition" }: WaitOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() >= deadline) throw new WaitTimeout(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
