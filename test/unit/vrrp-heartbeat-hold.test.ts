/**
 * Heartbeat hold in the VRRP core (src/core/vrrp/hold.ts): a BACKUP whose
 * Master_Down_Interval ran out while the heartbeat still hears the master's
 * node say it is MASTER waits, at most one more interval; it takes over at
 * once when that node says it left MASTER, goes silent or is declared dead,
 * and keeps the RFC rule for masters whose heartbeat says nothing.
 */
import { describe, expect, it } from "vitest";
import {
  masterDownIntervalMs,
  skewTimeMs,
  type VrrpAction,
  type VrrpHeld,
  type VrrpInstanceConfig,
} from "../../src/core/vrrp/vrrp.ts";
import { transitionOf, VrrpOne, vrrpConfig as config } from "./vrrp-core-one.ts";

/** The master: cluster node vms2, priority 150. */
const MASTER = "198.51.100.12";
const VMS2 = ["198.51.100.12", "203.0.113.12"];
/** Ours: priority 100 at a 1 s interval. */
const MDI = masterDownIntervalMs(100, 1000, 3);
/** A claim must be younger than Master_Down_Interval minus 1.25 intervals (the master's timer may run a little late). */
const FRESH = MDI - 1250;
/** The last advert came at 2000: the RFC takeover is due here. */
const DUE = 2000 + MDI;

/** Ours, with the heartbeat's word on the master's node vms2 by default. */
class One extends VrrpOne {
  override says(at: number, says: "master" | "not-master" | "unknown" = "master", address = MASTER, node = "vms2"): VrrpAction[] {
    return super.says(at, says, address, node);
  }
}

const heldOf = (actions: readonly VrrpAction[]): VrrpHeld | undefined => actions.find((a): a is VrrpHeld => a.type === "held");
const downTimer = (actions: readonly VrrpAction[]): number | null | undefined =>
  actions.find((a): a is Extract<VrrpAction, { type: "set-timer" }> => a.type === "set-timer" && a.timer === "master-down")?.at;

/** A BACKUP that heard `master` advertise at 1000 and 2000 (1 s interval), and the heartbeat say vms2 is MASTER at 1000. */
function backup(over: Partial<VrrpInstanceConfig> = {}, claim = true): One {
  const n = new One(config(over));
  n.step({ type: "startup" }, 0);
  n.advert(MASTER, 150, 1000);
  if (claim) n.says(1000);
  n.advert(MASTER, 150, 2000);
  expect(n.state.role).toBe("backup");
  return n;
}

describe("heartbeat hold", () => {
  it("adverts lost while the heartbeat hears the master's node say it is MASTER: no takeover at Master_Down_Interval; the next advert ends the hold", () => {
    const n = backup();
    n.says(DUE - 50);
    const at = n.tick(DUE);
    expect(transitionOf(at)).toBeUndefined();
    expect(n.state.role).toBe("backup");
    const held = heldOf(at);
    expect(held).toMatchObject({ type: "held", instance: "VI_1", vrid: 51, node: "vms2", until: DUE + MDI });
    expect(held?.detail).toBe(`no advert from ${MASTER} for ${MDI} ms (Master_Down_Interval ${MDI} ms), but the heartbeat heard node vms2 say it is MASTER 50 ms ago: adverts lost on the way; taking over only if it stays so for up to ${MDI} ms more`);
    // Judged again when the claim stops being recent, or at the hold's end.
    expect(downTimer(at)).toBe(DUE - 50 + FRESH);
    expect(n.state.counters.takeoversHeld).toBe(1);

    const back = n.advert(MASTER, 150, DUE + 400);
    expect(transitionOf(back)).toBeUndefined();
    expect(n.state.hold).toBeNull();
    expect(downTimer(back)).toBe(DUE + 400 + MDI);
  });

  it("is bounded: one more Master_Down_Interval at most, then the takeover says how long it held", () => {
    const n = backup();
    n.says(DUE - 10);
    expect(heldOf(n.tick(DUE))).toBeDefined();
    let t = DUE;
    // The heartbeat keeps hearing the master; its adverts never come.
    while (n.state.role === "backup" && t < DUE + 3 * MDI) {
      t += 100;
      n.says(t - 5);
      const out = n.tick(t);
      expect(heldOf(out)).toBeUndefined();
      const tr = transitionOf(out);
      if (tr !== undefined) {
        expect(tr).toMatchObject({ from: "backup", to: "master", reason: "master-down" });
        expect(tr.detail).toBe(`no advert from ${MASTER} for ${t - 2000} ms (Master_Down_Interval ${MDI} ms, then held ${t - DUE} ms while the heartbeat heard node vms2 say it is MASTER): the hold's limit, one more Master_Down_Interval, is reached`);
      }
    }
    expect(n.state.role).toBe("master");
    expect(t).toBeGreaterThanOrEqual(DUE + MDI);
    expect(t).toBeLessThan(DUE + MDI + 100);
  });

  it("the master's node says it left MASTER (its VRRP interface failed, FAULT): takeover at once", () => {
    const n = backup();
    n.says(DUE - 10);
    n.tick(DUE);
    const out = n.says(DUE + 700, "not-master");
    const tr = transitionOf(out);
    expect(tr).toMatchObject({ from: "backup", to: "master", reason: "master-down" });
    expect(tr?.detail).toMatch(/then held 700 ms while the heartbeat heard node vms2 say it is MASTER\): node vms2 says it is no longer MASTER$/);
  });

  it("the heartbeat stops hearing the master's node during the hold: takeover when its last word is no longer recent", () => {
    const n = backup();
    n.says(DUE - 10);
    const at = n.tick(DUE);
    const recheck = DUE - 10 + FRESH;
    expect(downTimer(at)).toBe(recheck);
    expect(transitionOf(n.tick(recheck - 1))).toBeUndefined();
    const tr = transitionOf(n.tick(recheck));
    expect(tr).toMatchObject({ to: "master", reason: "master-down" });
    expect(tr?.detail).toMatch(new RegExp(`: the heartbeat has not heard node vms2 for ${FRESH} ms$`));
  });

  it("the heartbeat declares the master's node dead during the hold: takeover at once, reason peer-dead", () => {
    const n = backup();
    n.says(DUE - 10);
    n.tick(DUE);
    const tr = transitionOf(n.step({ type: "peer-dead", node: "vms2", addresses: VMS2, everHeard: true }, DUE + 300));
    expect(tr).toMatchObject({ from: "backup", to: "master", reason: "peer-dead" });
  });

  it("the heartbeat declares the node dead, its adverts from an address the heartbeat does not watch: the hold ends all the same", () => {
    const n = backup();
    n.says(DUE - 10);
    n.tick(DUE);
    const tr = transitionOf(n.step({ type: "peer-dead", node: "vms2", addresses: ["203.0.113.12"], everHeard: true }, DUE + 300));
    expect(tr).toMatchObject({ to: "master", reason: "master-down" });
    expect(tr?.detail).toMatch(/: the heartbeat declared node vms2 dead$/);
  });

  it("the master's node died: its last heartbeat is older than the claim may be, so the takeover comes at Master_Down_Interval as before", () => {
    const n = backup();
    // Its last frame came just after its next advert was due, but that advert (late by a few ms) never left: it died.
    n.says(3000 + 200);
    const tr = transitionOf(n.tick(DUE));
    expect(tr).toMatchObject({ to: "master", reason: "master-down", detail: `no advert for ${MDI} ms (Master_Down_Interval)` });
    expect(n.state.counters.takeoversHeld).toBe(0);
  });

  it("the RFC rule, unchanged: no claim (a keepalived master, a node never heard), a claim for another address, an older release, or heartbeat_hold off", () => {
    const cases: [string, One][] = [];
    cases.push(["no claim", backup({}, false)]);
    const other = backup();
    other.says(DUE - 10, "master", "198.51.100.13", "vms3");
    other.says(DUE - 10, "not-master");
    cases.push(["another address", other]);
    const old = backup();
    old.says(DUE - 10, "unknown");
    cases.push(["older release", old]);
    const off = backup({ heartbeatHold: false });
    off.says(DUE - 10);
    cases.push(["heartbeat_hold off", off]);
    for (const [what, n] of cases) {
      const out = n.tick(DUE);
      expect(transitionOf(out), what).toMatchObject({ to: "master", reason: "master-down", detail: `no advert for ${MDI} ms (Master_Down_Interval)` });
      expect(heldOf(out), what).toBeUndefined();
    }
  });

  it("a resigning master (priority 0) is taken over from after Skew_Time, whatever the heartbeat says", () => {
    const n = backup();
    n.advert(MASTER, 0, 2500);
    n.says(2550);
    const skew = skewTimeMs(100, 1000);
    expect(transitionOf(n.tick(2500 + skew))).toMatchObject({ to: "master", reason: "master-resigned" });
  });

  it("a preempting backup that discards a lower master's adverts takes over at Master_Down_Interval, claim or not", () => {
    const n = new One(config({ priority: 200 }));
    n.step({ type: "startup" }, 0);
    n.says(0);
    n.advert(MASTER, 150, 1000);
    n.says(DUE - 10);
    const mdi = masterDownIntervalMs(200, 1000, 3);
    expect(transitionOf(n.tick(mdi))).toMatchObject({ to: "master", reason: "master-down" });
  });

  it("a node that says MASTER of nothing here (it left, or never was) is forgotten: what it said before counts no more", () => {
    const n = backup();
    n.says(1500, "not-master");
    expect(n.state.peerMasters).toEqual([]);
    n.says(1600);
    expect(n.state.peerMasters).toEqual([{ node: "vms2", address: MASTER, heardAt: 1600 }]);
    n.says(1700, "master", "198.51.100.99");
    expect(n.state.peerMasters).toEqual([{ node: "vms2", address: "198.51.100.99", heardAt: 1700 }]);
  });
});
