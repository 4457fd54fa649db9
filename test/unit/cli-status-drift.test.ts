/** `vigil status` shows a stopped peer as such, and config drift by key under the peers. */
import { describe, expect, it } from "vitest";
import { formatStatus } from "../../src/cli/status-table.ts";
import type { PeerStatus, StatusSnapshot } from "../../src/api/status.ts";

function snapshot(peers: PeerStatus[]): StatusSnapshot {
  return {
    version: "0.1.0", node: { name: "scada1", addresses: ["198.51.100.11"] }, cluster: { name: "scada" }, pid: 7,
    startedAt: "2026-11-22T08:00:00.000Z", uptimeMs: 65_000, configFile: "/etc/vigil/vigil.yaml", stateDir: "/var/lib/vigil",
    web: { listen: "0.0.0.0:9010" }, peers, modules: [], events: [],
  };
}

const peer = (name: string, over: Partial<PeerStatus> = {}): PeerStatus => ({
  name, addresses: ["198.51.100.12"], state: "up", links: [{ address: "198.51.100.12", state: "up", lastHeardMsAgo: 40 }], rttMs: 0.3, badFrames: 0, ...over,
});

describe("vigil status: peers", () => {
  it("lists the keys that differ on a peer, and nothing when the configs agree", () => {
    const text = formatStatus(snapshot([peer("scada2", { configDrift: ["modules.hmi.failback", "modules.hmi.checkers"] }), peer("scada3", { configDrift: [] })]));
    const lines = text.split("\n");
    const at = lines.indexOf("CONFIG DRIFT (keys whose value differs from this node's vigil.yaml)");
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toBe("  scada2: modules.hmi.failback, modules.hmi.checkers");
    expect(text).not.toMatch(/scada3: /);
    expect(formatStatus(snapshot([peer("scada2", { configDrift: [] })]))).not.toMatch(/CONFIG DRIFT/);
  });

  it("shows a peer that said goodbye as stopped", () => {
    const text = formatStatus(snapshot([peer("scada2", { state: "stopped", links: [{ address: "198.51.100.12", state: "down", lastHeardMsAgo: 900 }] })]));
    expect(text).toMatch(/^scada2 +stopped +198\.51\.100\.12:down\(900ms\)/m);
  });
});
