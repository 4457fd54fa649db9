/**
 * Turns a `type: mirror` module of the config into its driver's options for
 * this node: the one folder, the peer, the link's addresses and port, the
 * timers. The link listens on every address of this node and connects to
 * the peer's addresses in order (the nodes' heartbeat links).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { MirrorModule, VigilConfig } from "../../config/types.ts";
import type { LinkEndpoint } from "../../net/replication-link.ts";
import { readKeyFile } from "../../sys/keyfile.ts";
import type { Logger } from "../log.ts";
import { MirrorDriver } from "./driver.ts";

/** The kernel's id of this boot: a copy applied to during another boot may have lost its page cache. */
export function bootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "unknown-boot";
  }
}

export function mirrorDriverFor(m: MirrorModule, config: VigilConfig, self: string, stateDir: string, log: Logger): { ok: true; driver: MirrorDriver } | { ok: false; message: string } {
  const c = config.cluster;
  const me = c.nodes.find((n) => n.name === self);
  const peer = c.nodes.find((n) => n.name !== self);
  if (me === undefined || peer === undefined) return { ok: false, message: `mirror ${m.name}: needs this node and one peer in cluster.nodes` };
  const folder = m.replicate[0];
  if (folder === undefined || m.replicate.length !== 1) return { ok: false, message: `mirror ${m.name}: exactly one folder in replicate (one mirror module per folder)` };
  const inside = (a: string, b: string): boolean => a === b || a.startsWith(b.endsWith("/") ? b : `${b}/`);
  const state = resolve(stateDir);
  if (inside(state, folder) || inside(folder, state)) {
    return { ok: false, message: `mirror ${m.name}: the replicated folder ${folder} and the state dir ${state} overlap; vigil's own state must not be replicated (or replicate it)` };
  }
  if (c.key_file === undefined) return { ok: false, message: `mirror ${m.name}: cluster.key_file is not set; the replication link is authenticated and encrypted with the cluster key` };
  const key = readKeyFile(c.key_file);
  if (!key.ok) return { ok: false, message: key.message };
  const listen: LinkEndpoint[] = me.addresses.map((address) => ({ address, port: m.port }));
  const hb = c.heartbeat;
  const driver = new MirrorDriver({
    module: m.name,
    self,
    peer: peer.name,
    folder,
    cluster: c.name,
    key: key.key,
    listen,
    peerAddresses: peer.addresses,
    port: m.port,
    // The link counts a peer gone after the heartbeat's deadtime too.
    linkTimers: { pingIntervalMs: hb.interval, deadtimeMs: hb.deadtime },
    // Longer than the heartbeat's verdict on a dead PRIM (deadtime + one interval), with room for a late frame.
    detachGraceMs: hb.deadtime + 2 * hb.interval,
    stateDir,
    boot: bootId(),
    log,
    ...(m.resync_rate === undefined ? {} : { rateLimitBytesPerSec: m.resync_rate * 1048576 }),
    ...(m.exclude === undefined || m.exclude.length === 0 ? {} : { exclude: m.exclude }),
  });
  return { ok: true, driver };
}
