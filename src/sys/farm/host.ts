/**
 * What a farm module needs from the host, for `vigil doctor`: kernel support
 * for macvlan and nftables' jhash, and sh for the crash guard. A feature
 * counts as present when the running kernel has its code (built in or loaded:
 * its symbols are in /proc/kallsyms), or when this kernel's module files hold
 * it (loaded on first use).
 */
import { readdirSync, readFileSync } from "node:fs";
import { release } from "node:os";

export interface FarmHostCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly neededBy: string;
}

function moduleFileExists(dir: string, name: string): boolean {
  try {
    return readdirSync(dir, { withFileTypes: true }).some((e) =>
      e.isDirectory() ? moduleFileExists(`${dir}/${e.name}`, name) : e.name === `${name}.ko` || e.name.startsWith(`${name}.ko.`),
    );
  } catch {
    return false;
  }
}

/** `symbol` is a function of the feature; `module` its loadable module's name. */
export function kernelFeature(symbol: string, module: string, root = "/"): { ok: boolean; detail: string } {
  let symbols = "";
  try {
    symbols = readFileSync(`${root}proc/kallsyms`, "utf8");
  } catch {
    // Not Linux, or no /proc: fall through to the module files.
  }
  if (new RegExp(`\\s${symbol}(\\s|$)`, "m").test(symbols)) return { ok: true, detail: "in the running kernel" };
  if (moduleFileExists(`${root}lib/modules/${release()}/kernel`, module)) return { ok: true, detail: `${module}.ko present (loaded on first use)` };
  return { ok: false, detail: `kernel ${release()} has no ${module} (not built in, not loaded, no ${module}.ko)` };
}

export function farmHostChecks(findOnPath: (cmd: string) => string | undefined, root = "/"): FarmHostCheck[] {
  const sh = findOnPath("sh");
  return [
    { name: "macvlan", ...kernelFeature("macvlan_common_newlink", "macvlan", root), neededBy: "farm modules (receiving the virtual MAC)" },
    { name: "nft jhash", ...kernelFeature("nft_jhash_eval", "nft_hash", root), neededBy: "farm modules (splitting clients into buckets)" },
    { name: "sh", ok: sh !== undefined, detail: sh ?? "not found", neededBy: "farm modules (the guard that empties a crashed daemon's buckets)" },
  ];
}
