/**
 * The module core's working copy during one step, and the small helpers
 * every part of the step shares (notes, answers, labels).
 */
import { clearedTrack } from "./checkers.ts";
import type { ModuleAction, ModuleEventKind, ModuleResource, ModuleState } from "./types.ts";

export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The state being built during one step, and the actions emitted so far. */
export interface ModuleDraft extends Mutable<ModuleState> {
  readonly now: number;
  readonly out: ModuleAction[];
}

export function note(x: ModuleDraft, kind: ModuleEventKind, detail: string): void {
  x.seq += 1;
  x.out.push({ type: "event", module: x.config.module, seq: x.seq, at: x.now, kind, detail });
}

/** Answers the pending command, if any. */
export function answer(x: ModuleDraft, ok: boolean, detail: string): void {
  const c = x.command;
  if (c === null) return;
  x.command = null;
  x.out.push({ type: "answer", module: x.config.module, id: c.id, ok, detail });
}

/** "vip 198.51.100.100/24", "service vms.service", "script start_prim.sh" (the script of `op`, if given). */
export function resourceLabel(r: ModuleResource, op?: "start" | "stop"): string {
  if (r.kind === "vip") return `vip ${r.address}`;
  if (r.kind === "mirror") return `mirror ${r.folders.join(" ")}`;
  if (r.kind === "service") return `service ${r.unit}`;
  const path = (op === "stop" ? r.stop : op === "start" ? r.start : null) ?? r.start ?? r.stop ?? "";
  return `script ${path.slice(path.lastIndexOf("/") + 1)}`;
}

/** `start` clears what kept the module off this node. */
export function clearFailures(x: ModuleDraft): void {
  x.stopped = null;
  x.stopFailed = null;
  if (x.blocked !== null) {
    x.blocked = null;
    x.out.push({ type: "persist", module: x.config.module, blocked: null });
  }
  x.checkers = x.checkers.map(clearedTrack);
}
