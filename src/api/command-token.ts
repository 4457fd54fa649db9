/**
 * The bearer token that authorizes module commands over the network.
 *
 * It is derived from the cluster key, so every node accepts the same token,
 * nothing new has to be distributed, and replacing the key revokes it. The
 * derivation is one-way: a token seen on the wire does not reveal the key
 * that signs heartbeats.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { VigilConfig } from "../config/types.ts";
import { readKeyFile } from "../sys/keyfile.ts";

const PURPOSE = "vigil console commands";

export function deriveCommandToken(key: Uint8Array): string {
  return createHmac("sha256", key).update(PURPOSE).digest("hex");
}

export type TokenResult = { ok: true; token: string } | { ok: false; message: string };

/** The token for a loaded config; fails when there is no usable cluster key. */
export function commandTokenFor(config: VigilConfig): TokenResult {
  const file = config.cluster.key_file;
  if (file === undefined) {
    return {
      ok: false,
      message: "cluster.key_file is not set, and the command token is derived from the cluster key; create one with `vigil keygen vigil.key` and set cluster.key_file",
    };
  }
  const key = readKeyFile(file);
  if (!key.ok) return { ok: false, message: key.message };
  return { ok: true, token: deriveCommandToken(key.key) };
}

/** Constant-time comparison, so the answer time does not tell how much of a guess was right. */
export function tokenMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given, "utf8");
  const b = Buffer.from(expected, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}
