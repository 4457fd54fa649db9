import { afterEach, describe, expect, it } from "vitest";
import { applyRuleset, deleteTable, dropTableLines, listTables, parseTableList } from "../../src/sys/nft.ts";

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
});
