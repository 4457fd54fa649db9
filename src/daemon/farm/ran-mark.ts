/**
 * Whether a start must look for what a crashed farm left (its nft tables and
 * macvlans, see stale.ts). Looking spawns `nft` and `ip`, which a node that
 * never ran a farm should not pay for on every start; so the first farm that
 * starts in a state dir leaves a mark there, and a start without farms looks
 * only when the mark is there (or a farm's macvlan is, for a state dir made
 * anew). The mark goes once a look found everything removed.
 */
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const MARK = "farms-ran";
/** A farm's macvlan: "vf" and ten hex digits (sys/farm/link.ts, macvlanName). */
const FARM_LINK = /^vf[0-9a-f]{10}$/;

/** Before a farm sets anything up. Returns a problem to log, or undefined. */
export function markFarmsRan(stateDir: string): string | undefined {
  const path = join(stateDir, MARK);
  if (existsSync(path)) return undefined;
  try {
    writeFileSync(path, "farm modules ran with this state dir: a start without them removes what a crash of theirs left\n", { mode: 0o600 });
    return undefined;
  } catch (e) {
    return `cannot write ${path}: ${(e as Error).message}`;
  }
}

export function farmsMayHaveLeftovers(stateDir: string, netDir = "/sys/class/net"): boolean {
  if (existsSync(join(stateDir, MARK))) return true;
  try {
    return readdirSync(netDir).some((name) => FARM_LINK.test(name));
  } catch {
    // Cannot tell: look.
    return true;
  }
}

export function forgetFarmsRan(stateDir: string): void {
  rmSync(join(stateDir, MARK), { force: true });
}
