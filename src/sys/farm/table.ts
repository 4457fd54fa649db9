/**
 * The farm table in the kernel, through the one nft runner (src/sys/nft.ts):
 * each call is one `nft -f` transaction.
 */
import { applyRuleset, listTableJson, type NftResult } from "../nft.ts";
import { type FarmCounters, parseFarmCounters } from "./counters.ts";
import { farmSetupRuleset, farmTableName, farmTeardownRuleset, farmUpdateRuleset, type FarmTableSpec } from "./ruleset.ts";

const NEED = "farm modules";

export type TableResult = { readonly ok: true } | { readonly ok: false; readonly message: string };

function result(r: NftResult, what: string): TableResult {
  return r.ok ? { ok: true } : { ok: false, message: `${what}: ${r.message}` };
}

/** Creates the table empty, replacing a leftover. */
export async function setupFarmTable(spec: FarmTableSpec): Promise<TableResult> {
  return result(await applyRuleset(farmSetupRuleset(spec), { needFor: NEED }), `farm ${spec.module}: cannot create nft table ${farmTableName(spec.module)}`);
}

export async function writeFarmTable(module: string, vip: string, held: readonly number[], arpOwner: boolean): Promise<TableResult> {
  return result(await applyRuleset(farmUpdateRuleset(module, vip, held, arpOwner), { needFor: NEED }), `farm ${module}: cannot update its buckets`);
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
