/**
 * Two real mirror drivers on loopback (h1 on 127.0.0.1, h2 on 127.0.0.2):
 * real folders, journal, resync, applier and an authenticated TCP link, no
 * FUSE. h1 is preferred.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { MirrorDriver } from "../../src/daemon/mirror/driver.ts";
import { Logger } from "../../src/daemon/log.ts";
import { until as untilWithin } from "./until.ts";

/** A loopback mirror's steps (a sync, a resync) take seconds: 30 s before a wait counts as a hang. */
export function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  return untilWithin(cond, what, ms, 10);
}

/** Driver `self` of module vms with its folder and state dir under `root`; its log lines go to `lines`. */
export function loopbackMirrorDriver(self: "h1" | "h2", root: string, o: { key: Uint8Array; port: number; lines?: string[]; timers?: { detachGraceMs?: number; ackTimeoutMs?: number } }): MirrorDriver {
  const [addr, peerAddr] = self === "h1" ? ["127.0.0.1", "127.0.0.2"] : ["127.0.0.2", "127.0.0.1"];
  const folder = join(root, `${self}-data`);
  const stateDir = join(root, `${self}-state`);
  mkdirSync(folder, { recursive: true });
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const lines = o.lines;
  return new MirrorDriver({
    module: "vms", self, peer: self === "h1" ? "h2" : "h1", folder, cluster: "c", key: o.key,
    listen: [{ address: addr, port: o.port }], peerAddresses: [peerAddr], port: o.port,
    linkTimers: { pingIntervalMs: 100, deadtimeMs: 5_000 }, detachGraceMs: o.timers?.detachGraceMs ?? 10_000,
    ...(o.timers?.ackTimeoutMs === undefined ? {} : { ackTimeoutMs: o.timers.ackTimeoutMs }),
    stateDir, boot: "boot-1", log: new Logger("json", (l) => void lines?.push(l)), prefer: "h1",
  });
}
