/**
 * How long a replication connection has heard nothing from its peer, not
 * counting the time this process itself did not run. The connection checks
 * its silence on a periodic tick; a tick that runs late (the event loop was
 * busy with a long callback, or the scheduler did not give this process a
 * CPU) was held by us, and what the peer sent meanwhile waits unread in our
 * socket: the runtime runs due timers before it reads the sockets, so the
 * late tick looks at a silence that is partly its own. The heartbeat's core
 * credits such lateness the same way (membership.ts, "Our own freezes").
 *
 * The rule:
 * - a tick due at `lastTick + tickMs` that runs more than `tickMs` after its
 *   due time credits the whole overdue span [due, now]: it is not counted
 *   as the peer's silence. Ordinary jitter (a few ms) is counted, so on a
 *   host that runs us on time a dead peer is found one deadtime after its
 *   last record, as before;
 * - a gap of more than `stallMs` between ticks is a stall of ours: everything
 *   before it is forgiven (what the peer sent waits in our socket);
 * - a record read resets the silence.
 * Only the time before the due time of each tick counts, so a peer that is
 * really gone is still found after one deadtime of ticks that ran on time;
 * a starved observer finds it later by its own lateness, as the heartbeat
 * does. (A PRIM does not need the link's verdict to go on alone: the
 * heartbeat's dead verdict drives that, see mirror rule 3.)
 */
export interface SilenceTiming {
  /** Period of the tick that judges the silence. */
  readonly tickMs: number;
  /** A gap between ticks longer than this is a stall of this process. */
  readonly stallMs: number;
}

export interface SilenceState {
  /** When the last tick ran (monotonic ms). */
  readonly lastTick: number;
  /** When the peer was last heard, or the silence last forgiven. */
  readonly lastHeard: number;
  /** Silence counted against the peer since lastHeard, up to lastTick. */
  readonly counted: number;
  /** Overdue time of our own ticks not counted since lastHeard (for the log line). */
  readonly credited: number;
}

export function silenceAt(now: number): SilenceState {
  return { lastTick: now, lastHeard: now, counted: 0, credited: 0 };
}

/** A record of the peer was read at `now`. */
export function heardAt(s: SilenceState, now: number): SilenceState {
  return { lastTick: s.lastTick, lastHeard: now, counted: 0, credited: 0 };
}

/** The silence was forgiven at `now` (reading resumed after a pause: the peer's records waited in our kernel). */
export function forgiveAt(s: SilenceState, now: number): SilenceState {
  return heardAt(s, now);
}

export interface TickOutcome {
  readonly state: SilenceState;
  /** The gap since the previous tick was a stall of ours (everything before it forgiven). */
  readonly stalled: boolean;
}

/** The tick ran at `now`: counts the silence since the previous tick, minus the tick's own lateness. */
export function tickAt(s: SilenceState, now: number, t: SilenceTiming): TickOutcome {
  const gap = now - s.lastTick;
  if (gap > t.stallMs) return { state: silenceAt(now), stalled: true };
  const from = Math.max(s.lastTick, s.lastHeard);
  const due = s.lastTick + t.tickMs;
  const late = now - due > t.tickMs;
  const until = late ? Math.max(due, from) : now;
  const counted = s.counted + Math.max(0, until - from);
  const credited = s.credited + (late ? now - until : 0);
  return { state: { lastTick: now, lastHeard: s.lastHeard, counted, credited }, stalled: false };
}
