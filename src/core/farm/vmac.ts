/**
 * The farm's virtual MAC: locally administered unicast (02:xx:xx:xx:xx:xx),
 * from the cluster and module names, so it is the same on every node and
 * across restarts, differs per module, and an operator can compute it.
 */
import { jhash } from "./jhash.ts";

export function virtualMac(cluster: string, module: string): string {
  const key = new TextEncoder().encode(`vigil farm\0${cluster}\0${module}`);
  const a = jhash(key, 0x766d6163);
  const b = jhash(key, a);
  const bytes = [0x02, a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff, b >>> 24];
  return bytes.map((x) => x.toString(16).padStart(2, "0")).join(":");
}
