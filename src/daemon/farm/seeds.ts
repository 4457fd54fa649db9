/**
 * The seeds every node of a farm derives alike from the cluster key, so that
 * no node needs to be told them: the nft jhash seed and the rendezvous seed.
 * The key is secret, so an outsider cannot steer clients into one node's
 * buckets by choosing source ports. (The virtual MAC, from names only, is in
 * src/core/farm/vmac.ts.)
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
