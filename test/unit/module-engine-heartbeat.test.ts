/**
 * The module engine carried by real heartbeat engines (over the in-memory
 * network): adverts go out in frames, peer liveness and received adverts
 * come back in, as the daemon wires them.
 */
import { afterEach, expect, test } from "vitest";
import { createMemoryNetwork, type MemoryNetwork } from "../../src/net/memory-transport.ts";
import { roleOf, seenBy, stopWired, until, wired } from "./module-engine-harness.ts";

const INITDEAD_MS = 400;

afterEach(stopWired);

test("adverts travel in heartbeat frames; when the PRIM falls silent, the standby runs the module ALONE", async () => {
  const net = createMemoryNetwork();
  const a = await wired(net, "a", INITDEAD_MS);
  const b = await wired(net, "b", INITDEAD_MS);
  await until(() => roleOf(a.node) === "PRIM" && roleOf(b.node) === "SECOND");
  await until(() => seenBy(b.node, "a") === "PRIM" && seenBy(a.node, "b") === "SECOND");

  // a's heartbeat stops (its daemon died): b hears silence, then runs the module alone.
  a.node.engine.halt();
  await a.hb.stop();
  await until(() => roleOf(b.node) === "ALONE");
  expect(seenBy(b.node, "a")).toBe("dead");
  expect(b.node.host.effects).toContain("run /srv/start.sh");
}, 15_000);
