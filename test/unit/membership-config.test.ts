import { describe, expect, it } from "vitest";
import {
  defaultHeartbeatPreset,
  deriveHeartbeatTimers,
  detectionBoundMs,
  heartbeatPresets,
  initMembership,
  validateHeartbeatTimers,
  validateMembershipConfig,
  type MembershipConfig,
} from "../../src/core/membership/membership.ts";

const base: MembershipConfig = {
  self: "vms1",
  cluster: "vms-pair",
  nodes: [
    { name: "vms1", links: ["198.51.100.11", "203.0.113.11"] },
    { name: "vms2", links: ["198.51.100.12", "203.0.113.12"] },
  ],
  ...heartbeatPresets.lan,
};

describe("heartbeat presets and formulas", () => {
  it("has fast, lan (default) and wan presets that pass validation", () => {
    expect(defaultHeartbeatPreset).toBe("lan");
    expect(heartbeatPresets.fast).toMatchObject({ intervalMs: 20, deadtimeMs: 100 });
    expect(heartbeatPresets.lan).toMatchObject({ intervalMs: 100, deadtimeMs: 500 });
    expect(heartbeatPresets.wan).toMatchObject({ intervalMs: 1000, deadtimeMs: 10_000 });
    for (const preset of Object.values(heartbeatPresets)) {
      expect(validateHeartbeatTimers(preset)).toEqual([]);
      // wan allows ten lost frames in a row: WAN loss comes in bursts.
      expect(preset.deadtimeMs).toBe((preset === heartbeatPresets.wan ? 10 : 5) * preset.intervalMs);
      expect(preset.warntimeMs).toBe(preset.deadtimeMs / 2);
    }
  });

  it("derives deadtime = 5 x interval, warntime = deadtime / 2, initdead = max(2 x deadtime, 5 s)", () => {
    expect(deriveHeartbeatTimers({ intervalMs: 100 })).toEqual({ intervalMs: 100, deadtimeMs: 500, warntimeMs: 250, initdeadMs: 5000 });
    expect(deriveHeartbeatTimers({ intervalMs: 1000 })).toEqual({ intervalMs: 1000, deadtimeMs: 5000, warntimeMs: 2500, initdeadMs: 10_000 });
    expect(deriveHeartbeatTimers({ intervalMs: 50, deadtimeMs: 400 })).toEqual({ intervalMs: 50, deadtimeMs: 400, warntimeMs: 200, initdeadMs: 5000 });
    expect(deriveHeartbeatTimers({ intervalMs: 50, warntimeMs: 120, initdeadMs: 900 })).toMatchObject({ warntimeMs: 120, initdeadMs: 900 });
  });

  it("bounds detection at deadtime plus one interval", () => {
    expect(detectionBoundMs(heartbeatPresets.lan)).toBe(600);
    expect(detectionBoundMs(heartbeatPresets.fast)).toBe(120);
  });
});

describe("timer validation", () => {
  const t = heartbeatPresets.lan;

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
