/**
 * The fencing watchdog's decisions, pure (step(state, event, now)): which
 * module to fence when, and when the process may leave. The I/O around it
 * is src/daemon/fence/child.ts.
 *
 * - An arm replaces the module's deadline and plan; a disarm forgets it.
 * - At its deadline an armed module is fenced once and forgotten; a later
 *   arm starts over.
 * - Once the daemon is gone (stdin closed) nothing can re-arm and nothing
 *   the daemon ran is looked after any more: every armed module is fenced
 *   at once (the bash watchdog, src/daemon/fence/guard.ts, does the same),
 *   and the process leaves when no fence is still running.
 */
import type { Stepped } from "../step.ts";
import type { FencePlan } from "./plan.ts";

export interface FenceArm extends FencePlan {
  readonly deadline: number;
}

export interface FenceState {
  readonly armed: ReadonlyMap<string, FenceArm>;
  /** Modules whose fence runs now. */
  readonly fencing: ReadonlySet<string>;
  /** The daemon closed our stdin (it stopped or died). */
  readonly orphaned: boolean;
}

export type FenceEvent =
  /** Arm (or move) `module`'s deadline, on the clock `now` is read from. */
  | { readonly type: "arm"; readonly module: string; readonly deadline: number; readonly plan: FencePlan }
  | { readonly type: "disarm"; readonly module: string }
  /** The daemon's end of the pipe closed. */
  | { readonly type: "closed" }
  /** A timer fired (or any wake-up): look at the deadlines. */
  | { readonly type: "tick" }
  /** The fence of `module` finished (VIPs removed, stop scripts ran). */
  | { readonly type: "fenced"; readonly module: string };

export type FenceAction =
  /** Take the module down: remove its VIPs at once, then run its stops in order. Report "fenced". */
  | { readonly type: "fence"; readonly module: string; readonly deadline: number; readonly lateMs: number; readonly plan: FencePlan }
  | { readonly type: "log"; readonly level: "info" | "warn"; readonly msg: string; readonly fields: Readonly<Record<string, string | number | boolean>> }
  /** Nothing is armed and nobody can arm again: leave. */
  | { readonly type: "exit" };

export function initFence(): FenceState {
  return { armed: new Map(), fencing: new Set(), orphaned: false };
}

export function stepFence(state: FenceState, event: FenceEvent, now: number): Stepped<FenceState, FenceAction> {
  const armed = new Map(state.armed);
  const fencing = new Set(state.fencing);
  let orphaned = state.orphaned;
  const actions: FenceAction[] = [];
  switch (event.type) {
    case "arm":
      armed.set(event.module, { deadline: event.deadline, vips: event.plan.vips, stops: event.plan.stops });
      break;
    case "disarm":
      armed.delete(event.module);
      break;
    case "closed":
      if (!orphaned && armed.size > 0) {
        const modules = [...armed.keys()].join(" ");
        actions.push({ type: "log", level: "warn", msg: "fence watchdog: the daemon is gone; fencing what is still armed now", fields: { modules } });
        for (const [module, arm] of armed) if (arm.deadline > now) armed.set(module, { ...arm, deadline: now });
      }
      orphaned = true;
      break;
    case "fenced":
      fencing.delete(event.module);
      break;
    case "tick":
      break;
  }
  for (const [module, arm] of armed) {
    if (now < arm.deadline) continue;
    armed.delete(module);
    fencing.add(module);
    actions.push({ type: "fence", module, deadline: arm.deadline, lateMs: now - arm.deadline, plan: { vips: arm.vips, stops: arm.stops } });
  }
  if (orphaned && armed.size === 0 && fencing.size === 0) actions.push({ type: "exit" });
  return { state: { armed, fencing, orphaned }, actions };
}

/** When to tick next: the earliest armed deadline, or null. */
export function nextFenceWake(state: FenceState): number | null {
  let at: number | null = null;
  for (const arm of state.armed.values()) if (at === null || arm.deadline < at) at = arm.deadline;
  return at;
}
