/**
 * A VRRP sync group (keepalived's vrrp_sync_group): instances that must be
 * on the same node at all times, e.g. the outside and inside addresses of a
 * router, or a VMS's camera and client networks. A pure reducer over the
 * members' own states.
 *
 * Rules, applied after any member changes role on its own (a transition
 * whose reason is not "sync-group"):
 * - It went Fault: every other running member goes Fault too.
 * - It went Master: every Backup member goes Master.
 * - It went Backup from Master: every Master member goes Backup.
 * - It started (or left Fault) as Backup while another member is Master:
 *   it goes Master to join them.
 * - It left Fault while another member is still in Fault on its own (link
 *   down, weight-0 tracked object): it goes back to Fault. Otherwise the
 *   members the group held in Fault are released to its new role.
 * Orders are carried out at the same instant and never cascade: a member's
 * transition caused by the group is not a reason for further orders.
 *
 * Keep tracking weights equal across the members (track the same objects
 * in every instance): members whose priorities move apart can fight, as in
 * keepalived.
 */
import type { Stepped } from "../step.ts";
import { nextWakeAt, stepVrrp } from "./vrrp.ts";
import { faultingTracks } from "./track.ts";
import type { VrrpAction, VrrpInput, VrrpState, VrrpTransition } from "./types.ts";

export interface VrrpSyncGroupConfig {
  readonly name: string;
  /** Instance names (VrrpInstanceConfig.name). */
  readonly members: readonly string[];
}

export interface SyncGroupState {
  readonly config: VrrpSyncGroupConfig;
  readonly members: Readonly<Record<string, VrrpState>>;
}

export interface SyncGroupInput {
  /** The member the input is for; absent = every member, in config order (startup, shutdown, tick). */
  readonly instance?: string;
  readonly input: VrrpInput;
}

export interface SyncGroupAction {
  readonly instance: string;
  readonly action: VrrpAction;
}

export interface SyncOrder {
  readonly instance: string;
  readonly input: VrrpInput;
}

/** Throws RangeError when the states do not match the group's member list. */
export function initSyncGroup(config: VrrpSyncGroupConfig, members: readonly VrrpState[]): SyncGroupState {
  if (config.name.length === 0) throw new RangeError("sync group: name must not be empty");
  if (config.members.length < 2) throw new RangeError(`sync group "${config.name}": needs at least two instances, got ${config.members.length}`);
  if (new Set(config.members).size !== config.members.length) throw new RangeError(`sync group "${config.name}": an instance is listed twice`);
  const byName: Record<string, VrrpState> = {};
  for (const s of members) byName[s.config.name] = s;
  for (const name of config.members) {
    if (byName[name] === undefined) throw new RangeError(`sync group "${config.name}": no VRRP instance named "${name}"`);
  }
  if (Object.keys(byName).length !== config.members.length) {
    throw new RangeError(`sync group "${config.name}": got states for instances that are not members`);
  }
  return { config, members: byName };
}

/** In Fault for a cause of its own, not only because the group holds it there. */
export function hasOwnFault(s: VrrpState): boolean {
  return s.role === "fault" && (!s.interfaceUp || faultingTracks(s.config.track, s.health).length > 0);
}

/** What the other members must do after `t` (see the header). */
export function syncOrders(group: VrrpSyncGroupConfig, members: Readonly<Record<string, VrrpState>>, t: VrrpTransition): SyncOrder[] {
  if (t.reason === "sync-group" || !group.members.includes(t.instance)) return [];
  const others = group.members.filter((n) => n !== t.instance).flatMap((n) => {
    const s = members[n];
    return s === undefined ? [] : [{ name: n, s }];
  });
  const order = (instance: string, to: "master" | "backup" | "fault"): SyncOrder => ({ instance, input: { type: "sync", group: group.name, to } });
  if (t.to === "fault") {
    return others.filter(({ s }) => s.role === "backup" || s.role === "master").map(({ name }) => order(name, "fault"));
  }
  if (t.to !== "master" && t.to !== "backup") return [];
  if (others.some(({ s }) => hasOwnFault(s))) return [order(t.instance, "fault")];
  const orders = others.filter(({ s }) => s.role === "fault").map(({ name }) => order(name, t.to === "master" ? "master" : "backup"));
  if (t.to === "master") {
    orders.push(...others.filter(({ s }) => s.role === "backup").map(({ name }) => order(name, "master")));
  } else if (t.from === "master") {
    orders.push(...others.filter(({ s }) => s.role === "master").map(({ name }) => order(name, "backup")));
  } else if (others.some(({ s }) => s.role === "master")) {
    orders.push(order(t.instance, "master"));
  }
  return orders;
}

export function stepSyncGroup(state: SyncGroupState, input: SyncGroupInput, now: number): Stepped<SyncGroupState, SyncGroupAction> {
  const members: Record<string, VrrpState> = { ...state.members };
  const out: SyncGroupAction[] = [];
  const run = (instance: string, event: VrrpInput): VrrpTransition[] => {
    const s = members[instance];
    if (s === undefined) return [];
    const r = stepVrrp(s, event, now);
    members[instance] = r.state;
    const transitions: VrrpTransition[] = [];
    for (const action of r.actions) {
      out.push({ instance, action });
      if (action.type === "transition") transitions.push(action);
    }
    return transitions;
  };
  if (input.instance !== undefined && !state.config.members.includes(input.instance)) {
    throw new RangeError(`sync group "${state.config.name}": "${input.instance}" is not a member`);
  }
  const targets = input.instance === undefined ? state.config.members : [input.instance];
  for (const instance of targets) {
    for (const t of run(instance, input.input)) {
      // Orders are computed against the members as they are now, one transition at a time.
      for (const o of syncOrders(state.config, members, t)) run(o.instance, o.input);
    }
  }
  return { state: { config: state.config, members }, actions: out };
}

/** The earliest deadline over all members, or null. */
export function syncGroupNextWakeAt(state: SyncGroupState): number | null {
  let at: number | null = null;
  for (const s of Object.values(state.members)) {
    const t = nextWakeAt(s);
    if (t !== null && (at === null || t < at)) at = t;
  }
  return at;
}
