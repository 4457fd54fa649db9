/**
 * The farm table in the kernel, through the one nft runner (src/sys/nft.ts):
 * each call is one `nft -f` transaction.
 */
import { applyRuleset, listTableJson, type NftResult } from "../nft.ts";
import { type FarmCounters, parseFarmCounters } from "./counters.ts";
import {
  farmRenewRuleset,
  farmSetupRuleset,
  farmTableName,
  farmTeardownRuleset,
  farmUpdateRuleset,
  type FarmTableSpec,
  isLapsedFailure,
} from "./ruleset.ts";

const NEED = "farm modules";

/** `lapsed`: the transaction failed because the kernel lease had run out (nothing changed). */
export type TableResult = { readonly ok: true } | { readonly ok: false; readonly message: string; readonly lapsed?: true };

function result(r: NftResult, what: string): TableResult {
  if (r.ok) return { ok: true };
  const message = `${what}: ${r.message}`;
  return r.failure === "failed" && isLapsedFailure(r.message) ? { ok: false, message, lapsed: true } : { ok: false, message };
}

/** Creates the table empty, replacing a leftover. */
export async function setupFarmTable(spec: FarmTableSpec): Promise<TableResult> {
  return result(await applyRuleset(farmSetupRuleset(spec), { needFor: NEED }), `farm ${spec.module}: cannot create nft table ${farmTableName(spec.module)}`);
}

export async function writeFarmTable(module: string, vip: string, held: readonly number[], arpOwner: boolean, leaseMs: number): Promise<TableResult> {
  return result(await applyRuleset(farmUpdateRuleset(module, vip, held, arpOwner, leaseMs), { needFor: NEED }), `farm ${module}: cannot update its buckets`);
}

/** Renews the kernel lease if it still runs; `lapsed` when it had run out. */
export async function renewFarmLease(module: string, vip: string, leaseMs: number): Promise<TableResult> {
  return result(await applyRuleset(farmRenewRuleset(module, vip, leaseMs), { needFor: NEED }), `farm ${module}: cannot renew its lease`);
}

/** Removes the table. Remove the farm's link (link.ts) first: see exit-guard.ts. */
export async function removeFarmTable(module: string): Promise<TableResult> {
  return result(await applyRuleset(farmTeardownRuleset(module), { needFor: NEED }), `farm ${module}: cannot remove nft table ${farmTableName(module)}`);
}

export async function readFarmCounters(module: string): Promise<{ ok: true; counters: FarmCounters } | { ok: false; message: string }> {
  const r = await listTableJson("inet", farmTableName(module), { needFor: NEED });
  if (!r.ok) return { ok: false, message: r.message };
  return parseFarmCounters(r.stdout);
}
