/**
 * cluster.witness.ping: a round of pings to every witness address, one
 * round after another (at most one per `intervalMs`). A round says
 * "reachable" if any address answered. Every node pings all the time, and
 * fresh() asks for a round that starts now: a node that just lost its last
 * peer must decide on what the witness says after the loss, not before it.
 */
import { pingChecker } from "../../sys/checkers/ping.ts";
import type { Checker } from "../../sys/checkers/types.ts";

export interface WitnessRound {
  readonly reachable: boolean;
  readonly detail: string;
}

export interface WitnessPingerOptions {
  readonly addresses: readonly string[];
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  /** Injectable for tests; ICMP through `ping` by default. */
  readonly checkerFor?: (address: string) => Checker;
  readonly onRound: (r: WitnessRound) => void;
}

export const DEFAULT_WITNESS_INTERVAL_MS = 1000;

export class WitnessPinger {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private abort: AbortController | undefined;
  private stopped = true;
  private inFlight = false;
  /** Waiting for the next round to start (fresh() during a round). */
  private nextWaiters: ((r: WitnessRound | null) => void)[] = [];
  /** Waiting for the round under way, which started after they asked. */
  private roundWaiters: ((r: WitnessRound | null) => void)[] = [];
  private readonly checkers: Checker[];
  private lastRound: WitnessRound | null = null;

  constructor(private readonly o: WitnessPingerOptions) {
    const make = o.checkerFor ?? ((address: string) => pingChecker({ address, timeoutMs: o.timeoutMs ?? 1000 }));
    this.checkers = o.addresses.map(make);
  }

  get last(): WitnessRound | null {
    return this.lastRound;
  }

  start(): void {
    if (!this.stopped || this.checkers.length === 0) return;
    this.stopped = false;
    void this.round();
  }

  /**
   * The result of a round that starts now, or right after the one under
   * way (onRound sees it first). Null when the pinger is stopped meanwhile.
   */
  fresh(): Promise<WitnessRound | null> {
    if (this.stopped) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.nextWaiters.push(resolve);
      if (this.inFlight) return;
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      void this.round();
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.abort?.abort();
    for (const w of [...this.nextWaiters, ...this.roundWaiters]) w(null);
    this.nextWaiters = [];
    this.roundWaiters = [];
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    this.inFlight = true;
    this.roundWaiters = this.nextWaiters;
    this.nextWaiters = [];
    const startedAt = performance.now();
    const ac = new AbortController();
    this.abort = ac;
    const results = await Promise.all(this.checkers.map((c) => c.run(ac.signal)));
    this.inFlight = false;
    if (this.stopped) return;
    const answered = results.filter((r) => r.ok);
    const r: WitnessRound = answered.length > 0
      ? { reachable: true, detail: answered.map((x) => x.detail).join("; ") }
      : { reachable: false, detail: results.map((x) => x.detail).join("; ") };
    this.lastRound = r;
    try {
      this.o.onRound(r);
    } catch {
      // A faulty listener must not stop the pinging.
    }
    const waiters = this.roundWaiters;
    this.roundWaiters = [];
    for (const w of waiters) w(r);
    if (this.nextWaiters.length > 0) {
      void this.round();
      return;
    }
    const wait = Math.max(0, startedAt + (this.o.intervalMs ?? DEFAULT_WITNESS_INTERVAL_MS) - performance.now());
    this.timer = setTimeout(() => void this.round(), wait);
  }
}
