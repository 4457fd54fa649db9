/**
 * Start-up's steps in step with the heartbeat. Once heartbeats run, every
 * later start-up step (an engine's start, the console's certificate, the
 * memory trim's full collection) is synchronous work that holds the event
 * loop, and on a loaded host one such step takes hundreds of milliseconds.
 * Run back to back, they kept the heartbeat timer from firing for up to
 * 575 ms: at the `lan` preset (deadtime 500 ms) a peer could call a node
 * dead while it was starting.
 *
 * Before each step, the pace waits for the next heartbeat round unless one
 * went out a moment ago, so a step starts with (nearly) a whole interval
 * before the next round is due, and the rounds between the steps go out on
 * time. The longest silence is then the longest single step, not their sum.
 * The wait is bounded: with slow timers (`wan`) a silence of a few hundred
 * milliseconds costs nothing, and start-up should not wait a second per step.
 */

/** What the pace needs of the heartbeat (SupervisedHeartbeat). */
export interface PacedRounds {
  afterRound(fn: () => void): void;
  running(): boolean;
}

export interface StartupPace {
  /** Resolves when the next start-up step may run. */
  beforeStep(): Promise<void>;
}

export interface PaceOptions {
  /** A round this recent lets a step run at once (ms). */
  readonly freshMs: number;
  /** The longest wait for a round (ms). */
  readonly limitMs: number;
  readonly now?: () => number;
}

/** The pace for a heartbeat interval: a step runs within the first quarter of an interval, waits at most 250 ms. */
export function paceOptionsFor(intervalMs: number): PaceOptions {
  return { freshMs: Math.max(1, Math.floor(intervalMs / 4)), limitMs: Math.min(intervalMs + 10, 250) };
}

export function startupPace(rounds: PacedRounds, o: PaceOptions): StartupPace {
  const now = o.now ?? (() => performance.now());
  let lastRoundAt = -Infinity;
  let waiting: (() => void)[] = [];
  rounds.afterRound(() => {
    lastRoundAt = now();
    // This runs after every round for the daemon's life: no new array unless a step waits.
    if (waiting.length === 0) return;
    const go = waiting;
    waiting = [];
    // After the round's own work, not inside it: the step must not delay the round's other riders.
    for (const w of go) setImmediate(w);
  });
  return {
    beforeStep() {
      if (!rounds.running() || now() - lastRoundAt < o.freshMs) return Promise.resolve();
      return new Promise<void>((resolve) => {
        let done = false;
        const once = (): void => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(once, o.limitMs);
        waiting.push(once);
      });
    },
  };
}
