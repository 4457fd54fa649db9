/**
 * The module engine carried by real heartbeat engines (over the in-memory
 * network): adverts go out in frames, peer liveness and received adverts
 * come back in, as the daemon wires them.
 */
import { afterEach, expect, test } from "vitest";
import type { MembershipConfig } from "../../src/core/membership/membership.ts";
import { HeartbeatEngine } from "../../src/daemon/heartbeat/engine.ts";
import { Logger } from "../../src/daemon/log.ts";
import { Metrics } from "../../src/daemon/metrics.ts";
import { createMemoryNetwork, type MemoryNetwork } from "../../src/net/memory-transport.ts";
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
  const membership: MembershipConfig = { self, cluster: "lab", nodes, intervalMs: 20, warntimeMs: 60, deadtimeMs: 100, initdeadMs: 400 };
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

test("adverts travel in heartbeat frames; when the PRIM falls silent, the standby runs the module ALONE", async () => {
  const net = createMemoryNetwork();
  const a = await wired(net, "a");
  const b = await wired(net, "b");
  await until(() => roleOf(a.node) === "PRIM" && roleOf(b.node) === "SECOND");
  await until(() => seenBy(b.node, "a") === "PRIM" && seenBy(a.node, "b") === "SECOND");

  // a's heartbeat stops (its daemon died): b hears silence, then runs the module alone.
  a.node.engine.halt();
  await a.hb.stop();
  await until(() => roleOf(b.node) === "ALONE");
  expect(seenBy(b.node, "a")).toBe("dead");
  expect(b.node.host.effects).toContain("run /srv/start.sh");
}, 15_000);
