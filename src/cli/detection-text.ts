/**
 * What `vigil check-config` says about the heartbeat's detection: how long
 * after a node's last frame its peers call it dead, and the longer bound
 * while that node is in its own start-up (the start-up grace, "Start-up
 * grace" in src/core/membership/membership.ts), so an operator sees what
 * the grace costs.
 */
import type { VigilConfig } from "../config/types.ts";
import { daemonStartGraceMs, detectionBoundMs, startGraceBoundMs } from "../core/membership/config.ts";
import { duration } from "./fence-trade.ts";

/** One line, indented for check-config's output; none for a cluster of one node. */
export function detectionLines(config: VigilConfig): string[] {
  if (config.cluster.nodes.length < 2) return [];
  const hb = config.cluster.heartbeat;
  const timers = { intervalMs: hb.interval, warntimeMs: hb.warntime, deadtimeMs: hb.deadtime, initdeadMs: hb.initdead };
  const grace = daemonStartGraceMs(timers);
  return [
    `  heartbeat: a node that stops is called dead at most ${duration(detectionBoundMs(timers))} after its last frame (deadtime + interval); ` +
      `in its own start-up (up to initdead, ${duration(hb.initdead)}, after its peers first hear its new run) at most ${duration(startGraceBoundMs(timers, grace))}: ` +
      `its peers give it ${duration(grace)} of start-up grace, so a start-up step that a loaded host stretches past deadtime is not taken for a death`,
  ];
}
