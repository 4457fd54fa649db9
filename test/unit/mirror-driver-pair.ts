/**
 * Two real mirror drivers on loopback (h1 on 127.0.0.1, h2 on 127.0.0.2):
 * real folders, journal, resync, applier and an authenticated TCP link, no
 * FUSE. h1 is preferred.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MirrorDriver } from "../../src/daemon/mirror/driver.ts";
import { Logger } from "../../src/daemon/log.ts";
import type { ApplyResult } from "../../src/replicator/apply-result.ts";
import type { MirrorOp } from "../../src/replicator/ops.ts";
import { until as untilWithin } from "./until.ts";

/** A loopback mirror's steps (a sync, a resync) take seconds: 30 s before a wait counts as a hang. */
export function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  return untilWithin(cond, what, ms, 10);
}

/** Driver `self` of module vms with its folder and state dir under `root`; its log lines go to `lines`. */
export function loopbackMirrorDriver(self: "h1" | "h2", root: string, o: { key: Uint8Array; port: number; lines?: string[]; timers?: { detachGraceMs?: number; ackTimeoutMs?: number }; mode?: "sync" | "async" }): MirrorDriver {
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
    ...(o.mode === undefined ? {} : { mode: o.mode }),
  });
}

/** What the tests reach inside a driver: its interception's entry and its applier. */
export interface DriverInsides {
  intercepted(op: MirrorOp): Promise<void>;
  applier: { apply(op: MirrorOp): Promise<ApplyResult> | ApplyResult } | null;
}

/**
 * h1 PRIM replicating to h2, an up-to-date SECOND, the heartbeat's adverts
 * carried by hand (at once when one changes, and every 100 ms); both closed
 * by `cleanups`. `files`: h1's folder starts with that many small files f0,
 * f1... (sent by the first sync).
 */
export async function pairInSync(root: string, o: {
  key: Uint8Array; port: number; cleanups: (() => Promise<void> | void)[]; h1Lines?: string[]; h2Lines?: string[]; files?: number;
  h1Timers?: { detachGraceMs?: number; ackTimeoutMs?: number }; h2Timers?: { detachGraceMs?: number; ackTimeoutMs?: number };
}): Promise<{ h1: MirrorDriver; h2: MirrorDriver; p1: DriverInsides; p2: DriverInsides }> {
  const h1 = loopbackMirrorDriver("h1", root, { key: o.key, port: o.port, ...(o.h1Lines === undefined ? {} : { lines: o.h1Lines }), ...(o.h1Timers === undefined ? {} : { timers: o.h1Timers }) });
  const h2 = loopbackMirrorDriver("h2", root, { key: o.key, port: o.port, ...(o.h2Lines === undefined ? {} : { lines: o.h2Lines }), ...(o.h2Timers === undefined ? {} : { timers: o.h2Timers }) });
  o.cleanups.push(() => h1.close(), () => h2.close());
  for (let i = 0; i < (o.files ?? 0); i++) writeFileSync(join(h1.folder, `f${i}`), `file ${i}\n`.repeat(100));
  // An announced round leaves after the turn, as the heartbeat's does, carrying the advert as it is then.
  const announce = (from: MirrorDriver, to: MirrorDriver) => (sent: () => void) => queueMicrotask(() => {
    to.peerAdvert(from.core.role, from.mark);
    sent();
  });
  h1.attach({ gate: () => {}, republish: () => h2.peerAdvert(h1.core.role, h1.mark), announce: announce(h1, h2) });
  h2.attach({ gate: () => {}, republish: () => h1.peerAdvert(h2.core.role, h2.mark), announce: announce(h2, h1) });
  // And every heartbeat round (100 ms): a SECOND whose link is down gives way only to a PRIM it still hears (rule 4).
  const rounds = setInterval(() => {
    h2.peerAdvert(h1.core.role, h1.mark);
    h1.peerAdvert(h2.core.role, h2.mark);
  }, 100);
  o.cleanups.push(() => clearInterval(rounds));
  const p1 = h1 as unknown as DriverInsides;
  const p2 = h2 as unknown as DriverInsides;
  await until(() => p1.applier !== null && p2.applier !== null, "both mirrors started");
  h1.peer("up");
  h2.peer("up");
  h1.role("PRIM", "elected");
  h2.role("SECOND", "elected");
  await until(() => h1.status().link === "up" && h1.status().writes === "replicate" && h2.status().data === "uptodate" && h1.core.link?.data === "uptodate" && h1.core.resyncing === false, "in sync");
  return { h1, h2, p1, p2 };
}

/** Every op h2's applier is given from now on waits until released (a hung disk); `release` lets them and later ones through. */
export function hangApplier(p: DriverInsides): { held: () => number; release: () => void } {
  const applier = p.applier!;
  const realApply = applier.apply.bind(applier);
  let stuck = true;
  const hung: (() => void)[] = [];
  applier.apply = (op) => (stuck ? new Promise<ApplyResult>((resolve) => hung.push(() => void Promise.resolve(realApply(op)).then(resolve))) : realApply(op));
  return {
    held: () => hung.length,
    release: () => {
      stuck = false;
      for (const r of hung.splice(0)) r();
    },
  };
}
