/**
 * One resync pass at a time towards the peer. The core starts a resync
 * again once the link is back; the pass it started before may still be
 * running: the link counts as down when either of its two connections
 * drops, and the pass's own requests and ops travel on this node's client
 * connection, which may have stayed up (the peer's connection to us went).
 * Such a pass never notices the outage by itself. Left running beside the
 * new one, both send ops for the same files (one's creates fail EEXIST on
 * the other's), each failure is compared again, and the old pass's success
 * ends the new one's resync on both nodes under its feet.
 *
 * So: the link going down stops the pass under way (its signal), a new
 * turn begins only once the turn before has ended, and a turn that was
 * stopped is stale: what it finds is not reported (the core already
 * counted the resync as interrupted, and a newer turn may be running).
 */

export interface ResyncTurn {
  /** Aborted once the link went down or a newer turn began. */
  readonly signal: AbortSignal;
  /** This turn was stopped: it reports nothing more to the core or the peer. */
  readonly stale: boolean;
  /** The turn's work is over (always call it, in a finally). */
  end(): void;
}

export class ResyncTurns {
  private current: { readonly stop: AbortController; readonly over: Promise<void> } | null = null;

  /** Begins a turn once the one before (stopped now) has ended. */
  async begin(): Promise<ResyncTurn> {
    const before = this.current;
    before?.stop.abort();
    const stop = new AbortController();
    let end = (): void => {};
    const over = new Promise<void>((resolve) => (end = resolve));
    const mine = { stop, over };
    this.current = mine;
    await before?.over;
    return {
      signal: stop.signal,
      get stale() {
        return stop.signal.aborted;
      },
      end: () => {
        end();
        if (this.current === mine) this.current = null;
      },
    };
  }

  /** The link went down (or the driver closes): the turn under way stops at its next step. */
  interrupt(): void {
    this.current?.stop.abort();
  }

  /** Whether a turn has begun and not ended (waiting turns included). */
  get busy(): boolean {
    return this.current !== null;
  }
}
