/**
 * Checks of the cluster key that both `vigil run` (refuses) and
 * `vigil check-config` / `vigil token` (warn) make, so they say the same.
 */
import type { VigilConfig } from "../config/types.ts";
import { readKeyFile } from "../sys/keyfile.ts";
import { isPublishedSampleKey, sampleKeyMessage } from "../sys/sample-keys.ts";

export type StartCheck = { ok: true; warnings: string[] } | { ok: false; message: string };

const isLoopback = (address: string): boolean => /^127\./.test(address) || address === "::1" || address === "localhost";

/** True for a cluster confined to this machine: every node address and the console on loopback. */
export function confinedToThisMachine(config: VigilConfig, listen: string): boolean {
  const host = listen.slice(0, listen.lastIndexOf(":"));
  return isLoopback(host) && config.cluster.nodes.every((n) => n.addresses.every(isLoopback));
}

export function checkSampleKey(config: VigilConfig, listen: string): StartCheck {
  const file = config.cluster.key_file;
  if (file === undefined) return { ok: true, warnings: [] };
  const key = readKeyFile(file);
  if (!key.ok || !isPublishedSampleKey(key.key)) return { ok: true, warnings: [] };
  if (confinedToThisMachine(config, listen)) {
    return { ok: true, warnings: [`key file ${file} is a published sample key: accepted only because every node and the console are on loopback (a demo)`] };
  }
  return { ok: false, message: `not starting: ${sampleKeyMessage(file)}` };
}

/**
 * What check-config and `vigil token` say about the key file: group- or
 * world-readable, or a published sample (which `vigil run` refuses off loopback).
 */
export function keyFileWarnings(config: VigilConfig): string[] {
  const file = config.cluster.key_file;
  if (file === undefined) return [];
  const key = readKeyFile(file);
  if (!key.ok) return [];
  const out = [...key.warnings];
  const sample = checkSampleKey(config, config.web.listen);
  if (!sample.ok) out.push(`${sampleKeyMessage(file)}; \`vigil run\` refuses it`);
  else out.push(...sample.warnings);
  return out;
}
