/**
 * The SECOND hands a busy stream of ops (a resync) to the applier's thread in
 * runs, not one op per result (replication-link-server.ts, REFILL_AT): each
 * hand-over is a message to the thread and one back. The thread is played by
 * a fake that answers each message a turn later, in order, like
 * apply-worker.ts.
 */
import { EventEmitter } from "node:events";
import type { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryLinkNetwork } from "../../src/net/replication-link-memory.ts";
import { ReplicationClient, ReplicationServer } from "../../src/net/replication-link.ts";
import { MAX_APPLYING, REFILL_AT } from "../../src/net/replication-link-server.ts";
import { ThreadedApplier } from "../../src/replicator/apply-threaded.ts";
import type { ApplyResult } from "../../src/replicator/apply-result.ts";
import type { ApplyWorkerMessage, ApplyWorkerRequest } from "../../src/replicator/apply-worker.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";
import { until } from "./until.ts";

const KEY = new Uint8Array(32).fill(5);
const A = ["198.51.100.21"];
const B = ["198.51.100.22"];
const FAST = { pingIntervalMs: 50, deadtimeMs: 2000 };

/** Applies nothing: records each op's offset in the order received and answers ok, one message per message. */
class AnsweringThread extends EventEmitter {
  readonly messages: number[] = [];
  readonly applied: number[] = [];
  postMessage(m: ApplyWorkerRequest): void {
    if (m.t !== "ops") return;
    this.messages.push(m.ops.length);
    for (const op of m.ops) if (op.op === "write") this.applied.push(op.offset);
    const results: ApplyResult[] = m.ops.map(() => ({ ok: true }));
    setImmediate(() => this.emit("message", { t: "results", first: m.first, results } satisfies ApplyWorkerMessage));
  }
  terminate(): Promise<number> {
    return Promise.resolve(0);
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const op = (n: number): MirrorOp => ({ op: "write", path: relPath(`f${n % 7}`), offset: n, data: new Uint8Array([n & 0xff]), mtimeNs: BigInt(n) });

/** A client linked over the in-memory network to a server whose every op goes to a threaded applier (none on the main thread). */
async function linkToThreadedApplier(): Promise<{ thread: AnsweringThread; c: ReplicationClient }> {
  const net = createMemoryLinkNetwork();
  const thread = new AnsweringThread();
  const applier = new ThreadedApplier(thread as unknown as Worker, 1, null);
  const s = new ReplicationServer({
    cluster: "c", node: "b", peer: "a", key: KEY, timers: FAST,
    transport: net.transport(B), listen: B.map((address) => ({ address, port: 7696 })),
    apply: (o) => applier.apply(o),
  });
  await s.start();
  cleanups.push(() => s.close());
  const c = new ReplicationClient({ cluster: "c", node: "a", peer: "b", key: KEY, timers: FAST, transport: net.transport(A), addresses: B, retryMs: 20, connectTimeoutMs: 500 });
  c.start();
  cleanups.push(() => c.close());
  await until(() => c.up, "up");
  return { thread, c };
}

describe("the SECOND's hand-over of ops to a threaded applier", () => {
  it("hands a stream of ops over in runs, in order, each acknowledged after its result", async () => {
    const { thread, c } = await linkToThreadedApplier();
    const acked: number[] = [];

    const N = 600;
    const outs = await Promise.all(Array.from({ length: N }, (_, i) => c.send(i + 1, op(i)).then((o) => {
      acked.push(i);
      return o;
    })));
    expect(outs.every((o) => o.delivered && o.result.ok)).toBe(true);
    expect(thread.applied).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(acked).toEqual(Array.from({ length: N }, (_, i) => i));
    // One op per result would take ~N - MAX_APPLYING messages; runs of about
    // MAX_APPLYING - REFILL_AT take a few dozen at most.
    expect(thread.messages.length).toBeLessThanOrEqual(Math.ceil(N / (MAX_APPLYING - REFILL_AT)) * 2);
    expect(Math.max(...thread.messages)).toBeLessThanOrEqual(MAX_APPLYING);
  });

  it("a lone op is still handed over at once", async () => {
    const { thread, c } = await linkToThreadedApplier();
    // Each op waits for its acknowledgement before the next is sent (mode sync, one writer).
    for (let i = 0; i < 5; i++) expect(await c.send(i + 1, op(i))).toEqual({ delivered: true, result: { ok: true } });
    expect(thread.messages).toEqual([1, 1, 1, 1, 1]);
  });
});
