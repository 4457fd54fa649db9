/** Cross-field rules of cluster.witness: an arbiter that is not one of the nodes, a lease the heartbeat can keep up with. */
import { DEFAULTS } from "./defaults.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { splitHostPort } from "./formats.ts";
import { resolveHeartbeatTimers } from "./heartbeat-timers.ts";
import type { Problem } from "./problem.ts";
import { isRec, items, rec, str } from "./raw.ts";

/** Renewals come every third of the lease; faster than every heartbeat interval would be pointless load. */
const LEASE_INTERVALS = 3;

export function witnessProblems(cluster: unknown): Problem[] {
  const c = rec(cluster);
  const w = c["witness"];
  if (!isRec(w)) return [];
  const out: Problem[] = [];
  const arbiter = str(w["arbiter"]);
  const endpoint = arbiter === undefined ? undefined : splitHostPort(arbiter, 1);
  if (endpoint !== undefined) {
    const owner = items(c["nodes"]).find((n) => items(rec(n)["addresses"]).includes(endpoint.host));
    if (owner !== undefined) {
      out.push({
        path: ["cluster", "witness", "arbiter"], at: "value",
        found: `${JSON.stringify(arbiter)}, an address of node ${str(rec(owner)["name"]) ?? "?"}`,
        expected: "the address of a third machine (an arbiter on a node goes down with it and cannot break a tie)",
      });
    }
  }
  const lease = typeof w["lease"] === "string" ? parseDuration(w["lease"]) : w["lease"] === undefined ? DEFAULTS.witness.lease : undefined;
  const timers = resolveHeartbeatTimers(c["heartbeat"] ?? {});
  if (arbiter !== undefined && lease !== undefined && timers !== undefined && lease < LEASE_INTERVALS * timers.timers.interval) {
    out.push({
      path: ["cluster", "witness", "lease"], at: w["lease"] === undefined ? "key" : "value",
      found: `${formatDuration(lease)}${w["lease"] === undefined ? " (the default)" : ""}`,
      expected: `at least ${LEASE_INTERVALS} x the heartbeat interval = ${formatDuration(LEASE_INTERVALS * timers.timers.interval)} (it is renewed every third)`,
    });
  }
  return out;
}
