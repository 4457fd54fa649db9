/** Polls `cond` until it holds; throws naming `what` after `ms` (a hang, not a speed check). */
export async function until(cond: () => boolean, what: string, ms = 10_000, pollMs = 5): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
