/**
 * Two heartbeat engines, a and b, on one unicast link (a second one when
 * asked) of the in-memory network or of a transport the test makes, at lan
 * timers, each with a config digest when given one: what the driver tests
 * that run over fake timers share.
 */
import { vi } from "vitest";
import type { MembershipConfig } from "../../src/core/membership/membership.ts";
import type { OwnDigest } from "../../src/core/membership/drift.ts";
import { HeartbeatEngine, type HeartbeatEngineOptions } from "../../src/daemon/heartbeat/engine.ts";
import { Logger } from "../../src/daemon/log.ts";
import { Metrics } from "../../src/daemon/metrics.ts";
import { createMemoryNetwork, type MemoryNetwork } from "../../src/net/memory-transport.ts";
import type { Endpoint, LinkSpec, Transport } from "../../src/net/udp-transport.ts";
import { encodeHeartbeat } from "../../src/proto/heartbeat.ts";

export const KEY = new Uint8Array(32).fill(7);
/** Each node's address on link 0, then on link 1. */
const ADDRESSES = { a: ["198.51.100.11", "203.0.113.11"], b: ["198.51.100.12", "203.0.113.12"] } as const;
const timers = { intervalMs: 100, warntimeMs: 250, deadtimeMs: 500, initdeadMs: 2000 };

type Self = keyof typeof ADDRESSES;

/** The pair's membership as `self` sees it: cluster "lab", a on 198.51.100.11 and b on .12 (and 203.0.113.11, .12 on a second link), lan timers. */
export function pairMembership(self: string, linkCount: 1 | 2 = 1): MembershipConfig {
  const nodes = (["a", "b"] as const).map((name) => ({ name, links: ADDRESSES[name].slice(0, linkCount) }));
  return { self, cluster: "lab", nodes, ...timers };
}

function linksFor(self: Self, linkCount: 1 | 2): LinkSpec[] {
  const peer: Self = self === "a" ? "b" : "a";
  return ADDRESSES[self].slice(0, linkCount).map((localAddress, index) => ({
    index, localAddress, port: 7694, mode: "unicast", peers: [ADDRESSES[peer][index] ?? ""],
  }));
}

/**
 * Node `self`'s engine over `openTransport`, logging into `lines`; `extra` adds
 * options or replaces these (membership, clock). Not started.
 */
export function pairEngine(self: Self, openTransport: HeartbeatEngineOptions["openTransport"], extra: Partial<HeartbeatEngineOptions> = {}, linkCount: 1 | 2 = 1) {
  const lines: string[] = [];
  const metrics = new Metrics();
  const e = new HeartbeatEngine({
    membership: pairMembership(self, linkCount), key: KEY, links: linksFor(self, linkCount), openTransport,
    log: new Logger("text", (l) => lines.push(l)), metrics, clock: () => Date.now(),
    ...extra,
  });
  return { e, lines, metrics };
}

/**
 * a's transport, fed b's frames by the test: a polled socket keeps each with
 * its arrival until the driver reads it (at most `perRead` frames a read),
 * a watched one hands it over at once. `polled: false`: no polled socket.
 */
export function framesFromB(polled: boolean, perRead = Infinity) {
  const from: Endpoint = { address: ADDRESSES.b[0], port: 7694 };
  const receivers: ((link: number, bytes: Uint8Array, from: Endpoint, ageMs?: number) => void)[] = [];
  let queue: { bytes: Uint8Array; at: number }[] = [];
  let seq = 0;
  const frame = (sentAt: number) => encodeHeartbeat({ cluster: "lab", node: "b", epoch: 1n, seq: ++seq, sentAt, link: 0, echoes: [], modules: [] }, KEY);
  const readArrived = (): number => {
    const list = queue.slice(0, perRead);
    queue = queue.slice(list.length);
    for (const q of list) for (const cb of receivers) cb(0, q.bytes, from, Date.now() - q.at);
    return list.length;
  };
  const transport: Transport = {
    send() {},
    onReceive: (cb) => void receivers.push(cb),
    onError() {},
    readQueued: () => (polled ? readArrived() : 0),
    ...(polled ? { readArrived } : {}),
    close: () => Promise.resolve(),
  };
  return {
    transport,
    /** How many frames wait in the polled socket. */
    queued: () => queue.length,
    /** A frame of b's reaches the polled socket at `at` (now, or earlier: it waited while a did not run). */
    polledFrame(at = Date.now()) {
      queue.push({ bytes: frame(at), at });
    },
    /** A frame of b's, sent at `sentAt`, on the watched socket: handed over at once. */
    watchedFrame(sentAt = Date.now()) {
      const bytes = frame(sentAt);
      for (const cb of receivers) cb(0, bytes, from);
    },
  };
}

/** A node's config digest: the failback key differs between "auto" and "manual", the others agree. */
export function digest(failback: string): OwnDigest {
  return {
    digest: failback === "auto" ? "1111111111111111" : "2222222222222222",
    keys: [
      { key: "cluster.heartbeat.deadtime", hash: "00000000000000aa" },
      { key: "modules.web.failback", hash: failback === "auto" ? "00000000000000b1" : "00000000000000b2" },
      { key: "modules.web.vip", hash: "00000000000000cc" },
    ],
  };
}

/** Node `self` on the in-memory network, with a config digest and deferred frames when given. */
export function engine(net: MemoryNetwork, self: Self, configDigest?: OwnDigest, deferFrames?: boolean) {
  return pairEngine(self, (l) => net.open(l), {
    ...(configDigest === undefined ? {} : { configDigest }),
    ...(deferFrames === undefined ? {} : { deferFrames }),
  });
}

/** a and b, each made by `make`, on a new in-memory network: both started (a first), then `ms` of fake time. */
export async function runningPair<N extends { e: HeartbeatEngine }>(ms: number, make: (net: MemoryNetwork, self: Self) => N): Promise<{ net: MemoryNetwork; a: N; b: N }> {
  const net = createMemoryNetwork();
  const a = make(net, "a");
  const b = make(net, "b");
  await a.e.start();
  await b.e.start();
  await vi.advanceTimersByTimeAsync(ms);
  return { net, a, b };
}
