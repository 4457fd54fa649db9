import type { ModuleCommandOutcome } from "../api/modules.ts";

/**
 * A command's answer as `vigil swap` and its siblings print it: one line
 * saying whether the cluster reached the new state, then every node's role.
 */
export function formatOutcome(o: ModuleCommandOutcome): string {
  const head = `${o.command} ${o.module}: ${o.ok ? "done" : "NOT DONE"}: ${o.detail}`;
  if (o.nodes.length === 0) return head;
  const width = Math.max(...o.nodes.map((n) => n.node.length));
  return [head, ...o.nodes.map((n) => `  ${n.node.padEnd(width)}  ${n.role}`)].join("\n");
}
