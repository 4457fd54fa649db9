import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as net from "node:net";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { type LinkEndpoint, ReplicationClient, type ReplicationClientOptions, ReplicationServer, type ReplicationServerOptions, type SendOutcome } from "../../src/net/replication-link.ts";
import type { ApplyResult } from "../../src/replicator/apply-result.ts";
import { type MirrorOp, relPath } from "../../src/replicator/ops.ts";
import { startProxy, type Proxy } from "./replication-proxy.ts";
import { until } from "./until.ts";

const KEY = new Uint8Array(32).map((_, i) => i * 7 + 1);
const OTHER_KEY = new Uint8Array(32).map((_, i) => i * 7 + 2);
const QUIET = { pingIntervalMs: 60_000, deadtimeMs: 120_000 };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function write(name: string, n: number, fill = 1): MirrorOp {
  return { op: "write", path: relPath(name), offset: 0, data: new Uint8Array(n).fill(fill), mtimeNs: 1n };
}

interface Second {
  server: ReplicationServer;
  port: number;
  applied: { seq: number; op: MirrorOp }[];
  refused: string[];
  downs: string[];
}

async function second(over: Partial<ReplicationServerOptions> = {}): Promise<Second> {
  const applied: { seq: number; op: MirrorOp }[] = [];
  const refused: string[] = [];
  const downs: string[] = [];
  const server = new ReplicationServer({
    cluster: "pair",
    node: "b",
    peer: "a",
    key: KEY,
    listen: [{ address: "127.0.0.1", port: 0 }],
    timers: QUIET,
    apply: (op, seq): ApplyResult => {
      applied.push({ seq, op });
      return { ok: true };
    },
    ...over,
  });
  server.onRefused((_f, r) => refused.push(r));
  server.onDown((r) => downs.push(r));
  await server.start();
  cleanups.push(() => server.close());
  return { server, port: server.bound()[0]!.port, applied, refused, downs };
}

interface Prim {
  client: ReplicationClient;
  failures: string[];
  downs: string[];
  upAt: LinkEndpoint[];
}

function prim(port: number, over: Partial<ReplicationClientOptions> = {}): Prim {
  const client = new ReplicationClient({ cluster: "pair", node: "a", peer: "b", key: KEY, addresses: [`127.0.0.1:${port}`], timers: QUIET, retryMs: 100, ...over });
  const failures: string[] = [];
  const downs: string[] = [];
  const upAt: LinkEndpoint[] = [];
  client.onConnectFailed((_a, r) => failures.push(r));
  client.onDown((r) => downs.push(r));
  client.onUp((a) => upAt.push(a));
  client.start();
  cleanups.push(() => client.close());
  return { client, failures, downs, upAt };
}

async function proxied(): Promise<{ s: Second; p: Prim; proxy: Proxy }> {
  const s = await second();
  const proxy = await startProxy(s.port);
  cleanups.push(() => proxy.close());
  const p = prim(proxy.port);
  await until(() => p.client.up, "the link to come up");
  return { s, p, proxy };
}

describe("replication link over loopback TCP", () => {
  it("with the right key, ops are applied in order and acknowledged with the SECOND's result", async () => {
    const s = await second({
      apply: (op, seq) => {
        s.applied.push({ seq, op });
        return seq === 3 ? { ok: false, kind: "inconsistent", errno: "ENOSPC", message: "no space" } : { ok: true };
      },
    });
    const p = prim(s.port);
    await until(() => p.client.up, "up");
    expect(p.upAt).toEqual([{ address: "127.0.0.1", port: s.port }]);
    const outs = await Promise.all([1, 2, 3, 4].map((seq) => p.client.send(seq, write(`f${seq}`, seq * 1000))));
    expect(outs[0]).toEqual({ delivered: true, result: { ok: true } });
    expect(outs[2]).toEqual({ delivered: true, result: { ok: false, kind: "inconsistent", errno: "ENOSPC", message: "no space" } });
    expect(s.applied.map((a) => a.seq)).toEqual([1, 2, 3, 4]);
    expect(s.applied[1]!.op).toEqual(write("f2", 2000));
  });

  it("counts what the connection carried and times the pings", async () => {
    const s = await second({ timers: { pingIntervalMs: 20, deadtimeMs: 5000 } });
    const p = prim(s.port, { timers: { pingIntervalMs: 20, deadtimeMs: 5000 } });
    // Read when the link comes up (a later read could follow a ping already answered, 20 ms on).
    const rttAtUp: (number | null)[] = [];
    p.client.onUp(() => rttAtUp.push(p.client.counters()?.rttMs ?? null));
    await until(() => p.client.up, "up");
    expect(rttAtUp).toEqual([null]);
    await p.client.send(1, write("a", 100_000));
    await until(() => (p.client.counters()?.rttMs ?? null) !== null, "a ping answered");
    const c = p.client.counters()!;
    expect(c.bytesSent).toBeGreaterThan(100_000);
    expect(c.recordsReceived).toBeGreaterThanOrEqual(2); // ready, ack, pongs
    expect(s.server.counters()!.bytesReceived).toBeGreaterThan(100_000);
    await p.client.close();
    expect(p.client.counters()).toBeNull();
  });

  it("drained() waits for every op sent so far, and the backlog tells the oldest op's age", async () => {
    let release: (() => void) | null = null;
    const s = await second({
      apply: async (op, seq) => {
        if (seq === 2) await new Promise<void>((r) => (release = r));
        s.applied.push({ seq, op });
        return { ok: true };
      },
    });
    const p = prim(s.port);
    await until(() => p.client.up, "up");
    await p.client.drained();
    const sends = [1, 2, 3].map((seq) => p.client.send(seq, write(`f${seq}`, 10)));
    let drained = false;
    const d = p.client.drained().then(() => (drained = true));
    await until(() => release !== null, "op 2 in the applier");
    await new Promise((r) => setTimeout(r, 20));
    expect(drained).toBe(false);
    expect(p.client.backlog().oldestMs).toBeGreaterThan(0);
    p.client.send(4, write("late", 1)); // sent after drained() was called: not waited for
    release!();
    await d;
    expect(s.applied.map((a) => a.seq)).toContain(3);
    await Promise.all(sends);
  });

  it("a wrong key is refused on both sides with a reason naming the key, and nothing is applied", async () => {
    const s = await second();
    const p = prim(s.port, { key: OTHER_KEY });
    await until(() => p.failures.length > 0 && s.refused.length > 0, "refusals");
    expect(p.failures[0]).toMatch(/proof of the cluster key does not match: the two nodes hold different cluster keys/);
    expect(s.refused[0]).toMatch(/refused by a: the server's proof of the cluster key does not match/);
    expect(p.client.up).toBe(false);
    expect(await p.client.send(1, write("x", 1))).toMatchObject({ delivered: false, maybeApplied: false });
    expect(s.applied).toEqual([]);
  });

  it("refuses a node that is not the configured peer, and a different cluster", async () => {
    const s = await second();
    const p = prim(s.port, { node: "intruder" });
    await until(() => p.failures.length > 0, "refusal");
    expect(p.failures[0]).toBe(`refused by b: node "intruder" is not this node's replication peer (expected "a")`);
    const q = prim(s.port, { cluster: "other" });
    await until(() => q.failures.length > 0, "refusal");
    expect(q.failures[0]).toMatch(/this node belongs to cluster "pair", the client to "other"/);
  });

  it("something that is not vigil on the port is reported as such", async () => {
    const junk = net.createServer((c) => {
      c.resume();
      c.end("HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    await new Promise<void>((r) => junk.listen(0, "127.0.0.1", () => r()));
    cleanups.push(() => new Promise<void>((r) => junk.close(() => r())));
    const p = prim((junk.address() as net.AddressInfo).port);
    await until(() => p.failures.length > 0, "failure");
    expect(p.failures[0]).toBe("the other side does not speak the vigil replication protocol (record of 1213486160 bytes announced; the limit is 779): is the port right?");
  });

  it("tries the addresses in order and uses the first that answers", async () => {
    const s = await second();
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
    const deadPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const p = prim(s.port, { addresses: [`127.0.0.1:${deadPort}`, `127.0.0.2:${s.port}`, `127.0.0.1:${s.port}`] });
    await until(() => p.client.up, "up");
    expect(p.failures[0]).toMatch(/ECONNREFUSED/);
    expect(p.client.endpoint).toEqual({ address: "127.0.0.1", port: s.port });
  });

  it("a tampered byte closes the connection: the altered op is not applied and its send says maybe applied", async () => {
    const { s, p, proxy } = await proxied();
    expect(await p.client.send(1, write("a", 100))).toEqual({ delivered: true, result: { ok: true } });
    proxy.setAction((r) => {
      const t = Buffer.from(r);
      t[t.length - 20]! ^= 0x01;
      return [t];
    });
    const out = await p.client.send(2, write("b", 100));
    expect(out).toMatchObject({ delivered: false, maybeApplied: true });
    await until(() => s.downs.length > 0, "the SECOND to close");
    expect(s.downs[0]).toMatch(/failed authentication/);
    expect(s.applied.map((a) => a.seq)).toEqual([1]);
  });

  it("large writes (records written uncorked, their data a view of the record's own plaintext) arrive intact and in order among small ops", async () => {
    const s = await second();
    const p = prim(s.port);
    await until(() => p.client.up, "up");
    const ops: MirrorOp[] = [];
    for (let i = 0; i < 12; i++) {
      const big: MirrorOp = { op: "write", path: relPath(`big${i}`), offset: i << 20, data: new Uint8Array(randomBytes(1 << 20)), mtimeNs: BigInt(i) };
      ops.push(big, write(`small${i}`, 10 + i, i), write(`mid${i}`, 64 * 1024 + i, i));
    }
    const outs = await Promise.all(ops.map((op, i) => p.client.send(i + 1, op)));
    expect(outs.every((o) => o.delivered && o.result.ok)).toBe(true);
    expect(s.applied.map((a) => a.seq)).toEqual(ops.map((_, i) => i + 1));
    for (let i = 0; i < ops.length; i++) {
      const got = s.applied[i]!.op;
      const want = ops[i]!;
      if (got.op !== "write" || want.op !== "write") throw new Error("not a write");
      expect({ ...got, data: null }).toEqual({ ...want, data: null });
      expect(Buffer.compare(got.data, want.data)).toBe(0);
      // Plain Uint8Arrays, whose slice() copies, as every decoded op's fields.
      expect(Object.getPrototypeOf(got.data)).toBe(Uint8Array.prototype);
      expect(Object.getPrototypeOf(got.path)).toBe(Uint8Array.prototype);
    }
  });

  it("a tampered byte in a large record closes the connection and nothing of it is applied", async () => {
    const { s, p, proxy } = await proxied();
    expect(await p.client.send(1, write("a", 100))).toEqual({ delivered: true, result: { ok: true } });
    proxy.setAction((r) => {
      const t = Buffer.from(r);
      t[500_000]! ^= 0x01;
      return [t];
    });
    const out = await p.client.send(2, write("b", 1 << 20));
    expect(out).toMatchObject({ delivered: false, maybeApplied: true });
    await until(() => s.downs.length > 0, "the SECOND to close");
    expect(s.downs[0]).toMatch(/failed authentication/);
    expect(s.applied.map((a) => a.seq)).toEqual([1]);
  });

  it("a replayed record is refused and not applied twice", async () => {
    const { s, p, proxy } = await proxied();
    await p.client.send(1, write("a", 10));
    const opRecord = proxy.records[proxy.records.length - 1]!;
    proxy.setAction((r) => [r, opRecord]);
    await p.client.send(2, write("b", 10));
    await until(() => s.downs.length > 0, "the SECOND to close");
    expect(s.downs[0]).toMatch(/failed authentication/);
    expect(s.applied.map((a) => a.seq)).toEqual([1, 2]);
  });

  it("a dropped or reordered record is refused", async () => {
    const { s, p, proxy } = await proxied();
    let held: Buffer | null = null;
    proxy.setAction((r) => {
      if (held === null) {
        held = r;
        return [];
      }
      return [r, held];
    });
    const a = p.client.send(1, write("a", 10));
    const b = p.client.send(2, write("b", 10));
    expect(await a).toMatchObject({ delivered: false, maybeApplied: true });
    expect(await b).toMatchObject({ delivered: false });
    expect(s.downs[0]).toMatch(/failed authentication/);
    expect(s.applied).toEqual([]);
  });

  it("seeded fuzz: a record mutated anywhere (handshake or op) never gets anything wrong applied", async () => {
    let state = 77;
    const rand = (n: number): number => {
      state = (state * 1103515245 + 12345) >>> 0;
      return state % n;
    };
    for (let round = 0; round < 40; round++) {
      const s = await second();
      const proxy = await startProxy(s.port);
      const target = rand(6); // 0 client hello, 1 client proof, 2 its features, 3.. ops
      let mutated = false;
      proxy.setAction((r, index) => {
        if (mutated || index !== target) return [r];
        mutated = true;
        const t = Buffer.from(r);
        // The body: a longer length prefix would only make the SECOND wait for bytes that never come.
        const at = 4 + rand(t.length - 4);
        t[at]! ^= 1 + rand(255);
        return [t];
      });
      const p = prim(proxy.port);
      const ops = [1, 2, 3].map((seq) => write(`f${seq}`, 10 + seq));
      await until(() => p.client.up, `round ${round}: up (after a refused attempt if the handshake was hit)`);
      const outs: SendOutcome[] = [];
      for (const [i, op] of ops.entries()) outs.push(await p.client.send(i + 1, op));
      const appliedSeqs = s.applied.map((a) => a.seq);
      if (target >= 3) {
        // The op in record `target` is seq target-2: it and what follows never apply on that connection.
        expect(appliedSeqs, `round ${round}`).toEqual(Array.from({ length: target - 3 }, (_, i) => i + 1));
        expect(outs[target - 3]).toMatchObject({ delivered: false });
      } else {
        expect(appliedSeqs, `round ${round}`).toEqual([1, 2, 3]);
        expect(s.refused.length + p.failures.length, `round ${round}: the altered handshake or features were refused`).toBeGreaterThan(0);
      }
      for (const a of s.applied) expect(a.op).toEqual(ops[a.seq - 1]);
      await p.client.close();
      await proxy.close();
      await s.server.close();
    }
  });

  it("backpressure: with a slow apply, unacknowledged bytes stay within the window and the SECOND's queue stays bounded", async () => {
    const windowBytes = 1024 * 1024;
    let maxQueued = 0;
    const s = await second({
      maxQueuedBytes: 512 * 1024,
      apply: async (op, seq) => {
        s.applied.push({ seq, op });
        maxQueued = Math.max(maxQueued, s.server.backlogBytes);
        await new Promise((r) => setTimeout(r, 2));
        return { ok: true };
      },
    });
    const p = prim(s.port, { windowBytes, windowOps: 64 });
    await until(() => p.client.up, "up");
    let maxInflight = 0;
    const sends: Promise<SendOutcome>[] = [];
    for (let seq = 1; seq <= 200; seq++) {
      sends.push(p.client.send(seq, write(`f${seq % 7}`, 64 * 1024, seq & 0xff)));
      const b = p.client.backlog();
      maxInflight = Math.max(maxInflight, b.inflightBytes);
    }
    const timer = setInterval(() => (maxInflight = Math.max(maxInflight, p.client.backlog().inflightBytes)), 1);
    const outs = await Promise.all(sends);
    clearInterval(timer);
    expect(outs.every((o) => o.delivered && o.result.ok)).toBe(true);
    expect(s.applied.map((a) => a.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(maxInflight).toBeLessThanOrEqual(windowBytes);
    expect(maxQueued).toBeLessThanOrEqual(windowBytes);
    expect(p.client.backlog()).toEqual({ inflightOps: 0, inflightBytes: 0, pendingOps: 0, pendingBytes: 0, oldestMs: 0 });
  });

  it("a PRIM that ignores the window is held back by TCP: the SECOND's queue stays near its bound", async () => {
    const maxQueuedBytes = 256 * 1024;
    let maxQueued = 0;
    const s = await second({
      maxQueuedBytes,
      apply: async (op, seq) => {
        s.applied.push({ seq, op });
        maxQueued = Math.max(maxQueued, s.server.backlogBytes);
        await new Promise((r) => setTimeout(r, 1));
        return { ok: true };
      },
    });
    const p = prim(s.port, { windowBytes: 64 * 1024 * 1024, windowOps: 100_000 });
    await until(() => p.client.up, "up");
    const outs = await Promise.all(Array.from({ length: 300 }, (_, i) => p.client.send(i + 1, write("f", 32 * 1024, i & 0xff))));
    expect(outs.every((o) => o.delivered && o.result.ok)).toBe(true);
    expect(s.applied).toHaveLength(300);
    // The bound, plus what was already read from the socket when reading stopped.
    expect(maxQueued).toBeLessThanOrEqual(maxQueuedBytes + 512 * 1024);
    console.log(`window ignored: the SECOND's queue peaked at ${maxQueued} bytes (bound ${maxQueuedBytes})`);
    expect(s.downs).toEqual([]);
  });

  it("connections that never finish their handshake do not lock the PRIM out", async () => {
    const s = await second({ handshakeTimeoutMs: 60_000 });
    const idle: net.Socket[] = [];
    for (let i = 0; i < 8; i++) idle.push(net.connect({ host: "127.0.0.1", port: s.port }));
    cleanups.push(() => idle.forEach((c) => c.destroy()));
    await new Promise((r) => setTimeout(r, 100));
    const p = prim(s.port);
    await until(() => p.client.up, "up despite the idle connections");
  });

  it("a blackholed link goes down on both sides after the deadtime, then comes back", async () => {
    const s = await second({ timers: { pingIntervalMs: 50, deadtimeMs: 400 } });
    const proxy = await startProxy(s.port);
    cleanups.push(() => proxy.close());
    const p = prim(proxy.port, { timers: { pingIntervalMs: 50, deadtimeMs: 400 } });
    await until(() => p.client.up, "up");
    await new Promise((r) => setTimeout(r, 300)); // pings flow: no false down
    expect(p.downs).toEqual([]);
    proxy.setBlackhole(true);
    const t0 = performance.now();
    const pending = p.client.send(1, write("a", 1));
    await until(() => p.downs.length > 0, "down");
    const elapsed = performance.now() - t0;
    expect(p.downs[0]).toMatch(/nothing heard from b for \d+ ms \(deadtime 400 ms\)/);
    expect(await pending).toMatchObject({ delivered: false, maybeApplied: true });
    console.log(`blackhole: PRIM saw the link down after ${elapsed.toFixed(0)} ms (deadtime 400 ms)`);
    await until(() => s.downs.length > 0, "the SECOND to see it down");
    proxy.setBlackhole(false);
    await until(() => p.client.up, "up again");
    expect(await p.client.send(2, write("b", 1))).toEqual({ delivered: true, result: { ok: true } });
  });

  it("the PRIM sees the link down within the deadtime when the SECOND's process is SIGSTOPped", async () => {
    const script = path.resolve(import.meta.dirname, "replication-second-child.ts");
    const bun = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
    const child: ChildProcess = spawn(bun, [script], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, KEY_HEX: Buffer.from(KEY).toString("hex") } });
    cleanups.push(() => {
      child.kill("SIGCONT");
      child.kill("SIGKILL");
    });
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /listening (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once("exit", (code) => reject(new Error(`child exited ${code}`)));
    });
    const p = prim(port, { timers: { pingIntervalMs: 50, deadtimeMs: 500 } });
    await until(() => p.client.up, "up");
    expect(await p.client.send(1, write("a", 1))).toEqual({ delivered: true, result: { ok: true } });
    child.kill("SIGSTOP");
    const t0 = performance.now();
    const pending = p.client.send(2, write("b", 1));
    await until(() => p.downs.length > 0, "down");
    console.log(`SIGSTOP: PRIM saw the link down after ${(performance.now() - t0).toFixed(0)} ms (deadtime 500 ms)`);
    expect(p.downs[0]).toMatch(/nothing heard from b/);
    expect(await pending).toMatchObject({ delivered: false, maybeApplied: true });
  });

  it("a new connection from the PRIM replaces the old one, and sends after a reconnect work", async () => {
    const s = await second();
    const p = prim(s.port);
    await until(() => p.client.up, "up");
    await p.client.send(1, write("a", 1));
    await s.server.close();
    await until(() => p.downs.length > 0, "down");
    expect(await p.client.send(2, write("b", 1))).toMatchObject({ delivered: false, maybeApplied: false });
    const s2 = await second({ listen: [{ address: "127.0.0.1", port: s.port }] });
    await until(() => p.client.up, "up again");
    expect(await p.client.send(3, write("c", 1))).toEqual({ delivered: true, result: { ok: true } });
    expect(s2.applied.map((a) => a.seq)).toEqual([3]);
  });
});
