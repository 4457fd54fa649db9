/**
 * A VRRP instance's link check riding the heartbeat's rounds. The check
 * (two small sysfs reads) ran on a timer of its own every linkPollMs: two
 * more wake-ups a second of the main thread on an idle VRRP node whose
 * heartbeat already wakes it ten times a second. Riding, the check runs
 * after the first round that comes within half an interval of its due
 * time, so it still comes every linkPollMs on average (within half a round
 * either way), and a link going down is seen as soon as before. Its own
 * timer stays armed, pushed back at every check, and fires only when no
 * round came (a main thread held up): linkPollMs plus two rounds after the
 * last check.
 *
 * While rounds are further apart than half linkPollMs (`wan`), or do not run
 * (heartbeats off or restarting), they would delay the check: the own timer
 * then fires every linkPollMs, as the poll did before.
 */

export interface LinkRide {
  /** After each heartbeat round. */
  round(): void;
  stop(): void;
}

export interface LinkRideOptions {
  readonly everyMs: number;
  /** The heartbeat's interval now; undefined while no rounds run. */
  readonly roundIntervalMs: () => number | undefined;
  /** Monotonic ms. */
  readonly clock: () => number;
  /** The check; a new one does not start while one runs. */
  readonly job: () => Promise<void>;
}

/** The rounds' interval when they can carry a check every `everyMs`, else undefined. */
function ridable(o: LinkRideOptions): number | undefined {
  const round = o.roundIntervalMs();
  return round !== undefined && round > 0 && round <= o.everyMs / 2 ? round : undefined;
}

export function linkRide(o: LinkRideOptions): LinkRide {
  let nextAt = o.clock() + o.everyMs;
  let busy = false;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (): void => {
    if (stopped) return;
    if (timer !== undefined) clearTimeout(timer);
    const round = ridable(o);
    timer = setTimeout(run, round === undefined ? o.everyMs : o.everyMs + 2 * round);
  };
  const run = (): void => {
    if (stopped) return;
    // One check at a time; the timer stays armed meanwhile, so a check that ends with no round to come still has one.
    if (busy) return arm();
    busy = true;
    nextAt = o.clock() + o.everyMs;
    arm();
    void o.job().catch(() => undefined).finally(() => {
      busy = false;
    });
  };
  arm();
  return {
    round() {
      const round = ridable(o);
      if (round !== undefined && o.clock() >= nextAt - round / 2) run();
    },
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
