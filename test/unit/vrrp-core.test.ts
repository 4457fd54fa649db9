import { describe, expect, it } from "vitest";
import {
  initVrrp,
  masterDownIntervalMs,
  nextWakeAt,
  resolveVrrpConfig,
  skewTimeMs,
  stepVrrp,
  type VrrpAction,
  type VrrpInput,
  type VrrpInstanceConfig,
  type VrrpRole,
  type VrrpState,
  type VrrpTransition,
} from "../../src/core/vrrp/vrrp.ts";
import { initSyncGroup, stepSyncGroup, syncGroupNextWakeAt, type SyncGroupAction, type SyncGroupState } from "../../src/core/vrrp/sync-group.ts";
import { effectivePriority, faultingTracks } from "../../src/core/vrrp/track.ts";
import { decodeVrrp, encodeAdvert, encodeIpv4Datagram, VRRP_MULTICAST_V4 } from "../../src/proto/vrrp.ts";
import { actionTypes as types, transitionOf, VIP, VrrpOne as One, vrrpConfig as config } from "./vrrp-core-one.ts";


interface Logged {
  readonly at: number;
  readonly node: string;
  readonly action: VrrpAction;
}

/**
 * Several instances on one zero-delay LAN: a sent advert reaches every
 * connected instance at the same instant. Time moves by ticking whoever is
 * due next, as a driver would.
 */
class Lan {
  readonly nodes = new Map<string, VrrpState>();
  readonly log: Logged[] = [];
  readonly down = new Set<string>();
  now = 0;

  add(name: string, c: VrrpInstanceConfig): this {
    this.nodes.set(name, initVrrp({ ...c, name }, this.now));
    return this;
  }
  role(name: string): VrrpRole {
    return this.get(name).role;
  }
  get(name: string): VrrpState {
    const s = this.nodes.get(name);
    if (s === undefined) throw new Error(`no node ${name}`);
    return s;
  }
  masters(): string[] {
    return [...this.nodes].filter(([, s]) => s.role === "master").map(([n]) => n);
  }
  transitions(node?: string): VrrpTransition[] {
    return this.log.flatMap((l) => (l.action.type === "transition" && (node === undefined || l.node === node) ? [l.action] : []));
  }
  input(name: string, input: VrrpInput): VrrpAction[] {
    const r = stepVrrp(this.get(name), input, this.now);
    this.nodes.set(name, r.state);
    for (const action of r.actions) {
      this.log.push({ at: this.now, node: name, action });
      if (action.type === "send-advert" && !this.down.has(name)) {
        const packet = { ...action.advert, src: action.src };
        for (const other of this.nodes.keys()) {
          if (other !== name && !this.down.has(other)) this.input(other, { type: "advert", advert: packet });
        }
      }
    }
    return [...r.actions];
  }
  run(until: number): void {
    for (;;) {
      let next: { name: string; at: number } | null = null;
      for (const [name, s] of this.nodes) {
        const at = nextWakeAt(s);
        if (at !== null && at <= until && (next === null || at < next.at)) next = { name, at };
      }
      if (next === null) break;
      this.now = next.at;
      this.input(next.name, { type: "tick" });
    }
    this.now = until;
  }
}

describe("timer formulas (RFC 5798 6.1)", () => {
  it("computes Skew_Time and Master_Down_Interval, matching keepalived's 3.61 s in the lab", () => {
    expect(skewTimeMs(100, 1000)).toBe(609);
    expect(masterDownIntervalMs(100, 1000, 3)).toBe(3609);
    expect(skewTimeMs(255, 1000)).toBe(3);
    expect(masterDownIntervalMs(200, 100, 3)).toBe(321);
    expect(masterDownIntervalMs(100, 1000, 5)).toBe(5609);
  });
});

describe("configuration", () => {
  it("fills defaults", () => {
    const r = resolveVrrpConfig(config());
    expect(r.ok && r.config).toMatchObject({ version: 3, advertIntCs: 100, preempt: true, preemptDelayMs: 0, acceptMode: false, downTimerAdverts: 3, auth: { type: "none" }, track: [] });
    // A loader that writes absent keys as undefined still gets the defaults.
    const loose = resolveVrrpConfig({ ...config(), preempt: undefined, advertIntCs: undefined } as unknown as VrrpInstanceConfig);
    expect(loose.ok && [loose.config.preempt, loose.config.advertIntCs]).toEqual([true, 100]);
  });

  it("names every problem and its key", () => {
    const r = resolveVrrpConfig(
      config({
        vrid: 0,
        priority: 0,
        advertIntCs: 5000,
        primaryAddress: "198.51.100",
        vips: ["198.51.100.100/33", "198.51.100.7", "198.51.100.7/24"],
        auth: { type: "pass", password: "way-too-long" },
        track: [{ name: "a", weight: 300 }, { name: "a", weight: 1 }],
        downTimerAdverts: 0,
      }),
      "vrrp[2]",
    );
    if (r.ok) throw new Error("expected problems");
    const paths = r.problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "vrrp[2].vrid",
        "vrrp[2].priority",
        "vrrp[2].advert_int",
        "vrrp[2].primary_address",
        "vrrp[2].vips[0]",
        "vrrp[2].vips[2]",
        "vrrp[2].auth",
        "vrrp[2].auth.password",
        "vrrp[2].track[0].weight",
        "vrrp[2].track[1].name",
        "vrrp[2].down_timer_adverts",
      ]),
    );
    expect(r.problems.find((p) => p.path === "vrrp[2].vips[2]")?.message).toMatch(/198\.51\.100\.7 is listed twice/);
    expect(r.problems.find((p) => p.path === "vrrp[2].auth")?.message).toMatch(/VRRPv3 has no authentication/);
  });

  it("wants whole seconds for v2 and no weights on an address owner", () => {
    const v2 = resolveVrrpConfig(config({ version: 2, advertIntCs: 150 }));
    expect(!v2.ok && v2.problems[0]?.message).toMatch(/whole seconds from 1 to 255 for VRRPv2/);
    const owner = resolveVrrpConfig(config({ priority: 255, track: [{ name: "x", weight: -10 }] }));
    expect(!owner.ok && owner.problems[0]?.path).toBe("vrrp.track[0].weight");
    expect(() => initVrrp(config({ vrid: 300 }), 0)).toThrow(/vrrp\.vrid: must be an integer in 1\.\.255, got 300/);
  });
});

describe("startup and the master-down timer", () => {
  it("a non-owner starts as Backup and takes over after Master_Down_Interval, advert before addresses before GARP", () => {
    const n = new One(config());
    expect(n.state.role).toBe("initialize");
    expect(nextWakeAt(n.state)).toBeNull();
    const start = n.step({ type: "startup" }, 1000);
    expect(transitionOf(start)).toMatchObject({ from: "initialize", to: "backup", reason: "startup", seq: 1 });
    expect(start).toContainEqual({ type: "set-timer", timer: "master-down", at: 1000 + 3609 });
    expect(nextWakeAt(n.state)).toBe(4609);
    expect(n.tick(4608)).toEqual([]);
    const up = n.tick(4609);
    expect(types(up)).toEqual(["send-advert(100)", "add-vips", "send-garp", "transition"]);
    expect(up).toContainEqual({ type: "add-vips", vips: [VIP], acceptMode: false });
    expect(up).toContainEqual({ type: "send-garp", addresses: ["198.51.100.100"] });
    expect(transitionOf(up)).toMatchObject({ from: "backup", to: "master", reason: "master-down", priority: 100 });
    const sent = up.find((a) => a.type === "send-advert");
    expect(sent).toEqual({
      type: "send-advert",
      src: "198.51.100.11",
      advert: { version: 3, vrid: 51, priority: 100, advertIntCs: 100, addresses: ["198.51.100.100"] },
    });
    // Then one advert per interval; an early or repeated tick does nothing.
    expect(nextWakeAt(n.state)).toBe(5609);
    expect(n.tick(5000)).toEqual([]);
    expect(types(n.tick(5609))).toEqual(["send-advert(100)"]);
    expect(types(n.tick(5609))).toEqual([]);
    expect(n.state.counters.advertsSent).toBe(2);
  });

  it("an address owner (255) is Master at once", () => {
    const n = new One(config({ priority: 255 }));
    const start = n.step({ type: "startup" }, 0);
    expect(types(start)).toEqual(["send-advert(255)", "add-vips", "send-garp", "transition"]);
    expect(transitionOf(start)?.reason).toBe("address-owner");
    expect(start).toContainEqual({ type: "add-vips", vips: [VIP], acceptMode: true });
  });

  it("ignores adverts and timers before startup and after shutdown", () => {
    const n = new One(config());
    expect(n.advert("198.51.100.12", 200)).toEqual([]);
    expect(n.state.counters.discarded["not-running"]).toBe(1);
    n.step({ type: "startup" }, 0);
    const stop = n.step({ type: "shutdown" }, 10);
    expect(types(stop)).toEqual(["transition"]);
    expect(transitionOf(stop)).toMatchObject({ from: "backup", to: "initialize", reason: "shutdown" });
    expect(nextWakeAt(n.state)).toBeNull();
    expect(n.tick(100_000)).toEqual([]);
  });
});

describe("election between routers", () => {
  it("the highest priority wins and the others stay Backup", () => {
    const lan = new Lan()
      .add("a", config({ priority: 100, primaryAddress: "198.51.100.11" }))
      .add("b", config({ priority: 200, primaryAddress: "198.51.100.12" }))
      .add("c", config({ priority: 150, primaryAddress: "198.51.100.13" }));
    for (const n of ["a", "b", "c"]) lan.input(n, { type: "startup" });
    lan.run(20_000);
    expect(lan.masters()).toEqual(["b"]);
    expect(lan.transitions("b").map((t) => t.to)).toEqual(["backup", "master"]);
    // b took over at its own Master_Down_Interval, the shortest one.
    expect(lan.transitions("b")[1]?.at).toBe(masterDownIntervalMs(200, 1000, 3));
    expect(lan.transitions("a")).toHaveLength(1);
    expect(lan.transitions("c")).toHaveLength(1);
  });

  it("equal priorities: the higher primary address wins, from either side", () => {
    // Both masters at once (e.g. a partition healed): the lower address yields.
    const lan = new Lan()
      .add("low", config({ primaryAddress: "198.51.100.11" }))
      .add("high", config({ primaryAddress: "198.51.100.12" }));
    lan.down.add("low").add("high");
    lan.input("low", { type: "startup" });
    lan.input("high", { type: "startup" });
    lan.run(5000);
    expect(lan.masters().sort()).toEqual(["high", "low"]);
    lan.down.clear();
    lan.run(6000);
    expect(lan.masters()).toEqual(["high"]);
    const yielded = lan.transitions("low").at(-1);
    expect(yielded).toMatchObject({ from: "master", to: "backup", reason: "equal-priority-higher-address" });

    const m = new One(config({ primaryAddress: "198.51.100.12" }));
    m.step({ type: "startup" }, 0);
    m.tick(3609);
    expect(m.state.role).toBe("master");
    // Equal priority from a lower address: we stay, and assert ourselves at once.
    expect(types(m.advert("198.51.100.11", 100, 3700))).toEqual(["send-advert(100)", "send-garp"]);
    expect(m.state.role).toBe("master");
    // A backup does not preempt an equal master, whatever the addresses.
    const b = new One(config({ primaryAddress: "198.51.100.200" }));
    b.step({ type: "startup" }, 0);
    b.advert("198.51.100.11", 100, 3000);
    expect(nextWakeAt(b.state)).toBe(3000 + 3609);
  });

  it("a master hearing a lower priority (healed split brain) advertises and sends GARP right away", () => {
    const m = new One(config({ priority: 200 }));
    m.step({ type: "startup" }, 0);
    m.tick(masterDownIntervalMs(200, 1000, 3));
    const acts = m.advert("198.51.100.12", 100, 3500);
    expect(types(acts)).toEqual(["send-advert(200)", "send-garp"]);
    expect(acts).toContainEqual({ type: "set-timer", timer: "advert", at: 4500 });
    expect(m.state.role).toBe("master");
  });

  it("a master flooded with lower adverts answers each source at most once per advert interval", () => {
    const m = new One(config({ priority: 200 }));
    m.step({ type: "startup" }, 0);
    m.tick(masterDownIntervalMs(200, 1000, 3));
    const sent: string[] = [];
    const record = (acts: VrrpAction[]) => sent.push(...types(acts).filter((t) => t !== "transition"));
    // 1000 adverts from one router in 1.5 s (the regular advert timer keeps running).
    for (let i = 0; i < 1000; i++) {
      const at = 4000 + i * 1.5;
      const due = nextWakeAt(m.state);
      if (due !== null && due <= at) record(m.tick(due));
      record(m.advert("198.51.100.12", 100, at));
    }
    // One answer at 4000, the regular advert at 5000 and the answer it allows then: no more.
    expect(sent.filter((t) => t === "send-advert(200)").length).toBeLessThanOrEqual(3);
    expect(sent.filter((t) => t === "send-garp").length).toBeLessThanOrEqual(2);
    expect(sent.filter((t) => t === "send-garp").length).toBeGreaterThanOrEqual(1);
    expect(m.state.counters.discarded["answered-recently"]).toBeGreaterThanOrEqual(998);
    expect(m.state.role).toBe("master");
    // Another source is answered on its own account, and a source is answered again an interval later.
    expect(types(m.advert("198.51.100.13", 100, 5600))).toEqual(["send-advert(200)", "send-garp"]);
    expect(types(m.advert("198.51.100.13", 100, 5700))).toEqual([]);
    expect(types(m.advert("198.51.100.13", 100, 6600))).toEqual(["send-advert(200)", "send-garp"]);
    // Priority 0 floods are answered the same way.
    expect(types(m.advert("198.51.100.14", 0, 6600))).toEqual(["send-advert(200)"]);
    expect(types(m.advert("198.51.100.14", 0, 6601))).toEqual([]);
    // A higher advert is never held back.
    expect(transitionOf(m.advert("198.51.100.12", 250, 6602))).toMatchObject({ to: "backup", reason: "higher-priority" });
  });

  it("a master answers at most 64 sources per advert interval, so forged sources cannot multiply its output", () => {
    const m = new One(config({ priority: 200 }));
    m.step({ type: "startup" }, 0);
    m.tick(masterDownIntervalMs(200, 1000, 3));
    let answers = 0;
    for (let i = 0; i < 200; i++) {
      if (types(m.advert(`203.0.113.${i + 1}`, 100, 4000 + i)).includes("send-garp")) answers++;
    }
    expect(answers).toBe(64);
    expect(m.state.answered.length).toBe(64);
    // An interval later the memory has emptied and answers resume.
    expect(types(m.advert("203.0.113.250", 100, 5300))).toEqual(["send-advert(200)", "send-garp"]);
    expect(m.state.answered.length).toBe(1);
  });

  it("a master hearing a higher priority gives its addresses up, then reports Backup", () => {
    const m = new One(config());
    m.step({ type: "startup" }, 0);
    m.tick(3609);
    const acts = m.advert("198.51.100.12", 150, 4000);
    expect(types(acts)).toEqual(["remove-vips", "transition"]);
    expect(transitionOf(acts)).toMatchObject({ from: "master", to: "backup", reason: "higher-priority" });
    expect(acts).toContainEqual({ type: "set-timer", timer: "advert", at: null });
    expect(acts).toContainEqual({ type: "set-timer", timer: "master-down", at: 4000 + 3609 });
    expect(m.state.master).toMatchObject({ address: "198.51.100.12", priority: 150 });
  });
});

describe("preemption", () => {
  function lowMasterThenHighBackup(high: Partial<VrrpInstanceConfig>): Lan {
    const lan = new Lan().add("low", config({ priority: 100, primaryAddress: "198.51.100.11" }));
    lan.input("low", { type: "startup" });
    lan.run(5000);
    expect(lan.masters()).toEqual(["low"]);
    lan.add("high", config({ priority: 200, primaryAddress: "198.51.100.12", ...high }));
    lan.input("high", { type: "startup" });
    return lan;
  }

  it("with preempt (the default) a higher backup ignores the lower master and takes over when its timer runs out", () => {
    const lan = lowMasterThenHighBackup({});
    lan.run(5000 + masterDownIntervalMs(200, 1000, 3) - 1);
    expect(lan.masters()).toEqual(["low"]);
    expect(lan.get("high").counters.discarded["lower-priority"]).toBeGreaterThan(0);
    lan.run(5000 + masterDownIntervalMs(200, 1000, 3));
    expect(lan.masters()).toEqual(["high"]);
    expect(lan.transitions("low").at(-1)).toMatchObject({ from: "master", to: "backup", reason: "higher-priority" });
    lan.run(60_000);
    expect(lan.masters()).toEqual(["high"]);
  });

  it("nopreempt: a higher backup leaves a working lower master alone", () => {
    const lan = lowMasterThenHighBackup({ preempt: false });
    lan.run(120_000);
    expect(lan.masters()).toEqual(["low"]);
    // ...but takes over when that master goes away.
    lan.input("low", { type: "shutdown" });
    lan.run(121_000);
    expect(lan.masters()).toEqual(["high"]);
  });

  it("preempt_delay: waits that long from the first lower advert, then takes over", () => {
    const lan = lowMasterThenHighBackup({ preemptDelayMs: 10_000 });
    // low became master at 3609 and advertises every second: the first advert high hears is at 5609.
    lan.run(15_608);
    expect(lan.masters()).toEqual(["low"]);
    expect(lan.get("high").timers.preempt).toBe(15_609);
    lan.run(15_609);
    expect(lan.masters()).toEqual(["high"]);
    expect(lan.transitions("high").at(-1)).toMatchObject({ at: 15_609, to: "master", reason: "preempt-delay-over" });
  });

  it("preempt_delay: a higher or equal advert meanwhile cancels the pending takeover", () => {
    const b = new One(config({ priority: 200, preemptDelayMs: 10_000 }));
    b.step({ type: "startup" }, 0);
    expect(b.advert("198.51.100.12", 100, 1000)).toContainEqual({ type: "set-timer", timer: "preempt", at: 11_000 });
    b.advert("198.51.100.12", 100, 2000);
    expect(b.state.timers.preempt).toBe(11_000);
    expect(b.advert("198.51.100.13", 250, 3000)).toContainEqual({ type: "set-timer", timer: "preempt", at: null });
    expect(nextWakeAt(b.state)).toBe(3000 + masterDownIntervalMs(200, 1000, 3));
    for (let t = 4000; t <= 11_000; t += 1000) {
      b.advert("198.51.100.13", 250, t);
      expect(b.tick(t)).toEqual([]);
    }
    expect(b.state.role).toBe("backup");
  });
});

describe("priority 0: the master resigns", () => {
  it("shutdown as master removes the addresses BEFORE sending priority 0", () => {
    const m = new One(config());
    m.step({ type: "startup" }, 0);
    m.tick(3609);
    const stop = m.step({ type: "shutdown" }, 5000);
    expect(types(stop)).toEqual(["remove-vips", "send-advert(0)", "transition"]);
    expect(m.state.counters.priorityZeroSent).toBe(1);
  });

  it("a backup takes over after Skew_Time only, and the highest backup first", () => {
    const lan = new Lan()
      .add("m", config({ priority: 250, primaryAddress: "198.51.100.11" }))
      .add("b1", config({ priority: 100, primaryAddress: "198.51.100.12" }))
      .add("b2", config({ priority: 200, primaryAddress: "198.51.100.13" }));
    for (const n of ["m", "b1", "b2"]) lan.input(n, { type: "startup" });
    lan.run(10_000);
    expect(lan.masters()).toEqual(["m"]);
    lan.now = 10_500;
    lan.input("m", { type: "shutdown" });
    expect(lan.get("b2").timers["master-down"]).toBe(10_500 + skewTimeMs(200, 1000));
    expect(lan.get("b1").timers["master-down"]).toBe(10_500 + skewTimeMs(100, 1000));
    lan.run(10_500 + skewTimeMs(200, 1000) - 1);
    expect(lan.masters()).toEqual([]);
    lan.run(10_500 + skewTimeMs(200, 1000));
    expect(lan.masters()).toEqual(["b2"]);
    expect(lan.transitions("b2").at(-1)).toMatchObject({ to: "master", reason: "master-resigned" });
    lan.run(30_000);
    expect(lan.masters()).toEqual(["b2"]);
    expect(lan.transitions("b1")).toHaveLength(1);
  });

  it("a master hearing another router resign answers with an advert", () => {
    const m = new One(config());
    m.step({ type: "startup" }, 0);
    m.tick(3609);
    expect(types(m.advert("198.51.100.12", 0, 4000))).toEqual(["send-advert(100)"]);
    expect(m.state.counters.priorityZeroReceived).toBe(1);
  });
});

describe("tracking and faults", () => {
  it("computes the effective priority with keepalived's weight rules, clamped to 1..254", () => {
    const tracks = [
      { name: "up-bonus", weight: 50 },
      { name: "down-malus", weight: -60 },
      { name: "vital", weight: 0 },
    ];
    expect(effectivePriority(100, tracks, {})).toBe(150);
    expect(effectivePriority(100, tracks, { "up-bonus": false })).toBe(100);
    expect(effectivePriority(100, tracks, { "up-bonus": false, "down-malus": false })).toBe(40);
    expect(effectivePriority(240, tracks, {})).toBe(254);
    expect(effectivePriority(5, tracks, { "up-bonus": false, "down-malus": false })).toBe(1);
    expect(effectivePriority(255, [], {})).toBe(255);
    expect(faultingTracks(tracks, { vital: false })).toEqual(["vital"]);
    expect(faultingTracks(tracks, { vital: true, "down-malus": false })).toEqual([]);
  });

  it("a failing negative weight lets the backup preempt; recovery lets us preempt back", () => {
    const lan = new Lan()
      .add("a", config({ priority: 150, primaryAddress: "198.51.100.11", track: [{ name: "node_exporter", weight: -60 }] }))
      .add("b", config({ priority: 100, primaryAddress: "198.51.100.12" }));
    lan.input("a", { type: "startup" });
    lan.input("b", { type: "startup" });
    lan.run(10_000);
    expect(lan.masters()).toEqual(["a"]);
    lan.input("a", { type: "track", name: "node_exporter", up: false });
    expect(lan.get("a").priority).toBe(90);
    lan.run(20_000);
    expect(lan.masters()).toEqual(["b"]);
    expect(lan.transitions("a").at(-1)?.reason).toBe("higher-priority");
    const sent = lan.log.filter((l) => l.node === "a" && l.action.type === "send-advert").at(-1)?.action;
    expect(sent?.type === "send-advert" && sent.advert.priority).toBe(90);
    lan.input("a", { type: "track", name: "node_exporter", up: true });
    lan.run(30_000);
    expect(lan.masters()).toEqual(["a"]);
  });

  it("a weight-0 object going down puts a master in Fault: addresses removed, priority 0 sent; it comes back as Backup", () => {
    const m = new One(config({ track: [{ name: "vms", weight: 0 }] }));
    m.step({ type: "startup" }, 0);
    m.tick(3609);
    expect(m.step({ type: "track", name: "vms", up: true }, 4000)).toEqual([]);
    const fault = m.step({ type: "track", name: "vms", up: false }, 4100);
    expect(types(fault)).toEqual(["remove-vips", "send-advert(0)", "transition"]);
    expect(transitionOf(fault)).toMatchObject({ from: "master", to: "fault", reason: "tracked-object-down" });
    expect(transitionOf(fault)?.detail).toMatch(/"vms"/);
    expect(nextWakeAt(m.state)).toBeNull();
    expect(m.advert("198.51.100.12", 50, 4200)).toEqual([]);
    const back = m.step({ type: "track", name: "vms", up: true }, 5000);
    expect(transitionOf(back)).toMatchObject({ from: "fault", to: "backup", reason: "fault-cleared" });
    expect(m.state.timers["master-down"]).toBe(5000 + 3609);
  });

  it("interface down: Fault without a useless advert; startup while down starts in Fault", () => {
    const m = new One(config());
    m.step({ type: "startup" }, 0);
    m.tick(3609);
    const down = m.step({ type: "interface", up: false }, 4000);
    expect(types(down)).toEqual(["remove-vips", "transition"]);
    expect(transitionOf(down)?.reason).toBe("interface-down");
    expect(transitionOf(m.step({ type: "interface", up: true }, 4500))?.to).toBe("backup");

    const n = new One(config());
    n.step({ type: "interface", up: false }, 0);
    expect(transitionOf(n.step({ type: "startup" }, 1))).toMatchObject({ from: "initialize", to: "fault", reason: "interface-down" });
    // Both causes must clear.
    n.step({ type: "track", name: "x", up: false }, 2);
    expect(n.step({ type: "interface", up: true }, 3).length).toBeGreaterThan(0);
    expect(n.state.role).toBe("backup");
  });
});

describe("misconfiguration", () => {
  it("v3: another advert interval is reported once, and the backup learns the master's interval", () => {
    const b = new One(config());
    b.step({ type: "startup" }, 0);
    const first = b.advert("198.51.100.12", 150, 1000, { advertIntCs: 200 });
    const reports = first.filter((a) => a.type === "misconfiguration");
    expect(reports).toEqual([
      expect.objectContaining({ kind: "advert-interval", source: "198.51.100.12", detail: expect.stringMatching(/every 2000 ms .* configured for 1000 ms/) }),
    ]);
    expect(b.state.masterAdverIntervalMs).toBe(2000);
    expect(b.state.timers["master-down"]).toBe(1000 + masterDownIntervalMs(100, 2000, 3));
    const again = b.advert("198.51.100.12", 150, 3000, { advertIntCs: 200 });
    expect(again.filter((a) => a.type === "misconfiguration")).toEqual([]);
  });

  it("v2: an advert with another interval is reported and dropped, like keepalived", () => {
    const b = new One(config({ version: 2 }));
    b.step({ type: "startup" }, 0);
    const acts = b.advert("198.51.100.12", 150, 1000, { version: 2, advertIntCs: 300 });
    expect(types(acts)).toEqual(["misconfiguration"]);
    expect(b.state.timers["master-down"]).toBe(3609);
    expect(b.state.counters.discarded["interval-mismatch"]).toBe(1);
  });

  it("reports other addresses (kept) and drops other versions, other VRIDs and our own address", () => {
    const b = new One(config());
    b.step({ type: "startup" }, 0);
    const addrs = b.advert("198.51.100.12", 150, 100, { addresses: ["198.51.100.101"] });
    expect(addrs.find((a) => a.type === "misconfiguration")).toMatchObject({ kind: "addresses" });
    expect(b.state.timers["master-down"]).toBe(100 + 3609);
    expect(types(b.advert("198.51.100.12", 150, 200, { version: 2 }))).toEqual(["misconfiguration"]);
    expect(b.advert("198.51.100.12", 150, 300, { vrid: 52 })).toEqual([]);
    expect(types(b.advert("198.51.100.11", 150, 400))).toEqual(["misconfiguration"]);
    expect(b.state.counters.discarded).toMatchObject({ "version-mismatch": 1, "other-vrid": 1, "own-address": 1 });
    expect(b.state.timers["master-down"]).toBe(100 + 3609);
  });
});

describe("VRRPv2 with PASS authentication, end to end through the codec", () => {
  it("sends adverts that a same-password peer accepts and a wrong-password peer rejects", () => {
    const m = new One(config({ version: 2, auth: { type: "pass", password: "s3cret" } }));
    m.step({ type: "startup" }, 0);
    const sent = m.tick(3609).find((a) => a.type === "send-advert");
    if (sent?.type !== "send-advert") throw new Error("no advert");
    expect(sent.advert.auth).toEqual({ type: "pass", password: "s3cret" });
    const ip = { src: sent.src, dst: VRRP_MULTICAST_V4 };
    const wire = encodeIpv4Datagram(encodeAdvert(sent.advert, ip), ip);
    const good = decodeVrrp(wire, { version: 2, auth: { type: "pass", password: "s3cret" } });
    const bad = decodeVrrp(wire, { version: 2, auth: { type: "pass", password: "wrong" } });
    expect(bad.ok ? "accepted" : bad.error.kind).toBe("auth");
    if (!good.ok) throw new Error(good.error.detail);
    const peer = new One(config({ version: 2, priority: 50, primaryAddress: "198.51.100.12", auth: { type: "pass", password: "s3cret" } }));
    peer.step({ type: "startup" }, 0);
    peer.step({ type: "advert", advert: good.packet }, 3700);
    expect(peer.state.master).toMatchObject({ address: "198.51.100.11", priority: 100 });
  });
});

describe("sync groups", () => {
  const names = ["outside", "inside"] as const;
  function group(over: Partial<VrrpInstanceConfig> = {}): { g: SyncGroupState; run: (input: Parameters<typeof stepSyncGroup>[1], now: number) => SyncGroupAction[] } {
    let g = initSyncGroup({ name: "G1", members: [...names] }, [
      initVrrp(config({ name: "outside", vrid: 51, ...over }), 0),
      initVrrp(config({ name: "inside", vrid: 52, primaryAddress: "203.0.113.11", vips: ["203.0.113.100/24"], ...over }), 0),
    ]);
    const box = {
      get g() {
        return g;
      },
      run(input: Parameters<typeof stepSyncGroup>[1], now: number) {
        const r = stepSyncGroup(g, input, now);
        g = r.state;
        return [...r.actions];
      },
    };
    return box;
  }
  const roles = (g: SyncGroupState) => names.map((n) => g.members[n]?.role);

  it("one member in Fault takes the others there, and they come back together", () => {
    const x = group();
    x.run({ input: { type: "startup" } }, 0);
    x.run({ input: { type: "tick" } }, syncGroupNextWakeAt(x.g)!);
    expect(roles(x.g)).toEqual(["master", "master"]);
    const fault = x.run({ instance: "inside", input: { type: "interface", up: false } }, 5000);
    expect(roles(x.g)).toEqual(["fault", "fault"]);
    const outside = fault.filter((a) => a.instance === "outside").map((a) => a.action);
    expect(types(outside)).toEqual(["remove-vips", "send-advert(0)", "transition"]);
    expect(transitionOf(outside)?.reason).toBe("sync-group");
    x.run({ instance: "inside", input: { type: "interface", up: true } }, 6000);
    expect(roles(x.g)).toEqual(["backup", "backup"]);
  });

  it("a member cannot leave Fault while another is in Fault on its own", () => {
    const x = group({ track: [{ name: "uplink", weight: 0 }] });
    x.run({ input: { type: "startup" } }, 0);
    x.run({ instance: "outside", input: { type: "track", name: "uplink", up: false } }, 100);
    x.run({ instance: "inside", input: { type: "track", name: "uplink", up: false } }, 200);
    x.run({ instance: "inside", input: { type: "track", name: "uplink", up: true } }, 300);
    expect(roles(x.g)).toEqual(["fault", "fault"]);
    x.run({ instance: "outside", input: { type: "track", name: "uplink", up: true } }, 400);
    expect(roles(x.g)).toEqual(["backup", "backup"]);
  });

  it("one member going Backup from Master takes the others to Backup; one going Master takes the others along", () => {
    const x = group();
    x.run({ input: { type: "startup" } }, 0);
    // Only "outside" hears a master; "inside" would take over alone without the group.
    x.run({ instance: "outside", input: { type: "advert", advert: { src: "198.51.100.12", version: 3, vrid: 51, priority: 200, advertIntCs: 100, addresses: ["198.51.100.100"] } } }, 1000);
    const up = x.run({ input: { type: "tick" } }, 3609);
    expect(roles(x.g)).toEqual(["master", "master"]);
    expect(up.filter((a) => a.action.type === "transition").map((a) => [a.instance, a.action.type === "transition" && a.action.reason])).toEqual([
      ["inside", "master-down"],
      ["outside", "sync-group"],
    ]);
    const down = x.run({ instance: "outside", input: { type: "advert", advert: { src: "198.51.100.12", version: 3, vrid: 51, priority: 200, advertIntCs: 100, addresses: ["198.51.100.100"] } } }, 4000);
    expect(roles(x.g)).toEqual(["backup", "backup"]);
    expect(down.map((a) => `${a.instance}:${a.action.type}`).filter((s) => !s.endsWith("set-timer"))).toEqual([
      "outside:remove-vips",
      "outside:transition",
      "inside:remove-vips",
      "inside:transition",
    ]);
  });

  it("refuses a group that does not match its instances", () => {
    expect(() => initSyncGroup({ name: "G", members: ["a"] }, [])).toThrow(/at least two/);
    expect(() => initSyncGroup({ name: "G", members: ["a", "b"] }, [initVrrp(config({ name: "a" }), 0)])).toThrow(/no VRRP instance named "b"/);
  });
});
