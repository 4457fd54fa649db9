/**
 * What each console role may do. Viewers see everything the console shows;
 * operators also send module commands; only admins may forceprim, the one
 * command that can make two nodes run a module.
 */
import type { ConsoleUser } from "../../src/config/types.ts";

export type Role = ConsoleUser["role"];

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function roleFor(command: string): Role {
  return command === "forceprim" ? "admin" : "operator";
}

export function mayDo(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}
