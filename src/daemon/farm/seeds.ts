/**
 * Values every node of a farm derives alike from the cluster key, so that no
 * node needs to be told them: the nft jhash seed, the rendezvous seed and the
 * virtual MAC. The key is secret, so an outsider cannot steer clients into
 * one node's buckets by choosing source ports.
 */
import { createHmac } from "node:crypto";

export interface FarmSeeds {
  /** `jhash ... seed` in the nft rules. */
  readonly nftSeed: number;
  /** Seed of the rendezvous hash (ownership.ts). */
  readonly ownershipSeed: number;
}

export function farmSeeds(key: Uint8Array, cluster: string, module: string): FarmSeeds {
  const mac = createHmac("sha256", key).update(`vigil farm seeds\0${cluster}\0${module}`).digest();
  return { nftSeed: mac.readUInt32BE(0), ownershipSeed: mac.readUInt32BE(4) };
}

/**
 * A locally administered unicast MAC (02:xx:xx:xx:xx:xx) from cluster and
 * module names: stable across restarts and nodes, different per module. It
 * depends on names only, not the key, so an operator can compute it.
 */
export function virtualMac(cluster: string, module: string): string {
  const h = createHmac("sha256", "vigil farm virtual mac").update(`${cluster}\0${module}`).digest();
  const bytes = [0x02, h[0] ?? 0, h[1] ?? 0, h[2] ?? 0, h[3] ?? 0, h[4] ?? 0];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}
