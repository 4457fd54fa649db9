/**
 * The delivery queue of the in-memory networks (heartbeat UDP and raw VRRP
 * twins): what a simulated socket sends waits here and reaches receivers on a
 * later turn (automatic mode) or when the test calls deliverAll() (manual
 * mode), so a receiver never runs inside its sender's call, as on a real host.
 */
export interface DeliveryQueue<Q> {
  enqueue(q: Q): void;
  /** Delivers what is queued now, in order; returns how many. */
  deliverAll(): number;
  /** Resolves once nothing is queued or scheduled. */
  idle(): Promise<void>;
  readonly pending: number;
}

export function createDeliveryQueue<Q>(manual: boolean, runOne: (q: Q) => void): DeliveryQueue<Q> {
  let queue: Q[] = [];
  let scheduled = false;
  let idleWaiters: (() => void)[] = [];

  const deliverAll = (): number => {
    // Only what is queued now: a receiver that answers every message would
    // otherwise never let this return.
    const batch = queue;
    queue = [];
    for (const q of batch) runOne(q);
    if (queue.length === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
    return batch.length;
  };

  return {
    enqueue(q) {
      queue.push(q);
      if (!manual && !scheduled) {
        scheduled = true;
        setTimeout(() => {
          scheduled = false;
          deliverAll();
        }, 0);
      }
    },
    deliverAll,
    idle() {
      if (queue.length === 0 && !scheduled) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    get pending() {
      return queue.length;
    },
  };
}
