import { describe, expect, it } from "vitest";
import { summariseFarm } from "../../src/api/health.ts";
import type { FarmStatus } from "../../src/api/farm.ts";
import type { ModuleStatus } from "../../src/api/modules.ts";
import { parseConfig } from "../../src/config/load.ts";
import { Logger } from "../../src/daemon/log.ts";
import { ResourceOps, resourceStates } from "../../src/daemon/resource-state.ts";

const CONFIG = [
  "cluster:", "  name: c", "  nodes:", "    - { name: a, addresses: [198.51.100.1] }", "    - { name: b, addresses: [198.51.100.2] }",
  "modules:", "  - { name: hmi, type: failover, vip: 198.51.100.100/24, interface: eth0, start: /opt/hmi/start.sh, stop: /opt/hmi/stop.sh }", "",
].join("\n");

function config() {
  const r = parseConfig(CONFIG, "/etc/vigil/vigil.yaml");
  if (!r.ok) throw new Error("config refused");
  return r.config;
}

function hmi(state: ModuleStatus["state"]): ModuleStatus {
  return {
    name: "hmi", type: "failover", state, prefer: null, failback: "auto", nodes: [{ node: "a", role: state, generation: 1 }],
    lastTransition: null, checkers: [], blocked: null, restarts: 0, pending: null, witness: null, lease: null,
  };
}

describe("resource states", () => {
  it("a VIP by whether its address is here, a script by its last start or stop as the driver logged it", () => {
    let now = Date.parse("2026-12-06T06:00:00.000Z");
    const log = new Logger("text", () => {}, 100, () => new Date(now));
    const ops = new ResourceOps(log);
    const states = (local: string[], role: ModuleStatus["state"]) =>
      resourceStates({ config: config(), modules: [hmi(role)], farms: [], ops, localAddresses: local })[0]?.resources.map((r) => [r.name, r.state, r.expected, r.detail]);

    expect(states(["198.51.100.1"], "WAIT")).toEqual([
      ["vip 198.51.100.100/24", "down", true, "not on this node; not started or stopped since vigil started"],
      ["script start.sh", "down", true, "not started or stopped since vigil started"],
    ]);
    log.debug("module hmi starting script start.sh", { module: "hmi", run: 2 });
    expect(states(["198.51.100.1", "198.51.100.100"], "ALONE")).toEqual([
      ["vip 198.51.100.100/24", "up", true, "on this node (eth0); not started or stopped since vigil started"],
      ["script start.sh", "starting", true, "starting since 2026-12-06T06:00:00.000Z"],
    ]);
    now += 1000;
    log.warn("module hmi start script start.sh failed", { module: "hmi", resource: "script start.sh", run: 2, detail: "exited 1" });
    expect(states(["198.51.100.1", "198.51.100.100"], "ALONE")?.[1]).toEqual(["script start.sh", "failed", false, "start failed at 2026-12-06T06:00:01.000Z: exited 1"]);
    now += 1000;
    log.info("module hmi stop script stop.sh ok", { module: "hmi", resource: "script stop.sh", run: 3, detail: "exit 0" });
    expect(states(["198.51.100.1"], "WAIT")?.[1]).toEqual(["script start.sh", "down", true, "stopped at 2026-12-06T06:00:02.000Z"]);
    // A VIP left behind where the module does not run is flagged.
    expect(states(["198.51.100.100"], "WAIT")?.[0]?.slice(0, 3)).toEqual(["vip 198.51.100.100/24", "up", false]);
  });
});

describe("farm summaries", () => {
  const farm = (states: FarmStatus["members"][number]["state"][]): FarmStatus => ({
    module: "web", mode: "in", detail: "", vip: "198.51.100.200/24", vmac: "", interface: "eth0", split: "client_ip", ports: [80],
    held: 128, sharePct: 50, arpOwner: "a", counters: null, lastRebalance: null,
    members: states.map((state, i) => ({ node: ["a", "b"][i] as string, state, weight: 1, buckets: 128, sharePct: state === "in" ? 100 / states.filter((s) => s === "in").length : 0 })),
  });

  it("names who serves and with which share, and says when nobody does", () => {
    expect(summariseFarm(farm(["in", "in"])).text).toBe("web is served by a and b (a 50 %, b 50 %).");
    expect(summariseFarm(farm(["in", "dead"]))).toMatchObject({ severity: "warn", text: "web is served by a (a 100 %); b dead." });
    expect(summariseFarm(farm(["out", "dead"]))).toMatchObject({ severity: "bad", runsNowhere: true, text: "web runs nowhere: a out; b dead." });
  });
});
