/** Runs the pure farm core over timed events, as the farm unit tests drive it. */
import { farmStep } from "../../src/core/farm/farm.ts";
import type { FarmAction, FarmEvent, FarmState } from "../../src/core/farm/types.ts";

/** The state after `events` (each at its own time) and every action they asked for, in order. */
export function runFarm(state: FarmState, events: readonly (readonly [number, FarmEvent])[]): { state: FarmState; actions: FarmAction[] } {
  let s = state;
  const actions: FarmAction[] = [];
  for (const [now, e] of events) {
    const r = farmStep(s, e, now);
    s = r.state;
    actions.push(...r.actions);
  }
  return { state: s, actions };
}
