import { describe, expect, it } from "vitest";
import type { FarmStatus } from "../../src/api/farm.ts";
import { bareSnapshot, chromiumMissing, testid, useSnapshotConsole } from "./browser.ts";

const missing = chromiumMissing();

const base = bareSnapshot("web1", "198.51.100.31", "web-farm");

const farm: FarmStatus = {
  module: "web", mode: "in", detail: "serving its share", vip: "198.51.100.200", vmac: "02:12:34:56:78:9a", interface: "eth0",
  split: "client_ip", ports: [80, 443], held: 64, sharePct: 25, arpOwner: "web2",
  members: [
    { node: "web1", state: "in", weight: 1, buckets: 64, sharePct: 25, connections: 1200 },
    { node: "web2", state: "in", weight: 2, buckets: 128, sharePct: 50, connections: 2400 },
    { node: "<i>web3</i>", state: "dead", weight: 1, buckets: 0, sharePct: 0 },
  ],
  counters: { connections: 1200, othersConnections: 3600, establishedPackets: 9000, midstreamDropped: 12, udpPackets: 0, unsplitPackets: 3 },
  lastRebalance: { time: "2025-03-14T08:00:01.000Z", reason: "peer-dead", node: "<i>web3</i>", gained: 21, lost: 0, nftMs: 12.5 },
};

describe.runIf(missing === null || process.env.CI === "true")("web console: farm modules", () => {
  const ui = useSnapshotConsole(base);

  it("shows no farm panel without farms, then each node's state, weight, share, the ARP owner, counters and the last rebalance", async () => {
    const { page, problems } = await ui.browser().newPage();
    await page.goto(ui.url());
    await expect.poll(() => testid(page, "node-name").textContent()).toBe("web1");
    expect(await testid(page, "farm-section").count()).toBe(0);

    ui.show({
      ...base,
      farms: [farm],
      modules: [{
        name: "web", type: "farm", state: "STOP", prefer: null, failback: "auto", nodes: [], lastTransition: null, checkers: [], blocked: null,
        restarts: 0, pending: null, witness: null, lease: null,
      }],
    });
    await expect.poll(() => testid(page, "farm-member").count()).toBe(3);
    expect(await testid(page, "farm-mode").textContent()).toBe("in");
    expect(await testid(page, "farm-member-state").allTextContents()).toEqual(["in", "in", "dead"]);
    expect(await testid(page, "farm-share").allTextContents()).toEqual(["25.0 %", "50.0 %", "0.0 %"]);
    expect(await testid(page, "farm-connections").allTextContents()).toEqual(["1200", "2400", "–"]);
    expect(await testid(page, "farm-arp-owner").count()).toBe(1);
    expect(await testid(page, "farm-member").nth(1).locator('[data-testid="farm-arp-owner"]').count()).toBe(1);
    expect(await testid(page, "farm-member").nth(0).textContent()).toContain("(this node)");
    // Names are text, never markup.
    expect(await testid(page, "farm-member").nth(2).locator("i").count()).toBe(0);
    expect(await testid(page, "farm-counters").textContent()).toContain("1200 connections accepted");
    expect(await testid(page, "farm-rebalance").textContent()).toContain("peer-dead (<i>web3</i>), +21 −0 buckets, nft 12.5 ms");
    expect(await testid(page, "farm-detail").textContent()).toContain("VIP 198.51.100.200 on eth0");
    // Not also in the modules table, where a failover module's roles would not fit it.
    expect(await testid(page, "modules-table").textContent()).not.toContain("STOP");

    ui.show({ ...base, farms: [] });
    await expect.poll(() => testid(page, "farm-section").isHidden()).toBe(true);
    expect(problems).toEqual([]);
  });
});
