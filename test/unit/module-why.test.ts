/**
 * A node resting in the same role for a new reason says the new one: the
 * standby that went SECOND "waiting to hear a" stays SECOND once a is heard
 * and runs the module, and its status says so instead of the stale wait.
 */
import { afterEach, expect, test } from "vitest";
import type { MembershipConfig } from "../../src/core/membership/membership.ts";
import { HeartbeatEngine } from "../../src/daemon/heartbeat/engine.ts";
import { Logger } from "../../src/daemon/log.ts";
import { Metrics } from "../../src/daemon/metrics.ts";
import { createMemoryNetwork, type MemoryNetwork } from "../../src/net/memory-transport.ts";
import { formatModules } from "../../src/cli/module-table.ts";
import { makeNode, roleOf, seenBy, until, type TestNode } from "./module-engine-harness.ts";

const KEY = new Uint8Array(32).fill(7);
const nodes = [
  { name: "a", links: ["198.51.100.11"] },
  { name: "b", links: ["198.51.100.12"] },
];

const running: { hb: HeartbeatEngine; node: TestNode }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    r.node.engine.halt();
    await r.hb.stop();
  }
});

async function wired(net: MemoryNetwork, self: "a" | "b"): Promise<{ hb: HeartbeatEngine; node: TestNode }> {
  const node = makeNode(self, ["a", "b"]);
  // A long initdead: the node that starts first keeps waiting for the other, whatever the machine's load.
  const membership: MembershipConfig = { self, cluster: "lab", nodes, intervalMs: 20, warntimeMs: 60, deadtimeMs: 100, initdeadMs: 60_000 };
  const me = nodes.find((n) => n.name === self)!;
  const hb = new HeartbeatEngine({
    membership,
    key: KEY,
    links: [{ index: 0, localAddress: me.links[0]!, port: 7694, mode: "unicast", peers: nodes.filter((n) => n.name !== self).map((n) => n.links[0]!) }],
    openTransport: (l) => net.open(l),
    log: new Logger("json", () => {}),
    metrics: new Metrics(),
    modules: () => node.engine.adverts(),
    onPeer: (peer, liveness) => node.engine.peer(peer, liveness),
    onFrame: (peer, adverts) => node.engine.frame(peer, adverts),
  });
  node.engine.start();
  await hb.start();
  const r = { hb, node };
  running.push(r);
  return r;
}

test("the reason a standby gives is the one that holds now, not the wait it entered SECOND with", { timeout: 20_000 }, async () => {
  const net = createMemoryNetwork();
  const b = await wired(net, "b");
  await until(() => roleOf(b.node) === "SECOND");
  const waiting = b.node.engine.statuses()[0]!;
  expect(waiting.lastTransition?.detail).toMatch(/^waiting to hear a\b/);
  expect(waiting.why).toBeNull();

  const a = await wired(net, "a");
  await until(() => roleOf(a.node) === "PRIM" && seenBy(b.node, "a") === "PRIM");
  await until(() => b.node.engine.statuses()[0]?.why?.reason === "peer-primary");
  const now = b.node.engine.statuses()[0]!;
  expect(now.state).toBe("SECOND");
  // The transition itself is history and stays as it was; `why` says what holds now.
  expect(now.lastTransition?.detail).toMatch(/^waiting to hear a\b/);
  expect(now.why).toEqual({ reason: "peer-primary", detail: "a (PRIM) runs it" });
  expect(formatModules([now]).join("\n")).toContain("  now: a (PRIM) runs it (peer-primary)");
});
