/**
 * "Reading before judging" (membership.ts): a frame already waiting in our
 * socket when a deadline comes is news, not silence. The core says when a
 * tick would take a verdict (verdictDue); the driver then reads what the
 * kernel holds for its sockets before it ticks.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { verdictDue, type MembershipFrame } from "../../src/core/membership/membership.ts";
import type { Endpoint, Transport } from "../../src/net/udp-transport.ts";
import { pairEngine, pairMembership } from "./heartbeat-engine-pair.ts";
import { membershipConfig, MembershipDriver, T0 } from "./membership-driver.ts";

describe("verdictDue", () => {
  const cfg = membershipConfig(["b"], 2);
  const frame = (seq: number, link: number): MembershipFrame => ({ cluster: "c1", node: "b", epoch: 7n, seq, sentAt: seq, link, echoes: [] });
  /** b heard on both links at `t`, every wake-up before it ticked. */
  const heardAt = (t: number): MembershipDriver => {
    const d = new MembershipDriver(cfg);
    for (const link of [0, 1]) d.step({ type: "frame", link, frame: frame(link + 1, link) }, t);
    return d;
  };

  it("is false while the peer is heard, true from the first deadline that would change a state", () => {
    const d = heardAt(T0 + 50);
    expect(verdictDue(d.state, T0 + 50 + cfg.warntimeMs - 1)).toBe(false);
    // warntime: the peer would turn late
    expect(verdictDue(d.state, T0 + 50 + cfg.warntimeMs)).toBe(true);
  });

  it("is true at a link's deadline while the peer is still heard on another", () => {
    const d = heardAt(T0 + 50);
    // Only link 1 keeps delivering.
    let seq = 10;
    for (let t = T0 + 100; t < T0 + 50 + cfg.deadtimeMs; t += cfg.intervalMs) d.step({ type: "frame", link: 1, frame: frame(seq++, 1) }, t);
    expect(verdictDue(d.state, T0 + 50 + cfg.deadtimeMs - 1)).toBe(false);
    expect(verdictDue(d.state, T0 + 50 + cfg.deadtimeMs)).toBe(true);
  });

  it("is false once the verdicts are taken: a dead peer has no deadline left", () => {
    const d = heardAt(T0 + 50);
    d.until(T0 + 50 + cfg.deadtimeMs);
    expect(d.peer("b").state).toBe("dead");
    expect(verdictDue(d.state, T0 + 50 + 10 * cfg.deadtimeMs)).toBe(false);
  });
});

/**
 * Two transports on one unicast link: what b sends reaches a's kernel queue,
 * but a's runtime never delivers it (a receive path that lags or stopped);
 * only a's readQueued() hands it over. What a sends reaches b at once.
 */
function stuckPair() {
  const kernelQueueOfA: { bytes: Uint8Array; from: Endpoint }[] = [];
  let receiveA: ((link: number, bytes: Uint8Array, from: Endpoint) => void) | undefined;
  let receiveB: ((link: number, bytes: Uint8Array, from: Endpoint) => void) | undefined;
  let readQueuedCalls = 0;
  const a: Transport = {
    send(link, bytes) {
      queueMicrotask(() => receiveB?.(link, bytes, { address: "198.51.100.11", port: 7694 }));
    },
    onReceive(cb) {
      receiveA = cb;
    },
    onError() {},
    readQueued() {
      readQueuedCalls += 1;
      const n = kernelQueueOfA.length;
      for (const d of kernelQueueOfA.splice(0)) receiveA?.(0, d.bytes, d.from);
      return n;
    },
    close: async () => {},
  };
  const b: Transport = {
    send(_link, bytes) {
      kernelQueueOfA.push({ bytes, from: { address: "198.51.100.12", port: 7694 } });
    },
    onReceive(cb) {
      receiveB = cb;
    },
    onError() {},
    close: async () => {},
  };
  return { a, b, readQueuedCalls: () => readQueuedCalls };
}

describe("the heartbeat driver reads its sockets before a tick that would take a verdict", () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  const timers = { intervalMs: 20, warntimeMs: 50, deadtimeMs: 100, initdeadMs: 1000 };
  const engine = (self: "a" | "b", t: Transport) => pairEngine(self, async () => t, { membership: { ...pairMembership(self), ...timers } });

  it("a peer whose frames wait unread in the socket is never declared late or dead, and the lag is said", async () => {
    const pair = stuckPair();
    const a = engine("a", pair.a);
    const b = engine("b", pair.b);
    await a.e.start();
    await b.e.start();
    await vi.advanceTimersByTimeAsync(3_000);
    const verdicts = [...a.e.events.toArray()].filter((e) => e.scope === "peer").map((e) => `${e.node} ${e.to}`);
    expect(verdicts).toEqual(["b up"]);
    expect(a.e.view().peers[0]?.state).toBe("up");
    expect(pair.readQueuedCalls()).toBeGreaterThan(0);
    expect(a.lines.some((l) => l.includes("waiting unread in the socket"))).toBe(true);
    expect(a.metrics.render()).toMatch(/vigil_heartbeat_read_before_verdict_total \d+/);
    await a.e.stop();
    await b.e.stop();
  });

  it("reads nothing while peers are heard: no read per tick", async () => {
    const net: { a?: (l: number, b: Uint8Array, f: Endpoint) => void; b?: (l: number, b: Uint8Array, f: Endpoint) => void } = {};
    let reads = 0;
    const mk = (self: "a" | "b"): Transport => ({
      send(link, bytes) {
        const to = self === "a" ? "b" : "a";
        queueMicrotask(() => net[to]?.(link, bytes, { address: self === "a" ? "198.51.100.11" : "198.51.100.12", port: 7694 }));
      },
      onReceive(cb) {
        net[self] = cb;
      },
      onError() {},
      readQueued() {
        reads += 1;
        return 0;
      },
      close: async () => {},
    });
    const a = engine("a", mk("a"));
    const b = engine("b", mk("b"));
    await a.e.start();
    await b.e.start();
    await vi.advanceTimersByTimeAsync(200);
    const before = reads;
    await vi.advanceTimersByTimeAsync(3_000);
    expect(reads).toBe(before);
    expect(a.e.view().peers[0]?.state).toBe("up");
    await a.e.stop();
    await b.e.stop();
  });
});
