/**
 * The rules JSON Schema cannot express: relations between keys. They run
 * even when the schema check failed, so one pass reports every problem.
 */
import { clusterProblems, nodeNames } from "./cluster-checks.ts";
import { consoleProblems } from "./console-checks.ts";
import { moduleProblems } from "./module-checks.ts";
import { portProblems } from "./port-checks.ts";
import type { Problem } from "./problem.ts";
import { rec } from "./raw.ts";
import { vrrpProblems } from "./vrrp-checks.ts";
import { witnessProblems } from "./witness-checks.ts";

export function semanticProblems(data: unknown): Problem[] {
  const config = rec(data);
  const nodes = nodeNames(config["cluster"]);
  return [
    ...clusterProblems(config["cluster"]),
    ...vrrpProblems(config["vrrp"], nodes),
    ...witnessProblems(config["cluster"]),
    ...moduleProblems(config["modules"], nodes, config["cluster"], config["vrrp"]),
    ...consoleProblems(config["console"]),
    ...portProblems(config),
  ];
}
