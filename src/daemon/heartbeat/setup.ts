import type { VigilConfig } from "../../config/types.ts";
import { daemonStartGraceMs, type MembershipConfig } from "../../core/membership/membership.ts";
import { type LinkSpec, openUdpTransport } from "../../net/udp-transport.ts";
import { readKeyFile } from "../../sys/keyfile.ts";
import type { HeartbeatEngineOptions } from "./engine.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";

export type HeartbeatSetup =
  | { ok: true; options: HeartbeatEngineOptions }
  | { ok: true; options: undefined; why: string }
  | { ok: false; message: string };

/**
 * Turns the config into the heartbeat engine's options: one UDP link per
 * node address, unicast to every peer's address on that link. A cluster of
 * one node has nobody to talk to and runs no engine.
 */
export function heartbeatSetup(config: VigilConfig, self: string, log: Logger, metrics: Metrics): HeartbeatSetup {
  const c = config.cluster;
  if (c.nodes.length < 2) return { ok: true, options: undefined, why: "a single-node cluster has no peers" };
  if (c.key_file === undefined) {
    return {
      ok: false,
      message: "cluster.key_file is not set: heartbeats between nodes must be authenticated; create a key with `vigil keygen vigil.key`, copy it to every node and set cluster.key_file",
    };
  }
  const key = readKeyFile(c.key_file);
  if (!key.ok) return { ok: false, message: key.message };
  for (const w of key.warnings) log.warn(w);
  const me = c.nodes.find((n) => n.name === self);
  if (!me) return { ok: false, message: `node ${self} is not in the config` };
  const links: LinkSpec[] = me.addresses.map((localAddress, index) => {
    const how = c.heartbeat.links[index] ?? { mode: "unicast" as const };
    const peers = c.nodes.filter((n) => n.name !== self).map((n) => n.addresses[index] ?? "").filter((a) => a !== "");
    const base = { index, localAddress, port: c.heartbeat.port, peers };
    if (how.mode === "multicast") return { ...base, mode: "multicast", group: how.group };
    if (how.mode === "broadcast") return { ...base, mode: "broadcast", broadcastAddress: how.broadcast };
    return { ...base, mode: "unicast" };
  });
  const timers = { intervalMs: c.heartbeat.interval, warntimeMs: c.heartbeat.warntime, deadtimeMs: c.heartbeat.deadtime, initdeadMs: c.heartbeat.initdead };
  const membership: MembershipConfig = {
    self,
    cluster: c.name,
    nodes: c.nodes.map((n) => ({ name: n.name, links: [...n.addresses] })),
    ...timers,
    // A peer in its own start-up (single steps a loaded host stretches) gets one deadtime more.
    startGraceMs: daemonStartGraceMs(timers),
  };
  return {
    ok: true,
    options: { membership, key: key.key, links, openTransport: (l) => openUdpTransport(l), log, metrics },
  };
}
