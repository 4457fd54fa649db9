/**
 * The arbiter's lease reducer: one holder per module at a time, renewals,
 * expiry with grace, release, the quiet period after a restart, refusals.
 */
import { describe, expect, it } from "vitest";
import { initWitness, nextWakeAt, stepWitness, validateWitnessConfig, type WitnessAction, type WitnessInput, type WitnessState } from "../../src/core/witness.ts";

/** Who may run `module` at `now` by the witness's account, or null. */
function leaseHolder(s: WitnessState, module: string, now: number): string | null {
  const l = s.leases.find((x) => x.module === module);
  return l !== undefined && !l.released && now < l.expiresAt ? l.holder : null;
}

const config = { nodes: ["a", "b"], modules: ["vms"], leaseMs: 3000, graceMs: 300 };

class Arbiter {
  state: WitnessState;
  constructor(quiet = false) {
    this.state = initWitness(config, { now: 0, quiet });
  }
  step(input: WitnessInput, now: number): WitnessAction[] {
    const r = stepWitness(this.state, input, now);
    this.state = r.state;
    return [...r.actions];
  }
  ask(node: string, now: number, module = "vms", request = now): Extract<WitnessAction, { type: "reply" }> {
    const reply = this.step({ type: "request", node, module, request }, now).find((a) => a.type === "reply");
    if (reply === undefined || reply.type !== "reply") throw new Error("no reply");
    return reply;
  }
}

describe("arbiter lease", () => {
  it("grants to the first asker and denies everyone else while it runs, naming the holder", () => {
    const w = new Arbiter();
    expect(w.ask("a", 100)).toMatchObject({ to: "a", granted: true, durationMs: 3000, holder: "a", token: 1 });
    const denied = w.ask("b", 200);
    expect(denied).toMatchObject({ to: "b", granted: false, durationMs: 0, holder: "a", detail: "held by a for 2900 ms more" });
    expect(leaseHolder(w.state, "vms", 200)).toBe("a");
  });

  it("renews for the holder, keeping its token", () => {
    const w = new Arbiter();
    w.ask("a", 100);
    expect(w.ask("a", 1100)).toMatchObject({ granted: true, token: 1, detail: "renewed" });
    expect(w.ask("b", 3500).granted).toBe(false);
    expect(leaseHolder(w.state, "vms", 4099)).toBe("a");
    expect(leaseHolder(w.state, "vms", 4100)).toBeNull();
  });

  it("after expiry: others wait the grace, the old holder may still renew; then the next asker wins", () => {
    const w = new Arbiter();
    w.ask("a", 0);
    const expired = w.step({ type: "tick" }, 3000);
    expect(expired).toEqual([expect.objectContaining({ type: "event", kind: "expired", node: "a" })]);
    expect(w.ask("b", 3100)).toMatchObject({ granted: false, holder: "a" });
    expect(w.ask("b", 3300)).toMatchObject({ granted: true, holder: "b", token: 2 });

    const again = new Arbiter();
    again.ask("a", 0);
    expect(again.ask("a", 3200)).toMatchObject({ granted: true, token: 1 });
  });

  it("a release frees the lease at once, only from its holder", () => {
    const w = new Arbiter();
    w.ask("a", 0);
    expect(w.step({ type: "release", node: "b", module: "vms" }, 100)).toEqual([]);
    expect(w.ask("b", 150).granted).toBe(false);
    const released = w.step({ type: "release", node: "a", module: "vms" }, 200);
    expect(released).toEqual([expect.objectContaining({ kind: "released", node: "a" })]);
    expect(w.ask("b", 200)).toMatchObject({ granted: true, token: 2 });
  });

  it("after a restart, grants nothing for lease + grace: an older grant may still run", () => {
    const w = new Arbiter(true);
    const r = w.ask("a", 1000);
    expect(r).toMatchObject({ granted: false, holder: null });
    expect(r.detail).toContain("grants nothing before 2300 ms more");
    expect(w.ask("a", 3300).granted).toBe(true);
  });

  it("refuses unknown nodes and modules without changing anything", () => {
    const w = new Arbiter();
    const before = w.state;
    const out = w.step({ type: "request", node: "intruder", module: "vms", request: 1 }, 10);
    expect(out).toEqual([
      expect.objectContaining({ type: "event", kind: "refused" }),
      expect.objectContaining({ type: "reply", granted: false, detail: 'node "intruder" is not one of a, b' }),
    ]);
    expect(w.ask("a", 20, "db").detail).toBe('module "db" is not one of vms');
    expect(w.state.leases).toEqual(before.leases);
  });

  it("leases of different modules are independent", () => {
    const w = new Arbiter();
    w.state = initWitness({ ...config, modules: ["vms", "db"] }, { now: 0, quiet: false });
    expect(w.ask("a", 10, "vms").granted).toBe(true);
    expect(w.ask("b", 20, "db").granted).toBe(true);
    expect(w.ask("b", 30, "vms").granted).toBe(false);
  });

  it("wakes for expiry, then for the end of the grace, then not at all", () => {
    const w = new Arbiter();
    expect(nextWakeAt(w.state)).toBeNull();
    w.ask("a", 0);
    expect(nextWakeAt(w.state)).toBe(3000);
    w.step({ type: "tick" }, 3000);
    expect(nextWakeAt(w.state)).toBe(3300);
    w.step({ type: "tick" }, 3300);
    expect(nextWakeAt(w.state)).toBeNull();
  });

  it("never has two holders, whatever the order of requests, releases and ticks", () => {
    // A deterministic walk over many interleavings.
    let x = 12345;
    const rnd = (n: number) => {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      return x % n;
    };
    const w = new Arbiter();
    const holds = new Map<string, number>();
    let now = 0;
    for (let i = 0; i < 2000; i++) {
      now += rnd(400);
      const node = rnd(2) === 0 ? "a" : "b";
      const kind = rnd(5);
      if (kind === 0) {
        w.step({ type: "release", node, module: "vms" }, now);
        holds.delete(node);
      } else if (kind === 1) w.step({ type: "tick" }, now);
      else {
        const r = w.ask(node, now);
        if (r.granted) holds.set(node, now + r.durationMs);
      }
      const live = [...holds].filter(([, until]) => until > now).map(([n]) => n);
      expect(live.length, `two holders at ${now}: ${live.join(", ")}`).toBeLessThanOrEqual(1);
    }
  });

  it("validates its config", () => {
    expect(validateWitnessConfig({ nodes: [], leaseMs: 0, graceMs: -1 }).map((p) => p.path)).toEqual(["nodes", "lease", "grace"]);
    expect(() => initWitness({ nodes: ["a", "a"], leaseMs: 1000, graceMs: 0 }, { now: 0 })).toThrow(/unique/);
  });
});
