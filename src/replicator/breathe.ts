/**
 * Lets the daemon's timers (heartbeats first) run during long work on its
 * main thread: a chain of awaits on promises already resolved never yields
 * to them, and a resync or verify of 100k small files is such a chain for
 * seconds, long enough for the peer to declare this node dead.
 */

/** The longest a long task keeps the thread before it lets timers run. */
export const BREATHE_MS = 25;

export class Breather {
  private at = performance.now();

  /** Resolves at once, or after one turn of the event loop when BREATHE_MS have passed since the last. */
  async breathe(): Promise<void> {
    if (performance.now() - this.at < BREATHE_MS) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.at = performance.now();
  }
}
