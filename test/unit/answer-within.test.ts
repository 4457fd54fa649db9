/** answerWithin (src/daemon/module/answer-within.ts): the caller's bound on a command's work, which goes on past it. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { answerWithin } from "../../src/daemon/module/answer-within.ts";

afterEach(() => {
  vi.useRealTimers();
});

describe("answerWithin", () => {
  it("gives the work's result when it ends before the bound", async () => {
    expect(await answerWithin(Promise.resolve("identical"), 1000)).toBe("identical");
  });

  it("says late at the bound, and the work still ends for whoever else awaits it", async () => {
    vi.useFakeTimers();
    let finish: (s: string) => void = () => {};
    const work = new Promise<string>((r) => (finish = r));
    const ended: string[] = [];
    void work.then((s) => ended.push(s));
    const answer = answerWithin(work, 30_000);
    await vi.advanceTimersByTimeAsync(29_999);
    expect(ended).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(await answer).toBe("late");
    finish("2 differences");
    await work;
    expect(ended).toEqual(["2 differences"]);
  });

  it("passes the work's failure on when it comes before the bound", async () => {
    await expect(answerWithin(Promise.reject(new Error("link down")), 1000)).rejects.toThrow("link down");
  });
});
