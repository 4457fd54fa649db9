/**
 * Member sets as bitmasks over the configured node list (see Members in types.ts).
 */
import type { Members } from "./types.ts";

export const MAX_FARM_NODES = 32;

export const NO_MEMBERS: Members = 0;

export function withMember(set: Members, index: number): Members {
  return (set | (1 << index)) >>> 0;
}

export function hasMember(set: Members, index: number): boolean {
  return ((set >>> index) & 1) === 1;
}

export function memberIndexes(set: Members, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) if (hasMember(set, i)) out.push(i);
  return out;
}

/** Names of the members, for logs and status. */
export function memberNames(set: Members, names: readonly string[]): string[] {
  return memberIndexes(set, names.length).map((i) => names[i] ?? `#${i}`);
}

/** Whether an advert's view is a valid member set for `count` nodes. */
export function isMembers(value: number, count: number): boolean {
  if (!Number.isSafeInteger(value) || value < 0 || value > 0xffffffff) return false;
  return count >= 32 || value < 2 ** count;
}
