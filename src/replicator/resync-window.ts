/**
 * The resync's ops in flight towards the other copy: each is handed to the
 * peer at once (its place in the ordered stream is taken during `send`), and
 * the window bounds how many bytes and ops are sent and not yet
 * acknowledged, so a slow copy slows the resync instead of filling memory.
 * Acknowledgements come back in send order (the stream is ordered), so
 * waiting for room means waiting for the oldest op.
 */

import type { MirrorOp } from "./ops.ts";
import type { ApplyResult, ResyncPeer } from "./resync-types.ts";

/** What an op costs in the window beyond its data (headers, the SECOND's work). */
const OP_OVERHEAD = 64;

export class SendWindow {
  private readonly inflight = new Set<Promise<void>>();
  /** The same promises in send order; settled ones are pruned lazily. */
  private order: Promise<void>[] = [];
  private bytes = 0;

  constructor(
    private readonly peer: ResyncPeer,
    private readonly maxBytes: number,
    private readonly maxOps: number,
    /** Told of every acknowledgement (failures included: a rejected apply becomes EIO). */
    private readonly onResult: (op: MirrorOp, r: ApplyResult) => void,
  ) {}

  /** Hands `op` to the peer now; `track` collects the promise of its acknowledgement. */
  send(op: MirrorOp, dataBytes: number, track?: Promise<void>[]): void {
    const cost = dataBytes + OP_OVERHEAD;
    const applied = this.peer.apply(op);
    this.bytes += cost;
    const done: Promise<void> = applied
      .then(
        (r) => this.onResult(op, r),
        (e: unknown) => this.onResult(op, { ok: false, errno: "EIO", message: (e as Error).message }),
      )
      .finally(() => {
        this.bytes -= cost;
        this.inflight.delete(done);
      });
    this.inflight.add(done);
    this.order.push(done);
    if (this.order.length > 4 * this.maxOps) this.prune();
    track?.push(done);
  }

  /** Waits until `dataBytes` more fit. */
  async room(dataBytes: number): Promise<void> {
    while ((this.bytes + dataBytes + OP_OVERHEAD > this.maxBytes || this.inflight.size >= this.maxOps) && this.inflight.size > 0) await this.oldest();
  }

  /** Waits until every op sent is acknowledged. */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
    this.prune();
  }

  private oldest(): Promise<void> {
    let i = 0;
    while (i < this.order.length && !this.inflight.has(this.order[i]!)) i++;
    if (i > 0) this.order = this.order.slice(i);
    return this.order[0] ?? Promise.resolve();
  }

  private prune(): void {
    this.order = this.order.filter((q) => this.inflight.has(q));
  }
}
