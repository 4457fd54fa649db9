/**
 * Effective priority from tracked objects, with keepalived's weight rules:
 * a positive weight is added while its object is up, a negative weight is
 * added while it is down, and a weight-0 object that is down puts the
 * instance in Fault. The result stays in 1..254 so that tracking can neither
 * make us an address owner nor make us resign (priority 0 means "I quit").
 * An address owner (255) keeps 255; the config refuses weights on one.
 *
 * Objects not reported yet count as up, as in keepalived without init_fail:
 * a daemon that boots must not sit in Fault until every checker has run.
 */
import type { TrackHealth, VrrpTrack } from "./types.ts";
import { VRRP_OWNER_PRIORITY } from "./config.ts";


function isUp(health: TrackHealth, name: string): boolean {
  return health[name] ?? true;
}

export function effectivePriority(base: number, tracks: readonly VrrpTrack[], health: TrackHealth): number {
  if (base === VRRP_OWNER_PRIORITY) return base;
  let p = base;
  for (const t of tracks) {
    const up = isUp(health, t.name);
    if (t.weight > 0 && up) p += t.weight;
    else if (t.weight < 0 && !up) p += t.weight;
  }
  return Math.min(254, Math.max(1, p));
}

/** Names of weight-0 objects that are down: each one alone holds the instance in Fault. */
export function faultingTracks(tracks: readonly VrrpTrack[], health: TrackHealth): string[] {
  return tracks.filter((t) => t.weight === 0 && !isUp(health, t.name)).map((t) => t.name);
}
