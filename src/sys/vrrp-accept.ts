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
import { spawn } from "node:child_process";

export const ACCEPT_TABLE_PREFIX = "vigil_noaccept_";
const NFT_TIMEOUT_MS = 5_000;

export type NftResult = { readonly ok: true } | { readonly ok: false; readonly message: string };

/** Applies an nft script; a fake of this type drives the unit tests. */
export type NftRunner = (script: string) => Promise<NftResult>;

/** The table of one instance; anything an nft identifier cannot hold becomes "_". */
export function acceptTableName(iface: string, vrid: number): string {
  return `${ACCEPT_TABLE_PREFIX}${iface.replace(/[^A-Za-z0-9_]/g, "_")}_${vrid}`;
}

function dropTable(table: string): string[] {
  return [`table ip ${table}`, `delete table ip ${table}`];
}

/** The script that (re)creates the table dropping traffic to `addresses` (bare IPv4, no prefix). */
export function blockScript(table: string, addresses: readonly string[]): string {
  return [
    ...dropTable(table),
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
  return [...dropTable(table), ""].join("\n");
}

/** Runs `nft -f -` with the script on stdin. Never rejects. */
export const runNft: NftRunner = (script) =>
  new Promise((resolve) => {
    let stderr = "";
    let settled = false;
    const done = (r: NftResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const child = spawn("nft", ["-f", "-"], { stdio: ["pipe", "ignore", "pipe"], env: { ...process.env, LC_ALL: "C" } });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      done({ ok: false, message: `nft did not finish within ${NFT_TIMEOUT_MS} ms` });
    }, NFT_TIMEOUT_MS);
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    child.on("error", (e: NodeJS.ErrnoException) => {
      done({
        ok: false,
        message: e.code === "ENOENT" ? "nft (nftables) is not installed or not on PATH; accept_mode: false needs it" : `cannot run nft: ${e.message}`,
      });
    });
    child.on("close", (code) => {
      if (code === 0) done({ ok: true });
      else done({ ok: false, message: `nft failed (exit ${String(code)}): ${stderr.trim().split("\n")[0] ?? ""}` });
    });
    child.stdin.on("error", () => {
      // nft exited before reading its input; "close" reports why.
    });
    child.stdin.end(script);
  });

/** Drops IPv4 packets addressed to `addresses` from now on. */
export async function blockVipTraffic(table: string, addresses: readonly string[], run: NftRunner = runNft): Promise<NftResult> {
  const r = await run(blockScript(table, addresses));
  return r.ok ? r : { ok: false, message: `cannot install nftables table ${table} (accept_mode: false): ${r.message}` };
}

/** Accepts them again: removes the table, which may not be there. */
export async function unblockVipTraffic(table: string, run: NftRunner = runNft): Promise<NftResult> {
  const r = await run(unblockScript(table));
  return r.ok ? r : { ok: false, message: `cannot remove nftables table ${table}: ${r.message}` };
}
