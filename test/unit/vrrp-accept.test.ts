import { describe, expect, it } from "vitest";
import { acceptTableName, blockVipTraffic, type NftRunner, unblockVipTraffic } from "../../src/sys/vrrp-accept.ts";

/** Records the scripts it is given and answers with `result`. */
function fakeNft(result: Awaited<ReturnType<NftRunner>> = { ok: true }): NftRunner & { scripts: string[] } {
  const scripts: string[] = [];
  const run = (script: string) => {
    scripts.push(script);
    return Promise.resolve(result);
  };
  return Object.assign(run, { scripts });
}

describe("accept_mode false through nftables", () => {
  it("names one table per interface and VRID, with characters nft identifiers cannot hold replaced", () => {
    expect(acceptTableName("eth0", 51)).toBe("vigil_noaccept_eth0_51");
    expect(acceptTableName("bond0.100", 7)).toBe("vigil_noaccept_bond0_100_7");
    expect(acceptTableName("br-lan", 7)).not.toBe(acceptTableName("br-lan", 8));
  });

  it("replaces the table in one transaction, dropping IPv4 to the VIPs except on loopback", async () => {
    const nft = fakeNft();
    expect(await blockVipTraffic("vigil_noaccept_eth0_51", ["198.51.100.100", "198.51.100.101"], nft)).toEqual({ ok: true });
    expect(nft.scripts).toHaveLength(1);
    const lines = (nft.scripts[0] ?? "").split("\n");
    // Creating, then deleting, then defining works whether or not the table was there.
    expect(lines.slice(0, 3)).toEqual(["table ip vigil_noaccept_eth0_51", "delete table ip vigil_noaccept_eth0_51", "table ip vigil_noaccept_eth0_51 {"]);
    expect(lines).toContain('    iifname != "lo" ip daddr { 198.51.100.100, 198.51.100.101 } counter drop');
    expect(lines.some((l) => l.includes("hook input"))).toBe(true);
  });

  it("removes the table whether or not it exists", async () => {
    const nft = fakeNft();
    expect(await unblockVipTraffic("vigil_noaccept_eth0_51", nft)).toEqual({ ok: true });
    expect(nft.scripts).toEqual(["table ip vigil_noaccept_eth0_51\ndelete table ip vigil_noaccept_eth0_51\n"]);
  });

  it("says which table and which setting a failure is about", async () => {
    const nft = fakeNft({ ok: false, message: "nft (nftables) is not installed or not on PATH; accept_mode: false needs it" });
    expect(await blockVipTraffic("vigil_noaccept_eth0_51", ["198.51.100.100"], nft)).toEqual({
      ok: false,
      message: "cannot install nftables table vigil_noaccept_eth0_51 (accept_mode: false): nft (nftables) is not installed or not on PATH; accept_mode: false needs it",
    });
    expect(await unblockVipTraffic("vigil_noaccept_eth0_51", nft)).toMatchObject({ ok: false, message: expect.stringMatching(/^cannot remove nftables table vigil_noaccept_eth0_51: /) });
  });
});
