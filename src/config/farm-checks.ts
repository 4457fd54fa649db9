/**
 * Rules of farm modules the schema cannot state: weights name nodes, the VIP
 * is no node's own address, exactly one VIP, a farm fits its bucket space,
 * and its checkers ask only for what a farm can do when they fail.
 */
import { splitCidr } from "./formats.ts";
import type { VigilConfig } from "./types.ts";
import type { Problem } from "./problem.ts";
import { isRec, items, rec, str } from "./raw.ts";

/**
 * Most nodes a farm runs on. Buckets are 256, but nodes tell each other their
 * member set as a 32-bit mask in the heartbeat, so 32 is the limit.
 */
export const MAX_FARM_NODES = 32;

/** Every node's addresses with its name, from the cluster section. */
function nodeAddressOwners(cluster: unknown): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of items(rec(cluster)["nodes"])) {
    const name = str(rec(n)["name"]) ?? "?";
    for (const a of items(rec(n)["addresses"])) if (typeof a === "string") out.set(a.split("/")[0] ?? a, name);
  }
  return out;
}

export function farmProblems(x: Record<string, unknown>, i: number, nodes: readonly string[], cluster: unknown): Problem[] {
  const out: Problem[] = [];
  const owners = nodeAddressOwners(cluster);
  const vips = [
    ...(typeof x["vip"] === "string" ? [{ value: x["vip"], path: ["modules", i, "vip"] }] : []),
    ...items(x["vips"]).map((v, k) => ({ value: v, path: ["modules", i, "vips", k] })),
  ];
  if (vips.length > 1) {
    out.push({
      path: ["modules", i, "vips"], at: "value", found: `${vips.length} addresses`,
      expected: "one VIP for a farm module (every node holds it; run one farm module per VIP)",
    });
  }
  for (const v of vips) {
    const cidr = typeof v.value === "string" ? splitCidr(v.value) : undefined;
    const node = cidr === undefined ? undefined : owners.get(cidr.address);
    if (node !== undefined) {
      out.push({
        path: v.path, at: "value", found: `${JSON.stringify(v.value)}, the address of node ${node}`,
        expected: "an address no node has (every node adds the VIP, and a node's own address would then answer for the whole farm)",
      });
    }
  }
  const weights = x["weights"];
  if (isRec(weights)) {
    for (const key of Object.keys(weights)) {
      if (nodes.length > 0 && !nodes.includes(key)) {
        out.push({ path: ["modules", i, "weights", key], at: "key", found: JSON.stringify(key), expected: `a node name: ${nodes.join(", ")}` });
      }
    }
  }
  out.push(...farmCheckerProblems(x, i));
  if (nodes.length > MAX_FARM_NODES) {
    out.push({
      path: ["modules", i, "type"], at: "value", found: `"farm" in a cluster of ${nodes.length} nodes`,
      expected: `a cluster of at most ${MAX_FARM_NODES} nodes for a farm module`,
    });
  }
  return out;
}

/**
 * What a farm does when a checker fails (src/daemon/farm/instance.ts):
 * failover or wait (and no on_fail at all) take the node out of the split
 * until the checker passes again, stop drains it as `vigil stop` does, ignore
 * only logs. A farm runs no service of its own, so there is nothing to
 * restart: on_fail: restart and its escalation keys are refused.
 */
function farmCheckerProblems(x: Record<string, unknown>, i: number): Problem[] {
  const out: Problem[] = [];
  items(x["checkers"]).forEach((c, k) => {
    const checker = rec(c);
    const path = ["modules", i, "checkers", k];
    if (checker["on_fail"] === "restart") {
      out.push({
        path: [...path, "on_fail"], at: "value", found: `"restart" on a farm module`,
        expected: "failover or wait (the node leaves the split while the checker fails), stop (the node drains), or ignore: a farm module runs no service vigil could restart",
      });
      return;
    }
    // With another on_fail written, checker-checks.ts already refuses these keys.
    for (const key of ["then", "restarts", "restart_window"]) {
      if (checker["on_fail"] === undefined && key in checker) {
        out.push({ path: [...path, key], at: "key", found: `${key} on a farm module's checker`, expected: "no restart escalation: a farm module runs no service vigil could restart" });
      }
    }
  });
  return out;
}

/**
 * What `vigil check-config` says about each farm module without a ping
 * witness: a node that hears no peer serves every bucket (it cannot tell its
 * peers' deaths from being cut off), which costs double answers when a cut
 * heals. Lines indented for its output.
 */
export function farmWitnessNotes(config: VigilConfig): string[] {
  if (config.cluster.nodes.length < 2 || config.cluster.witness.ping.length > 0) return [];
  return config.modules
    .filter((m) => m.type === "farm")
    .map((m) =>
      `  module ${m.name}: no witness: a farm node cut off with its carrier up keeps serving every bucket, and when it comes back new connections may be answered twice for up to one heartbeat interval (${config.cluster.heartbeat.interval} ms); a cluster.witness.ping address closes that`,
    );
}
