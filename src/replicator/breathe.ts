/**
 * Lets the daemon's timers (heartbeats first) run during long work on its
 * main thread: a chain of awaits on promises already resolved never yields
 * to them, and a resync or verify of 100k small files is such a chain for
 * seconds, long enough for the peer to declare this node dead.
 *
 * The time is the THREAD's, not one task's: every Breather of a thread
 * shares one turn. Several chains run at once (a resync lists eight scopes
 * at once, on both sides), and a yield of one chain alone does not free the
 * thread while the others go on; with a clock each, the chains woken by one
 * turn each took their own BREATHE_MS before the timers' next turn (eight
 * listings: 200 ms of the thread in one stretch, three times that on a
 * loaded host). With the one turn, all chains wait for the same yield, and
 * the first to find BREATHE_MS gone sends them all back to it.
 */

/** The longest a long task keeps the thread before it lets timers run. */
export const BREATHE_MS = 25;

/** One thread's share of time: when it last let timers run, and the yield under way. */
export class Turns {
  private at: number;
  private pending: Promise<void> | null = null;

  constructor(
    private readonly now: () => number = () => performance.now(),
    /** Resolves once the timers due have run (one turn of the event loop). */
    private readonly yieldTurn: () => Promise<void> = () => new Promise<void>((resolve) => setImmediate(resolve)),
    private readonly everyMs: number = BREATHE_MS,
  ) {
    this.at = now();
  }

  /** Resolves at once, or with the turn under way, or after a new one when everyMs have passed since the last. */
  breathe(): Promise<void> {
    if (this.pending !== null) return this.pending;
    if (this.now() - this.at < this.everyMs) return Promise.resolve();
    const turn = this.yieldTurn().then(() => {
      this.at = this.now();
      this.pending = null;
    });
    this.pending = turn;
    return turn;
  }
}

/** The turn of this process's main thread, shared by default. */
const mainThread = new Turns();

export class Breather {
  constructor(private readonly turns: Turns = mainThread) {}

  /** Resolves at once, or after a turn of the event loop when BREATHE_MS have passed since the thread's last. */
  breathe(): Promise<void> {
    return this.turns.breathe();
  }
}
