/**
 * The folders of one mirror module: one MirrorDriver per folder, each with
 * its own copy record, data generations, journal and replication link (the
 * module's port plus the folder's index), behind the one "mirror" resource
 * and the one set of hooks the module instance knows.
 *
 * Why a driver per folder rather than one stream for all: every rule of the
 * mirror core (src/core/mirror/mirror.ts) is about one copy, and a copy is
 * one tree. Kept per folder, they hold as proven; the set only combines:
 * - the module may run here only when no folder's copy bars it (the first
 *   reason given is shown);
 * - the data marks go out as one string, a letter per folder in config
 *   order ("SECOND|uu"), and each folder's driver gets its own letter back:
 *   a peer's "outdated" for one folder never lets another folder's PRIM
 *   acknowledge writes alone (rule 3 stays per copy);
 * - the resource mounts every folder before the service starts (all or
 *   none) and unmounts them all after it stopped.
 */
import type { MirrorModuleRole } from "../../core/mirror/types.ts";
import type { PeerLiveness } from "../../core/membership/types.ts";
import type { MirrorResyncStatus, MirrorStatus } from "../../api/modules.ts";
import type { MirrorResource, ResourceContext, ResourceOutcome } from "../module/resources.ts";
import type { MirrorDriver, MirrorHost } from "./driver.ts";

const MARKS = new Set(["u", "n", "o", "i"]);

/** A data-mark string of an advert ("u", "uo"…), or null when it is not one. */
export function parseMarks(text: string): string | null {
  if (text.length === 0 || text.length > 64) return null;
  for (const c of text) if (!MARKS.has(c)) return null;
  return text;
}

/**
 * The peer waits only until its copies are compared with ours: no folder
 * is outdated or being resynced, and at least one is not confirmed yet.
 */
export function waitsOnlyForCompare(marks: string | null): boolean {
  return marks !== null && marks.includes("n") && !/[oi]/.test(marks);
}

export class MirrorSet implements MirrorResource {
  private readonly gates: (string | null)[];
  private host: MirrorHost | null = null;

  constructor(readonly name: string, private readonly drivers: readonly MirrorDriver[]) {
    if (drivers.length === 0) throw new Error(`mirror ${name}: no folder`);
    this.gates = drivers.map(() => null);
  }

  get folders(): number {
    return this.drivers.length;
  }

  /** One letter per folder, in config order. */
  get mark(): string {
    return this.drivers.map((d) => d.mark).join("");
  }

  attach(host: MirrorHost): void {
    this.host = host;
    this.drivers.forEach((d, i) => d.attach({
      gate: (blocked) => {
        this.gates[i] = blocked;
        host.gate(this.gate());
      },
      republish: () => host.republish(),
      announce: (sent) => host.announce(sent),
      ...(host.alive === undefined ? {} : { alive: (peer: string, ageMs: number, proof?: "answer" | "record") => host.alive?.(peer, ageMs, proof) }),
    }));
  }

  private gate(): string | null {
    if (this.drivers.length === 1) return this.gates[0] ?? null;
    const i = this.gates.findIndex((g) => g !== null);
    if (i < 0) return null;
    return `${this.drivers[i]?.folder ?? "?"}: ${this.gates[i] ?? ""}`;
  }

  /** The module's stop sequence began (the folders are unmounted at its end). */
  stopping(): void {
    for (const d of this.drivers) d.stopping();
  }

  role(role: MirrorModuleRole, reason: string): void {
    for (const d of this.drivers) d.role(role, reason);
  }

  peer(liveness: PeerLiveness): void {
    for (const d of this.drivers) d.peer(liveness);
  }

  /** A peer advert: its role and its mark string (a letter per folder; null when it sent none); `heardAt`: its frame's arrival. */
  peerAdvert(role: string, marks: string | null, heardAt?: number): void {
    // A peer configured with other folders: its letters do not say anything about ours.
    const fits = marks !== null && marks.length === this.drivers.length;
    this.drivers.forEach((d, i) => {
      const m = fits ? marks[i] : undefined;
      d.peerAdvert(role, m === "u" || m === "n" || m === "o" || m === "i" ? m : null, heardAt);
    });
  }

  async start(ctx: ResourceContext): Promise<ResourceOutcome> {
    const done: string[] = [];
    for (const [i, d] of this.drivers.entries()) {
      const r = await d.start(ctx);
      if (!r.ok) {
        // All or none: the service never sees some of its folders replicated and others not.
        for (const u of this.drivers.slice(0, i).reverse()) await u.stop(ctx, false);
        return r;
      }
      done.push(r.detail);
    }
    return { ok: true, detail: done.join("; ") };
  }

  async stop(ctx: ResourceContext, cleanup: boolean): Promise<ResourceOutcome> {
    const out: ResourceOutcome[] = [];
    for (const d of [...this.drivers].reverse()) out.push(await d.stop(ctx, cleanup));
    const failed = out.filter((r) => !r.ok);
    return failed.length > 0 ? { ok: false, detail: failed.map((r) => r.detail).join("; ") } : { ok: true, detail: out.reverse().map((r) => r.detail).join("; ") };
  }

  async close(): Promise<void> {
    await Promise.all(this.drivers.map((d) => d.close()));
  }

  async verify(): Promise<{ ok: boolean; detail: string }> {
    if (this.drivers.length === 1) return await (this.drivers[0] as MirrorDriver).verify();
    const rs = [];
    for (const d of this.drivers) rs.push({ folder: d.folder, r: await d.verify() });
    return { ok: rs.every((x) => x.r.ok), detail: rs.map((x) => `${x.folder}: ${x.r.detail}`).join("\n") };
  }

  resyncAll(): { ok: boolean; detail: string } {
    return this.each((d) => d.resyncAll());
  }

  ack(): { ok: boolean; detail: string } {
    return this.each((d) => d.ack());
  }

  private each(fn: (d: MirrorDriver) => { ok: boolean; detail: string }): { ok: boolean; detail: string } {
    if (this.drivers.length === 1) return fn(this.drivers[0] as MirrorDriver);
    const rs = this.drivers.map((d) => ({ folder: d.folder, r: fn(d) }));
    return { ok: rs.every((x) => x.r.ok), detail: rs.map((x) => `${x.folder}: ${x.r.detail}`).join("\n") };
  }

  status(): MirrorStatus {
    const all = this.drivers.map((d) => d.status());
    if (all.length === 1) return all[0] as MirrorStatus;
    return { ...combineStatus(all), folders: all };
  }
}

const DATA_ORDER = ["uptodate", "outdated", "inconsistent"] as const;

function worst<T extends string>(order: readonly T[], xs: readonly T[]): T {
  return xs.reduce((a, b) => (order.indexOf(b) > order.indexOf(a) ? b : a));
}

/** One line for the module: the least ready folder decides each field. */
export function combineStatus(all: readonly MirrorStatus[]): MirrorStatus {
  const first = all[0];
  if (first === undefined) throw new Error("no folder");
  const down = all.find((s) => s.link === "down");
  const peers = all.map((s) => s.peerData);
  const writes = [...new Set(all.map((s) => s.writes))];
  const resyncs = all.map((s) => s.resync).filter((r): r is MirrorResyncStatus => r !== null);
  const sum = (f: (r: MirrorResyncStatus) => number): number => resyncs.reduce((n, r) => n + f(r), 0);
  const rate = sum((r) => r.bytesPerSec);
  const left = sum((r) => r.bytesTotal - r.bytesDone);
  const kept = all.find((s) => s.splitBrain !== null);
  // One `read:` for the module, one kernel: a folder whose mount fell back (or the first) tells it.
  const read = (all.find((s) => (s.read?.fallback ?? null) !== null) ?? first).read;
  return {
    folder: all.map((s) => s.folder).join(", "),
    data: worst(DATA_ORDER, all.map((s) => s.data)),
    gen: all.map((s) => s.gen).join(" "),
    since: all.map((s) => s.since).reduce((a, b) => (b > a ? b : a)),
    serving: all.find((s) => s.serving !== null)?.serving ?? null,
    link: down === undefined ? "up" : "down",
    linkDetail: down === undefined ? first.linkDetail : `${down.folder}: ${down.linkDetail}`,
    peerData: peers.includes(null) ? null : worst(DATA_ORDER, peers as MirrorStatus["data"][]),
    // "hold" before "alone" before "replicate": the one the operator must know about.
    writes: writes.length === 1 ? (writes[0] as string) : (["hold", "alone", "standby", "replicate"].find((w) => writes.includes(w)) ?? (writes[0] as string)),
    waitingOps: all.reduce((n, s) => n + s.waitingOps, 0),
    mode: first.mode,
    asyncLag: first.asyncLag === null ? null : {
      bytes: all.reduce((n, s) => n + (s.asyncLag?.bytes ?? 0), 0),
      seconds: Math.max(...all.map((s) => s.asyncLag?.seconds ?? 0)),
    },
    resync: resyncs.length === 0 ? null : {
      phase: (resyncs.find((r) => r.phase !== "done") ?? resyncs[0] as MirrorResyncStatus).phase,
      mode: resyncs.some((r) => r.mode === "full") ? "full" : "journal",
      filesTotal: sum((r) => r.filesTotal), filesDone: sum((r) => r.filesDone),
      bytesTotal: sum((r) => r.bytesTotal), bytesDone: sum((r) => r.bytesDone), bytesSent: sum((r) => r.bytesSent),
      bytesPerSec: rate, etaSec: rate > 0 ? Math.round(left / rate) : null,
      elapsedMs: Math.max(...resyncs.map((r) => r.elapsedMs)),
    },
    // Each folder keeps its files aside under its own path: the module's line (the console's banner) names every one.
    splitBrain: kept === undefined ? null : [...new Set(all.flatMap((s) => (s.splitBrain === null ? [] : [s.splitBrain])))].join("; "),
    ...(kept?.keptKind === undefined ? {} : { keptKind: kept.keptKind }),
    forcedAt: all.find((s) => s.forcedAt !== null)?.forcedAt ?? null,
    // The folders resync apart: the module's line names each one whose journal gave up.
    journalLost: all.some((s) => (s.journalLost ?? null) !== null) ? all.flatMap((s) => ((s.journalLost ?? null) === null ? [] : [`${s.folder}: ${s.journalLost}`])).join("; ") : null,
    diskHung: all.some((s) => (s.diskHung ?? null) !== null) ? all.flatMap((s) => ((s.diskHung ?? null) === null ? [] : [s.diskHung])).join("; ") : null,
    ...(read === undefined ? {} : { read }),
  };
}
