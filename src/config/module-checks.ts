/** Cross-field rules of modules: unique names and VIPs, known preferred nodes, non-overlapping replicated folders, checkers. */
import { posix } from "node:path";
import { pollTimingProblems } from "./duration-checks.ts";
import { splitCidr } from "./formats.ts";
import type { Problem } from "./problem.ts";
import { isRec, items, str } from "./raw.ts";
import { FirstUse } from "./uniqueness.ts";
import { kindProblems } from "./vrrp-checks.ts";

export const CHECKER_KINDS = ["tcp", "http", "process", "script"] as const;

function checkerProblems(m: Record<string, unknown>, i: number): Problem[] {
  return items(m["checkers"]).flatMap((c, k) => {
    const path = ["modules", i, "checkers", k];
    const kind = [...kindProblems(c, path, CHECKER_KINDS), ...pollTimingProblems(c, path)];
    if (kind.length > 0 || !isRec(c)) return kind;
    const onFail = str(c["on_fail"]) ?? "restart";
    if (onFail === "restart") return [];
    return ["then", "restarts"].filter((key) => key in c).map((key) => ({
      path: [...path, key], at: "key" as const,
      found: `${key} with on_fail: ${onFail}`, expected: `${key} only with on_fail: restart`,
    }));
  });
}

/** Two replicated folders overlap when one is, or is inside, the other. */
function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(b === "/" ? "/" : `${b}/`) || b.startsWith(a === "/" ? "/" : `${a}/`);
}

export function moduleProblems(modules: unknown, nodes: readonly string[]): Problem[] {
  const out: Problem[] = [];
  const names = new FirstUse("a name no other module has");
  const vips = new FirstUse("each virtual address in one module only");
  const folders: { dir: string; owner: string }[] = [];
  const push = (p: Problem | undefined) => p !== undefined && out.push(p);
  items(modules).forEach((x, i) => {
    if (!isRec(x)) return;
    const name = str(x["name"]);
    const type = str(x["type"]);
    const owner = `modules[${i}]${name === undefined ? "" : ` (${name})`}`;
    if (name !== undefined) push(names.claim(name, JSON.stringify(name), owner, ["modules", i, "name"]));

    if ("vip" in x && "vips" in x) {
      out.push({ path: ["modules", i, "vips"], at: "key", found: "both vip and vips", expected: "either vip (one address) or vips (a list)" });
    }
    const addresses = [...(typeof x["vip"] === "string" ? [[x["vip"], ["modules", i, "vip"]] as const] : []),
      ...items(x["vips"]).map((v, k) => [v, ["modules", i, "vips", k]] as const)];
    for (const [v, path] of addresses) {
      const cidr = typeof v === "string" ? splitCidr(v) : undefined;
      if (cidr !== undefined) push(vips.claim(cidr.address, JSON.stringify(v), owner, [...path]));
    }
    if (type === "farm" && !("vip" in x) && items(x["vips"]).length === 0) {
      const empty = Array.isArray(x["vips"]);
      out.push({
        path: ["modules", i, empty ? "vips" : "vip"], at: "value", found: empty ? "an empty list" : "nothing",
        expected: "a virtual address like 198.51.100.200/24 (every node of a farm holds the VIP; or use vips)",
      });
    }

    const prefer = str(x["prefer"]);
    if (prefer !== undefined && nodes.length > 0 && !nodes.includes(prefer)) {
      out.push({ path: ["modules", i, "prefer"], at: "value", found: JSON.stringify(prefer), expected: `a node name: ${nodes.join(", ")}` });
    }
    if ((type === "failover" || type === "mirror") && x["failback"] === "auto" && prefer === undefined) {
      out.push({
        path: ["modules", i, "failback"], at: "value", found: `"auto" without prefer`,
        expected: "prefer: NODE as well, naming the node to fail back to (or failback: manual)",
      });
    }
    if (type === "mirror" && nodes.length !== 2 && nodes.length > 0) {
      out.push({
        path: ["modules", i, "type"], at: "value", found: `"mirror" in a cluster of ${nodes.length} node${nodes.length === 1 ? "" : "s"}`,
        expected: "a cluster of exactly 2 nodes for a mirror module (a primary and its mirror)",
      });
    }
    items(x["replicate"]).forEach((d, k) => {
      if (typeof d !== "string" || !d.startsWith("/")) return;
      const dir = posix.normalize(d).replace(/(.)\/$/, "$1");
      const clash = folders.find((f) => overlaps(f.dir, dir));
      if (clash !== undefined) {
        out.push({
          path: ["modules", i, "replicate", k], at: "value",
          found: `${JSON.stringify(d)}, which overlaps ${JSON.stringify(clash.dir)} of ${clash.owner}`,
          expected: "folders that are not inside one another (each file is mirrored by one module)",
        });
      } else folders.push({ dir, owner });
    });
    out.push(...checkerProblems(x, i));
  });
  return out;
}
