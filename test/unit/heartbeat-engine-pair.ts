/**
 * Two heartbeat engines, a and b, on one unicast link of the in-memory
 * network at lan timers, each with a config digest when given one: what the
 * driver tests that run over fake timers share.
 */
import type { MembershipConfig } from "../../src/core/membership/membership.ts";
import type { OwnDigest } from "../../src/core/membership/drift.ts";
import { HeartbeatEngine } from "../../src/daemon/heartbeat/engine.ts";
import { Logger } from "../../src/daemon/log.ts";
import { Metrics } from "../../src/daemon/metrics.ts";
import type { MemoryNetwork } from "../../src/net/memory-transport.ts";
import type { LinkSpec } from "../../src/net/udp-transport.ts";

export const KEY = new Uint8Array(32).fill(7);
const nodes = [
  { name: "a", links: ["198.51.100.11"] },
  { name: "b", links: ["198.51.100.12"] },
];
const timers = { intervalMs: 100, warntimeMs: 250, deadtimeMs: 500, initdeadMs: 2000 };

function linksFor(self: string): LinkSpec[] {
  const me = nodes.find((n) => n.name === self);
  return [{ index: 0, localAddress: me?.links[0] ?? "", port: 7694, mode: "unicast", peers: nodes.filter((n) => n.name !== self).map((n) => n.links[0] ?? "") }];
}

/** A node's config digest: the failback key differs between "auto" and "manual", the others agree. */
export function digest(failback: string): OwnDigest {
  return {
    digest: failback === "auto" ? "1111111111111111" : "2222222222222222",
    keys: [
      { key: "cluster.heartbeat.deadtime", hash: "00000000000000aa" },
      { key: "modules.web.failback", hash: failback === "auto" ? "00000000000000b1" : "00000000000000b2" },
      { key: "modules.web.vip", hash: "00000000000000cc" },
    ],
  };
}

/** The pair's membership as `self` sees it: cluster "lab", a on 198.51.100.11 and b on .12, lan timers. */
export function pairMembership(self: string): MembershipConfig {
  return { self, cluster: "lab", nodes, ...timers };
}

export function engine(net: MemoryNetwork, self: string, configDigest?: OwnDigest, deferFrames?: boolean) {
  const lines: string[] = [];
  const log = new Logger("text", (l) => lines.push(l));
  const membership = pairMembership(self);
  const e = new HeartbeatEngine({
    membership, key: KEY, links: linksFor(self), openTransport: (l) => net.open(l), log, metrics: new Metrics(), clock: () => Date.now(),
    ...(configDigest === undefined ? {} : { configDigest }),
    ...(deferFrames === undefined ? {} : { deferFrames }),
  });
  return { e, lines };
}
