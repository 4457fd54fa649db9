/**
 * One read serving every caller that waits for one: the driver reads its
 * table's flow records to tell a peer its flows, to check the flows it leaves
 * to peers and to answer a peer's check, and these come in bursts (every
 * peer asks at once when a node gains buckets). Callers in the same turn of
 * the event loop share one read; a caller that comes while a read runs gets
 * the next one, which starts when that read ends, so no caller is handed a
 * reading older than its call.
 */
export class CoalescedRead<T> {
  private running: Promise<T> | undefined;
  private pending: Promise<T> | undefined;
  /** Reads started so far (for tests and logs). */
  reads = 0;

  constructor(private readonly read: () => Promise<T>) {}

  get(): Promise<T> {
    this.pending ??= this.next(this.running);
    return this.pending;
  }

  private async next(before: Promise<T> | undefined): Promise<T> {
    await before?.catch(() => undefined);
    // Let the rest of this turn's callers join.
    await new Promise<void>((r) => setTimeout(r, 0));
    this.pending = undefined;
    this.reads++;
    const p = this.read();
    this.running = p;
    try {
      return await p;
    } finally {
      if (this.running === p) this.running = undefined;
    }
  }
}
