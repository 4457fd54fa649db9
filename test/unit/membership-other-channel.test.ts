/**
 * A mirror module's replication link counts as a heartbeat link: an answer
 * to one of our probes on it keeps an up or late peer alive while its
 * heartbeat links are silent, and never brings back a dead one.
 */
import { describe, expect, it } from "vitest";
import {
  initMembership,
  nextWakeAt,
  stepMembership,
  type MembershipAction,
  type MembershipConfig,
  type MembershipEvent,
  type MembershipInput,
  type MembershipState,
} from "../../src/core/membership/membership.ts";

const T0 = 10_000;
const config: MembershipConfig = {
  self: "a",
  cluster: "c1",
  nodes: [
    { name: "a", links: ["198.51.100.1"] },
    { name: "b", links: ["198.51.100.2"] },
  ],
  intervalMs: 100,
  warntimeMs: 250,
  deadtimeMs: 500,
  initdeadMs: 2000,
};
const VIA = "the replication link of vms";

class Driver {
  state: MembershipState = initMembership(config, { now: T0, epoch: 1n });
  now = T0;
  readonly events: MembershipEvent[] = [];

  step(input: MembershipInput, now: number): void {
    this.until(now);
    const out = stepMembership(this.state, input, now);
    this.state = out.state;
    this.keep(out.actions);
  }

  until(t: number): void {
    while (nextWakeAt(this.state) <= t) {
      const at = Math.max(this.now, nextWakeAt(this.state));
      const out = stepMembership(this.state, { type: "tick" }, at);
      this.state = out.state;
      this.now = at;
      this.keep(out.actions);
    }
    this.now = Math.max(this.now, t);
  }

  private keep(actions: readonly MembershipAction[]): void {
    for (const a of actions) if (a.type === "event") this.events.push(a);
  }

  heard(seq: number, at: number): void {
    this.step({ type: "frame", link: 0, frame: { cluster: "c1", node: "b", epoch: 7n, seq, sentAt: at, link: 0, echoes: [] } }, at);
  }

  peer(): string {
    return this.state.peers[0]?.state ?? "?";
  }
}

describe("another channel to a peer (a replication link)", () => {
  it("keeps a peer alive while only the replication link answers; its heartbeat link still goes down", () => {
    const d = new Driver();
    d.heard(1, T0 + 50);
    // Heartbeats stop; the replication link answers a probe every interval (answered 2 ms after it left).
    for (let t = T0 + 150; t <= T0 + 2_950; t += 100) d.step({ type: "alive", node: "b", via: VIA, ageMs: 2 }, t);
    expect(d.peer()).toBe("up");
    expect(d.events.filter((e) => e.scope === "peer" && e.to === "dead")).toEqual([]);
    expect(d.events.some((e) => e.scope === "link" && e.to === "down")).toBe(true);
    // The answers stop too: dead one deadtime after the last answered probe left (T0 + 2948).
    d.until(T0 + 3_447);
    expect(d.peer()).not.toBe("dead");
    d.until(T0 + 3_449);
    expect(d.peer()).toBe("dead");
  });

  it("brings a late peer back up, saying where it was heard", () => {
    const d = new Driver();
    d.heard(1, T0 + 50);
    d.until(T0 + 50 + 260);
    expect(d.peer()).toBe("late");
    d.step({ type: "alive", node: "b", via: VIA, ageMs: 3 }, T0 + 320);
    expect(d.peer()).toBe("up");
    expect(d.events.at(-1)).toMatchObject({ scope: "peer", from: "late", to: "up", reason: "heard-elsewhere", detail: `b is up: it answered on ${VIA} (its heartbeat links are silent)` });
  });

  it("never brings back a dead or never-heard peer, and an answer to an old probe moves nothing", () => {
    const d = new Driver();
    d.step({ type: "alive", node: "b", via: VIA, ageMs: 1 }, T0 + 10);
    expect(d.peer()).toBe("unknown");
    d.heard(1, T0 + 50);
    d.until(T0 + 600);
    expect(d.peer()).toBe("dead");
    d.step({ type: "alive", node: "b", via: VIA, ageMs: 1 }, T0 + 700);
    expect(d.peer()).toBe("dead");

    const e = new Driver();
    e.heard(1, T0 + 400);
    const deadAt = e.state.peers[0]?.deadAt;
    // Its probe left before the last frame came: it proves less than the frame did.
    e.step({ type: "alive", node: "b", via: VIA, ageMs: 100 }, T0 + 450);
    expect(e.state.peers[0]?.deadAt).toBe(deadAt);
    e.step({ type: "alive", node: "b", via: VIA, ageMs: -5 }, T0 + 460);
    expect(e.state.peers[0]?.deadAt).toBe(deadAt);
  });
});
