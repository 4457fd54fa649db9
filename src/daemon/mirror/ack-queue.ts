/**
 * The PRIM's intercepted operations waiting for their acknowledgement, in
 * the order the folder completed them. An application's call returns when
 * its op is acknowledged, and never before an older op: an fsync must not
 * return while a write before it is still missing on the SECOND. So an op
 * is "settled" by whatever covers it (the SECOND applied it, the ALONE
 * journal holds it, a resync sent it), and settled ops are released from
 * the front only.
 *
 * Mode async: an op handed to the link (`sent`) may be acknowledged to the
 * application before the SECOND applied it, as long as the bytes so
 * acknowledged ahead stay within `aheadLimitBytes`; past it, calls wait for
 * the SECOND as in mode sync. Such an op stays in the queue, unsettled,
 * until the SECOND applied it: it is still "waiting" for the journal and
 * the resync, and counts as never acknowledged by the peer when the folder
 * is unmounted. The budget is the module's (`async_queue`: what this node
 * may acknowledge ahead of the other one), shared by the queues of its
 * folders (AheadBudget), so a module of several folders is never further
 * ahead than one of one folder.
 */
import type { MirrorOp } from "../../replicator/ops.ts";

/** Mode async's budget in bytes, shared by the queues of one module's folders. */
export class AheadBudget {
  /** Bytes acknowledged ahead of the SECOND, over every queue that shares the budget. */
  used = 0;
  private readonly queues = new Set<AckQueue>();

  constructor(readonly limitBytes: number) {}

  join(q: AckQueue): void {
    this.queues.add(q);
  }

  /** `from` freed bytes: calls waiting in the other queues may go now. */
  freed(from: AckQueue): void {
    for (const q of this.queues) if (q !== from) q.retry();
  }
}

/** Bytes an op stands for in the async budget: its data, plus a little for the rest. */
function opBytes(op: MirrorOp): number {
  return 64 + (op.op === "write" ? op.data.length : op.op === "setxattr" ? op.value.length : 0);
}

interface Entry {
  readonly op: MirrorOp;
  settled: boolean;
  /** Sent on the link and not acknowledged, or never sent: the SECOND may lack it. */
  missing: boolean;
  /** Mode async: handed to the link, so it may be acknowledged ahead of the SECOND. */
  sent: boolean;
  /** The application's call has returned. */
  resolved: boolean;
  readonly bytes: number;
  /** When the application's call returned (monotonic ms), for the lag in seconds. */
  resolvedAt: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

export class AckQueue {
  /** entries[head..] are live; the slots before were settled and released, and emptied (their data goes). */
  private entries: (Entry | undefined)[] = [];
  private head = 0;
  /** Calls return in order, so the resolved entries are a prefix: entries[head..resolvedTo). */
  private resolvedTo = 0;
  /** Bytes of resolved, unsettled entries: acknowledged ahead of the SECOND. */
  private ahead = 0;

  private readonly budget: AheadBudget | null;

  /** `budget`: mode async's, in bytes or shared with other queues (AheadBudget); null: mode sync. */
  constructor(budget: number | AheadBudget | null = null, private readonly clock: () => number = () => performance.now()) {
    this.budget = typeof budget === "number" ? new AheadBudget(budget) : budget;
    this.budget?.join(this);
  }

  private live(): Entry[] {
    return this.entries.slice(this.head) as Entry[];
  }

  /** A new op; the promise resolves when the application's call may return. */
  add(op: MirrorOp): { entry: Entry; done: Promise<void> } {
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const entry: Entry = { op, settled: false, missing: true, sent: false, resolved: false, bytes: opBytes(op), resolvedAt: 0, resolve, reject };
    this.entries.push(entry);
    return { entry, done };
  }

  /** Mode async: the op is on its way to the SECOND; it may be acknowledged within the budget. */
  sent(entry: Entry): void {
    if (this.budget === null) return;
    entry.sent = true;
    this.release();
  }

  settle(entry: Entry): void {
    this.markSettled(entry);
    this.release();
    this.passOn();
  }

  /** Bytes freed here since the other queues of the budget last heard. */
  private freedHere = false;

  private markSettled(e: Entry): void {
    if (e.settled) return;
    if (e.resolved) {
      this.ahead -= e.bytes;
      if (this.budget !== null) this.budget.used -= e.bytes;
      this.freedHere = true;
    }
    e.settled = true;
    e.missing = false;
  }

  private passOn(): void {
    if (!this.freedHere) return;
    this.freedHere = false;
    this.budget?.freed(this);
  }

  /** Another queue of the budget freed bytes: calls waiting here may go now. */
  retry(): void {
    this.release();
  }

  /** Ops not settled yet, oldest first. */
  waiting(): readonly Entry[] {
    return this.live().filter((e) => !e.settled);
  }

  /** Ops the SECOND may lack (sent without acknowledgement, or held). */
  get gap(): boolean {
    return this.live().some((e) => e.missing);
  }

  get length(): number {
    return this.entries.length - this.head;
  }

  /** Ops the queue still references (their data included): released ones must not count. */
  get retained(): number {
    let n = 0;
    for (const e of this.entries) if (e !== undefined) n++;
    return n;
  }

  /** Calls still waiting for their acknowledgement (mode async: those past the budget too). */
  get blocked(): number {
    return this.entries.length - this.resolvedTo;
  }

  /** Mode async: what the application was told is written and the SECOND may still lack. */
  lag(): { bytes: number; seconds: number } {
    let oldest: number | null = null;
    for (let i = this.head; i < this.resolvedTo; i++) {
      const e = this.entries[i]!;
      if (!e.settled) {
        oldest = e.resolvedAt;
        break;
      }
    }
    return { bytes: this.ahead, seconds: oldest === null ? 0 : Math.max(0, (this.clock() - oldest) / 1000) };
  }

  /** Settles every op waiting now (they are covered: journaled, or resynced). */
  settleAll(entries: readonly Entry[] = this.waiting()): void {
    for (const e of entries) this.markSettled(e);
    this.release();
    this.passOn();
  }

  /** The folder is gone (unmounted): every waiting call fails; returns how many the SECOND never acknowledged. */
  fail(reason: string): number {
    const live = this.live();
    const n = live.filter((e) => !e.settled).length;
    for (const e of live) if (!e.resolved) e.reject(new Error(reason));
    this.entries = [];
    this.head = 0;
    this.resolvedTo = 0;
    if (this.budget !== null) this.budget.used -= this.ahead;
    if (this.ahead > 0) this.freedHere = true;
    this.ahead = 0;
    this.notifyEmpty();
    this.passOn();
    return n;
  }

  /** Resolves once the queue is empty (every op applied by the SECOND or otherwise covered). */
  empty(): Promise<void> {
    if (this.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  private emptyWaiters: (() => void)[] = [];

  private notifyEmpty(): void {
    if (this.length === 0) for (const fn of this.emptyWaiters.splice(0)) fn();
  }

  private release(): void {
    // Calls return in order: settled ops, then (mode async) sent ones while the budget lasts.
    const now = this.clock();
    while (this.resolvedTo < this.entries.length) {
      const e = this.entries[this.resolvedTo]!;
      if (!e.settled) {
        if (!e.sent || this.budget === null) break;
        // One op larger than the whole budget still goes when nothing else is ahead.
        if (this.budget.used > 0 && this.budget.used + e.bytes > this.budget.limitBytes) break;
        this.ahead += e.bytes;
        this.budget.used += e.bytes;
      }
      e.resolved = true;
      e.resolvedAt = now;
      e.resolve();
      this.resolvedTo++;
    }
    while (this.head < this.resolvedTo && this.entries[this.head]!.settled) {
      // A released op's data (up to 1 MiB a write) must not live on until the next compaction.
      this.entries[this.head] = undefined;
      this.head++;
    }
    // Drop what was released now and then, not on every call: a long async queue drains one op at a time.
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.resolvedTo -= this.head;
      this.head = 0;
    }
    this.notifyEmpty();
  }
}

export type AckEntry = ReturnType<AckQueue["add"]>["entry"];
