/**
 * Rules of farm modules the schema cannot state: weights name nodes, the VIP
 * is no node's own address, exactly one VIP, and a farm fits its bucket space.
 */
import { splitCidr } from "./formats.ts";
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
  if (nodes.length > MAX_FARM_NODES) {
    out.push({
      path: ["modules", i, "type"], at: "value", found: `"farm" in a cluster of ${nodes.length} nodes`,
      expected: `a cluster of at most ${MAX_FARM_NODES} nodes for a farm module`,
    });
  }
  return out;
}
