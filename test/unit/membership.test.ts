import { describe, expect, it } from "vitest";
import {
  initMembership,
  nextWakeAt,
  stepMembership,
  viewMembership,
  type MembershipAction,
  type MembershipEvent,
  type MembershipFrame,
  type MembershipState,
  type OutgoingHeartbeat,
} from "../../src/core/membership/membership.ts";
import { membershipConfig, MembershipDriver, T0 } from "./membership-driver.ts";

const config = membershipConfig(["b", "c"], 2);

function frame(node: string, seq: number, link: number, extra: Partial<MembershipFrame> = {}): MembershipFrame {
  return { cluster: "c1", node, epoch: 7n, seq, sentAt: 500 + seq, link, echoes: [], ...extra };
}

class Driver extends MembershipDriver {
  constructor(cfg = config) {
    super(cfg);
  }

  frame(link: number, f: MembershipFrame, now = this.now): MembershipAction[] {
    return this.step({ type: "frame", link, frame: f }, now);
  }

  /** Feeds a frame without first ticking up to its time (a frame that was queued while we were frozen). */
  raw(link: number, f: MembershipFrame, now: number): MembershipAction[] {
    return this.apply({ type: "frame", link, frame: f }, now);
  }

  /** Each of `nodes` sends one frame per link every interval from `from` to `to`; the link filter models a dead link. */
  peerSends(nodes: string | string[], from: number, to: number, opts: { links?: number[]; firstSeq?: number; epoch?: bigint } = {}): void {
    let seq = opts.firstSeq ?? 1;
    for (let t = from; t <= to; t += config.intervalMs) {
      for (const link of [0, 1]) {
        for (const node of typeof nodes === "string" ? [nodes] : nodes) {
          if (opts.links === undefined || opts.links.includes(link)) this.frame(link, frame(node, seq, link, opts.epoch === undefined ? {} : { epoch: opts.epoch }), t);
        }
        seq++;
      }
    }
  }
}

const sends = (actions: MembershipAction[]): OutgoingHeartbeat[] =>
  actions.flatMap((a) => (a.type === "send-heartbeat" ? [a.frame] : []));

/** State minus counters and the clock bookkeeping: what a rejected frame must leave untouched. */
const decisions = (s: MembershipState) => ({ ...s, counters: null, lastRunAt: null });

describe("sending", () => {
  it("sends one frame per link at start and every interval, seq shared across links", () => {
    const d = new Driver();
    expect(nextWakeAt(d.state)).toBe(T0);
    const first = sends(d.tick(T0));
    expect(first).toEqual([
      { cluster: "c1", node: "a", epoch: 99n, seq: 1, sentAt: T0, link: 0, echoes: [] },
      { cluster: "c1", node: "a", epoch: 99n, seq: 2, sentAt: T0, link: 1, echoes: [] },
    ]);
    expect(nextWakeAt(d.state)).toBe(T0 + 100);
    expect(sends(d.tick(T0 + 50))).toEqual([]);
    expect(sends(d.until(T0 + 300)).map((f) => [f.sentAt, f.seq])).toEqual([
      [T0 + 100, 3],
      [T0 + 100, 4],
      [T0 + 200, 5],
      [T0 + 200, 6],
      [T0 + 300, 7],
      [T0 + 300, 8],
    ]);
  });

  it("echoes the newest sentAt of each live peer with how long it was held", () => {
    const d = new Driver();
    d.tick(T0);
    d.frame(0, frame("b", 1, 0, { sentAt: 4242 }), T0 + 30);
    d.frame(1, frame("b", 2, 1, { sentAt: 4243 }), T0 + 40);
    d.frame(0, frame("b", 1, 0, { sentAt: 9999 }), T0 + 45); // replay: ignored
    expect(sends(d.until(T0 + 100))[0]?.echoes).toEqual([{ node: "b", sentAt: 4243, heldMs: 60 }]);
  });

  it("after a freeze, resumes the rhythm instead of bursting", () => {
    const d = new Driver();
    d.tick(T0);
    expect(sends(d.tick(T0 + 1000)).length).toBe(2);
    expect(nextWakeAt(d.state)).toBe(T0 + 1100);
  });

  it("moves to the next epoch when seq would pass 2^32-1", () => {
    const d = new Driver();
    d.state = { ...d.state, nextSeq: 0xffff_ffff };
    const out = sends(d.tick(T0));
    expect(out.map((f) => [f.epoch, f.seq])).toEqual([
      [99n, 0xffff_ffff],
      [100n, 1],
    ]);
  });
});

describe("publishing a change between rounds", () => {
  const publish = (d: Driver, now: number) => {
    d.until(now);
    return sends(stepAndKeep(d, now));
  };
  const stepAndKeep = (d: Driver, now: number): MembershipAction[] => {
    const out = stepMembership(d.state, { type: "publish" }, now);
    d.state = out.state;
    d.now = now;
    return [...out.actions];
  };

  it("sends a round on every link at once, before the next periodic one, and keeps the rhythm", () => {
    const d = new Driver();
    d.tick(T0);
    expect(publish(d, T0 + 40).map((f) => [f.sentAt, f.seq, f.link])).toEqual([
      [T0 + 40, 3, 0],
      [T0 + 40, 4, 1],
    ]);
    expect(nextWakeAt(d.state)).toBe(T0 + 100);
    expect(sends(d.until(T0 + 100)).map((f) => [f.sentAt, f.seq])).toEqual([
      [T0 + 100, 5],
      [T0 + 100, 6],
    ]);
  });

  it("sends at most one extra round per quarter interval; one asked sooner is owed, not dropped", () => {
    const d = new Driver();
    d.tick(T0);
    expect(publish(d, T0 + 10).length).toBe(2);
    // A flapping publisher: ten asks within the next quarter interval.
    for (let t = T0 + 11; t <= T0 + 20; t++) expect(publish(d, t)).toEqual([]);
    expect(nextWakeAt(d.state)).toBe(T0 + 35);
    expect(sends(d.until(T0 + 35)).map((f) => f.sentAt)).toEqual([T0 + 35, T0 + 35]);
    // Paid: nothing more until the periodic round.
    expect(nextWakeAt(d.state)).toBe(T0 + 100);
  });

  it("sends an owed change as its extra round even when a periodic round came first: only extra rounds are news", () => {
    const d = new Driver();
    d.tick(T0);
    expect(publish(d, T0 + 90).length).toBe(2);
    expect(publish(d, T0 + 95)).toEqual([]);
    const out = d.until(T0 + 115).filter((a) => a.type === "send-heartbeat");
    expect(out.map((a) => [a.frame.sentAt, a.news])).toEqual([[T0 + 100, false], [T0 + 100, false], [T0 + 115, true], [T0 + 115, true]]);
    expect(nextWakeAt(d.state)).toBe(T0 + 200);
  });

  it("sends the extra round, then the periodic round, when one is due anyway", () => {
    const d = new Driver();
    d.tick(T0);
    const out = stepAndKeep(d, T0 + 100).filter((a) => a.type === "send-heartbeat");
    expect(out.map((a) => [a.frame.sentAt, a.frame.seq, a.news])).toEqual([[T0 + 100, 3, true], [T0 + 100, 4, true], [T0 + 100, 5, false], [T0 + 100, 6, false]]);
    expect(sends(d.tick(T0 + 100))).toEqual([]);
    expect(nextWakeAt(d.state)).toBe(T0 + 200);
  });

  it("a publish `now` leaves at once inside the spacing (something waits on it), and the spacing runs again from it", () => {
    const d = new Driver();
    d.tick(T0);
    expect(publish(d, T0 + 10).length).toBe(2);
    const now = stepMembership(d.state, { type: "publish", now: true }, T0 + 12);
    d.state = now.state;
    d.now = T0 + 12;
    expect(sends([...now.actions]).map((f) => [f.sentAt, f.link])).toEqual([[T0 + 12, 0], [T0 + 12, 1]]);
    expect(now.actions.every((a) => a.type !== "send-heartbeat" || a.news)).toBe(true);
    // An ordinary publish right after it waits out the spacing from the round `now` sent.
    expect(publish(d, T0 + 20)).toEqual([]);
    expect(nextWakeAt(d.state)).toBe(T0 + 37);
  });

  it("changes no belief about peers", () => {
    const d = new Driver();
    d.tick(T0);
    d.frame(0, frame("b", 1, 0), T0 + 10);
    const before = d.state;
    stepAndKeep(d, T0 + 20);
    expect(d.state.peers).toEqual(before.peers);
    expect(d.state.counters).toBe(before.counters);
  });
});

describe("liveness", () => {
  it("first frame: peer up (first-heard) and that link up, with ordered event seqs", () => {
    const d = new Driver();
    d.tick(T0);
    const out = d.frame(1, frame("b", 1, 1), T0 + 10);
    expect(out).toEqual([
      expect.objectContaining({ type: "event", scope: "peer", seq: 1, at: T0 + 10, node: "b", from: "unknown", to: "up", reason: "first-heard" }),
      expect.objectContaining({ type: "event", scope: "link", seq: 2, node: "b", link: 1, from: "unknown", to: "up", reason: "link-heard" }),
    ]);
    expect(d.peer("b").links.map((l) => l.state)).toEqual(["unknown", "up"]);
  });

  it("goes late after warntime and dead after deadtime of silence on every link", () => {
    const d = new Driver();
    d.peerSends("b", T0, T0 + 1000);
    const last = T0 + 1000;
    d.until(last + 249);
    expect(d.peer("b").state).toBe("up");
    d.until(last + 250);
    expect(d.peer("b").state).toBe("late");
    d.until(last + 499);
    expect(d.peer("b").state).toBe("late");
    const out = d.until(last + 500);
    expect(d.peer("b").state).toBe("dead");
    const evs = out.filter((a) => a.type === "event");
    expect(evs.map((e) => (e.scope === "link" ? `link${e.link}:${e.to}` : `peer:${e.to}:${e.reason}`))).toEqual([
      "link0:down",
      "link1:down",
      "peer:dead:silent-deadtime",
    ]);
    expect(evs[2]?.detail).toBe("b is dead: silent on all 2 links for 500 ms (deadtime 500 ms)");
  });

  it("one silent link is a degraded link, never a dead node", () => {
    const d = new Driver();
    d.peerSends("b", T0, T0 + 500);
    d.peerSends("b", T0 + 600, T0 + 3000, { links: [1], firstSeq: 100 });
    expect(d.peer("b").state).toBe("up");
    expect(d.peer("b").links.map((l) => l.state)).toEqual(["down", "up"]);
    expect(d.events({ node: "b", to: "dead" })).toEqual([]);
    expect(d.events({ node: "b", to: "late" })).toEqual([]);
    const down = d.events({ node: "b", to: "down" });
    expect(down).toHaveLength(1);
    expect(down[0]).toMatchObject({ scope: "link", link: 0, at: T0 + 1000, reason: "link-silent" });
    expect(down[0]?.detail).toBe("link 0 (198.51.100.2) to b is down: silent for 500 ms (deadtime 500 ms); b still heard on link 1 (degraded)");
  });

  it("a late or dead peer heard again is up again (heard-again)", () => {
    const d = new Driver();
    d.peerSends("b", T0, T0 + 100);
    d.until(T0 + 700);
    expect(d.peer("b").state).toBe("dead");
    d.frame(0, frame("b", 50, 0), T0 + 900);
    expect(d.peer("b").state).toBe("up");
    expect(d.events({ node: "b", scope: "peer" }).map((e) => `${e.from}>${e.to}:${e.reason}`)).toEqual([
      "unknown>up:first-heard",
      "up>late:silent-warntime",
      "late>dead:silent-deadtime",
      "dead>up:heard-again",
    ]);
  });

  it("peers never heard get initdead from our start, not deadtime", () => {
    const d = new Driver();
    d.until(T0 + 1999);
    expect(d.peer("b").state).toBe("unknown");
    expect(d.events({ to: "dead" })).toEqual([]);
    d.until(T0 + 2000);
    expect(d.peer("b").state).toBe("dead");
    expect(d.events({ node: "b", scope: "peer" })).toEqual([
      expect.objectContaining({ from: "unknown", to: "dead", reason: "initdead-expired", at: T0 + 2000 }),
    ]);
  });

  it("a peer heard once then silent dies after deadtime even within initdead; its never-heard link waits for initdead", () => {
    const d = new Driver();
    d.frame(0, frame("b", 1, 0), T0 + 100);
    d.until(T0 + 600);
    expect(d.peer("b").state).toBe("dead");
    expect(d.peer("b").links.map((l) => l.state)).toEqual(["down", "unknown"]);
    d.until(T0 + 2000);
    expect(d.peer("b").links.map((l) => l.state)).toEqual(["down", "down"]);
    expect(d.events({ node: "b", scope: "link", link: 1 } as Partial<MembershipEvent>)).toEqual([
      expect.objectContaining({ from: "unknown", to: "down", reason: "initdead-expired" }),
    ]);
  });

  it("detects within deadtime plus one interval when ticked only every interval", () => {
    let state = initMembership(config, { now: T0, epoch: 1n });
    state = stepMembership(state, { type: "frame", link: 0, frame: frame("b", 1, 0) }, T0 + 1).state;
    state = stepMembership(state, { type: "frame", link: 1, frame: frame("b", 2, 1) }, T0 + 1).state;
    let deadAt: number | null = null;
    for (let t = T0; t < T0 + 2000 && deadAt === null; t += 100) {
      const out = stepMembership(state, { type: "tick" }, t);
      state = out.state;
      if (out.actions.some((a) => a.type === "event" && a.node === "b" && a.to === "dead")) deadAt = t;
    }
    expect(deadAt).not.toBeNull();
    expect((deadAt ?? 0) - (T0 + 1)).toBeGreaterThanOrEqual(500);
    expect((deadAt ?? 0) - (T0 + 1)).toBeLessThanOrEqual(600);
  });
});

describe("anti-replay", () => {
  function upPeer(): Driver {
    const d = new Driver();
    d.frame(0, frame("b", 10, 0), T0 + 10);
    d.frame(1, frame("b", 11, 1), T0 + 10);
    return d;
  }

  function rejected(d: Driver, link: number, f: MembershipFrame, reason: string): void {
    const before = d.state;
    const out = d.frame(link, f);
    expect(out).toEqual([]);
    expect(decisions(d.state)).toEqual(decisions(before));
    const c = d.state.counters;
    const onPeer = ["stale-epoch", "old-seq", "bad-link"].includes(reason);
    const counted = onPeer ? c.peers["b"]?.rejected : c.unattributed;
    const was = onPeer ? before.counters.peers["b"]?.rejected : before.counters.unattributed;
    expect((counted as Record<string, number>)[reason]).toBe(((was as Record<string, number>)[reason] ?? 0) + 1);
  }

  it("rejects duplicates and older seqs of the same sender link", () => {
    const d = upPeer();
    rejected(d, 0, frame("b", 10, 0), "old-seq");
    rejected(d, 0, frame("b", 8, 0), "old-seq");
  });

  it("keeps one window per sender link: a slower link's older seq still counts for that link", () => {
    const d = upPeer();
    d.frame(1, frame("b", 13, 1), T0 + 100);
    // seq 12 went out on link 0 before 13 on link 1, but arrives after it.
    expect(d.frame(0, frame("b", 12, 0), T0 + 105)).toEqual([]);
    expect(d.peer("b").links[0]?.lastHeardAt).toBe(T0 + 105);
    expect(d.state.counters.peers["b"]?.accepted).toBe(4);
  });

  it("a frame replayed onto another of our links is still a replay", () => {
    const d = upPeer();
    rejected(d, 1, frame("b", 10, 0), "old-seq");
  });

  it("rejects a stale epoch and reports a newer one as a restart", () => {
    const d = upPeer();
    rejected(d, 0, frame("b", 500, 0, { epoch: 6n }), "stale-epoch");
    const out = d.frame(0, frame("b", 1, 0, { epoch: 8n }), T0 + 50);
    expect(out).toEqual([expect.objectContaining({ scope: "peer", node: "b", from: "up", to: "up", reason: "restarted" })]);
    expect(d.peer("b")).toMatchObject({ epoch: 8n, maxSeq: 1, linkSeq: [1, 0] });
    expect(d.state.counters.peers["b"]?.restarts).toBe(1);
    // The old incarnation's frames are now stale, even with higher seqs.
    rejected(d, 1, frame("b", 12, 1), "stale-epoch");
  });

  it("rejects other clusters, our own name and unknown nodes, unattributed", () => {
    const d = upPeer();
    rejected(d, 0, frame("b", 99, 0, { cluster: "c2" }), "other-cluster");
    rejected(d, 0, frame("a", 99, 0), "own-name");
    rejected(d, 0, frame("zz", 99, 0), "unknown-node");
  });

  it("rejects link indexes that do not exist on either side", () => {
    const d = upPeer();
    rejected(d, 0, frame("b", 99, 2), "bad-link");
    rejected(d, 5, frame("b", 99, 0), "bad-link");
  });

  it("rejected frames are never a sign of life", () => {
    const d = upPeer();
    d.until(T0 + 600);
    expect(d.peer("b").state).toBe("dead");
    rejected(d, 0, frame("b", 10, 0), "old-seq");
    rejected(d, 0, frame("b", 50, 0, { epoch: 1n }), "stale-epoch");
    expect(d.peer("b").state).toBe("dead");
  });

  it("counts cross-wired links and credits the link the frame arrived on", () => {
    const d = upPeer();
    d.frame(1, frame("b", 12, 0), T0 + 100);
    expect(d.state.counters.peers["b"]?.crossWired).toBe(1);
    expect(d.peer("b").links[1]?.lastHeardAt).toBe(T0 + 100);
    expect(d.peer("b").links[0]?.lastHeardAt).toBe(T0 + 10);
    expect(d.peer("b").linkSeq).toEqual([12, 11]);
  });
});

describe("a peer back with an earlier epoch (its wall clock went back)", () => {
  /** b up in epoch 7, then silent until `t`: dead from T0 + 510 on. */
  function deadPeer(t: number): Driver {
    const d = new Driver();
    d.frame(0, frame("b", 10, 0), T0 + 10);
    d.until(t);
    expect(d.peer("b").state).toBe("dead");
    return d;
  }
  const echoOf = (sentAt: number) => ({ echoes: [{ node: "a", sentAt, heldMs: 3 }] });

  it("accepts it once the peer is dead and the frame echoes one of our last rounds", () => {
    const d = deadPeer(T0 + 2000);
    const out = d.frame(0, frame("b", 1, 0, { epoch: 3n, ...echoOf(T0 + 2000) }), T0 + 2010);
    expect(out).toEqual(expect.arrayContaining([
      expect.objectContaining({ scope: "peer", node: "b", from: "dead", to: "up", reason: "restarted", detail: expect.stringMatching(/earlier epoch 3 .*wall clock went back/) }),
    ]));
    expect(d.peer("b")).toMatchObject({ state: "up", epoch: 3n, highestEpoch: 7n });
    // From then on its frames count normally, by seq.
    expect(d.frame(0, frame("b", 3, 0, { epoch: 3n }), T0 + 2110)).toEqual([]);
    expect(d.peer("b").lastHeardAt).toBe(T0 + 2110);
  });

  it("refuses it while the peer is not dead, even with a fresh echo", () => {
    const d = new Driver();
    d.frame(0, frame("b", 10, 0), T0 + 10);
    d.until(T0 + 400);
    expect(d.peer("b").state).toBe("late");
    d.frame(0, frame("b", 1, 0, { epoch: 3n, ...echoOf(T0 + 400) }), T0 + 400);
    expect(d.peer("b").state).toBe("late");
    expect(d.state.counters.peers["b"]?.rejected["stale-epoch"]).toBe(1);
  });

  it("refuses old captures: no echo, an echo older than deadtime, or a value we never sent", () => {
    const d = deadPeer(T0 + 2000);
    const replays = [
      frame("b", 1, 0, { epoch: 3n }),
      frame("b", 2, 0, { epoch: 3n, ...echoOf(T0 + 1400) }),
      // A sentAt in today's window, but not one of our rounds: an echo to an earlier life of ours.
      frame("b", 3, 0, { epoch: 3n, ...echoOf(T0 + 1950.5) }),
      // Our round, but echoed to another node.
      frame("b", 4, 0, { epoch: 3n, echoes: [{ node: "c", sentAt: T0 + 2000, heldMs: 0 }] }),
    ];
    for (const f of replays) expect(d.frame(0, f, T0 + 2010)).toEqual([]);
    expect(d.peer("b")).toMatchObject({ state: "dead", epoch: 7n });
    expect(d.state.counters.peers["b"]?.rejected["stale-epoch"]).toBe(replays.length);
  });

  it("then refuses replays of the abandoned, higher epoch, which would otherwise look like a restart", () => {
    const d = deadPeer(T0 + 2000);
    d.frame(0, frame("b", 1, 0, { epoch: 3n, ...echoOf(T0 + 2000) }), T0 + 2010);
    expect(d.frame(0, frame("b", 50, 0, { epoch: 7n }), T0 + 2020)).toEqual([]);
    expect(d.frame(0, frame("b", 51, 0, { epoch: 7n, ...echoOf(T0 + 1000) }), T0 + 2030)).toEqual([]);
    expect(d.peer("b")).toMatchObject({ state: "up", epoch: 3n });
    expect(d.state.counters.peers["b"]?.rejected["stale-epoch"]).toBe(2);
    // A real restart after that is above every epoch heard, as usual.
    const out = d.frame(0, frame("b", 1, 0, { epoch: 9n }), T0 + 2040);
    expect(out).toEqual([expect.objectContaining({ reason: "restarted", detail: expect.stringMatching(/new epoch 9/) })]);
  });
});

describe("RTT", () => {
  it("samples now - sentAt - heldMs from the echo addressed to us and smooths it like TCP", () => {
    const d = new Driver();
    d.tick(T0);
    d.frame(0, frame("b", 1, 0, { echoes: [{ node: "c", sentAt: T0, heldMs: 0 }, { node: "a", sentAt: T0, heldMs: 4 }] }), T0 + 10);
    expect(d.peer("b").rtt).toEqual({ srttMs: 6, rttVarMs: 3, samples: 1 });
    d.frame(0, frame("b", 3, 0, { echoes: [{ node: "a", sentAt: T0 + 100, heldMs: 0 }] }), T0 + 114);
    // srtt = 7/8 * 6 + 1/8 * 14 = 7; rttvar = 3/4 * 3 + 1/4 * |6 - 14| = 4.25
    expect(d.peer("b").rtt).toEqual({ srttMs: 7, rttVarMs: 4.25, samples: 2 });
    expect(viewMembership(d.state, T0 + 114).peers[0]).toMatchObject({ rttMs: 7, rttVarMs: 4.3 });
  });

  it("ignores echoes from before our start or from the future", () => {
    const d = new Driver();
    d.frame(0, frame("b", 1, 0, { echoes: [{ node: "a", sentAt: T0 - 50, heldMs: 0 }] }), T0 + 10);
    d.frame(0, frame("b", 3, 0, { echoes: [{ node: "a", sentAt: T0 + 500, heldMs: 0 }] }), T0 + 20);
    d.frame(0, frame("b", 5, 0, { echoes: [{ node: "a", sentAt: T0, heldMs: 40 }] }), T0 + 30);
    expect(d.peer("b").rtt).toBeNull();
  });
});

describe("our own stalls", () => {
  it("a frozen node does not declare its peers dead on resume, and reports the stall", () => {
    const d = new Driver();
    d.peerSends(["b", "c"], T0, T0 + 1000);
    // We freeze from T0+1000 to T0+6000; the peers keep sending, their frames wait in our socket.
    const out = d.tick(T0 + 6000);
    expect(out.filter((a) => a.type === "stall")).toEqual([{ type: "stall", at: T0 + 6000, gapMs: 5000, creditedMs: 4900 }]);
    expect(out.filter((a) => a.type === "event")).toEqual([]);
    d.peerSends("b", T0 + 6000, T0 + 8000, { firstSeq: 100 });
    expect(d.events({ to: "dead" })).toEqual([expect.objectContaining({ node: "c", at: T0 + 6400 })]);
    expect(d.peer("b").state).toBe("up");
  });

  it("when a queued frame is the first thing processed after a freeze, it credits the others' deadlines", () => {
    const d = new Driver();
    d.peerSends(["b", "c"], T0, T0 + 1000);
    const first = d.raw(0, frame("b", 100, 0), T0 + 6000);
    expect(first).toEqual([{ type: "stall", at: T0 + 6000, gapMs: 5000, creditedMs: 4900 }]);
    expect(d.tick(T0 + 6000).filter((a) => a.type === "event")).toEqual([]);
    expect(d.peer("c")).toMatchObject({ state: "up", deadAt: T0 + 6400 });
  });

  it("ordinary tick jitter is not a stall; a round sent more than half an interval late is", () => {
    const d = new Driver();
    d.tick(T0);
    // The round due at T0+100 goes out 40 ms late: jitter.
    expect(d.tick(T0 + 140).filter((a) => a.type === "stall")).toEqual([]);
    // The next one, due at T0+200, 60 ms late: a stall of 60 ms.
    expect(d.tick(T0 + 260).filter((a) => a.type === "stall")).toEqual([{ type: "stall", at: T0 + 260, gapMs: 120, creditedMs: 60 }]);
    expect(d.tick(T0 + 561).filter((a) => a.type === "stall")).toEqual([{ type: "stall", at: T0 + 561, gapMs: 301, creditedMs: 201 }]);
  });

  it("a peer is not convicted because our own round ran late (a busy event loop): its frames may be waiting unread", () => {
    const d = new Driver();
    d.peerSends(["b", "c"], T0, T0 + 1000);
    // b's frames stop being read at T0+1000 (they wait in our socket); its deadline
    // (T0+1500) passes while our timers run late: the round due at T0+1500 goes out at T0+1560.
    d.peerSends("c", T0 + 1100, T0 + 1400, { firstSeq: 100 });
    const out = d.tick(T0 + 1560);
    expect(out.filter((a) => a.type === "stall")).toEqual([{ type: "stall", at: T0 + 1560, gapMs: 160, creditedMs: 60 }]);
    expect(out.filter((a) => a.type === "event" && a.to === "dead")).toEqual([]);
    // Pushed just past now: judged at the next wake-up, once the socket has been read.
    expect(d.peer("b")).toMatchObject({ deadAt: T0 + 1561 });
    expect(d.peer("c")).toMatchObject({ state: "up", deadAt: T0 + 1960 });
    d.raw(0, frame("b", 200, 0), T0 + 1561);
    expect(d.until(T0 + 1700).filter((a) => a.type === "event" && a.to === "dead")).toEqual([]);
    expect(d.peer("b").state).toBe("up");
  });

  it("a late round delays the verdict on a peer that is really gone by one wake-up only", () => {
    const d = new Driver();
    d.peerSends(["b", "c"], T0, T0 + 1000);
    d.peerSends("c", T0 + 1100, T0 + 1400, { firstSeq: 100 });
    d.tick(T0 + 1560);
    expect(d.until(T0 + 1561).filter((a) => a.type === "event" && a.scope === "peer")).toEqual([
      expect.objectContaining({ node: "b", to: "dead", at: T0 + 1561 }),
    ]);
  });

  it("a late round is credited once, from our last event on: a frame in between takes its share", () => {
    const d = new Driver();
    d.tick(T0);
    // Round due at T0+100. A frame at T0+170 finds it 70 ms overdue; the tick at T0+200 adds only 30 ms more (not a stall).
    expect(d.raw(0, frame("b", 1, 0), T0 + 170).filter((a) => a.type === "stall")).toEqual([{ type: "stall", at: T0 + 170, gapMs: 170, creditedMs: 70 }]);
    expect(d.tick(T0 + 200).filter((a) => a.type === "stall")).toEqual([]);
  });
});

describe("purity and view", () => {
  function deepFreeze<T>(x: T): T {
    if (x !== null && typeof x === "object" && !Object.isFrozen(x)) {
      Object.freeze(x);
      for (const v of Object.values(x)) deepFreeze(v);
    }
    return x;
  }

  it("never mutates the state it is given", () => {
    const d = new Driver();
    d.peerSends("b", T0, T0 + 300);
    const frozen = deepFreeze(d.state);
    const copy = structuredClone(frozen);
    stepMembership(frozen, { type: "frame", link: 0, frame: frame("b", 100, 0) }, T0 + 350);
    stepMembership(frozen, { type: "frame", link: 0, frame: frame("b", 1, 0) }, T0 + 350);
    stepMembership(frozen, { type: "tick" }, T0 + 5000);
    expect(frozen).toEqual(copy);
  });

  it("shows per peer state, per link last heard, rtt and rejected counts", () => {
    const d = new Driver();
    d.frame(0, frame("b", 1, 0), T0 + 100);
    d.frame(0, frame("b", 1, 0), T0 + 150);
    d.frame(0, frame("zz", 1, 0), T0 + 150);
    const v = viewMembership(d.state, T0 + 180);
    expect(v).toEqual({
      self: "a",
      cluster: "c1",
      epoch: "99",
      uptimeMs: 180,
      rejectedUnattributed: { "unknown-node": 1 },
      peers: [
        {
          name: "b",
          state: "up",
          epoch: "7",
          lastHeardMsAgo: 80,
          links: [
            { index: 0, address: "198.51.100.2", state: "up", lastHeardMsAgo: 80 },
            { index: 1, address: "203.0.113.2", state: "unknown", lastHeardMsAgo: null },
          ],
          rttMs: null,
          rttVarMs: null,
          accepted: 1,
          crossWired: 0,
          restarts: 0,
          rejected: { "old-seq": 1 },
          badFrames: 1,
        },
        expect.objectContaining({ name: "c", state: "unknown", epoch: null, lastHeardMsAgo: null, badFrames: 0 }),
      ],
    });
    expect(() => JSON.stringify(v)).not.toThrow();
  });
});
