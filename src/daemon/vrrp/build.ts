/**
 * Builds the engine's instances from their specs: one core state each, sync
 * group members driven together by their group's unit, and one socket per
 * interface, source address and mode, shared by the instances on it.
 */
import { initVrrp, type VrrpState } from "../../core/vrrp/vrrp.ts";
import { initSyncGroup } from "../../core/vrrp/sync-group.ts";
import { vrrpDefaults } from "../../core/vrrp/config.ts";
import { type NotifyCommand, NotifyQueue } from "../../sys/notify.ts";
import type { ScriptRunResult } from "../../sys/track-script.ts";
import { type Instance, NOT_CHECKED, type SocketEntry } from "./instance.ts";
import type { VrrpEngineOptions } from "./spec.ts";
import { groupUnit, singleUnit, type Unit } from "./units.ts";

/** Below this advert_int (centiseconds), the same bound as real-time scheduling's (src/daemon/realtime.ts), a master's adverts get a backstop thread. */
const BACKSTOP_BELOW_CS = 10;

export interface BuiltInstances {
  readonly instances: Map<string, Instance>;
  readonly units: Unit[];
  readonly sockets: Map<string, SocketEntry>;
}

/** Throws RangeError for an instance configured twice. */
export function buildInstances(
  opts: VrrpEngineOptions,
  now: number,
  onNotified: (instance: string, command: NotifyCommand, result: ScriptRunResult) => void,
): BuiltInstances {
  const instances = new Map<string, Instance>();
  const units: Unit[] = [];
  const sockets = new Map<string, SocketEntry>();
  const states = new Map<string, VrrpState>();
  for (const spec of opts.instances) {
    const name = spec.core.name;
    if (states.has(name)) throw new RangeError(`VRRP instance "${name}" is configured twice`);
    states.set(name, initVrrp(spec.core, now));
  }
  // Sync groups first, so each member is driven by its group's unit.
  const groups = new Map<string, string[]>();
  for (const spec of opts.instances) {
    if (spec.syncGroup === undefined) continue;
    groups.set(spec.syncGroup, [...(groups.get(spec.syncGroup) ?? []), spec.core.name]);
  }
  const unitOf = new Map<string, Unit>();
  for (const [group, members] of groups) {
    const unit = members.length >= 2
      ? groupUnit(initSyncGroup({ name: group, members }, members.map((n) => states.get(n) as VrrpState)))
      : singleUnit(states.get(members[0] as string) as VrrpState);
    units.push(unit);
    for (const n of members) unitOf.set(n, unit);
  }
  for (const spec of opts.instances) {
    const name = spec.core.name;
    let unit = unitOf.get(name);
    if (unit === undefined) {
      unit = singleUnit(states.get(name) as VrrpState);
      units.push(unit);
    }
    const multicast = spec.unicastPeers.length === 0;
    const key = `${spec.interface}|${spec.core.primaryAddress}|${multicast ? "multicast" : "unicast"}`;
    let entry = sockets.get(key);
    if (entry === undefined) {
      entry = {
        key,
        opts: { interface: spec.interface, sourceAddress: spec.core.primaryAddress, multicast },
        socket: undefined,
        instances: [],
        waiting: undefined,
        opening: false,
      };
      sockets.set(key, entry);
    }
    // A master at a tight advert_int gets a backstop thread for its adverts (src/net/raw-vrrp-backstop.ts).
    if ((spec.core.advertIntCs ?? vrrpDefaults.advertIntCs) < BACKSTOP_BELOW_CS && entry.opts.backstop !== true) entry.opts = { ...entry.opts, backstop: true };
    const inst: Instance = {
      spec,
      name,
      unit,
      entry,
      queue: Promise.resolve(),
      notify: new NotifyQueue({
        ...(opts.runScript === undefined ? {} : { run: opts.runScript }),
        ...(opts.notifyTimeoutMs === undefined ? {} : { timeoutMs: opts.notifyTimeoutMs }),
        onDone: (command, result) => onNotified(name, command, result),
      }),
      garpTimer: undefined,
      refreshTimer: undefined,
      dropping: false,
      lastTransition: null,
      tracks: spec.probes.map((p) => ({ name: p.name, weight: p.weight, up: true, detail: NOT_CHECKED })),
      linkUp: undefined,
      peers: new Map(),
    };
    instances.set(name, inst);
    entry.instances.push(inst);
  }
  return { instances, units, sockets };
}
