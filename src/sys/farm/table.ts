/**
 * The farm table in the kernel: each call is one transaction. Set updates
 * (writes, lease renewals) go as nf_tables netlink messages (nft-netlink.ts)
 * where the socket opens, which takes about a millisecond where starting nft
 * takes 15 ms idle and far more on a loaded machine; everything else, and
 * every update where netlink is not available, goes through the one nft
 * runner (src/sys/nft.ts).
 */
import { errnoName } from "../ffi/libc.ts";
import { repeatWhileSignalled } from "../helper-child.ts";
import { applyRuleset, listTableJson, type NftResult } from "../nft.ts";
import { farmFlowOps, farmRenewOps, farmUpdateOps, type NftNetlink, openNftNetlink, type SetOp } from "./nft-netlink.ts";
import { type FarmCounters, parseFarmCounters } from "./counters.ts";
import {
  farmFlowsRuleset,
  farmRenewRuleset,
  farmSetupRuleset,
  farmTableName,
  farmTeardownRuleset,
  farmUpdateRuleset,
  type FarmTableSpec,
  isLapsedFailure,
  ownerPairs,
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

let netlink: Promise<NftNetlink | null> | undefined;

/** The process's nf_tables netlink socket, opened once; null where it cannot be (not Bun, no root). */
export function nftNetlink(): Promise<NftNetlink | null> {
  netlink ??= openNftNetlink().catch(() => null);
  return netlink;
}

let reads: Promise<NftNetlink | null> | undefined;

/** A second socket, for dumps only (NftNetlink.dump): they take many turns of the event loop, transactions one. */
export function nftNetlinkReads(): Promise<NftNetlink | null> {
  reads ??= openNftNetlink().catch(() => null);
  return reads;
}

const ENOENT = 2;

/**
 * Runs set operations over netlink; undefined when netlink is not there (the
 * caller uses nft). A lease delete (op 0) that finds nothing means lapsed,
 * as isLapsedFailure says for nft.
 */
async function viaNetlink(module: string, ops: readonly SetOp[], what: string): Promise<TableResult | undefined> {
  const link = await nftNetlink();
  if (link === null) return undefined;
  let out;
  try {
    out = link.apply(farmTableName(module), ops);
  } catch (e) {
    return { ok: false, message: `${what}: nf_tables netlink: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (out.errno === 0) return { ok: true };
  const message = `${what}: nf_tables netlink: ${errnoName(out.errno)} in operation ${out.op + 1} of ${ops.length}`;
  const first = ops[0];
  const lapsed = out.errno === ENOENT && out.op === 0 && first?.op === "delete" && first.set === "lease";
  return lapsed ? { ok: false, message, lapsed: true } : { ok: false, message };
}

/** Our buckets and ARP ownership, the lease renewed if it still runs (`rearm`: armed anew, holding nothing). */
export async function writeFarmTable(module: string, vip: string, held: readonly number[], arpOwner: boolean, leaseMs: number, rearm = false): Promise<TableResult> {
  const what = `farm ${module}: cannot update its buckets`;
  const text = farmUpdateRuleset(module, vip, held, arpOwner, leaseMs, rearm);
  return (await viaNetlink(module, farmUpdateOps(vip, held, arpOwner, leaseMs, rearm), what)) ?? result(await applyRuleset(text, { needFor: NEED }), what);
}

/** Who answers UDP flows (ruleset.ts farmFlowsRuleset); `forget` empties the flow memory first. */
export async function writeFarmFlows(module: string, owners: readonly number[], live: readonly number[], forget: boolean): Promise<TableResult> {
  const what = `farm ${module}: cannot update its UDP flow owners`;
  const text = farmFlowsRuleset(module, owners, live, forget);
  return (await viaNetlink(module, farmFlowOps(ownerPairs(module, owners), live, forget), what)) ?? result(await applyRuleset(text, { needFor: NEED }), what);
}

/** Renews the kernel lease if it still runs; `lapsed` when it had run out. */
export async function renewFarmLease(module: string, vip: string, leaseMs: number): Promise<TableResult> {
  const what = `farm ${module}: cannot renew its lease`;
  const text = farmRenewRuleset(module, vip, leaseMs);
  return (await viaNetlink(module, farmRenewOps(vip, leaseMs), what)) ?? result(await applyRuleset(text, { needFor: NEED }), what);
}

/** Removes the table. Remove the farm's link (link.ts) first: see exit-guard.ts. */
export async function removeFarmTable(module: string): Promise<TableResult> {
  // Ended by a signal meant for the daemon as it stops (helper-child.ts): a removal is safe to repeat.
  const r = await repeatWhileSignalled(
    (): Promise<NftResult> => applyRuleset(farmTeardownRuleset(module), { needFor: NEED }),
    (x) => !x.ok && x.failure === "signalled",
  );
  return result(r, `farm ${module}: cannot remove nft table ${farmTableName(module)}`);
}

export async function readFarmCounters(module: string): Promise<{ ok: true; counters: FarmCounters } | { ok: false; message: string }> {
  const r = await listTableJson("inet", farmTableName(module), { needFor: NEED });
  if (!r.ok) return { ok: false, message: r.message };
  return parseFarmCounters(r.stdout);
}
