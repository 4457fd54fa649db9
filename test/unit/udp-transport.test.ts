// Real sockets here stay on loopback (127.0.0.1 and lo's broadcast address);
// the one non-local address (203.0.113.77) is only ever bound to, which fails
// locally before anything could be sent. Multicast runs only inside a private
// network namespace that holds nothing but its own loopback.
import { spawn, spawnSync } from "node:child_process";
import * as dgram from "node:dgram";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it, onTestFinished } from "vitest";
import { decodeHeartbeat, encodeHeartbeat, type HeartbeatFrame } from "../../src/proto/heartbeat.ts";
import { createMemoryNetwork } from "../../src/net/memory-transport.ts";
import {
  DEFAULT_HEARTBEAT_PORT,
  type Endpoint,
  type LinkSpec,
  openUdpTransport,
  type Transport,
  TransportBindError,
  TransportConfigError,
  TransportSendError,
  RECEIVE_BUFFER_BYTES,
  type UdpTransport,
} from "../../src/net/udp-transport.ts";
import { until } from "./until.ts";

const NOT_ON_THIS_HOST = "203.0.113.77";
const KEY = new Uint8Array(32).fill(9);

interface Received {
  link: number;
  bytes: Uint8Array;
  from: Endpoint;
}

/** Collects what a transport hears and lets a test wait for the next item. */
function collect(t: Transport): { received: Received[]; errors: { link: number; err: Error }[]; next(): Promise<Received>; nextError(): Promise<{ link: number; err: Error }> } {
  const received: Received[] = [];
  const errors: { link: number; err: Error }[] = [];
  let wakeReceive: (() => void) | null = null;
  let wakeError: (() => void) | null = null;
  t.onReceive((link, bytes, from) => {
    received.push({ link, bytes, from });
    wakeReceive?.();
  });
  t.onError((link, err) => {
    errors.push({ link, err });
    wakeError?.();
  });
  // A guard against hanging on a lost datagram, not a timing assertion.
  const waitFor = <T>(list: T[], seen: number, setWake: (w: (() => void) | null) => void, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} arrived`)), 5_000);
      const check = (): void => {
        const item = list[seen];
        if (item !== undefined) {
          clearTimeout(timer);
          setWake(null);
          resolve(item);
        }
      };
      setWake(check);
      check();
    });
  let receivedSeen = 0;
  let errorsSeen = 0;
  return {
    received,
    errors,
    next: () => waitFor(received, receivedSeen++, (w) => (wakeReceive = w), "datagram"),
    nextError: () => waitFor(errors, errorsSeen++, (w) => (wakeError = w), "error"),
  };
}

const open: Transport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

const randomPort = (): number => 20_000 + Math.floor(Math.random() * 40_000);

/** Opens with fresh random high ports, retrying if one happens to be taken. */
async function openWithFreshPorts(make: (ports: number[]) => LinkSpec[], count: number): Promise<{ t: Transport; ports: number[] }> {
  for (let attempt = 0; ; attempt++) {
    const ports = Array.from({ length: count }, randomPort);
    try {
      const t = await openUdpTransport(make(ports));
      open.push(t);
      return { t, ports };
    } catch (e) {
      if (!(e instanceof TransportBindError && e.code === "EADDRINUSE") || attempt > 20) throw e;
    }
  }
}

const unicast = (index: number, port: number, peers: string[]): LinkSpec => ({ index, localAddress: "127.0.0.1", port, mode: "unicast", peers });

/** Two "nodes" on 127.0.0.1, each with two links, every link aimed at the other node's port for it. */
async function udpPair(): Promise<{ a: Transport; b: Transport; aPorts: number[]; bPorts: number[] }> {
  for (let attempt = 0; ; attempt++) {
    const aPorts = [randomPort(), randomPort()];
    const bPorts = [randomPort(), randomPort()];
    const side = (mine: number[], theirs: number[]): LinkSpec[] => [0, 1].map((i) => unicast(i, mine[i] ?? 0, [`127.0.0.1:${theirs[i]}`]));
    let a: Transport | undefined;
    try {
      a = await openUdpTransport(side(aPorts, bPorts));
      const b = await openUdpTransport(side(bPorts, aPorts));
      open.push(a, b);
      return { a, b, aPorts, bPorts };
    } catch (e) {
      await a?.close();
      if (!(e instanceof TransportBindError && e.code === "EADDRINUSE") || attempt > 20) throw e;
    }
  }
}

/** The same two nodes on the in-memory twin. */
async function memoryPair(): Promise<{ a: Transport; b: Transport; aPorts: number[]; bPorts: number[] }> {
  const net = createMemoryNetwork();
  const aPorts = [7001, 7002];
  const bPorts = [7011, 7012];
  const a = await net.open([unicast(0, 7001, ["127.0.0.1:7011"]), unicast(1, 7002, ["127.0.0.1:7012"])]);
  const b = await net.open([unicast(0, 7011, ["127.0.0.1:7001"]), unicast(1, 7012, ["127.0.0.1:7002"])]);
  open.push(a, b);
  return { a, b, aPorts, bPorts };
}

function heartbeat(link: number): HeartbeatFrame {
  return { cluster: "lab", node: "a", epoch: 5n, seq: 1, sentAt: 10, link, echoes: [], modules: [{ module: "vms", role: "PRIM", generation: 3 }] };
}

describe.each([
  ["UDP", udpPair],
  ["in-memory twin", memoryPair],
])("%s transport between two nodes", (_name, pair) => {
  it("delivers a datagram intact, tagged with the link it came in on and the sender's endpoint", async () => {
    const { a, b, aPorts } = await pair();
    const atB = collect(b);
    const payload = new Uint8Array([1, 2, 3, 250, 0, 7]);
    a.send(1, payload);
    const got = await atB.next();
    expect(got.link).toBe(1);
    expect(Array.from(got.bytes)).toEqual(Array.from(payload));
    expect(got.from).toEqual({ address: "127.0.0.1", port: aPorts[1] });
  });

  it("works both ways and keeps links apart", async () => {
    const { a, b, bPorts } = await pair();
    const atA = collect(a);
    const atB = collect(b);
    b.send(0, new Uint8Array([0]));
    const first = await atA.next();
    expect(first).toMatchObject({ link: 0, from: { port: bPorts[0] } });
    a.send(0, new Uint8Array([10]));
    a.send(1, new Uint8Array([11]));
    const got = [await atB.next(), await atB.next()].sort((x, y) => x.link - y.link);
    expect(got.map((r) => [r.link, r.bytes[0]])).toEqual([[0, 10], [1, 11]]);
  });

  it("carries a signed heartbeat frame end to end", async () => {
    const { a, b } = await pair();
    const atB = collect(b);
    a.send(1, encodeHeartbeat(heartbeat(1), KEY));
    const got = await atB.next();
    expect(decodeHeartbeat(got.bytes, KEY)).toEqual({ ok: true, frame: heartbeat(1) });
  });

  it("reports sending on a link that does not exist through onError, without throwing", async () => {
    const { a } = await pair();
    const atA = collect(a);
    expect(() => a.send(9, new Uint8Array([1]))).not.toThrow();
    const { link, err } = await atA.nextError();
    expect(link).toBe(9);
    expect(err).toBeInstanceOf(TransportSendError);
    expect(err.message).toMatch(/heartbeat link 9: .*no such link/);
  });

  it("reports sending after close through onError, without throwing", async () => {
    const { a } = await pair();
    const errors: Error[] = [];
    a.onError((_l, e) => errors.push(e));
    await a.close();
    expect(() => a.send(0, new Uint8Array([1]))).not.toThrow();
    await new Promise((r) => setTimeout(r, 20));
    // Errors after close may or may not be reported, but nothing may throw and nothing may arrive.
    for (const e of errors) expect(e.message).toMatch(/closed/);
  });
});

describe("UDP transport", () => {
  it("uses port 7694 by default", () => {
    expect(DEFAULT_HEARTBEAT_PORT).toBe(7694);
  });

  it("rejects a bind to an address this host does not have, naming address, port and cause", async () => {
    const err = await openUdpTransport([{ index: 0, localAddress: NOT_ON_THIS_HOST, port: 7694, mode: "unicast", peers: [] }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportBindError);
    const e = err as TransportBindError;
    expect(e.code).toBe("EADDRNOTAVAIL");
    expect(e.message).toBe(`heartbeat link 0: cannot bind to ${NOT_ON_THIS_HOST}:7694: EADDRNOTAVAIL (that address is not configured on any interface of this host)`);
    expect(e.stack === undefined || !e.message.includes("    at ")).toBe(true);
  });

  it("rejects a multicast or broadcast link whose local address is not on this host, before binding", async () => {
    const multicast = openUdpTransport([{ index: 2, localAddress: NOT_ON_THIS_HOST, port: 7694, mode: "multicast", peers: [], group: "224.0.0.120" }]);
    await expect(multicast).rejects.toThrow(`heartbeat link 2: cannot use local address ${NOT_ON_THIS_HOST}:7694: EADDRNOTAVAIL`);
    const broadcast = openUdpTransport([{ index: 0, localAddress: NOT_ON_THIS_HOST, port: 7694, mode: "broadcast", peers: [], broadcastAddress: "203.0.113.255" }]);
    await expect(broadcast).rejects.toBeInstanceOf(TransportBindError);
  });

  it("rejects a port already in use with EADDRINUSE", async () => {
    const { ports } = await openWithFreshPorts((p) => [unicast(0, p[0] ?? 0, [])], 1);
    const err = await openUdpTransport([unicast(0, ports[0] ?? 0, [])]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportBindError);
    expect((err as Error).message).toBe(`heartbeat link 0: cannot bind to 127.0.0.1:${ports[0]}: EADDRINUSE (the port is already in use on that address (is another vigil running?))`);
  });

  it("closes the links it already opened when a later link fails", async () => {
    const port = randomPort();
    await expect(openUdpTransport([unicast(0, port, []), { index: 1, localAddress: NOT_ON_THIS_HOST, port, mode: "unicast", peers: [] }])).rejects.toThrow(/heartbeat link 1/);
    // Link 0's port is free again: the failed open released it.
    const again = await openUdpTransport([unicast(0, port, [])]);
    open.push(again);
  });

  it("reports a send the kernel refuses (EMSGSIZE) through onError, naming link and target", async () => {
    const { t, ports } = await openWithFreshPorts((p) => [unicast(0, p[0] ?? 0, ["127.0.0.1:9"])], 1);
    expect(ports.length).toBe(1);
    const seen = collect(t);
    expect(() => t.send(0, new Uint8Array(70_000))).not.toThrow();
    const { link, err } = await seen.nextError();
    expect(link).toBe(0);
    expect(err).toBeInstanceOf(TransportSendError);
    expect((err as TransportSendError).code).toBe("EMSGSIZE");
    expect(err.message).toMatch(/^heartbeat link 0: send to 127\.0\.0\.1:9 failed: /);
  });

  it("tells the real port when asked for any free port", async () => {
    const t = await openUdpTransport([unicast(3, 0, [])]);
    open.push(t);
    const bound = (t as Awaited<ReturnType<typeof openUdpTransport>>).boundEndpoint(3);
    expect(bound?.address).toBe("127.0.0.1");
    expect(bound?.port).toBeGreaterThan(0);
  });

  it("broadcast mode: hears broadcasts on the link's broadcast address but not its own", async () => {
    const { t, ports } = await openWithFreshPorts((p) => [{ index: 0, localAddress: "127.0.0.1", port: p[0] ?? 0, mode: "broadcast", peers: [], broadcastAddress: "127.255.255.255" }], 1);
    const port = ports[0] ?? 0;
    const seen = collect(t);
    t.send(0, new Uint8Array([1])); // loops back to us; must be dropped
    const other = dgram.createSocket("udp4");
    try {
      await new Promise<void>((r) => other.bind({ address: "127.0.0.1", port: 0 }, () => r()));
      other.setBroadcast(true);
      // Sent after our own broadcast, so if ours were not dropped it would arrive first.
      await new Promise((r) => setTimeout(r, 50));
      other.send(new Uint8Array([2]), port, "127.255.255.255");
      const got = await seen.next();
      expect(Array.from(got.bytes)).toEqual([2]);
      expect(got.link).toBe(0);
      expect(got.from).toEqual({ address: "127.0.0.1", port: other.address().port });
      expect(seen.errors).toEqual([]);
    } finally {
      other.close();
    }
  });
});

/** Polls; the limit only keeps a lost datagram from hanging the suite. */
const canUnshareNet = process.getuid?.() === 0 && spawnSync("unshare", ["-n", "true"]).status === 0;

/** A plain socket on `address` (any 127.x address is this host's loopback), to play a peer or a stranger. */
async function sender(address: string, port = 0): Promise<{ port: number; send(to: number, bytes: Uint8Array, toAddress?: string): Promise<void>; heard(): number[]; close(): Promise<void> }> {
  const s = dgram.createSocket("udp4");
  const heard: number[] = [];
  s.on("message", (m) => heard.push(m[0] ?? -1));
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.bind({ address, port }, () => resolve());
  });
  s.setBroadcast(true);
  return {
    port: s.address().port,
    send: (to, bytes, toAddress = "127.0.0.1") => new Promise((resolve, reject) => s.send(bytes, to, toAddress, (e) => (e ? reject(e) : resolve()))),
    heard: () => [...heard],
    close: () => new Promise((resolve) => s.close(() => resolve())),
  };
}

describe("UDP transport, datagrams from strangers", () => {
  it("drops a datagram from an address that is no peer of the link unread, and says so", async () => {
    const peer = await sender("127.0.0.3");
    const stranger = await sender("127.0.0.2");
    onTestFinished(() => Promise.all([peer.close(), stranger.close()]).then(() => undefined));
    // Broadcast: nothing to connect() to, the transport filters by itself.
    const { t, ports } = await openWithFreshPorts((p) => [{ index: 0, localAddress: "127.0.0.1", port: p[0] ?? 0, mode: "broadcast", peers: ["127.0.0.3", "127.0.0.4"], broadcastAddress: "127.255.255.255" }], 1);
    const port = ports[0] ?? 0;
    const seen = collect(t);
    const strangers: { link: number; from: Endpoint }[] = [];
    (t as UdpTransport).onStranger((link, from) => strangers.push({ link, from }));
    await stranger.send(port, new Uint8Array([1]), "127.255.255.255");
    await peer.send(port, new Uint8Array([2]), "127.255.255.255");
    const got = await seen.next();
    expect([...got.bytes]).toEqual([2]);
    expect(got.from).toEqual({ address: "127.0.0.3", port: peer.port });
    expect(strangers).toEqual([{ link: 0, from: { address: "127.0.0.2", port: stranger.port } }]);
    expect(seen.received).toHaveLength(1);
  });

  it("a link with one peer is connected to it: the kernel keeps everyone else out, other ports of the peer's host too", async () => {
    const peer = await sender("127.0.0.3");
    const samePeerOtherPort = await sender("127.0.0.3");
    const stranger = await sender("127.0.0.2");
    onTestFinished(() => Promise.all([peer.close(), samePeerOtherPort.close(), stranger.close()]).then(() => undefined));
    const { t, ports } = await openWithFreshPorts((p) => [unicast(0, p[0] ?? 0, [`127.0.0.3:${peer.port}`])], 1);
    const port = ports[0] ?? 0;
    const seen = collect(t);
    const strangers: Endpoint[] = [];
    (t as UdpTransport).onStranger((_link, from) => strangers.push(from));
    await stranger.send(port, new Uint8Array([1]));
    await samePeerOtherPort.send(port, new Uint8Array([3]));
    await peer.send(port, new Uint8Array([2]));
    const got = await seen.next();
    expect([...got.bytes]).toEqual([2]);
    expect(seen.received).toHaveLength(1);
    // Dropped by the kernel, not by us: nothing to report.
    expect(strangers).toEqual([]);
  });

  it("a link with several peers has a socket connected to each: both are heard and sent to, nobody else is heard", async () => {
    const a = await sender("127.0.0.3");
    const b = await sender("127.0.0.4");
    const stranger = await sender("127.0.0.2");
    onTestFinished(() => Promise.all([a.close(), b.close(), stranger.close()]).then(() => undefined));
    const { t, ports } = await openWithFreshPorts((p) => [unicast(0, p[0] ?? 0, [`127.0.0.3:${a.port}`, `127.0.0.4:${b.port}`])], 1);
    const port = ports[0] ?? 0;
    const seen = collect(t);
    await stranger.send(port, new Uint8Array([1]));
    await a.send(port, new Uint8Array([2]));
    await b.send(port, new Uint8Array([3]));
    const first = await seen.next();
    const second = await seen.next();
    expect([first, second].map((r) => [r.from.address, [...r.bytes]])).toEqual([["127.0.0.3", [2]], ["127.0.0.4", [3]]]);
    expect(seen.received).toHaveLength(2);
    t.send(0, new Uint8Array([9]));
    await until(() => a.heard().length > 0 && b.heard().length > 0, "our datagram at both peers", 5_000);
    expect([a.heard(), b.heard()]).toEqual([[9], [9]]);
    // The port is still ours alone: a second transport on it is refused as before.
    const err = await openUdpTransport([unicast(0, port, ["127.0.0.5:9", "127.0.0.6:9"])]).catch((e: unknown) => e);
    expect((err as TransportBindError).code).toBe("EADDRINUSE");
  });

  it("asks for a large receive buffer and tells what the kernel gave", async () => {
    const { t } = await openWithFreshPorts((p) => [unicast(0, p[0] ?? 0, ["127.0.0.3:9"])], 1);
    const bytes = (t as UdpTransport).receiveBufferBytes(0) ?? 0;
    // Whatever net.core.rmem_max allows, never less than the kernel's usual default.
    expect(bytes).toBeGreaterThanOrEqual(Math.min(RECEIVE_BUFFER_BYTES, 200_000));
  });
});

describe("UDP transport, multicast", () => {
  // The child runs in a fresh network namespace (it and the namespace vanish
  // together), under Bun, so this also checks the transport on that runtime.
  it.skipIf(!canUnshareNet)("joins the group on the link's address, hears members, and never hears itself", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-mcast-"));
    const script = path.join(dir, "probe.ts");
    const transportModule = path.resolve(import.meta.dirname, "../../src/net/udp-transport.ts");
    fs.writeFileSync(
      script,
      `import * as dgram from "node:dgram";
import { openUdpTransport } from ${JSON.stringify(transportModule)};
const out = (o: unknown) => console.log(JSON.stringify(o));
const t = await openUdpTransport([{ index: 4, localAddress: "127.0.0.1", port: 17694, mode: "multicast", peers: [], group: "224.0.0.120" }]);
t.onError((link, e) => out({ error: link, message: e.message }));
t.onReceive((link, bytes, from) => out({ link, bytes: Array.from(bytes), from }));
t.send(4, new Uint8Array([1]));
const member = dgram.createSocket("udp4");
member.bind({ address: "127.0.0.1", port: 0 }, () => {
  member.setMulticastInterface("127.0.0.1");
  member.send(new Uint8Array([2]), 17694, "224.0.0.120");
});
setTimeout(async () => { const port = member.address().port; await t.close(); member.close(); out({ done: port }); }, 300);
`,
    );
    const bun = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
    const child = spawn("unshare", ["-n", "sh", "-c", `ip link set lo up && ip link set lo multicast on && exec "$0" "$1"`, bun, script], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const guard = setTimeout(() => child.pid !== undefined && process.kill(child.pid, "SIGKILL"), 20_000);
    try {
      const code = await new Promise<number | null>((r) => child.on("close", r));
      expect(code, stderr).toBe(0);
      const lines = stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      const done = lines.pop();
      expect(done).toHaveProperty("done");
      expect(lines).toEqual([{ link: 4, bytes: [2], from: { address: "127.0.0.1", port: done?.["done"] } }]);
    } finally {
      clearTimeout(guard);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("link specs are checked before any socket opens", () => {
  it.each<[string, LinkSpec[], RegExp]>([
    ["no links", [], /no heartbeat links configured/],
    ["a duplicate index", [unicast(0, 7694, []), { ...unicast(0, 7695, []) }], /link index 0 is used twice/],
    ["an index over 255", [unicast(256, 7694, [])], /index 256 must be an integer in 0\.\.255/],
    ["a host name as address", [{ ...unicast(0, 7694, []), localAddress: "vms1" }], /link 0: local address "vms1" is not an IPv4 address/],
    ["a bad port", [unicast(0, 70_000, [])], /link 0: port 70000 must be an integer in 0\.\.65535/],
    ["a bad peer", [unicast(1, 7694, ["198.51.100.12", "198.51.100.300"])], /link 1: peer "198\.51\.100\.300" is not an IPv4 address or address:port/],
    ["a peer without port on a port-0 link", [unicast(0, 0, ["198.51.100.12"])], /needs an explicit :port because the link's port is 0/],
    ["multicast without a group", [{ ...unicast(0, 7694, []), mode: "multicast" }], /link 0: multicast mode needs an IPv4 multicast group .*got none/],
    ["multicast with a unicast group", [{ ...unicast(0, 7694, []), mode: "multicast", group: "198.51.100.1" }], /got 198\.51\.100\.1/],
    ["broadcast without an address", [{ ...unicast(0, 7694, []), mode: "broadcast" }], /link 0: broadcast mode needs the link's subnet broadcast address/],
    ["two links on the same group and port", [{ ...unicast(0, 7694, []), mode: "multicast", group: "224.0.0.120" }, { ...unicast(1, 7694, []), localAddress: "127.0.0.2", mode: "multicast", group: "224.0.0.120" }], /links 0 and 1 both listen on 224\.0\.0\.120:7694/],
  ])("%s", async (_name, links, message) => {
    const err = await openUdpTransport(links).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportConfigError);
    expect((err as Error).message).toMatch(message);
    expect(() => createMemoryNetwork().transport(links)).toThrow(message);
  });
});

describe("in-memory twin", () => {
  const node = (address: string, mode: LinkSpec["mode"] = "unicast", peers: string[] = []): LinkSpec[] => [
    mode === "multicast"
      ? { index: 0, localAddress: address, port: 7694, mode, peers: [], group: "224.0.0.120" }
      : mode === "broadcast"
        ? { index: 0, localAddress: address, port: 7694, mode, peers: [], broadcastAddress: "198.51.100.255" }
        : { index: 0, localAddress: address, port: 7694, mode, peers },
  ];

  it.each(["multicast", "broadcast"] as const)("%s reaches every other node on the link, never the sender", (mode) => {
    const net = createMemoryNetwork({ manual: true });
    const [a, b, c] = ["198.51.100.11", "198.51.100.12", "198.51.100.13"].map((addr) => net.transport(node(addr, mode)));
    const seen = [a, b, c].map((t) => collect(t as Transport));
    a?.send(0, new Uint8Array([5]));
    expect(net.deliverAll()).toBe(1);
    expect(seen.map((s) => s.received.length)).toEqual([0, 1, 1]);
    expect(seen[1]?.received[0]?.from).toEqual({ address: "198.51.100.11", port: 7694 });
  });

  it("delivers nothing until deliverAll in manual mode, then in order", () => {
    const net = createMemoryNetwork({ manual: true });
    const a = net.transport(node("198.51.100.11", "unicast", ["198.51.100.12"]));
    const b = collect(net.transport(node("198.51.100.12")));
    a.send(0, new Uint8Array([1]));
    a.send(0, new Uint8Array([2]));
    expect(b.received).toEqual([]);
    expect(net.pending).toBe(2);
    net.deliverAll();
    expect(b.received.map((r) => r.bytes[0])).toEqual([1, 2]);
  });

  it("a downed interface makes sends fail with ENETUNREACH and hears nothing; up again, it works", () => {
    const net = createMemoryNetwork({ manual: true });
    const a = net.transport(node("198.51.100.11", "unicast", ["198.51.100.12"]));
    const b = net.transport(node("198.51.100.12", "unicast", ["198.51.100.11"]));
    const atA = collect(a);
    const atB = collect(b);
    net.setInterface(0, "198.51.100.11", false);
    a.send(0, new Uint8Array([1]));
    b.send(0, new Uint8Array([2]));
    net.deliverAll();
    expect(atB.received).toEqual([]);
    expect(atA.received).toEqual([]);
    expect(atA.errors).toHaveLength(1);
    expect((atA.errors[0]?.err as TransportSendError).code).toBe("ENETUNREACH");
    net.setInterface(0, "198.51.100.11", true);
    a.send(0, new Uint8Array([3]));
    net.deliverAll();
    expect(atB.received.map((r) => r.bytes[0])).toEqual([3]);
  });

  it("a downed segment loses everything silently, and a filter drops what it refuses", () => {
    const net = createMemoryNetwork({ manual: true });
    const a = net.transport(node("198.51.100.11", "unicast", ["198.51.100.12"]));
    const atA = collect(a);
    const atB = collect(net.transport(node("198.51.100.12")));
    net.setSegment(0, false);
    a.send(0, new Uint8Array([1]));
    net.deliverAll();
    expect(atB.received).toEqual([]);
    expect(atA.errors).toEqual([]);
    net.setSegment(0, true);
    net.setFilter((d) => d.bytes[0] !== 2);
    a.send(0, new Uint8Array([2]));
    a.send(0, new Uint8Array([3]));
    net.deliverAll();
    expect(atB.received.map((r) => r.bytes[0])).toEqual([3]);
  });

  it("taps capture sent frames, and inject replays them as if from the sender", () => {
    const net = createMemoryNetwork({ manual: true });
    const a = net.transport(node("198.51.100.11", "unicast", ["198.51.100.12"]));
    const atB = collect(net.transport(node("198.51.100.12")));
    const captured: Uint8Array[] = [];
    net.tap((d) => captured.push(d.bytes));
    a.send(0, encodeHeartbeat(heartbeat(0), KEY));
    net.deliverAll();
    const first = captured[0];
    expect(first).toBeDefined();
    if (!first) return;
    net.inject(0, { address: "198.51.100.11", port: 7694 }, { address: "198.51.100.12", port: 7694 }, first);
    net.deliverAll();
    expect(atB.received).toHaveLength(2);
    expect(Buffer.from(atB.received[1]?.bytes ?? []).equals(Buffer.from(first))).toBe(true);
  });

  it("refuses two nodes claiming the same address and port on a link, like EADDRINUSE", () => {
    const net = createMemoryNetwork();
    net.transport(node("198.51.100.11"));
    expect(() => net.transport(node("198.51.100.11"))).toThrow(/heartbeat link 0: cannot bind to 198\.51\.100\.11:7694: EADDRINUSE/);
  });

  it("a closed transport hears nothing more and frees its address", async () => {
    const net = createMemoryNetwork({ manual: true });
    const a = net.transport(node("198.51.100.11", "unicast", ["198.51.100.12"]));
    const b = net.transport(node("198.51.100.12"));
    const atB = collect(b);
    a.send(0, new Uint8Array([1]));
    await b.close();
    net.deliverAll();
    expect(atB.received).toEqual([]);
    expect(() => net.transport(node("198.51.100.12"))).not.toThrow();
  });

  it("delivers on its own in automatic mode; idle() waits for the queue to drain", async () => {
    const net = createMemoryNetwork();
    const a = net.transport(node("198.51.100.11", "unicast", ["198.51.100.12"]));
    const atB = collect(net.transport(node("198.51.100.12")));
    a.send(0, new Uint8Array([1]));
    expect(atB.received).toEqual([]); // never synchronous, like UDP
    await net.idle();
    expect(atB.received).toHaveLength(1);
  });
});
