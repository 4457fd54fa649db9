import { describe, expect, it } from "vitest";
import { formatStatus } from "../../src/cli/status-table.ts";
import type { StatusSnapshot, VrrpStatus } from "../../src/api/status.ts";

const base: StatusSnapshot = {
  version: "0.1.0", node: { name: "gw1", addresses: ["198.51.100.11"] }, cluster: { name: "pair" }, pid: 1, startedAt: "2026-11-22T08:00:00.000Z",
  uptimeMs: 5_000, configFile: "/etc/vigil/vigil.yaml", stateDir: "/var/lib/vigil", web: { listen: "0.0.0.0:9010" }, peers: [], modules: [], events: [],
};

const vrrp = (over: Partial<VrrpStatus>): VrrpStatus => ({
  name: "VI_1", vrid: 51, version: 3, interface: "eth0", primaryAddress: "198.51.100.11", role: "master", priority: 150, effectivePriority: 150,
  masterAddress: "198.51.100.11", vips: ["198.51.100.100/24"], syncGroup: null, unicastPeers: [],
  lastTransition: { time: "2026-11-22T08:00:01.000Z", from: "backup", to: "master", reason: "master-down", detail: "no advert for 3609 ms" },
  tracks: [], advertsSent: 10, advertsReceived: 0, becameMaster: 1, ...over,
});

describe("vigil status: the VRRP table", () => {
  it("shows role, effective priority, the master and the last change of each instance", () => {
    const out = formatStatus({
      ...base,
      vrrp: [
        vrrp({}),
        vrrp({
          name: "VI_2", vrid: 52, role: "backup", effectivePriority: 90, masterAddress: "198.51.100.12", vips: ["198.51.100.101/24"],
          tracks: [{ name: "process node_exporter", weight: -60, up: false, detail: "not running" }], lastTransition: null,
        }),
      ],
    });
    const lines = out.split("\n");
    const head = lines.findIndex((l) => l.startsWith("VRRP"));
    expect(lines.slice(head, head + 3).map((l) => l.split(/\s{2,}/))).toEqual([
      ["VRRP", "VRID", "INTERFACE", "ROLE", "PRIORITY", "MASTER", "VIPS", "LAST CHANGE"],
      ["VI_1", "51", "eth0", "MASTER", "150", "198.51.100.11 (us)", "198.51.100.100/24", "2026-11-22T08:00:01.000Z master-down"],
      ["VI_2", "52", "eth0", "BACKUP", "90 (of 150)", "198.51.100.12", "198.51.100.101/24", "-"],
    ]);
    expect(out).toContain("TRACKED OBJECTS DOWN\n  VI_2: process node_exporter down (weight -60): not running");
  });

  it("leaves the table out on a node without VRRP, and copes with daemons that predate it", () => {
    expect(formatStatus({ ...base, vrrp: [] })).not.toContain("VRRP");
    expect(formatStatus(base)).not.toContain("VRRP");
  });
});
