/**
 * The replication link's end is said with its reason (driver.ts, linkDown):
 * an operator reading why a copy went outdated or a resync followed finds
 * the cause in one line, once per session. Two real drivers on loopback.
 */
import { afterEach, describe, expect, it } from "vitest";
import { pairInSync, until } from "./mirror-driver-pair.ts";
import { tmpDir } from "./resync-fixture.ts";

const KEY = new Uint8Array(32).fill(9);
const PORT = 30_000 + Math.floor(Math.random() * 20_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("the replication link going down", () => {
  it("is logged once with its reason when the peer goes away", async () => {
    const lines: string[] = [];
    const { h1, h2 } = await pairInSync(tmpDir("link-down-line"), { key: KEY, port: PORT, cleanups, h1Lines: lines });
    expect(lines.filter((l) => l.includes('"msg":"mirror link down"'))).toEqual([]);
    await h2.close();
    await until(() => h1.status().link !== "up", "h1 sees the link down");
    await until(() => lines.some((l) => l.includes('"msg":"mirror link down"')), "the line");
    const downs = lines.filter((l) => l.includes('"msg":"mirror link down"')).map((l) => JSON.parse(l) as { level: string; peer: string; detail: string });
    expect(downs).toHaveLength(1);
    expect(downs[0]).toMatchObject({ level: "info", peer: "h2", detail: expect.stringMatching(/\S/) });
  });
});
