/**
 * Heartbeat takeover in the VRRP core: a BACKUP whose master's node the
 * heartbeat declared dead takes over before Master_Down_Interval, once the
 * master has also missed its next advert.
 */
import { describe, expect, it } from "vitest";
import {
  initVrrp,
  masterDownIntervalMs,
  type VrrpAction,
  type VrrpInstanceConfig,
} from "../../src/core/vrrp/vrrp.ts";
import { initSyncGroup, stepSyncGroup, type SyncGroupAction, type SyncGroupState } from "../../src/core/vrrp/sync-group.ts";
import { actionTypes as types, transitionOf, VrrpOne, vrrpConfig as config } from "./vrrp-core-one.ts";

/** The master: cluster node vms2, priority 150, sending from its first cluster address. */
const MASTER = "198.51.100.12";
const VMS2 = ["198.51.100.12", "203.0.113.12"];
const KEEPALIVED_ROUTER = "198.51.100.1";
/** Ours: priority 100 at a 1 s interval. */
const MDI = masterDownIntervalMs(100, 1000, 3);

/** Ours; a dead verdict is on the master's node vms2 by default. */
class One extends VrrpOne {
  override peerDead(at: number, node = "vms2", addresses: readonly string[] = VMS2, everHeard = true): VrrpAction[] {
    return super.peerDead(at, node, addresses, everHeard);
  }
}

/** A BACKUP that heard `master` advertise at 1000 and 2000 (1 s interval). */
function backupOf(master: string, over: Partial<VrrpInstanceConfig> = {}): One {
  const n = new One(config(over));
  n.step({ type: "startup" }, 0);
  n.advert(master, 150, 1000);
  n.advert(master, 150, 2000);
  expect(n.state.role).toBe("backup");
  return n;
}

describe("heartbeat takeover", () => {
  it("the master's node is declared dead: the backup takes over once its next advert is late, by the usual path, reason peer-dead", () => {
    const n = backupOf(MASTER);
    // The heartbeat's verdict comes 500 ms after the last advert; the next one is due at 3000.
    const verdict = n.peerDead(2500);
    expect(types(verdict)).toEqual([]);
    expect(verdict).toEqual([{ type: "set-timer", timer: "master-down", at: 3250 }]);
    expect(n.tick(3249)).toEqual([]);
    const up = n.tick(3250);
    expect(types(up)).toEqual(["send-advert(100)", "add-vips", "send-garp", "transition"]);
    const t = transitionOf(up);
    expect(t).toMatchObject({ from: "backup", to: "master", reason: "peer-dead" });
    expect(t?.detail).toBe(`the heartbeat declared node vms2 (master ${MASTER}) dead, no advert from ${MASTER} for 1250 ms; Master_Down_Interval ${MDI} ms cut short`);
    // Well before the normal timer: 2000 + 3609.
    expect(3250).toBeLessThan(2000 + MDI);
  });

  it("a verdict that comes after the master's next advert was due takes over at once", () => {
    const n = backupOf(MASTER);
    const up = n.peerDead(3400);
    expect(types(up)).toEqual(["send-advert(100)", "add-vips", "send-garp", "transition"]);
    expect(transitionOf(up)).toMatchObject({ at: 3400, reason: "peer-dead" });
  });

  it("any of the node's cluster addresses counts: a master sending from its second link's address", () => {
    const n = backupOf("203.0.113.12", { primaryAddress: "203.0.113.11" });
    n.peerDead(2500);
    expect(transitionOf(n.tick(3250))).toMatchObject({ reason: "peer-dead" });
  });

  it("no effect when the master is not that node: a keepalived router, or another cluster node", () => {
    const k = backupOf(KEEPALIVED_ROUTER);
    expect(k.peerDead(2500)).toEqual([]);
    expect(k.peerDead(2500, "vms3", ["198.51.100.13"])).toEqual([]);
    expect(k.tick(3250)).toEqual([]);
    expect(k.state.role).toBe("backup");
    expect(transitionOf(k.tick(2000 + MDI))).toMatchObject({ reason: "master-down" });
  });

  it("no effect when the heartbeat never heard the master's node (a keepalived node listed in the cluster during a migration): Master_Down_Interval decides", () => {
    const n = backupOf(MASTER);
    // initdead ran out with no frame from vms2 ever: a silence, not a death.
    expect(n.peerDead(2500, "vms2", VMS2, false)).toEqual([]);
    expect(n.state.deadMaster).toBeNull();
    expect(n.tick(3250)).toEqual([]);
    expect(n.peerDead(3400, "vms2", VMS2, false)).toEqual([]);
    expect(n.state.role).toBe("backup");
    // The live master keeps advertising: it keeps the VIPs.
    n.advert(MASTER, 150, 3000);
    n.advert(MASTER, 150, 4000);
    expect(n.tick(4000 + MDI - 1)).toEqual([]);
    expect(n.state.role).toBe("backup");
    // Only a real silence of Master_Down_Interval ends it.
    expect(transitionOf(n.tick(4000 + MDI))).toMatchObject({ reason: "master-down" });
  });

  it("no effect without a master heard yet", () => {
    const n = new One(config());
    n.step({ type: "startup" }, 0);
    expect(n.peerDead(500)).toEqual([]);
    expect(transitionOf(n.tick(MDI))).toMatchObject({ reason: "master-down" });
  });

  it("an advert from the master after the verdict (heartbeat links cut, VRRP network fine) calls the takeover off", () => {
    const n = backupOf(MASTER);
    n.peerDead(2500);
    const heard = n.advert(MASTER, 150, 3010);
    expect(heard).toEqual([{ type: "set-timer", timer: "master-down", at: 3010 + MDI }]);
    expect(n.tick(3250)).toEqual([]);
    expect(n.state.role).toBe("backup");
    // The verdict is used once: later adverts keep us Backup as usual...
    n.advert(MASTER, 150, 4010);
    expect(n.tick(5000)).toEqual([]);
    // ...and if the master does go silent, the normal timer applies.
    expect(n.tick(4010 + MDI - 1)).toEqual([]);
    expect(transitionOf(n.tick(4010 + MDI))).toMatchObject({ reason: "master-down" });
  });

  it("a wrong verdict costs one round trip at most: the higher master's next advert makes us Backup, and nothing repeats it", () => {
    const n = backupOf(MASTER);
    // The master's advert was lost once, while the heartbeat's links are cut.
    n.peerDead(3400);
    expect(n.state.role).toBe("master");
    const back = n.advert(MASTER, 150, 4000);
    expect(types(back)).toEqual(["remove-vips", "transition"]);
    expect(transitionOf(back)).toMatchObject({ to: "backup", reason: "higher-priority" });
    for (let at = 5000; at <= 20_000; at += 1000) {
      expect(types(n.advert(MASTER, 150, at))).toEqual([]);
      expect(n.tick(at + 500)).toEqual([]);
    }
    expect(n.state.role).toBe("backup");
    expect(n.state.counters.becameMaster).toBe(1);
  });

  it("the normal timer stays in charge when it runs out first", () => {
    // One missed advert and a 7 ms skew: the down timer (3007) runs out before 3250.
    const n = backupOf(MASTER, { downTimerAdverts: 1, priority: 254, preempt: false });
    expect(n.peerDead(2100)).toEqual([]);
    expect(n.tick(3006)).toEqual([]);
    const up = n.tick(2000 + masterDownIntervalMs(254, 1000, 1));
    expect(transitionOf(up)).toMatchObject({ reason: "master-down" });
  });

  it("a master resigning after the verdict: Skew_Time and reason master-resigned, as usual", () => {
    const n = backupOf(MASTER);
    n.peerDead(2500);
    n.advert(MASTER, 0, 2600);
    expect(n.tick(2600 + 608)).toEqual([]);
    expect(transitionOf(n.tick(2600 + 609))).toMatchObject({ reason: "master-resigned" });
  });

  it("a MASTER, a node in FAULT and a stopped instance ignore the verdict", () => {
    const m = new One(config({ priority: 200 }));
    m.step({ type: "startup" }, 0);
    m.tick(masterDownIntervalMs(200, 1000, 3));
    expect(m.state.role).toBe("master");
    expect(m.peerDead(5000)).toEqual([]);
    expect(m.peerDead(5000, "vms1", ["198.51.100.11"])).toEqual([]);
    expect(m.state.role).toBe("master");

    const f = backupOf(MASTER);
    f.step({ type: "interface", up: false, detail: "eth0 down" }, 2100);
    expect(f.peerDead(2500)).toEqual([]);
    expect(f.state.role).toBe("fault");

    const stopped = new One(config());
    expect(stopped.peerDead(2500)).toEqual([]);
    expect(stopped.state.role).toBe("initialize");
  });

  it("heartbeat_takeover off: the backup waits out Master_Down_Interval", () => {
    const n = backupOf(MASTER, { heartbeatTakeover: false });
    expect(n.peerDead(2500)).toEqual([]);
    expect(n.tick(3250)).toEqual([]);
    expect(n.tick(2000 + MDI - 1)).toEqual([]);
    expect(transitionOf(n.tick(2000 + MDI))).toMatchObject({ reason: "master-down" });
  });
});

describe("heartbeat takeover in a sync group", () => {
  function group(): { g: () => SyncGroupState; run: (input: Parameters<typeof stepSyncGroup>[1], now: number) => SyncGroupAction[] } {
    let g = initSyncGroup({ name: "G1", members: ["outside", "inside"] }, [
      initVrrp(config({ name: "outside", vrid: 51 }), 0),
      initVrrp(config({ name: "inside", vrid: 52, primaryAddress: "203.0.113.11", vips: ["203.0.113.100/24"] }), 0),
    ]);
    return {
      g: () => g,
      run(input, now) {
        const r = stepSyncGroup(g, input, now);
        g = r.state;
        return [...r.actions];
      },
    };
  }

  it("the member whose master died takes over with reason peer-dead, and the group follows it", () => {
    const x = group();
    x.run({ input: { type: "startup" } }, 0);
    // Only "outside" hears the master (say, the inside network lost its adverts).
    x.run({ instance: "outside", input: { type: "advert", advert: { src: MASTER, version: 3, vrid: 51, priority: 150, advertIntCs: 100, addresses: ["198.51.100.100"] } } }, 2000);
    // The verdict goes to every member; "inside" has no master to act on.
    x.run({ input: { type: "peer-dead", node: "vms2", addresses: VMS2, everHeard: true } }, 2500);
    expect(Object.values(x.g().members).map((s) => s.role)).toEqual(["backup", "backup"]);
    const up = x.run({ input: { type: "tick" } }, 3250);
    expect(Object.values(x.g().members).map((s) => s.role)).toEqual(["master", "master"]);
    expect(up.flatMap((a) => (a.action.type === "transition" ? [[a.instance, a.action.reason]] : []))).toEqual([
      ["outside", "peer-dead"],
      ["inside", "sync-group"],
    ]);
  });
});
