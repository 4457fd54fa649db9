/** The farm driver's shared reads of its flow records (src/daemon/farm/coalesced-read.ts). */
import { describe, expect, it } from "vitest";
import { CoalescedRead } from "../../src/daemon/farm/coalesced-read.ts";

describe("coalesced reads of the flow records", () => {
  it("callers of one turn share one read; a caller during a read gets the next, never an older reading", async () => {
    let version = 0;
    const releases: (() => void)[] = [];
    const r = new CoalescedRead(async () => {
      const v = ++version;
      await new Promise<void>((ok) => releases.push(ok));
      return v;
    });
    const a = r.get();
    const b = r.get();
    const c = r.get();
    await new Promise((ok) => setTimeout(ok, 5));
    expect(r.reads).toBe(1);
    // While the first read runs, two more callers: they share the second read, started after the first ends.
    const d = r.get();
    const e = r.get();
    await new Promise((ok) => setTimeout(ok, 5));
    expect(r.reads).toBe(1);
    releases.shift()?.();
    expect(await Promise.all([a, b, c])).toEqual([1, 1, 1]);
    await new Promise((ok) => setTimeout(ok, 5));
    expect(r.reads).toBe(2);
    releases.shift()?.();
    expect(await Promise.all([d, e])).toEqual([2, 2]);
  });

  it("a failed read fails its callers only; the next caller reads again", async () => {
    let n = 0;
    const r = new CoalescedRead(async () => {
      n++;
      if (n === 1) throw new Error("no table");
      return n;
    });
    const [x, y] = await Promise.allSettled([r.get(), r.get()]);
    expect(x.status).toBe("rejected");
    expect(y.status).toBe("rejected");
    expect(await r.get()).toBe(2);
  });
});
