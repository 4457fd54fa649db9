/**
 * A standalone VRRP instance or a sync group, seen the same way by the
 * engine: one core state, one step function, one timer.
 */
import { nextWakeAt, stepVrrp, type VrrpAction, type VrrpInput, type VrrpState } from "../../core/vrrp/vrrp.ts";
import { stepSyncGroup, syncGroupNextWakeAt, type SyncGroupState } from "../../core/vrrp/sync-group.ts";

export type Emitted = { readonly instance: string; readonly action: VrrpAction };

/** A standalone instance or a sync group: what one timer and one core step drive. */
export interface Unit {
  readonly names: readonly string[];
  timer: ReturnType<typeof setTimeout> | undefined;
  state(name: string): VrrpState;
  step(instance: string | undefined, input: VrrpInput, now: number): Emitted[];
  nextWake(): number | null;
}

export function singleUnit(initial: VrrpState): Unit {
  let s = initial;
  const name = initial.config.name;
  return {
    names: [name],
    timer: undefined,
    state: () => s,
    step(_instance, input, now) {
      const r = stepVrrp(s, input, now);
      s = r.state;
      return r.actions.map((action) => ({ instance: name, action }));
    },
    nextWake: () => nextWakeAt(s),
  };
}

export function groupUnit(initial: SyncGroupState): Unit {
  let g = initial;
  return {
    names: [...initial.config.members],
    timer: undefined,
    state: (name) => g.members[name] as VrrpState,
    step(instance, input, now) {
      const r = stepSyncGroup(g, instance === undefined ? { input } : { instance, input }, now);
      g = r.state;
      return [...r.actions];
    },
    nextWake: () => syncGroupNextWakeAt(g),
  };
}
