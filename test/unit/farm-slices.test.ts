/**
 * Work over a farm's flow records in slices (src/sys/farm/slices.ts): every
 * item is handled once and in order, the event loop gets a turn whenever a
 * slice ran its budget (a clock the test moves, so no timing), and the
 * sliced record building and own-flow filter give what the one-go ones give;
 * a peer's flows are written in transactions of FLOWS_PER_WRITE flows.
 */
import { describe, expect, it } from "vitest";
import {
  flowKeyBytes,
  flowKeyText,
  flowOpChunks,
  flowRecordsFromElements,
  flowRecordsInSlices,
  FLOWS_PER_WRITE,
  ownFlows,
  ownFlowsInSlices,
  recordFlowOps,
  unrecordFlowOps,
} from "../../src/sys/farm/flow-records.ts";
import { markKey, setBatch, type SetOp } from "../../src/sys/farm/nft-netlink.ts";
import { FLOW_SELF } from "../../src/sys/farm/ruleset.ts";
import { filterInSlices, forEachInSlices, nextTurn } from "../../src/sys/farm/slices.ts";

/** A clock that moves `step` ms each time an item is handled. */
function ticking(step: number) {
  let t = 0;
  return { now: () => t, tick: () => (t += step) };
}

function elements(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    key: flowKeyBytes({ client: 0xc6336400 + (i >>> 16), port: i & 0xffff, vipPort: 53 }),
    data: markKey(i % 3 === 0 ? FLOW_SELF : 1 + (i % 7)),
  }));
}

describe("farm work in slices", () => {
  it("handles every item once and in order, and yields each time a slice ran its budget", async () => {
    const c = ticking(1);
    const seen: number[] = [];
    let yields = 0;
    const turns = await forEachInSlices(
      Array.from({ length: 10 }, (_, i) => i),
      (x) => {
        seen.push(x);
        c.tick();
      },
      { budgetMs: 3, checkEvery: 1, now: c.now, yieldTurn: async () => void yields++ },
    );
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // 3 ms per slice: 0-2, 3-5, 6-8, 9.
    expect(turns).toBe(3);
    expect(yields).toBe(3);
  });

  it("never yields while under budget, and looks at the clock only every checkEvery items", async () => {
    let looks = 0;
    const turns = await forEachInSlices(Array.from({ length: 1000 }, (_, i) => i), () => undefined, {
      now: () => (looks++, 0),
      yieldTurn: async () => undefined,
    });
    expect(turns).toBe(0);
    expect(looks).toBeLessThan(20);
  });

  it("stops when the item handler says so", async () => {
    const seen: number[] = [];
    await forEachInSlices([1, 2, 3, 4], (x) => {
      seen.push(x);
      return x < 2;
    });
    expect(seen).toEqual([1, 2]);
  });

  it("lets other work of the event loop run between slices", async () => {
    const c = ticking(1);
    let handled = 0;
    let otherRanAfter: number | undefined;
    setImmediate(() => (otherRanAfter = handled));
    await forEachInSlices(
      Array.from({ length: 20 }, (_, i) => i),
      () => {
        handled++;
        c.tick();
      },
      { budgetMs: 5, checkEvery: 1, now: c.now, yieldTurn: nextTurn },
    );
    expect(handled).toBe(20);
    expect(otherRanAfter).toBe(5);
  });

  it("filters like Array.filter", async () => {
    const c = ticking(1);
    const xs = Array.from({ length: 500 }, (_, i) => i);
    expect(await filterInSlices(xs, (x) => x % 7 === 0, { budgetMs: 2, now: c.now, yieldTurn: async () => void c.tick() })).toEqual(xs.filter((x) => x % 7 === 0));
  });

  it("builds the same records as the one-go builder, over many turns for a full map", async () => {
    const els = elements(65536);
    const one = flowRecordsFromElements(els);
    const c = ticking(0.5);
    let yields = 0;
    const sliced = await flowRecordsInSlices(els, {
      budgetMs: 3,
      now: () => c.tick(),
      yieldTurn: async () => void yields++,
    });
    expect(sliced).toEqual(one);
    // 1024 looks at the clock, half a millisecond apart: a yield every 6 or 7 of them.
    expect(yields).toBeGreaterThan(100);
    if (!sliced.ok) throw new Error(sliced.error.message);
    expect(await ownFlowsInSlices(sliced.records, { budgetMs: 3, now: () => c.tick(), yieldTurn: async () => undefined })).toEqual(ownFlows(sliced.records));
  });

  it("stops at the first element that is not a flow record, with the one-go builder's error", async () => {
    const els = [...elements(300), { key: new Uint8Array(8), data: markKey(1) }, ...elements(10)];
    const one = flowRecordsFromElements(els);
    const sliced = await flowRecordsInSlices(els, { budgetMs: 0, yieldTurn: async () => undefined });
    expect(one.ok).toBe(false);
    expect(sliced).toEqual(one);
    if (!sliced.ok) expect(sliced.error.message).toContain("flow record 300: key of 8 bytes");
  });
});

describe("flow records written in chunks", () => {
  const flows = Array.from({ length: 65536 }, (_, i) => ({ client: 0xc6336400 + (i >>> 16), port: i & 0xffff, vipPort: 53 }));
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
  const keysOf = (ops: SetOp[][], op: "add" | "delete") => ops.flatMap((c) => c.flatMap((o) => (o.op === op ? o.keys.map(hex) : [])));

  it("a full map's records as a peer's go as transactions the socket takes, each flow's delete and add in one", () => {
    // Every third flow recorded with another owner now: those are deleted and added.
    const current = new Map(flows.filter((_, i) => i % 3 === 0).map((f) => [flowKeyText(f), { key: f, value: 5 }]));
    const chunks = [...flowOpChunks(flows, (c) => recordFlowOps("m", c, 2, current))];
    expect(chunks.length).toBe(65536 / FLOWS_PER_WRITE);
    const one = recordFlowOps("m", flows, 2, current);
    // One batch of all of it is what the socket refused (EMSGSIZE); each chunk is far below its 208 KiB.
    expect(setBatch("vigil_farm_m", one, 1).length).toBeGreaterThan(212992);
    for (const c of chunks) expect(setBatch("vigil_farm_m", c, 1).length).toBeLessThan(128 * 1024);
    expect(keysOf(chunks, "add")).toEqual(keysOf([one], "add"));
    expect(keysOf(chunks, "delete")).toEqual(keysOf([one], "delete"));
    for (const c of chunks) {
      const adds = new Set(keysOf([c], "add"));
      expect(keysOf([c], "delete").every((k) => adds.has(k))).toBe(true);
    }
  });

  it("leaves out chunks with nothing to do, and a flow named twice after its first chunk", () => {
    const current = new Map(flows.slice(0, 3 * FLOWS_PER_WRITE).map((f) => [flowKeyText(f), { key: f, value: 2 }]));
    const again = flows[5];
    if (again === undefined) throw new Error("no flow");
    const chunks = [...flowOpChunks([...flows.slice(0, 3000), again], (c) => recordFlowOps("m", c, 2, current))];
    // 3001 flows are 12 chunks of 256; the first 3 hold only flows recorded already.
    expect(chunks.length).toBe(9);
    expect(keysOf(chunks, "add")).toEqual(flows.slice(3 * FLOWS_PER_WRITE, 3000).map((f) => hex(flowKeyBytes(f))));
    const dup = [...flowOpChunks([...flows.slice(0, FLOWS_PER_WRITE), again], (c) => unrecordFlowOps(c, 2, current))];
    expect(keysOf(dup, "delete")).toEqual(flows.slice(0, FLOWS_PER_WRITE).map((f) => hex(flowKeyBytes(f))));
  });
});
