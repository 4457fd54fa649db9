import { afterEach, describe, expect, it } from "vitest";
import { createMemoryLinkNetwork, type MemoryLinkNetwork } from "../../src/net/replication-link-memory.ts";
import { ReplicationClient, type ReplicationClientOptions, ReplicationServer, type ReplicationServerOptions } from "../../src/net/replication-link.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";
import { until } from "./until.ts";

const KEY = new Uint8Array(32).fill(3);
const A = ["198.51.100.11", "203.0.113.11"];
const B = ["198.51.100.12", "203.0.113.12"];
const FAST = { pingIntervalMs: 20, deadtimeMs: 200 };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const op = (n: number): MirrorOp => ({ op: "write", path: relPath("f"), offset: n, data: new Uint8Array([n & 0xff]), mtimeNs: BigInt(n) });

async function setup(net: MemoryLinkNetwork, client: Partial<ReplicationClientOptions> = {}, server: Partial<ReplicationServerOptions> = {}) {
  const applied: number[] = [];
  const s = new ReplicationServer({
    cluster: "c",
    node: "b",
    peer: "a",
    key: KEY,
    timers: FAST,
    transport: net.transport(B),
    listen: B.map((address) => ({ address, port: 7696 })),
    apply: (_op, seq) => {
      applied.push(seq);
      return { ok: true };
    },
    ...server,
  });
  await s.start();
  cleanups.push(() => s.close());
  const c = new ReplicationClient({ cluster: "c", node: "a", peer: "b", key: KEY, timers: FAST, transport: net.transport(A), addresses: B, retryMs: 20, connectTimeoutMs: 100, ...client });
  const downs: string[] = [];
  const failures: string[] = [];
  c.onDown((r) => downs.push(r));
  c.onConnectFailed((_a, r) => failures.push(r));
  c.start();
  cleanups.push(() => c.close());
  return { s, c, applied, downs, failures };
}

describe("the replication link over the in-memory transport", () => {
  it("replicates ops in order, through the real handshake and records", async () => {
    const net = createMemoryLinkNetwork();
    const { c, applied } = await setup(net);
    await until(() => c.up, "up");
    expect(c.endpoint).toEqual({ address: B[0], port: 7696 });
    const outs = await Promise.all([1, 2, 3].map((n) => c.send(n, op(n))));
    expect(outs.every((o) => o.delivered && o.result.ok)).toBe(true);
    expect(applied).toEqual([1, 2, 3]);
  });

  it("refuses a wrong key with the same reason as over TCP", async () => {
    const net = createMemoryLinkNetwork();
    const { c, failures } = await setup(net, { key: new Uint8Array(32).fill(4) });
    await until(() => failures.length > 0, "a refusal");
    expect(failures[0]).toMatch(/the two nodes hold different cluster keys/);
    expect(c.up).toBe(false);
  });

  it("a blackholed SECOND: down after the deadtime, ops in flight undelivered; back once lifted", async () => {
    const net = createMemoryLinkNetwork();
    const { c, applied, downs } = await setup(net);
    await until(() => c.up, "up");
    net.blackhole(B[0]!, true);
    net.blackhole(B[1]!, true);
    const pending = c.send(1, op(1));
    await until(() => downs.length > 0, "down");
    expect(downs[0]).toMatch(/nothing heard from b for \d+ ms \(deadtime 200 ms\)/);
    expect(await pending).toMatchObject({ delivered: false, maybeApplied: true });
    net.blackhole(B[0]!, false);
    net.blackhole(B[1]!, false);
    await until(() => c.up, "up again");
    expect(await c.send(2, op(2))).toEqual({ delivered: true, result: { ok: true } });
    expect(applied.at(-1)).toBe(2);
  });

  it("falls back to the second address when the first refuses or is blackholed", async () => {
    const net = createMemoryLinkNetwork();
    net.refuse(B[0]!, true);
    const { c, failures } = await setup(net);
    await until(() => c.up, "up");
    expect(failures[0]).toMatch(/ECONNREFUSED/);
    expect(c.endpoint?.address).toBe(B[1]);
    net.refuse(B[0]!, false);
    net.reset(B[1]!);
    await until(() => !c.up, "down after the reset");
    await until(() => c.up, "up again");
    expect(c.endpoint?.address).toBe(B[0]);
  });

  it("retries soon while every address refuses (the SECOND's daemon is starting), not after the long pause", async () => {
    const net = createMemoryLinkNetwork();
    net.refuse(B[0]!, true);
    net.refuse(B[1]!, true);
    // A pause of a minute after other failures: the link can only come up in time through the short one.
    const { c, failures } = await setup(net, { retryMs: 60_000, refusedRetryMs: 5 });
    await until(() => failures.length >= 4, "a second round of refusals");
    expect(failures.every((f) => /ECONNREFUSED/.test(f))).toBe(true);
    net.refuse(B[0]!, false);
    await until(() => c.up, "up once the SECOND listens");
  });

  it("a reset connection is seen at once, without waiting for the deadtime", async () => {
    const net = createMemoryLinkNetwork();
    const { c, downs } = await setup(net, { timers: { pingIntervalMs: 1000, deadtimeMs: 60_000 } }, { timers: { pingIntervalMs: 1000, deadtimeMs: 60_000 } });
    await until(() => c.up, "up");
    net.reset(B[0]!);
    await until(() => downs.length > 0, "down");
    expect(downs[0]).toMatch(/ECONNRESET|closed/);
  });
});
