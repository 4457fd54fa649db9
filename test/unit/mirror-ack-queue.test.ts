import { describe, expect, it } from "vitest";
import { AckQueue } from "../../src/daemon/mirror/ack-queue.ts";
import { tracker, write } from "./mirror-ack-calls.ts";

describe("the PRIM's acknowledgement queue", () => {
  it("mode sync: a call returns when its op and every older one are settled", async () => {
    const q = new AckQueue();
    const a = q.add(write(10));
    const b = q.add(write(10));
    const seen = tracker([a.done, b.done]);
    q.sent(b.entry);
    q.settle(b.entry);
    expect(await seen()).toEqual([]);
    q.settle(a.entry);
    expect(await seen()).toEqual([0, 1]);
    expect(q.length).toBe(0);
  });

  it("mode async: sent ops return ahead of the SECOND within the budget, in order, then wait", async () => {
    let t = 0;
    const q = new AckQueue(3 * (64 + 1000), () => t);
    const ops = Array.from({ length: 5 }, () => q.add(write(1000)));
    const seen = tracker(ops.map((o) => o.done));
    q.sent(ops[1]!.entry);
    expect(await seen()).toEqual([]);
    q.sent(ops[0]!.entry);
    expect(await seen()).toEqual([0, 1]);
    for (const o of ops.slice(2)) q.sent(o.entry);
    expect(await seen()).toEqual([0, 1, 2]);
    expect(q.blocked).toBe(2);
    t = 1500;
    expect(q.lag()).toEqual({ bytes: 3 * 1064, seconds: 1.5 });
    // The SECOND applied the oldest: room for one more.
    q.settle(ops[0]!.entry);
    expect(await seen()).toEqual([0, 1, 2, 3]);
    expect(q.lag().bytes).toBe(3 * 1064);
    // Still waiting ops are the journal's and the resync's business until the SECOND has them.
    expect(q.waiting().length).toBe(4);
    expect(q.gap).toBe(true);
  });

  it("mode async: one op larger than the budget still goes when nothing is ahead", async () => {
    const q = new AckQueue(100);
    const big = q.add(write(5000));
    const seen = tracker([big.done]);
    q.sent(big.entry);
    expect(await seen()).toEqual([0]);
  });

  it("an unmount fails the calls still waiting and counts what the SECOND never acknowledged", async () => {
    const q = new AckQueue(10_000);
    const a = q.add(write(10));
    const b = q.add(write(10));
    q.sent(a.entry);
    let failed = 0;
    b.done.catch(() => failed++);
    await a.done;
    expect(q.fail("unmounted")).toBe(2);
    await new Promise((r) => setTimeout(r, 0));
    expect(failed).toBe(1);
    await q.empty();
  });

  it("empty() waits for the last op the SECOND applies", async () => {
    const q = new AckQueue(10_000);
    const a = q.add(write(10));
    q.sent(a.entry);
    let emptied = false;
    void q.empty().then(() => (emptied = true));
    await a.done;
    await new Promise((r) => setTimeout(r, 0));
    expect(emptied).toBe(false);
    q.settle(a.entry);
    await new Promise((r) => setTimeout(r, 0));
    expect(emptied).toBe(true);
  });

  it("keeps no released op (a 1 MiB write's data goes with it)", async () => {
    const q = new AckQueue();
    for (let i = 0; i < 2000; i++) {
      const o = q.add(write(1 << 20));
      q.settle(o.entry);
      await o.done;
    }
    expect(q.length).toBe(0);
    expect(q.retained).toBe(0);
    const a = new AckQueue(1 << 30);
    const ops = Array.from({ length: 3000 }, () => a.add(write(10)));
    for (const o of ops) a.sent(o.entry);
    for (const o of ops.slice(0, 2999)) a.settle(o.entry);
    expect(a.retained).toBe(1);
  });

  it("drains a long async queue one op at a time", async () => {
    const q = new AckQueue(1 << 30);
    const ops = Array.from({ length: 20_000 }, () => q.add(write(100)));
    for (const o of ops) q.sent(o.entry);
    await Promise.all(ops.map((o) => o.done));
    for (const o of ops) q.settle(o.entry);
    expect(q.length).toBe(0);
    expect(q.lag()).toEqual({ bytes: 0, seconds: 0 });
  });
});
