/**
 * The two connections of one replication link hear the peer together
 * (src/net/replication-link-hearing.ts): a connection that falls silent
 * while the peer is heard on the other one stays open, unless an answer it
 * owes us is overdue. (The driver closes the other connection once one
 * went down: MirrorDriver.linkDown.) Over the in-memory transport, with
 * the two connections on different addresses so that one can be cut alone.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryLinkNetwork } from "../../src/net/replication-link-memory.ts";
import { PeerHearing } from "../../src/net/replication-link-hearing.ts";
import { ReplicationClient, ReplicationServer } from "../../src/net/replication-link.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";
import { until } from "./until.ts";

const KEY = new Uint8Array(32).fill(5);
const A = "198.51.100.11";
/** B's first address carries B's own client; A's client reaches B's server on the second. */
const B = ["198.51.100.12", "203.0.113.12"] as const;
const TIMERS = { pingIntervalMs: 20, deadtimeMs: 200 };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const op: MirrorOp = { op: "write", path: relPath("f"), offset: 0, data: new Uint8Array([1]), mtimeNs: 1n };

/** The silence a "nothing heard" reason names, in ms. */
function silenceOf(reason: string | undefined): number {
  const m = /nothing heard from \w+ for (\d+) ms/.exec(reason ?? "");
  if (m === null) throw new Error(`not a silence: ${reason}`);
  return Number(m[1]);
}

/** Node a and node b, each with a server and a client; `shared`: each node's two connections share a PeerHearing. */
async function pair(shared: boolean) {
  const net = createMemoryLinkNetwork();
  const hear = (): { hearing?: PeerHearing } => (shared ? { hearing: new PeerHearing() } : {});
  const [ha, hb] = [hear(), hear()];
  const common = { cluster: "c", key: KEY, timers: TIMERS };
  const apply = () => ({ ok: true as const });
  const aServer = new ReplicationServer({ ...common, ...ha, node: "a", peer: "b", transport: net.transport([A]), listen: [{ address: A, port: 7697 }], apply });
  const bServer = new ReplicationServer({ ...common, ...hb, node: "b", peer: "a", transport: net.transport([...B]), listen: B.map((address) => ({ address, port: 7696 })), apply });
  await aServer.start();
  await bServer.start();
  const aClient = new ReplicationClient({ ...common, ...ha, node: "a", peer: "b", transport: net.transport([A]), addresses: [`${B[1]}:7696`], retryMs: 10_000, connectTimeoutMs: 100 });
  const bClient = new ReplicationClient({ ...common, ...hb, node: "b", peer: "a", transport: net.transport([...B]), addresses: [`${A}:7697`], retryMs: 10_000, connectTimeoutMs: 100 });
  const downs = { aClient: [] as string[], bServer: [] as string[], bClient: [] as string[], aServer: [] as string[] };
  aClient.onDown((r) => downs.aClient.push(r));
  bClient.onDown((r) => downs.bClient.push(r));
  aServer.onDown((r) => downs.aServer.push(r));
  bServer.onDown((r) => downs.bServer.push(r));
  aClient.start();
  bClient.start();
  cleanups.push(async () => {
    await aClient.close();
    await bClient.close();
    await aServer.close();
    await bServer.close();
  });
  await until(() => aClient.up && bClient.up && aServer.up && bServer.up, "both connections up");
  return { net, aClient, bClient, aServer, bServer, downs };
}

describe("the connections of one replication link hear the peer together", () => {
  it("a connection cut alone stays open while the other one carries the peer's records; once it owes an answer it closes", async () => {
    const p = await pair(true);
    // A's connection to B's server is cut; B's connection to A's server still carries pings both ways.
    p.net.blackhole(B[1], true);
    // Well past the deadtime of the cut connection's silence, counted in the other connection's traffic (a ping every 20 ms).
    const from = p.bClient.counters()?.recordsReceived ?? 0;
    await until(() => (p.bClient.counters()?.recordsReceived ?? 0) >= from + 3 * (TIMERS.deadtimeMs / TIMERS.pingIntervalMs), "records on the other connection for three deadtimes");
    expect({ aClient: p.aClient.up, bServer: p.bServer.up, bClient: p.bClient.up, aServer: p.aServer.up }).toEqual({ aClient: true, bServer: true, bClient: true, aServer: true });
    expect(p.downs).toEqual({ aClient: [], bServer: [], bClient: [], aServer: [] });
    // An op on it is owed an acknowledgement that cannot come: its client end closes, the op undelivered.
    const out = await p.aClient.send(1, op);
    expect(out.delivered).toBe(false);
    expect(silenceOf(p.downs.aClient[0])).toBeGreaterThan(TIMERS.deadtimeMs);
    expect(p.bClient.up).toBe(true);
  });

  it("without the shared hearing a connection cut alone closes after its own deadtime (the link's earlier behaviour)", async () => {
    const p = await pair(false);
    p.net.blackhole(B[1], true);
    await until(() => p.downs.bServer.length > 0 && p.downs.aClient.length > 0, "both ends of the cut connection close");
    expect(silenceOf(p.downs.bServer[0])).toBeLessThan(2 * TIMERS.deadtimeMs);
  });

  it("a peer silent on every connection: each closes one deadtime after the last record, nothing is borrowed", async () => {
    const p = await pair(true);
    p.net.blackhole(B[0], true);
    p.net.blackhole(B[1], true);
    await until(() => p.downs.aClient.length > 0 && p.downs.aServer.length > 0, "A's ends of both connections close");
    expect(silenceOf(p.downs.aClient[0])).toBeLessThan(2 * TIMERS.deadtimeMs);
    expect(silenceOf(p.downs.aServer[0])).toBeLessThan(2 * TIMERS.deadtimeMs);
  });
});
