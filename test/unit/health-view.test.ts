import { describe, expect, it } from "vitest";
import { clusterHealth, drift, isolation, summariseModule } from "../../src/api/health.ts";
import { describeEvent } from "../../src/api/event-text.ts";
import type { ModuleStatus } from "../../src/api/modules.ts";
import type { PeerStatus } from "../../src/api/status.ts";
import { HealthWatch } from "../../src/daemon/health-watch.ts";
import { Logger } from "../../src/daemon/log.ts";
import { Metrics } from "../../src/daemon/metrics.ts";

function peer(name: string, state: PeerStatus["state"], addresses = ["198.51.100.12"]): PeerStatus {
  return { name, addresses, state, links: addresses.map((address) => ({ address, state: state === "up" ? "up" : "down", lastHeardMsAgo: null })), rttMs: null, badFrames: 0 };
}

function mod(roles: Record<string, string>, extra: Partial<ModuleStatus> = {}): ModuleStatus {
  const self = Object.keys(roles)[0] as string;
  return {
    name: "hmi", type: "failover", state: roles[self] as ModuleStatus["state"], prefer: null, failback: "auto",
    nodes: Object.entries(roles).map(([node, role]) => ({ node, role: role as ModuleStatus["nodes"][number]["role"], generation: 1 })),
    lastTransition: null, checkers: [], blocked: null, restarts: 0, pending: null, witness: null, lease: null, ...extra,
  };
}

describe("module summaries", () => {
  it("names where it runs and who is ready", () => {
    const s = summariseModule(mod({ scada1: "PRIM", scada2: "SECOND" }), [peer("scada2", "up")], "scada1");
    expect(s).toMatchObject({ runsOn: ["scada1"], ready: ["scada2"], severity: "ok", runsNowhere: false });
    expect(s.text).toBe("hmi runs on scada1; scada2 is ready to take over.");
  });

  it("says ALONE is running without a partner, and why the partner is not there", () => {
    const s = summariseModule(mod({ scada1: "ALONE", scada2: "dead" }), [peer("scada2", "dead")], "scada1");
    expect(s.severity).toBe("warn");
    expect(s.text).toBe("hmi runs on scada1 without a partner: scada2 is dead.");
  });

  it("says a module runs nowhere, with this node's reason", () => {
    const m = mod({ scada2: "WAIT", scada1: "dead" }, { blocked: "start script start.sh exited 1" });
    const s = summariseModule(m, [peer("scada1", "dead")], "scada2");
    expect(s).toMatchObject({ runsNowhere: true, severity: "bad" });
    expect(s.text).toBe("hmi runs nowhere: scada2 waits (start script start.sh exited 1); scada1 is dead.");
  });

  it("stopped on every node is no alarm", () => {
    const s = summariseModule(mod({ a: "STOP", b: "STOP" }), [peer("b", "up")], "a");
    expect(s).toMatchObject({ runsNowhere: true, severity: "warn", text: "hmi runs nowhere: it is stopped on every node." });
  });

  it("two runners is split brain", () => {
    expect(summariseModule(mod({ a: "ALONE", b: "ALONE" }), [peer("b", "up")], "a").severity).toBe("bad");
  });
});

describe("isolation", () => {
  it("is when no peer is heard on any link once start-up is over", () => {
    const peers = [peer("scada2", "dead", ["198.51.100.12", "203.0.113.12"])];
    expect(isolation({ peers, uptimeMs: 1000 }, { isolatedAfterMs: 5000 })).toContain("This node is isolated: it hears no peer on any link (scada2 silent on 198.51.100.12, 203.0.113.12)");
    expect(isolation({ peers: [peer("b", "unknown")], uptimeMs: 1000 }, { isolatedAfterMs: 5000 })).toBeNull();
    expect(isolation({ peers: [peer("b", "unknown")], uptimeMs: 6000 }, { isolatedAfterMs: 5000 })).not.toBeNull();
    expect(isolation({ peers: [peer("b", "dead"), peer("c", "up")], uptimeMs: 6000 }, { isolatedAfterMs: 5000 })).toBeNull();
    expect(isolation({ peers: [], uptimeMs: 6000 }, { isolatedAfterMs: 5000 })).toBeNull();
    const witnessed = mod({ a: "ALONE", b: "dead" }, { witness: { reachable: true, detail: "ping 198.51.100.1 ok" } });
    expect(isolation({ peers: [peer("b", "dead")], uptimeMs: 6000, modules: [witnessed] }, { isolatedAfterMs: 5000 })).toBeNull();
  });

  it("lists every node with its console address and roles", () => {
    const h = clusterHealth({
      node: { name: "a", addresses: ["198.51.100.11"] }, web: { listen: "0.0.0.0:9010" }, uptimeMs: 0,
      peers: [peer("b", "up")], modules: [mod({ a: "PRIM", b: "SECOND" })], farms: [],
    }, { isolatedAfterMs: 0 });
    expect(h.nodes).toEqual([
      { name: "a", self: true, state: "self", console: "198.51.100.11:9010", links: { up: 1, total: 1 }, roles: [{ module: "hmi", role: "PRIM" }] },
      { name: "b", self: false, state: "up", console: "198.51.100.12:9010", links: { up: 1, total: 1 }, roles: [{ module: "hmi", role: "SECOND" }] },
    ]);
  });
});

describe("config drift", () => {
  it("names each peer whose config differs, and its keys", () => {
    expect(drift([peer("b", "up")])).toBeNull();
    expect(drift([{ ...peer("b", "up"), configDrift: [] }])).toBeNull();
    expect(drift([{ ...peer("b", "up"), configDrift: ["modules.hmi.failback"] }])).toBe(
      "b runs another config: modules.hmi.failback differs. Copy the same vigil.yaml to every node and reload it (SIGHUP).");
  });
});

describe("HealthWatch", () => {
  it("raises the running-nowhere alarm after the deadtime and grace, logs it once, and clears it", () => {
    const lines: string[] = [];
    const log = new Logger("text", (l) => lines.push(l));
    const metrics = new Metrics();
    const w = new HealthWatch(log, metrics);
    const nowhere = summariseModule(mod({ a: "WAIT", b: "dead" }), [peer("b", "dead")], "a");
    const timers = { initdeadMs: 0, deadtimeMs: 1000 };
    w.check({ isolated: null, nodes: [], modules: [nowhere] }, 0, 10_000, timers);
    expect(w.alarms()).toEqual([]);
    w.check({ isolated: null, nodes: [], modules: [nowhere] }, 6_000, 16_000, timers);
    w.check({ isolated: null, nodes: [], modules: [nowhere] }, 7_000, 17_000, timers);
    expect(w.alarms()).toEqual([{ kind: "running-nowhere", module: "hmi", since: new Date(0).toISOString(), text: nowhere.text }]);
    expect(lines.filter((l) => l.includes("runs nowhere")).length).toBe(1);
    expect(metrics.render()).toContain('vigil_module_running_nowhere{module="hmi"} 1');
    const back = summariseModule(mod({ a: "ALONE", b: "dead" }), [peer("b", "dead")], "a");
    w.check({ isolated: null, nodes: [], modules: [back] }, 8_000, 18_000, timers);
    expect(w.alarms()).toEqual([]);
    expect(lines.some((l) => l.includes("module hmi runs again"))).toBe(true);
    expect(metrics.render()).toContain('vigil_module_running_nowhere{module="hmi"} 0');
  });

  it("says when this node is isolated and when it hears its peers again", () => {
    const log = new Logger("text", () => {});
    const w = new HealthWatch(log, new Metrics());
    w.check({ isolated: "This node is isolated", nodes: [], modules: [] }, 0, 10_000, { initdeadMs: 0, deadtimeMs: 500 });
    expect(w.alarms().map((a) => a.kind)).toEqual(["isolated"]);
    w.check({ isolated: null, nodes: [], modules: [] }, 1000, 11_000, { initdeadMs: 0, deadtimeMs: 500 });
    expect(log.recent.toArray().map((e) => e.msg)).toEqual(["this node is isolated: it hears no peer on any link", "this node hears its peers again"]);
  });
});

describe("event sentences", () => {
  it("turns known events into sentences", () => {
    expect(describeEvent("peer scada2 dead", { peer: "scada2", reason: "silent-deadtime" })).toBe("Peer scada2 is dead: nothing heard on any link (no heartbeat within the deadtime).");
    expect(describeEvent("module hmi WAIT -> ALONE", { module: "hmi", reason: "peer-dead", detail: "" })).toBe("Module hmi went WAIT → ALONE: runs here without a partner (the peer is dead).");
    expect(describeEvent("module hmi start script start.sh failed", { detail: "exited 1" })).toBe("Module hmi: start of script start.sh failed (exited 1).");
  });

  it("an alarm reads as the module's summary", () => {
    expect(describeEvent("module hmi runs nowhere", { module: "hmi", detail: "hmi runs nowhere: scada2 waits; scada1 is dead." })).toBe("hmi runs nowhere: scada2 waits; scada1 is dead.");
  });

  it("reads an unknown event as its message and detail", () => {
    expect(describeEvent("farm removed", { module: "web", detail: "by reload" })).toBe("Farm removed (by reload).");
  });
});

describe("buildStatus", () => {
  it("summarises a module whose start script runs as starting", async () => {
    const { buildStatus } = await import("../../src/daemon/status.ts");
    const { parseConfig } = await import("../../src/config/load.ts");
    const r = parseConfig(["cluster:", "  name: c", "  nodes:", "    - { name: a, addresses: [198.51.100.1] }", "    - { name: b, addresses: [198.51.100.2] }",
      "modules:", "  - { name: hmi, type: failover, start: /bin/true }", ""].join("\n"), "/etc/vigil/vigil.yaml");
    if (!r.ok) throw new Error("config refused");
    const s = buildStatus({
      config: r.config, configFile: "/etc/vigil/vigil.yaml", self: { name: "a", addresses: ["198.51.100.1"] }, stateDir: "/var/lib/vigil",
      listen: "127.0.0.1:9010", startedAt: new Date(0), now: new Date(60_000), events: [],
      peers: new Map([["b", peer("b", "dead", ["198.51.100.2"])]]),
      modules: [mod({ a: "ALONE", b: "dead" })],
      resources: [{ module: "hmi", resources: [{ kind: "script", name: "script true", state: "starting", detail: "starting since then", expected: true }] }],
    });
    expect(s.health?.modules[0]?.text).toBe("hmi is starting on a (script true starting); b is dead.");
    expect(s.health?.nodes.map((n) => n.console)).toEqual(["127.0.0.1:9010", "198.51.100.2:9010"]);
  });
});
