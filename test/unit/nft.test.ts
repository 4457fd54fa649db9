import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { removeFarmTable } from "../../src/sys/farm/table.ts";
import { applyRuleset, deleteTable, dropTableLines, listTables, parseTableList } from "../../src/sys/nft.ts";

/** A fake nft on PATH, in a fresh folder; `body` is sh. */
function fakeNft(body: string): string {
  const dir = mkdtempSync(join(tmpdir(), "vigil-fake-nft-"));
  const file = join(dir, "nft");
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  process.env.PATH = `${dir}:${process.env.PATH ?? ""}`;
  return dir;
}

describe("nft runner", () => {
  const path = process.env.PATH;
  afterEach(() => {
    process.env.PATH = path;
  });

  it("drops a table idempotently: declares it, then deletes it", () => {
    expect(dropTableLines("inet", "vigil_farm_web")).toEqual(["table inet vigil_farm_web", "delete table inet vigil_farm_web"]);
  });

  it("reads `nft list tables` output, ignoring anything else", () => {
    expect(parseTableList("table ip vigil_noaccept_eth0_51\ntable inet filter\n\nwarning: something\n")).toEqual([
      { family: "ip", name: "vigil_noaccept_eth0_51" },
      { family: "inet", name: "filter" },
    ]);
  });

  it("says nft is missing, and which feature needs it, instead of throwing", async () => {
    process.env.PATH = "/nonexistent-vigil-test";
    expect(await applyRuleset("", { needFor: "the farm" })).toEqual({
      ok: false,
      failure: "missing",
      message: "nft (nftables) is not installed or not on PATH; the farm needs it",
    });
    expect(await deleteTable("ip", "t")).toMatchObject({ ok: false, failure: "missing", message: "nft (nftables) is not installed or not on PATH" });
    expect(await listTables()).toMatchObject({ ok: false, failure: "missing" });
  });

  it("names the signal that ended nft before it finished", async () => {
    const dir = fakeNft("kill -TERM $$; sleep 5");
    try {
      expect(await applyRuleset("flush ruleset\n")).toEqual({ ok: false, failure: "signalled", message: "nft was ended by SIGTERM before it finished" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("removes a farm table again when a signal ended the first nft, and reports nothing once it went", async () => {
    const dir = fakeNft('echo run >> "$(dirname "$0")/runs"; cat > /dev/null; [ "$(wc -l < "$(dirname "$0")/runs")" -gt 1 ] || kill -TERM $$');
    try {
      expect(await removeFarmTable("web")).toEqual({ ok: true });
      expect(readFileSync(join(dir, "runs"), "utf8")).toBe("run\nrun\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
