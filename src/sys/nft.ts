/**
 * The one place vigil runs nft(8): apply a ruleset text (`nft -f -`, which
 * applies the whole text atomically or nothing of it), delete a table, list
 * tables. VRRP's accept_mode and the farm's bucket rules both go through here.
 *
 * Every call resolves, never rejects: the result says what went wrong in words
 * an operator can act on, and `needFor` names the feature that needs nft when
 * it is missing.
 */
import { killHelper, spawnHelper } from "./helper-child.ts";

export const NFT_TIMEOUT_MS = 5_000;

/** `signalled`: a signal ended nft before it exited (not our timeout). */
export type NftFailure = "missing" | "timeout" | "failed" | "signalled" | "spawn";

export type NftResult =
  | { readonly ok: true; readonly stdout: string }
  | { readonly ok: false; readonly failure: NftFailure; readonly message: string };

export interface NftOptions {
  /** What needs nft, for the message when it is not installed (e.g. "accept_mode: false"). */
  readonly needFor?: string;
  readonly timeoutMs?: number;
}

export type NftFamily = "ip" | "ip6" | "inet" | "arp" | "bridge" | "netdev";

export interface NftTable {
  readonly family: string;
  readonly name: string;
}

function runNftArgs(args: readonly string[], input: string | null, opts: NftOptions): Promise<NftResult> {
  const timeoutMs = opts.timeoutMs ?? NFT_TIMEOUT_MS;
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    let settled = false;
    const done = (r: NftResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    // Its own process group: a stop signal sent to the daemon's group must not end it (helper-child.ts).
    const child = spawnHelper("nft", args, { stdin: input === null ? "ignore" : "pipe", env: { ...process.env, LC_ALL: "C" } });
    const timer = setTimeout(() => {
      killHelper(child);
      done({ ok: false, failure: "timeout", message: `nft did not finish within ${timeoutMs} ms` });
    }, timeoutMs);
    child.stdout?.on("data", (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr?.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") {
        const need = opts.needFor === undefined ? "" : `; ${opts.needFor} needs it`;
        done({ ok: false, failure: "missing", message: `nft (nftables) is not installed or not on PATH${need}` });
      } else {
        done({ ok: false, failure: "spawn", message: `cannot run nft: ${e.message}` });
      }
    });
    child.on("close", (code, signal) => {
      if (code === 0) done({ ok: true, stdout });
      else if (code === null && signal !== null) done({ ok: false, failure: "signalled", message: `nft was ended by ${signal} before it finished` });
      else done({ ok: false, failure: "failed", message: `nft failed (exit ${String(code)}): ${stderr.trim().split("\n")[0] ?? ""}` });
    });
    if (input !== null && child.stdin) {
      child.stdin.on("error", () => {
        // nft exited before reading its input; "close" reports why.
      });
      child.stdin.end(input);
    }
  });
}

/** Applies a ruleset text with `nft -f -` (atomically: all of it or none). */
export function applyRuleset(ruleset: string, opts: NftOptions = {}): Promise<NftResult> {
  return runNftArgs(["-f", "-"], ruleset, opts);
}

/**
 * The ruleset lines that remove a table whether or not it exists: declaring it
 * first makes the delete succeed on a missing table, so repeating is safe.
 */
export function dropTableLines(family: NftFamily, name: string): string[] {
  return [`table ${family} ${name}`, `delete table ${family} ${name}`];
}

/** Deletes a table, there or not (see dropTableLines). */
export function deleteTable(family: NftFamily, name: string, opts: NftOptions = {}): Promise<NftResult> {
  return applyRuleset([...dropTableLines(family, name), ""].join("\n"), opts);
}

/** `nft -j list table FAMILY NAME`: the table with its sets, rules and counters, as JSON text in stdout. */
export function listTableJson(family: NftFamily, name: string, opts: NftOptions = {}): Promise<NftResult> {
  return runNftArgs(["-j", "list", "table", family, name], null, opts);
}

/** Parses `nft list tables` output: one "table <family> <name>" per line. */
export function parseTableList(stdout: string): NftTable[] {
  const tables: NftTable[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^table\s+(\S+)\s+(\S+)\s*$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) tables.push({ family: m[1], name: m[2] });
  }
  return tables;
}

export type NftTablesResult =
  | { readonly ok: true; readonly tables: readonly NftTable[] }
  | { readonly ok: false; readonly failure: NftFailure; readonly message: string };

/** Lists the tables of every family. */
export async function listTables(opts: NftOptions = {}): Promise<NftTablesResult> {
  const r = await runNftArgs(["list", "tables"], null, opts);
  return r.ok ? { ok: true, tables: parseTableList(r.stdout) } : r;
}
