/** vigil doctor's farm checks (src/sys/farm/host.ts), against a fake root. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { farmHostChecks, kernelFeature } from "../../src/sys/farm/host.ts";

const roots: string[] = [];
function root(kallsyms: string, modules: string[] = []): string {
  const r = mkdtempSync(join(tmpdir(), "vigil-farm-host-"));
  roots.push(r);
  mkdirSync(join(r, "proc"));
  writeFileSync(join(r, "proc", "kallsyms"), kallsyms);
  const dir = join(r, "lib", "modules", release(), "kernel", "drivers", "net");
  mkdirSync(dir, { recursive: true });
  for (const m of modules) writeFileSync(join(dir, m), "");
  return `${r}/`;
}
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

describe("farm host checks", () => {
  it("finds a feature built in or loaded, or as a module file", () => {
    expect(kernelFeature("macvlan_common_newlink", "macvlan", root("ffffffff81000000 T macvlan_common_newlink\n")).ok).toBe(true);
    expect(kernelFeature("macvlan_common_newlink", "macvlan", root("", ["macvlan.ko.xz"])).detail).toContain("loaded on first use");
    const missing = kernelFeature("nft_jhash_eval", "nft_hash", root("ffffffff81000000 t nft_jhash_evaluate_other\n"));
    expect(missing.ok).toBe(false);
    expect(missing.detail).toContain("no nft_hash");
  });

  it("names the feature each check serves", () => {
    const checks = farmHostChecks(() => undefined, root(""));
    expect(checks.map((c) => [c.name, c.ok])).toEqual([
      ["macvlan", false],
      ["nft jhash", false],
      ["sh", false],
    ]);
    expect(checks.every((c) => c.neededBy.startsWith("farm modules"))).toBe(true);
  });
});
