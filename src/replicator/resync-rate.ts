/**
 * The optional bandwidth cap of a resync: a token bucket holding at most one
 * second of bytes. Clock and sleep come from the caller (tests use fakes).
 */

export interface Clock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export class RateLimit {
  private tokens: number;
  private last: number;

  constructor(private readonly bytesPerSec: number, private readonly clock: Clock) {
    this.tokens = bytesPerSec;
    this.last = clock.now();
  }

  /** Waits until `bytes` may be sent. */
  async take(bytes: number): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      this.tokens = Math.min(this.bytesPerSec, this.tokens + ((now - this.last) * this.bytesPerSec) / 1000);
      this.last = now;
      // A send larger than the bucket goes once the bucket is full.
      if (this.tokens >= Math.min(bytes, this.bytesPerSec)) {
        this.tokens -= bytes;
        return;
      }
      await this.clock.sleep(Math.max(1, ((Math.min(bytes, this.bytesPerSec) - this.tokens) * 1000) / this.bytesPerSec));
    }
  }
}
