/**
 * Turns a `type: mirror` module of the config into its drivers for this
 * node (mirror-set.ts: one per folder): the folder, the peer, the link's
 * addresses and port (the module's port plus the folder's index), the
 * timers. Each link listens on every address of this node and connects to
 * the peer's addresses in order (the nodes' heartbeat links).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { MirrorModule, VigilConfig } from "../../config/types.ts";
import type { LinkEndpoint } from "../../net/replication-link.ts";
import { readKeyFile } from "../../sys/keyfile.ts";
import type { Logger } from "../log.ts";
import { EMPTY_GEN } from "../../core/mirror/copy.ts";
import { compileExclude } from "../../replicator/exclude.ts";
import { readCopyRecord } from "./copy-file.ts";
import { copyKeyFor } from "./copy-key.ts";
import { AheadBudget } from "./ack-queue.ts";
import { MirrorDriver } from "./driver.ts";
import { folderHoldsFiles } from "./holds-files.ts";
import { MirrorSet } from "./mirror-set.ts";

/** The kernel's id of this boot: a copy applied to during another boot may have lost its page cache. */
export function bootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "unknown-boot";
  }
}

export function mirrorSetFor(m: MirrorModule, config: VigilConfig, self: string, stateDir: string, log: Logger): { ok: true; mirror: MirrorSet } | { ok: false; message: string } {
  const c = config.cluster;
  const me = c.nodes.find((n) => n.name === self);
  const peer = c.nodes.find((n) => n.name !== self);
  if (me === undefined || peer === undefined) return { ok: false, message: `mirror ${m.name}: needs this node and one peer in cluster.nodes` };
  if (m.replicate.length === 0) return { ok: false, message: `mirror ${m.name}: no folder in replicate` };
  if (m.port + m.replicate.length - 1 > 65535) return { ok: false, message: `mirror ${m.name}: ports ${m.port}-${m.port + m.replicate.length - 1} (one per folder) go past 65535` };
  const inside = (a: string, b: string): boolean => a === b || a.startsWith(b.endsWith("/") ? b : `${b}/`);
  const state = resolve(stateDir);
  for (const folder of m.replicate) {
    if (inside(state, folder) || inside(folder, state)) {
      return { ok: false, message: `mirror ${m.name}: the replicated folder ${folder} and the state dir ${state} overlap; vigil's own state must not be replicated (or replicate it)` };
    }
  }
  if (c.key_file === undefined) return { ok: false, message: `mirror ${m.name}: cluster.key_file is not set; the replication link is authenticated and encrypted with the cluster key` };
  const key = readKeyFile(c.key_file);
  if (!key.ok) return { ok: false, message: key.message };
  const hb = c.heartbeat;
  const several = m.replicate.length > 1;
  const keys = new Map(m.replicate.map((folder) => [folder, copyKeyFor(stateDir, m.name, folder, several)]));
  const copyKey = (folder: string): string => keys.get(folder) ?? m.name;
  // Rule 7: one fact for the module's new copies, so every folder picks the same source.
  const excluded = compileExclude(m.exclude ?? []);
  let holdsFiles: boolean | null = null;
  for (const folder of m.replicate) {
    const rec = readCopyRecord(stateDir, copyKey(folder));
    if (!rec.ok || (rec.copy !== null && rec.copy.gen !== EMPTY_GEN)) continue;
    const fact = folderHoldsFiles(folder, excluded);
    log.info(`mirror ${m.name}: new copy of ${folder} ${fact.holds ? "holds files" : "holds no file"} (${fact.why})`, { module: m.name, folder });
    holdsFiles = (holdsFiles ?? false) || fact.holds;
  }
  // async_queue is what this node may acknowledge ahead of the other one: the module's, shared by its folders.
  const budget = m.mode === "async" && m.async_queue !== undefined ? new AheadBudget(m.async_queue * 1048576) : undefined;
  const drivers = m.replicate.map((folder, i) => {
    const port = m.port + i;
    return new MirrorDriver({
      module: m.name,
      // copy-key.ts: the module's name for one folder, the folder's path with several, and the
      // folder that stays when the module goes from one to several (or back) keeps its record.
      // Given, the driver also names the folder in its logs and in the kept-aside paths.
      ...(several || copyKey(folder) !== m.name ? { copyKey: copyKey(folder) } : {}),
      self,
      peer: peer.name,
      prefer: m.prefer ?? null,
      holdsFiles,
      folder,
      cluster: c.name,
      key: key.key,
      listen: me.addresses.map((address): LinkEndpoint => ({ address, port })),
      peerAddresses: peer.addresses,
      port,
      // The link counts a peer gone after the heartbeat's deadtime too.
      linkTimers: { pingIntervalMs: hb.interval, deadtimeMs: hb.deadtime },
      // A PRIM still heard this long after the link went down, which holds its writes, gets our outdated mark and
      // goes on alone (mirror core, rule 4); as long as before, though a killed PRIM's late verdict no longer matters.
      detachGraceMs: hb.deadtime + 2 * hb.interval,
      stateDir,
      boot: bootId(),
      log,
      ...(m.resync_rate === undefined ? {} : { rateLimitBytesPerSec: m.resync_rate * 1048576 }),
      mode: m.mode,
      ackTimeoutMs: m.ack_timeout,
      diskTimeoutMs: m.disk_timeout,
      ...(m.async_queue === undefined ? {} : { asyncQueueBytes: m.async_queue * 1048576 }),
      ...(budget === undefined ? {} : { asyncBudget: budget }),
      ...(m.exclude === undefined || m.exclude.length === 0 ? {} : { exclude: m.exclude }),
      read: m.read,
    });
  });
  return { ok: true, mirror: new MirrorSet(m.name, drivers) };
}
