/**
 * Mode async's budget (`async_queue`: what a node may acknowledge ahead of
 * the other one) is the module's: the queues of its folders share it, so a
 * module of two folders is never twice as far ahead as one of one folder.
 */
import { describe, expect, it } from "vitest";
import { AckQueue, AheadBudget } from "../../src/daemon/mirror/ack-queue.ts";
import { tracker, write } from "./mirror-ack-calls.ts";

/** Two folders' queues on one budget of two 1000-byte writes (each 1064 in the budget). */
function twoFolders(): { a: AckQueue; b: AckQueue; budget: AheadBudget } {
  const budget = new AheadBudget(2 * 1064);
  return { a: new AckQueue(budget), b: new AckQueue(budget), budget };
}

describe("mode async: the module's folders share its budget", () => {
  it("what one folder acknowledged ahead counts against the other's calls, and its settling lets them go", async () => {
    const { a, b, budget } = twoFolders();
    const inA = [a.add(write(1000)), a.add(write(1000))];
    const inB = [b.add(write(1000))];
    const seenA = tracker(inA.map((o) => o.done));
    const seenB = tracker(inB.map((o) => o.done));
    for (const o of inA) a.sent(o.entry);
    b.sent(inB[0]!.entry);
    expect(await seenA()).toEqual([0, 1]);
    expect(await seenB()).toEqual([]);
    expect(a.lag().bytes + b.lag().bytes).toBe(2 * 1064);
    expect(budget.used).toBe(2 * 1064);
    // The SECOND applied one of the first folder's writes: the second folder's call returns.
    a.settle(inA[0]!.entry);
    expect(await seenB()).toEqual([0]);
    expect(a.lag().bytes + b.lag().bytes).toBe(2 * 1064);
  });

  it("a folder's ops covered by the journal, or failed at its unmount, free the budget for the others", async () => {
    const { a, b } = twoFolders();
    const inA = [a.add(write(1000)), a.add(write(1000))];
    for (const o of inA) a.sent(o.entry);
    const first = b.add(write(1000));
    const second = b.add(write(1000));
    const seenB = tracker([first.done, second.done]);
    b.sent(first.entry);
    b.sent(second.entry);
    expect(await seenB()).toEqual([]);
    a.settleAll([inA[0]!.entry]);
    expect(await seenB()).toEqual([0]);
    expect(a.fail("unmounted")).toBe(1);
    expect(await seenB()).toEqual([0, 1]);
    expect(b.lag().bytes).toBe(2 * 1064);
  });

  it("a queue given a number has a budget of its own, as before", async () => {
    const a = new AckQueue(1064);
    const b = new AckQueue(1064);
    const x = a.add(write(1000));
    const y = b.add(write(1000));
    const seen = tracker([x.done, y.done]);
    a.sent(x.entry);
    b.sent(y.entry);
    expect(await seen()).toEqual([0, 1]);
  });
});
