import { describe, expect, it } from "vitest";
import {
  detectionBoundMs,
  type HeartbeatTimers,
  initMembership,
  validateHeartbeatTimers,
  validateMembershipConfig,
  type MembershipConfig,
} from "../../src/core/membership/membership.ts";
import { HEARTBEAT_PRESETS } from "../../src/config/defaults.ts";
import { resolveHeartbeatTimers } from "../../src/config/heartbeat-timers.ts";

/** As the heartbeat's setup.ts hands config timers to the core. */
const coreTimers = (t: { interval: number; warntime: number; deadtime: number; initdead: number }): HeartbeatTimers => ({
  intervalMs: t.interval,
  warntimeMs: t.warntime,
  deadtimeMs: t.deadtime,
  initdeadMs: t.initdead,
});

const base: MembershipConfig = {
  self: "vms1",
  cluster: "vms-pair",
  nodes: [
    { name: "vms1", links: ["198.51.100.11", "203.0.113.11"] },
    { name: "vms2", links: ["198.51.100.12", "203.0.113.12"] },
  ],
  ...coreTimers(HEARTBEAT_PRESETS.lan),
};

describe("heartbeat presets and formulas", () => {
  it("has fast, lan and wan presets that the core accepts", () => {
    expect(HEARTBEAT_PRESETS.fast).toMatchObject({ interval: 20, deadtime: 100 });
    expect(HEARTBEAT_PRESETS.lan).toMatchObject({ interval: 100, deadtime: 500 });
    expect(HEARTBEAT_PRESETS.wan).toMatchObject({ interval: 1000, deadtime: 10_000 });
    for (const preset of Object.values(HEARTBEAT_PRESETS)) {
      expect(validateHeartbeatTimers(coreTimers(preset))).toEqual([]);
      // wan allows ten lost frames in a row: WAN loss comes in bursts.
      expect(preset.deadtime).toBe((preset === HEARTBEAT_PRESETS.wan ? 10 : 5) * preset.interval);
      expect(preset.warntime).toBe(preset.deadtime / 2);
    }
  });

  it("the lan preset is what the default interval derives", () => {
    expect(resolveHeartbeatTimers({})?.timers).toEqual(HEARTBEAT_PRESETS.lan);
  });

  it("derives deadtime = 5 x interval, warntime = deadtime / 2 (moved up when not above the interval), initdead = max(2 x deadtime, 5 s)", () => {
    expect(resolveHeartbeatTimers({ interval: "100ms" })?.timers).toEqual({ interval: 100, deadtime: 500, warntime: 250, initdead: 5000 });
    expect(resolveHeartbeatTimers({ interval: "1s" })?.timers).toEqual({ interval: 1000, deadtime: 5000, warntime: 2500, initdead: 10_000 });
    expect(resolveHeartbeatTimers({ interval: "50ms", deadtime: "400ms" })?.timers).toEqual({ interval: 50, deadtime: 400, warntime: 200, initdead: 5000 });
    expect(resolveHeartbeatTimers({ interval: "50ms", warntime: "120ms", initdead: "900ms" })?.timers).toMatchObject({ warntime: 120, initdead: 900 });
    // Half of 200 ms would equal the interval: warntime moves to the middle of (interval, deadtime).
    expect(resolveHeartbeatTimers({ interval: "100ms", deadtime: "200ms" })?.timers).toMatchObject({ warntime: 150 });
  });

  it("bounds detection at deadtime plus one interval", () => {
    expect(detectionBoundMs(coreTimers(HEARTBEAT_PRESETS.lan))).toBe(600);
    expect(detectionBoundMs(coreTimers(HEARTBEAT_PRESETS.fast))).toBe(120);
  });
});

describe("timer validation", () => {
  const t = coreTimers(HEARTBEAT_PRESETS.lan);

  it("rejects a deadtime under two intervals, naming the key and the minimum", () => {
    expect(validateHeartbeatTimers({ ...t, deadtimeMs: 150, warntimeMs: 120 })).toEqual([
      { path: "cluster.heartbeat.deadtime", message: expect.stringMatching(/150 ms is shorter than 2 intervals .* at least 200 ms/) },
    ]);
    expect(validateHeartbeatTimers({ ...t, deadtimeMs: 200, warntimeMs: 150 })).toEqual([]);
  });

  it("wants interval < warntime < deadtime", () => {
    for (const warntimeMs of [100, 50, 500, 700]) {
      const problems = validateHeartbeatTimers({ ...t, warntimeMs });
      expect(problems.map((p) => p.path)).toEqual(["cluster.heartbeat.warntime"]);
      expect(problems[0]?.message).toContain("strictly between interval (100 ms) and deadtime (500 ms)");
    }
  });

  it("wants initdead >= deadtime", () => {
    expect(validateHeartbeatTimers({ ...t, initdeadMs: 400 }).map((p) => p.path)).toEqual(["cluster.heartbeat.initdead"]);
  });

  it("rejects non-positive or non-finite timers, and uses the caller's path", () => {
    const problems = validateHeartbeatTimers({ ...t, intervalMs: 0, initdeadMs: Number.NaN }, "hb");
    expect(problems).toEqual([
      { path: "hb.interval", message: "must be a positive number of milliseconds, got 0" },
      { path: "hb.initdead", message: "must be a positive number of milliseconds, got NaN" },
    ]);
  });
});

describe("membership config validation", () => {
  it("accepts a sane two-node config", () => {
    expect(validateMembershipConfig(base)).toEqual([]);
  });

  it("names a missing self, duplicate names, link count mismatches and an empty cluster name", () => {
    const problems = validateMembershipConfig({
      ...base,
      self: "vms9",
      cluster: "",
      nodes: [...base.nodes, { name: "vms2", links: ["198.51.100.13"] }],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: "cluster.name", message: "must not be empty" },
        { path: "cluster.nodes[2].name", message: '"vms2" is listed twice' },
        { path: "cluster.nodes", message: 'our own node "vms9" is not listed' },
      ]),
    );
    const mismatch = validateMembershipConfig({ ...base, nodes: [...base.nodes, { name: "vms3", links: ["198.51.100.13"] }] });
    expect(mismatch).toEqual([
      { path: "cluster.nodes[2].addresses", message: '"vms3" has 1 link addresses but "vms1" has 2; every node needs one per link' },
    ]);
    expect(validateMembershipConfig({ ...base, nodes: [...base.nodes, { name: "vms3", links: [] }] })).toEqual([
      { path: "cluster.nodes[2].addresses", message: "needs one address per heartbeat link, got none" },
    ]);
  });

  it("initMembership refuses an invalid config with every problem listed", () => {
    expect(() => initMembership({ ...base, deadtimeMs: 100, warntimeMs: 50 }, { now: 0, epoch: 1n })).toThrow(
      /invalid membership config: cluster\.heartbeat\.deadtime: .*; cluster\.heartbeat\.warntime: /,
    );
  });
});
