/**
 * RFC 5798 Accept_Mode off (keepalived's no_accept): a MASTER that is not the
 * address owner must not accept packets addressed to the virtual addresses.
 *
 * Done with one nftables table per instance, `vigil_noaccept_<if>_<vrid>`
 * (interface and VRID are unique together, so names never collide), holding
 * one rule in the input hook that drops IPv4 packets to the VIPs:
 * - ARP is not IPv4, so the VIPs are still answered for (the RFC requires it);
 * - adverts go to 224.0.0.18 or to the routers' own addresses, never to a VIP;
 * - packets routed THROUGH the node are not addressed to it and pass;
 * - loopback is left alone, so local services can still reach the VIPs.
 *
 * Both operations are written so they succeed whether or not the table exists
 * (`table` then `delete table` in one transaction): repeating them is safe,
 * which the cleanup after a crash relies on. `nft -f -` applies a script
 * atomically, so the rule is either wholly there or not at all.
 */
import { applyRuleset, dropTableLines } from "./nft.ts";

export const ACCEPT_TABLE_PREFIX = "vigil_noaccept_";

export type AcceptResult = { readonly ok: true } | { readonly ok: false; readonly message: string };

/** Applies an nft script; a fake of this type drives the unit tests. */
export type NftRunner = (script: string) => Promise<AcceptResult>;

/** The table of one instance; anything an nft identifier cannot hold becomes "_". */
export function acceptTableName(iface: string, vrid: number): string {
  return `${ACCEPT_TABLE_PREFIX}${iface.replace(/[^A-Za-z0-9_]/g, "_")}_${vrid}`;
}

/** The script that (re)creates the table dropping traffic to `addresses` (bare IPv4, no prefix). */
export function blockScript(table: string, addresses: readonly string[]): string {
  return [
    ...dropTableLines("ip", table),
    `table ip ${table} {`,
    "  chain input {",
    "    type filter hook input priority filter - 10; policy accept;",
    `    iifname != "lo" ip daddr { ${addresses.join(", ")} } counter drop`,
    "  }",
    "}",
    "",
  ].join("\n");
}

/** The script that removes the table, there or not. */
export function unblockScript(table: string): string {
  return [...dropTableLines("ip", table), ""].join("\n");
}

/** Runs `nft -f -` with the script on stdin (sys/nft.ts). Never rejects. */
export const runNft: NftRunner = (script) => applyRuleset(script, { needFor: "accept_mode: false" });

/** Drops IPv4 packets addressed to `addresses` from now on. */
export async function blockVipTraffic(table: string, addresses: readonly string[], run: NftRunner = runNft): Promise<AcceptResult> {
  const r = await run(blockScript(table, addresses));
  return r.ok ? { ok: true } : { ok: false, message: `cannot install nftables table ${table} (accept_mode: false): ${r.message}` };
}

/** Accepts them again: removes the table, which may not be there. */
export async function unblockVipTraffic(table: string, run: NftRunner = runNft): Promise<AcceptResult> {
  const r = await run(unblockScript(table));
  return r.ok ? { ok: true } : { ok: false, message: `cannot remove nftables table ${table}: ${r.message}` };
}
