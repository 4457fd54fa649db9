/**
 * A node resting in the same role for a new reason says the new one: the
 * standby that went SECOND "waiting to hear a" stays SECOND once a is heard
 * and runs the module, and its status says so instead of the stale wait.
 */
import { afterEach, expect, test } from "vitest";
import { createMemoryNetwork, type MemoryNetwork } from "../../src/net/memory-transport.ts";
import { formatModules } from "../../src/cli/module-table.ts";
import { roleOf, seenBy, stopWired, until, wired } from "./module-engine-harness.ts";

// A long initdead: the node that starts first keeps waiting for the other, whatever the machine's load.
const INITDEAD_MS = 60_000;

afterEach(stopWired);

test("the reason a standby gives is the one that holds now, not the wait it entered SECOND with", { timeout: 20_000 }, async () => {
  const net = createMemoryNetwork();
  const b = await wired(net, "b", INITDEAD_MS);
  await until(() => roleOf(b.node) === "SECOND");
  const waiting = b.node.engine.statuses()[0]!;
  expect(waiting.lastTransition?.detail).toMatch(/^waiting to hear a\b/);
  expect(waiting.why).toBeNull();

  const a = await wired(net, "a", INITDEAD_MS);
  await until(() => roleOf(a.node) === "PRIM" && seenBy(b.node, "a") === "PRIM");
  await until(() => b.node.engine.statuses()[0]?.why?.reason === "peer-primary");
  const now = b.node.engine.statuses()[0]!;
  expect(now.state).toBe("SECOND");
  // The transition itself is history and stays as it was; `why` says what holds now.
  expect(now.lastTransition?.detail).toMatch(/^waiting to hear a\b/);
  expect(now.why).toEqual({ reason: "peer-primary", detail: "a (PRIM) runs it" });
  expect(formatModules([now]).join("\n")).toContain("  now: a (PRIM) runs it (peer-primary)");
});
