/** `vigil status`'s farm section (src/cli/farm-table.ts). */
import { describe, expect, it } from "vitest";
import type { FarmStatus } from "../../src/api/farm.ts";
import type { StatusSnapshot } from "../../src/api/status.ts";
import { formatFarms } from "../../src/cli/farm-table.ts";
import { formatStatus } from "../../src/cli/status-table.ts";

const farm: FarmStatus = {
  module: "web",
  mode: "in",
  detail: "serving its share",
  vip: "198.51.100.200",
  vmac: "02:12:34:56:78:9a",
  interface: "eth0",
  split: "client_ip",
  ports: [80, 443],
  held: 64,
  sharePct: 25,
  arpOwner: "web2",
  members: [
    { node: "web1", state: "in", weight: 1, buckets: 64, sharePct: 25, connections: 1200 },
    { node: "web2", state: "in", weight: 2, buckets: 128, sharePct: 50, connections: 2400 },
    { node: "web3", state: "dead", weight: 1, buckets: 0, sharePct: 0, connections: 1200 },
  ],
  counters: { connections: 1200, othersConnections: 3600, establishedPackets: 9000, midstreamDropped: 12, udpPackets: 0, unsplitPackets: 3 },
  lastRebalance: { time: "2026-12-06T03:00:00.000Z", reason: "peer-dead", node: "web3", gained: 21, lost: 0, nftMs: 12.5 },
};

describe("vigil status: farms", () => {
  it("shows each node's state, weight, buckets, share and connections, the ARP owner, counters and the last rebalance", () => {
    const text = formatFarms([farm], "web1").join("\n");
    expect(text).toContain("FARM web: in (serving its share); VIP 198.51.100.200 on eth0, virtual MAC 02:12:34:56:78:9a; split client_ip, ports 80 443");
    expect(text).toMatch(/web1 \(us\)\s+in\s+1\s+64\s+25\.0%\s+1200/);
    expect(text).toMatch(/web2\s+in\s+2\s+128\s+50\.0%\s+2400\s+owner/);
    expect(text).toMatch(/web3\s+dead\s+1\s+0\s+0\.0%\s+1200/);
    const unread = formatFarms([{ ...farm, members: farm.members.map(({ connections: _c, ...m }) => m) }], "web1").join("\n");
    expect(unread).toMatch(/web2\s+in\s+2\s+128\s+50\.0%\s+-\s+owner/);
    expect(text).toContain("connections accepted here 1200, left to other nodes 3600");
    expect(text).toContain("last rebalance: 2026-12-06T03:00:00.000Z peer-dead (web3), +21 -0 buckets, nft 12.5 ms");
  });

  it("says when this node waits for buckets of its own and when a peer is heard in one direction only", () => {
    const members = [
      { node: "web1", state: "in" as const, weight: 1, buckets: 64, sharePct: 25 },
      { node: "web2", state: "in" as const, weight: 2, buckets: 128, sharePct: 50, hearsUs: false as const },
      { node: "web3", state: "dead" as const, weight: 1, buckets: 64, sharePct: 25, heardThrough: ["web2"] },
    ];
    const text = formatFarms([{ ...farm, held: 40, waiting: 24, members }], "web1").join("\n");
    expect(text).toContain("WAITING: 24 of this node's buckets are not taken yet: new clients there get no answer until it takes them");
    expect(text).toContain("ONE-WAY: web3 is not heard here but web2 hears it: it keeps its buckets; check the path from web3 to this node");
    expect(text).toContain("ONE-WAY: web2 does not hear this node (its heartbeats say so): check the path from this node to web2");
    const plain = formatFarms([farm], "web1").join("\n");
    expect(plain).not.toContain("WAITING");
    expect(plain).not.toContain("ONE-WAY");
  });

  it("says when nothing happened yet and counters are not read", () => {
    const text = formatFarms([{ ...farm, counters: null, lastRebalance: null }], "web1").join("\n");
    expect(text).toContain("last rebalance: none");
    expect(text).not.toContain("connections accepted");
    expect(formatFarms([], "web1")).toEqual([]);
  });

  it("vigil status shows a running farm module in the farm section, not among the failover modules", () => {
    const snap: StatusSnapshot = {
      version: "0.1.0", node: { name: "web1", addresses: ["198.51.100.31"] }, cluster: { name: "web-farm" }, pid: 1, startedAt: "2026-01-01T00:00:00.000Z",
      uptimeMs: 1000, configFile: "/etc/vigil/vigil.yaml", stateDir: "/var/lib/vigil", web: { listen: "0.0.0.0:9010" }, peers: [], events: [],
      modules: [{
        name: "web", type: "farm", state: "STOP", prefer: null, failback: "auto", nodes: [], lastTransition: null, checkers: [], blocked: null,
        restarts: 0, pending: null, witness: null, lease: null,
      }],
      farms: [farm],
    };
    const text = formatStatus(snap);
    expect(text).toContain("FARM web: in");
    expect(text).not.toMatch(/^web\s+farm\s+STOP/m);
    // With only farm modules there is no failover table to say "no modules configured" above the farm.
    expect(text).not.toContain("no modules configured");
    expect(text).not.toContain("MODULE  TYPE");
    expect(text).toContain("\n\nFARM web: in");
  });
});
