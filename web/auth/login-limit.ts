/**
 * Failed logins per source address: after MAX_FAILURES within WINDOW the
 * address is refused until its oldest failure leaves the window. A success
 * does not wipe the record, so a client with one valid account cannot use it
 * to reset its guesses at others. The table is bounded; when it is full the
 * address that failed longest ago is forgotten.
 */
export const LOGIN_LIMITS = { maxFailures: 5, windowMs: 5 * 60_000, maxAddresses: 10_000 } as const;

export type LimitVerdict = { ok: true } | { ok: false; retryAfterMs: number };

export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly limits: { maxFailures: number; windowMs: number; maxAddresses: number } = LOGIN_LIMITS) {}

  /** May this address try now? */
  check(address: string, now: number): LimitVerdict {
    const times = this.recent(address, now);
    if (times.length < this.limits.maxFailures) return { ok: true };
    const oldest = times[times.length - this.limits.maxFailures] as number;
    return { ok: false, retryAfterMs: oldest + this.limits.windowMs - now };
  }

  failed(address: string, now: number): void {
    const times = this.recent(address, now);
    times.push(now);
    // Re-inserted last: the map's order is "failed longest ago" first.
    this.failures.delete(address);
    this.failures.set(address, times.slice(-this.limits.maxFailures));
    while (this.failures.size > this.limits.maxAddresses) this.failures.delete(this.failures.keys().next().value as string);
  }

  /** Addresses with failures on record (for tests and metrics). */
  get tracked(): number {
    return this.failures.size;
  }

  private recent(address: string, now: number): number[] {
    const times = (this.failures.get(address) ?? []).filter((t) => t > now - this.limits.windowMs);
    if (times.length === 0) this.failures.delete(address);
    return times;
  }
}
