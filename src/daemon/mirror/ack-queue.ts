/**
 * The PRIM's intercepted operations waiting for their acknowledgement, in
 * the order the folder completed them. An application's call returns when
 * its op is acknowledged, and never before an older op: an fsync must not
 * return while a write before it is still missing on the SECOND. So an op
 * is "settled" by whatever covers it (the SECOND applied it, the ALONE
 * journal holds it, a resync sent it), and settled ops are released from
 * the front only.
 */
import type { MirrorOp } from "../../replicator/ops.ts";

interface Entry {
  readonly op: MirrorOp;
  settled: boolean;
  /** Sent on the link and not acknowledged, or never sent: the SECOND may lack it. */
  missing: boolean;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

export class AckQueue {
  private entries: Entry[] = [];

  /** A new op; the promise resolves when the application's call may return. */
  add(op: MirrorOp): { entry: Entry; done: Promise<void> } {
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const entry: Entry = { op, settled: false, missing: true, resolve, reject };
    this.entries.push(entry);
    return { entry, done };
  }

  settle(entry: Entry): void {
    entry.settled = true;
    entry.missing = false;
    this.release();
  }

  /** Ops not settled yet, oldest first. */
  waiting(): readonly Entry[] {
    return this.entries.filter((e) => !e.settled);
  }

  /** Ops the SECOND may lack (sent without acknowledgement, or held). */
  get gap(): boolean {
    return this.entries.some((e) => e.missing);
  }

  get length(): number {
    return this.entries.length;
  }

  /** Settles every op waiting now (they are covered: journaled, or resynced). */
  settleAll(entries: readonly Entry[] = this.waiting()): void {
    for (const e of entries) {
      e.settled = true;
      e.missing = false;
    }
    this.release();
  }

  /** The folder is gone (unmounted): every waiting call fails; returns how many never got acknowledged. */
  fail(reason: string): number {
    const n = this.entries.filter((e) => !e.settled).length;
    for (const e of this.entries) e.reject(new Error(reason));
    this.entries = [];
    return n;
  }

  private release(): void {
    let i = 0;
    while (i < this.entries.length && this.entries[i]!.settled) {
      this.entries[i]!.resolve();
      i++;
    }
    if (i > 0) this.entries = this.entries.slice(i);
  }
}

export type AckEntry = ReturnType<AckQueue["add"]>["entry"];
