// The arbiter and its client over real UDP on 127.0.0.1, with the arbiter's
// clock under the test's control: lease rules are checked by moving that
// clock, never by waiting.
import * as dgram from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { Logger } from "../../src/daemon/log.ts";
import { Metrics } from "../../src/daemon/metrics.ts";
import { createWitnessApp } from "../../src/daemon/witness/app.ts";
import { WitnessServer } from "../../src/daemon/witness/server.ts";
import { type ArbiterAnswer, ArbiterClient, type ArbiterProblemKind } from "../../src/net/arbiter-client.ts";
import { decodeWitness, encodeWitness, type WitnessMessage } from "../../src/proto/witness.ts";

const KEY = new Uint8Array(32).fill(7);
const OTHER_KEY = new Uint8Array(32).fill(8);
const LEASE = 3000;
const GRACE = 1000;

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A guard against a lost datagram hanging the test, not a timing assertion. */
async function until<T>(get: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

interface Arbiter {
  server: WitnessServer;
  clock: { now: number };
  lines: string[];
  metrics: Metrics;
  port: number;
}

async function startArbiter(opts: { quiet?: boolean } = {}): Promise<Arbiter> {
  const clock = { now: 10_000 };
  const lines: string[] = [];
  const metrics = new Metrics();
  const server = new WitnessServer({
    cluster: "vms-pair",
    key: KEY,
    witness: { nodes: ["vms1", "vms2"], modules: ["vms", "web"], leaseMs: LEASE, graceMs: GRACE },
    listen: { host: "127.0.0.1", port: 0 },
    log: new Logger("text", (l) => lines.push(l)),
    metrics,
    quiet: opts.quiet ?? false,
    clock: () => clock.now,
  });
  await server.start();
  cleanup.push(() => server.stop());
  return { server, clock, lines, metrics, port: server.endpoint().port };
}

interface Node {
  client: ArbiterClient;
  answers: { module: string; answer: ArbiterAnswer }[];
  problems: { kind: ArbiterProblemKind; detail: string }[];
  /** Sends a request and waits for its answer. */
  ask(module: string, request: number): Promise<ArbiterAnswer>;
}

async function startNode(self: string, port: number, extra: { epoch?: bigint; cluster?: string; key?: Uint8Array } = {}): Promise<Node> {
  const answers: Node["answers"] = [];
  const problems: Node["problems"] = [];
  const client = await ArbiterClient.open({
    cluster: extra.cluster ?? "vms-pair",
    self,
    key: extra.key ?? KEY,
    arbiter: { address: "127.0.0.1", port },
    localAddress: "127.0.0.1",
    onAnswer: (module, answer) => answers.push({ module, answer }),
    onProblem: (kind, detail) => problems.push({ kind, detail }),
    ...(extra.epoch === undefined ? {} : { epoch: extra.epoch }),
  });
  cleanup.push(() => client.close());
  return {
    client,
    answers,
    problems,
    ask: async (module, request) => {
      client.request(module, request);
      const found = await until(() => answers.find((a) => a.module === module && a.answer.request === request), `the answer to ${self}'s request ${request} of ${module}`);
      return found.answer;
    },
  };
}

/** A bare socket that talks the arbiter's protocol by hand (replays, forgeries). */
async function rawSocket(): Promise<{ send(bytes: Uint8Array, port: number): void; received: Uint8Array[]; port: number; sock: dgram.Socket }> {
  const sock = dgram.createSocket("udp4");
  const received: Uint8Array[] = [];
  sock.on("message", (m) => received.push(new Uint8Array(m)));
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  cleanup.push(() => new Promise<void>((r) => sock.close(() => r())));
  return { send: (bytes, port) => sock.send(bytes, port, "127.0.0.1"), received, port: sock.address().port, sock };
}

describe("arbiter server and client over loopback UDP", () => {
  it("grants a module's lease to one node and denies it to the other, naming the holder", async () => {
    const a = await startArbiter();
    const vms1 = await startNode("vms1", a.port);
    const vms2 = await startNode("vms2", a.port);
    expect(await vms1.ask("vms", 1)).toEqual({ request: 1, granted: true, durationMs: LEASE, holder: "vms1", detail: "granted" });
    expect(await vms2.ask("vms", 1)).toMatchObject({ request: 1, granted: false, durationMs: 0, holder: "vms1", detail: "held by vms1 for 3000 ms more" });
    // Another module is independent.
    expect(await vms2.ask("web", 1)).toMatchObject({ granted: true, holder: "vms2" });
    // The holder renews.
    a.clock.now += 1000;
    expect(await vms1.ask("vms", 2)).toMatchObject({ granted: true, detail: "renewed" });
    const s = a.server.status();
    expect(s.leases).toEqual(expect.arrayContaining([
      { module: "vms", holder: "vms1", token: 1, state: "held", heldForMs: 1000, expiresInMs: LEASE },
      { module: "web", holder: "vms2", token: 2, state: "held", heldForMs: 1000, expiresInMs: LEASE - 1000 },
    ]));
    expect(s.nodes.map((n) => [n.name, n.address?.startsWith("127.0.0.1:")])).toEqual([["vms1", true], ["vms2", true]]);
    expect(s.counters).toMatchObject({ requests: 4, granted: 3, denied: 1 });
    expect(a.lines.some((l) => /lease granted module=vms node=vms1/.test(l))).toBe(true);
  });

  it("a release frees the lease at once for the next node", async () => {
    const a = await startArbiter();
    const vms1 = await startNode("vms1", a.port);
    const vms2 = await startNode("vms2", a.port);
    await vms1.ask("vms", 1);
    vms1.client.release("vms");
    await until(() => (a.server.status().counters.releases === 1 ? true : undefined), "the release to arrive");
    expect(await vms2.ask("vms", 1)).toMatchObject({ granted: true, holder: "vms2" });
    expect(a.server.status().leases).toMatchObject([{ module: "vms", holder: "vms2", token: 2 }]);
  });

  it("a lease that ran out goes to another node only after the grace", async () => {
    const a = await startArbiter();
    const vms1 = await startNode("vms1", a.port);
    const vms2 = await startNode("vms2", a.port);
    await vms1.ask("vms", 1);
    a.clock.now += LEASE + 1;
    expect(await vms2.ask("vms", 1)).toMatchObject({ granted: false, holder: "vms1", detail: expect.stringMatching(/of grace/) });
    expect(a.server.status().leases).toMatchObject([{ state: "grace" }]);
    a.clock.now += GRACE;
    expect(await vms2.ask("vms", 2)).toMatchObject({ granted: true, holder: "vms2" });
    expect(a.lines.some((l) => /lease expired module=vms node=vms1/.test(l))).toBe(true);
  });

  it("after its start it grants nothing for lease + grace", async () => {
    const a = await startArbiter({ quiet: true });
    const vms1 = await startNode("vms1", a.port);
    expect(await vms1.ask("vms", 1)).toMatchObject({ granted: false, holder: null, detail: expect.stringMatching(/grants nothing before 4000 ms more/) });
    expect(a.server.status().quietForMs).toBe(LEASE + GRACE);
    a.clock.now += LEASE + GRACE;
    expect(await vms1.ask("vms", 2)).toMatchObject({ granted: true });
  });

  it("refuses, with the reason, a node or a module it does not know", async () => {
    const a = await startArbiter();
    const stranger = await startNode("vms9", a.port);
    expect(await stranger.ask("vms", 1)).toMatchObject({ granted: false, holder: null, detail: 'node "vms9" is not one of vms1, vms2' });
    const vms1 = await startNode("vms1", a.port);
    expect(await vms1.ask("db", 1)).toMatchObject({ granted: false, detail: 'module "db" is not one of vms, web' });
    expect(a.server.status().counters.refused).toBe(2);
    expect(a.server.status().leases).toEqual([]);
  });

  it("drops, unanswered and counted, a replayed request and a replayed release", async () => {
    const a = await startArbiter();
    const raw = await rawSocket();
    const epoch = 77n;
    const req = (seq: number, request: number): Uint8Array => encodeWitness({ type: "request", cluster: "vms-pair", node: "vms1", epoch, seq, module: "vms", request }, KEY);
    const rel = encodeWitness({ type: "release", cluster: "vms-pair", node: "vms1", epoch, seq: 2, module: "vms" }, KEY);
    raw.send(req(1, 1), a.port);
    await until(() => raw.received[0], "the grant");
    raw.send(rel, a.port);
    await until(() => (a.server.status().counters.releases === 1 ? true : undefined), "the release");
    raw.send(req(3, 2), a.port);
    await until(() => raw.received[1], "the second grant");
    // Replays: the first request and the release, byte for byte.
    raw.send(req(1, 1), a.port);
    raw.send(rel, a.port);
    raw.send(req(4, 3), a.port); // loopback keeps order: once this is answered, the replays were handled
    await until(() => raw.received[2], "the third answer");
    expect(raw.received).toHaveLength(3);
    const last = decodeWitness(raw.received[2] as Uint8Array, KEY);
    expect(last.ok && last.message).toMatchObject({ type: "grant", request: 3, node: "vms1", peerEpoch: epoch });
    expect(a.server.status().counters.rejected).toEqual({ replayed: 2 });
    expect(a.server.status().leases).toMatchObject([{ holder: "vms1", state: "held" }]);
    // A message of an older life of the node.
    raw.send(encodeWitness({ type: "release", cluster: "vms-pair", node: "vms1", epoch: epoch - 1n, seq: 99, module: "vms" }, KEY), a.port);
    await until(() => (a.server.status().counters.rejected["stale-epoch"] === 1 ? true : undefined), "the stale epoch count");
    expect(a.server.status().leases).toMatchObject([{ holder: "vms1", state: "held" }]);
    expect(a.metrics.render()).toMatch(/vigil_witness_messages_rejected_total\{reason="replayed"\} 2/);
  });

  it("takes an older epoch as a restart only after the node was silent for lease + grace", async () => {
    const a = await startArbiter();
    const raw = await rawSocket();
    const req = (epoch: bigint, seq: number, request: number): Uint8Array => encodeWitness({ type: "request", cluster: "vms-pair", node: "vms1", epoch, seq, module: "vms", request }, KEY);
    raw.send(req(1000n, 1, 1), a.port);
    await until(() => raw.received[0], "the grant");
    // A reboot with the clock set back: while its lease may still run, refused...
    a.clock.now += LEASE + GRACE - 1;
    raw.send(req(500n, 1, 1), a.port);
    await until(() => (a.server.status().counters.rejected["stale-epoch"] === 1 ? true : undefined), "the stale epoch");
    // ...once no lease of its can be left, accepted as a new life.
    a.clock.now += 1;
    raw.send(req(500n, 2, 2), a.port);
    await until(() => raw.received[1], "the answer to the new life");
    const r = decodeWitness(raw.received[1] as Uint8Array, KEY);
    expect(r.ok && r.message).toMatchObject({ type: "grant", peerEpoch: 500n, request: 2 });
    expect(raw.received).toHaveLength(2);
    expect(a.lines.some((l) => /node restarted with an older epoch/.test(l))).toBe(true);
    // Its earlier life is now the stale one.
    raw.send(req(1000n, 9, 3), a.port);
    await until(() => (a.server.status().counters.rejected["stale-epoch"] === 2 ? true : undefined), "the old life refused");
  });

  it("drops a wrong key, another cluster and an answer sent to it, each counted by reason", async () => {
    const a = await startArbiter();
    const forger = await startNode("vms1", a.port, { key: OTHER_KEY });
    forger.client.request("vms", 1);
    const other = await startNode("vms1", a.port, { cluster: "elsewhere" });
    other.client.request("vms", 1);
    const raw = await rawSocket();
    raw.send(encodeWitness({ type: "grant", cluster: "vms-pair", node: "vms2", epoch: 1n, seq: 1, module: "vms", request: 1, peerEpoch: 1n, durationMs: 1, token: 1, detail: "" }, KEY), a.port);
    await until(() => (Object.values(a.server.status().counters.rejected).reduce((x, y) => x + y, 0) === 3 ? true : undefined), "three rejects");
    expect(a.server.status().counters.rejected).toEqual({ "bad-mac": 1, "other-cluster": 1, "not-a-request": 1 });
    expect(a.server.status().counters.requests).toBe(0);
    expect(a.lines.filter((l) => /arbiter message rejected/.test(l))).toHaveLength(3);
  });
});

describe("arbiter client matching", () => {
  /** A fake arbiter: the test answers by hand. */
  async function fakeArbiter(): Promise<{ port: number; next(): Promise<{ msg: WitnessMessage; port: number }>; answer(m: WitnessMessage, port: number): void }> {
    const raw = await rawSocket();
    const seen: { msg: WitnessMessage; port: number }[] = [];
    raw.sock.on("message", (m, rinfo) => {
      const r = decodeWitness(new Uint8Array(m), KEY);
      if (r.ok) seen.push({ msg: r.message, port: rinfo.port });
    });
    let taken = 0;
    return {
      port: raw.port,
      next: () => until(() => seen[taken] !== undefined ? seen[taken++] : undefined, "a message at the fake arbiter"),
      answer: (m, port) => raw.send(encodeWitness(m, KEY), port),
    };
  }

  it("sends signed requests with a fresh seq each, and releases", async () => {
    const fake = await fakeArbiter();
    const node = await startNode("vms1", fake.port, { epoch: 500n });
    node.client.request("vms", 7);
    node.client.release("vms");
    expect((await fake.next()).msg).toEqual({ type: "request", cluster: "vms-pair", node: "vms1", epoch: 500n, seq: 1, module: "vms", request: 7 });
    expect((await fake.next()).msg).toEqual({ type: "release", cluster: "vms-pair", node: "vms1", epoch: 500n, seq: 2, module: "vms" });
  });

  it("delivers each pending request's answer once and drops every other one, saying why", async () => {
    const fake = await fakeArbiter();
    const node = await startNode("vms1", fake.port, { epoch: 500n });
    node.client.request("vms", 7);
    const { port } = await fake.next();
    const grant = (over: Partial<Extract<WitnessMessage, { type: "grant" }>>): WitnessMessage =>
      ({ type: "grant", cluster: "vms-pair", node: "vms1", epoch: 9n, seq: 1, module: "vms", request: 7, peerEpoch: 500n, durationMs: 3000, token: 4, detail: "granted", ...over });
    fake.answer(grant({ node: "vms2" }), port);
    fake.answer(grant({ peerEpoch: 499n }), port);
    fake.answer(grant({ cluster: "elsewhere" }), port);
    fake.answer(grant({ request: 6 }), port);
    fake.answer({ type: "request", cluster: "vms-pair", node: "vms2", epoch: 1n, seq: 1, module: "vms", request: 1 }, port);
    fake.answer(grant({}), port);
    fake.answer(grant({ seq: 2 }), port); // a duplicate of the real answer
    fake.answer({ type: "deny", cluster: "vms-pair", node: "vms1", epoch: 9n, seq: 3, module: "vms", request: 7, peerEpoch: 500n, token: 4, holder: "vms2", detail: "late" }, port);
    await until(() => (node.problems.length === 7 ? true : undefined), "seven dropped answers");
    expect(node.answers).toEqual([{ module: "vms", answer: { request: 7, granted: true, durationMs: 3000, holder: "vms1", detail: "granted" } }]);
    expect(node.problems.map((p) => p.kind)).toEqual(["not-for-us", "other-life", "other-cluster", "unknown-request", "not-an-answer", "unknown-request", "unknown-request"]);
  });

  it("carries request numbers up to 2^53-1, and reports one it cannot send instead of throwing", async () => {
    const fake = await fakeArbiter();
    const node = await startNode("vms1", fake.port, { epoch: 3n });
    const big = Date.now() * 1000;
    node.client.request("vms", big);
    const { msg, port } = await fake.next();
    expect(msg).toMatchObject({ type: "request", request: big });
    fake.answer({ type: "grant", cluster: "vms-pair", node: "vms1", epoch: 9n, seq: 1, module: "vms", request: big, peerEpoch: 3n, durationMs: 3000, token: 1, detail: "granted" }, port);
    await until(() => node.answers[0], "the answer");
    expect(node.answers[0]?.answer.request).toBe(big);
    expect(() => node.client.request("vms", 2 ** 53)).not.toThrow();
    expect(() => node.client.request("x".repeat(65), 1)).not.toThrow();
    expect(node.problems.map((p) => p.kind)).toEqual(["unencodable", "unencodable"]);
  });

  it("after a release, late answers for that module are dropped", async () => {
    const fake = await fakeArbiter();
    const node = await startNode("vms1", fake.port, { epoch: 1n });
    node.client.request("vms", 1);
    const { port } = await fake.next();
    node.client.release("vms");
    await fake.next();
    fake.answer({ type: "deny", cluster: "vms-pair", node: "vms1", epoch: 9n, seq: 1, module: "vms", request: 1, peerEpoch: 1n, token: 0, holder: null, detail: "x" }, port);
    await until(() => node.problems[0], "the dropped answer");
    expect(node.answers).toEqual([]);
  });
});

describe("arbiter status API", () => {
  it("serves leases as JSON, /healthz and /metrics, read-only", async () => {
    const a = await startArbiter();
    const vms1 = await startNode("vms1", a.port);
    await vms1.ask("vms", 1);
    const app = createWitnessApp({
      status: () => ({ role: "witness", version: "test", startedAt: "2026-11-28T00:00:00.000Z", ...a.server.status(), events: [] }),
      metrics: () => a.metrics.render(),
    });
    const status = await app.request("/api/status");
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ role: "witness", cluster: "vms-pair", leaseMs: LEASE, leases: [{ module: "vms", holder: "vms1", state: "held" }] });
    expect(await (await app.request("/healthz")).text()).toBe("ok");
    expect(await (await app.request("/metrics")).text()).toMatch(/vigil_witness_replies_total\{result="granted"\} 1/);
    const post = await app.request("/api/status", { method: "POST" });
    expect(post.status).toBe(405);
    expect(((await post.json()) as { error: string }).error).toMatch(/read-only/);
    expect((await app.request("/nope")).status).toBe(404);
  });
});
