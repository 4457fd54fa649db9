/**
 * Starts, reloads and stops a node's engines in the documented order (see
 * EngineTier in engine.ts):
 *
 *   start:    membership, then services, then surfaces (list order within a tier);
 *             a stop asked meanwhile ends start-up after the current engine.
 *   stop:     services together (VRRP resigns, modules stop and say so while
 *             the heartbeat still runs), then surfaces, then membership.
 *   give up:  a start-up that failed is undone one engine at a time, in
 *             reverse start order.
 *   reload:   surfaces, then membership, then services; the first engine that
 *             rejects the new config ends the reload (it put back its old one;
 *             those before it keep the new one).
 */
import type { VigilConfig } from "../config/types.ts";
import type { ModuleStatus } from "../api/modules.ts";
import type { FarmStatus } from "../api/farm.ts";
import type { PeerStatus, VrrpStatus } from "../api/status.ts";
import { type Engine, type EngineStatus, type EngineTier, ReloadRejected } from "./engine.ts";

export type StartOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly message: string }
  | { readonly ok: "stop-asked"; readonly signal: string };

const START_ORDER: readonly EngineTier[] = ["membership", "service", "surface"];
const RELOAD_ORDER: readonly EngineTier[] = ["surface", "membership", "service"];

function inTiers(engines: readonly Engine[], order: readonly EngineTier[]): Engine[] {
  return order.flatMap((tier) => engines.filter((e) => e.tier === tier));
}

export class Supervisor {
  constructor(private readonly engines: readonly Engine[]) {}

  /**
   * `stopAsked`: the signal of a stop asked during start-up, if any.
   * `beforeStep`: awaited before each engine's start, and by an engine between the pieces of its own (startup-pace.ts).
   */
  async start(stopAsked: () => string | undefined, beforeStep?: () => Promise<void>): Promise<StartOutcome> {
    for (const e of inTiers(this.engines, START_ORDER)) {
      try {
        await beforeStep?.();
        await e.start(beforeStep);
      } catch (err) {
        return { ok: false, message: err instanceof Error ? err.message : String(err) };
      }
      const signal = stopAsked();
      if (signal !== undefined) return { ok: "stop-asked", signal };
    }
    return { ok: true };
  }

  async stop(): Promise<void> {
    const of = (tier: EngineTier) => this.engines.filter((e) => e.tier === tier);
    await Promise.all(of("service").map((e) => e.stop("shutdown")));
    await Promise.all(of("surface").map((e) => e.stop("shutdown")));
    for (const e of of("membership")) await e.stop("shutdown");
  }

  /** Undoes a start-up that could not finish. */
  async giveUp(): Promise<void> {
    for (const e of inTiers(this.engines, START_ORDER).reverse()) await e.stop("start-failed");
  }

  /** Resolves false when an engine rejected `next` (it logged why). */
  async reload(next: VigilConfig): Promise<boolean> {
    for (const e of inTiers(this.engines, RELOAD_ORDER)) {
      try {
        await e.reload(next);
      } catch (err) {
        if (err instanceof ReloadRejected) return false;
        throw err;
      }
    }
    return true;
  }

  /** Every engine's part of the status, merged. */
  status(): EngineStatus {
    return mergedStatus(this.engines);
  }
}

/** The engines' parts of the status, merged: peers by name, VRRP instances and modules in engine order. */
export function mergedStatus(engines: readonly Engine[]): EngineStatus {
  let peers: ReadonlyMap<string, PeerStatus> | undefined;
  let vrrp: VrrpStatus[] | undefined;
  let modules: ModuleStatus[] | undefined;
  let farms: FarmStatus[] | undefined;
  for (const e of engines) {
    const s = e.status();
    if (s.peers !== undefined) peers = new Map([...(peers ?? []), ...s.peers]);
    if (s.vrrp !== undefined) vrrp = [...(vrrp ?? []), ...s.vrrp];
    if (s.modules !== undefined) modules = [...(modules ?? []), ...s.modules];
    if (s.farms !== undefined) farms = [...(farms ?? []), ...s.farms];
  }
  return { ...(peers ? { peers } : {}), ...(vrrp ? { vrrp } : {}), ...(modules ? { modules } : {}), ...(farms ? { farms } : {}) };
}
