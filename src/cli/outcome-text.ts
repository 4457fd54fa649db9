import type { ModuleCommandOutcome } from "../api/modules.ts";

/**
 * A command's answer as `vigil swap` and its siblings print it: one line
 * saying whether the cluster reached the new state (done: the service runs
 * where it should, every resource started; failed: what failed and where
 * the service is now; still in progress: the timeout ran out first), then
 * every node's role.
 */
export function formatOutcome(o: ModuleCommandOutcome): string {
  // An unfinished command's detail says so itself ("still in progress after 30 s: ...").
  const head = o.inProgress === true ? `${o.command} ${o.module}: ${o.detail}` : `${o.command} ${o.module}: ${o.ok ? "done" : "failed"}: ${o.detail}`;
  if (o.nodes.length === 0) return head;
  const width = Math.max(...o.nodes.map((n) => n.node.length));
  return [head, ...o.nodes.map((n) => `  ${n.node.padEnd(width)}  ${n.role}`)].join("\n");
}
