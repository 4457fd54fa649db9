/**
 * The daemon's health watch builds the status every second without this
 * node's addresses and without the recent events (daemon.ts): the cluster
 * view it reads must come out the same either way.
 */
import { describe, expect, it } from "vitest";
import type { FarmStatus } from "../../src/api/farm.ts";
import type { ModuleStatus } from "../../src/api/modules.ts";
import { parseConfig } from "../../src/config/load.ts";
import { Logger } from "../../src/daemon/log.ts";
import { ResourceOps, resourceStates } from "../../src/daemon/resource-state.ts";
import { buildStatus } from "../../src/daemon/status.ts";

const CONFIG = [
  "cluster:", "  name: c", "  nodes:", "    - { name: a, addresses: [198.51.100.1] }", "    - { name: b, addresses: [198.51.100.2] }",
  "modules:",
  "  - { name: hmi, type: failover, vip: 198.51.100.100/24, interface: eth0, start: /opt/hmi/start.sh, stop: /opt/hmi/stop.sh }",
  "  - { name: web, type: farm, vip: 198.51.100.200/24, interface: eth0, ports: [80] }",
  "",
].join("\n");

function config() {
  const r = parseConfig(CONFIG, "/etc/vigil/vigil.yaml");
  if (!r.ok) throw new Error(`config refused: ${JSON.stringify(r.errors)}`);
  return r.config;
}

const hmi = (state: ModuleStatus["state"]): ModuleStatus => ({
  name: "hmi", type: "failover", state, prefer: null, failback: "auto", nodes: [{ node: "a", role: state, generation: 1 }, { node: "b", role: "WAIT", generation: 1 }],
  lastTransition: null, checkers: [], blocked: null, restarts: 0, pending: null, witness: null, lease: null,
});
const web = (mode: FarmStatus["mode"]): FarmStatus => ({
  module: "web", mode, detail: "", vip: "198.51.100.200/24", vmac: "", interface: "eth0", split: "client_ip", ports: [80],
  held: 256, sharePct: 100, arpOwner: "a", counters: null, lastRebalance: null, members: [{ node: "a", state: "in", weight: 1, buckets: 256, sharePct: 100 }],
});

describe("the health watch's status", () => {
  it("gives the same cluster view with and without this node's addresses and events", () => {
    const now = new Date("2026-12-06T06:00:10.000Z");
    const log = new Logger("text", () => {}, 100, () => now);
    const ops = new ResourceOps(log);
    log.debug("module hmi starting script start.sh", { module: "hmi", run: 2 });
    const c = config();
    for (const role of ["ALONE", "WAIT", "STOP"] as const) {
      for (const mode of ["in", "out", "drain"] as const) {
        const view = (local: string[], events: boolean) => {
          const modules = [hmi(role)];
          const farms = [web(mode)];
          return buildStatus({
            config: c, configFile: "/etc/vigil/vigil.yaml", self: { name: "a", addresses: ["198.51.100.1"] }, stateDir: "/var/lib/vigil", listen: "127.0.0.1:0",
            startedAt: new Date("2026-12-06T06:00:00.000Z"), now, events: events ? log.recent.toArray() : [], modules, farms,
            resources: resourceStates({ config: c, modules, farms, ops, localAddresses: local }),
          }).health;
        };
        const full = view(["198.51.100.1", "198.51.100.100", "198.51.100.200"], true);
        expect(full?.modules.length).toBe(2);
        expect(view([], false)).toEqual(full);
        expect(view(["198.51.100.1"], false)).toEqual(full);
      }
    }
  });
});
