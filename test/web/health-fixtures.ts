/**
 * Status snapshots of a two-node cluster (scada1, scada2; module hmi) in the
 * states the console must tell apart, for the browser tests that feed the
 * page recorded status. The health part is computed by the daemon's own code.
 */
import { clusterHealth } from "../../src/api/health.ts";
import type { ModuleStatus } from "../../src/api/modules.ts";
import type { HealthAlarm, LogEvent, ModuleResources, PeerStatus, StatusSnapshot } from "../../src/api/status.ts";
import { describeEvent } from "../../src/api/event-text.ts";

const T0 = Date.parse("2026-12-06T06:00:00.000Z");
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function peer(state: PeerStatus["state"], name = "scada2"): PeerStatus {
  const up = state === "up" || state === "late";
  const addresses = name === "scada1" ? ["198.51.100.11", "203.0.113.11"] : ["198.51.100.12", "203.0.113.12"];
  return {
    name, addresses, state,
    links: addresses.map((address) => ({ address, state: up ? "up" : "down", lastHeardMsAgo: up ? 40 : 2300 })),
    rttMs: up ? 0.21 : null, badFrames: 0,
  };
}

function hmi(self: string, roles: Record<string, ModuleStatus["nodes"][number]["role"]>, extra: Partial<ModuleStatus> = {}): ModuleStatus {
  return {
    name: "hmi", type: "failover", state: roles[self] as ModuleStatus["state"], prefer: "scada1", failback: "manual",
    nodes: Object.entries(roles).map(([node, role]) => ({ node, role, generation: 4 })),
    lastTransition: { time: at(10), from: "WAIT", to: roles[self] as string, reason: "elected", detail: "" },
    checkers: [{ name: "http", target: "http http://127.0.0.1:8080/", onFail: "restart", ok: true, failing: false, detail: "200", lastCheckedAt: at(12) }],
    blocked: null, restarts: 0, pending: null, witness: null, lease: null, ...extra,
  };
}

function event(seq: number, s: number, level: LogEvent["level"], msg: string, fields: LogEvent["fields"]): LogEvent {
  const e: LogEvent = { seq, time: at(s), level, msg, fields, text: describeEvent(msg, fields) };
  if (typeof fields.module === "string") e.module = fields.module;
  if (typeof fields.peer === "string") e.peer = fields.peer;
  return e;
}

function resources(vip: ModuleResources["resources"][number]["state"], script: ModuleResources["resources"][number]["state"], detail: string): ModuleResources[] {
  return [{
    module: "hmi", resources: [
      { kind: "vip", name: "vip 198.51.100.100/24", state: vip, detail: vip === "up" ? "on this node (eth0); started at " + at(11) : "not on this node; not started or stopped since vigil started", expected: true },
      { kind: "script", name: "script start.sh", state: script, detail, expected: true },
    ],
  }];
}

function snapshot(self: "scada1" | "scada2", p: PeerStatus, modules: ModuleStatus[], res: ModuleResources[], events: LogEvent[], alarms: HealthAlarm[] = []): StatusSnapshot {
  const base: StatusSnapshot = {
    version: "0.9.0", node: { name: self, addresses: [self === "scada1" ? "198.51.100.11" : "198.51.100.12", self === "scada1" ? "203.0.113.11" : "203.0.113.12"] },
    cluster: { name: "plant" }, pid: 4100, startedAt: at(0), uptimeMs: 60_000, configFile: "/media/usb0/vigil.yaml", stateDir: "/var/lib/vigil",
    web: { listen: "0.0.0.0:9010" }, peers: [p],
    modules, events, resources: res, logFile: { path: "/var/lib/vigil/vigil.log", problem: null },
  };
  base.health = { ...clusterHealth(base, { isolatedAfterMs: 5000 }), alarms };
  return base;
}

const startEvents = [
  event(1, 0, "info", "vigil started", { version: "0.9.0", node: "scada1", cluster: "plant", config: "/media/usb0/vigil.yaml" }),
  event(2, 1, "info", "peer scada2 up", { peer: "scada2", from: "unknown", to: "up", reason: "first-heard" }),
  event(3, 10, "info", "module hmi WAIT -> PRIM", { module: "hmi", from: "WAIT", to: "PRIM", reason: "elected", detail: "" }),
  event(4, 11, "info", "module hmi start vip 198.51.100.100/24 ok", { module: "hmi", resource: "vip 198.51.100.100/24", run: 1, detail: "" }),
  event(5, 11, "info", "module hmi start script start.sh ok", { module: "hmi", resource: "script start.sh", run: 1, detail: "exit 0" }),
  event(6, 30, "warn", "this node ran late 4 times in the last minute, worst 310 ms; peer deadlines stretched", { times: 4, worst_gap_ms: 310, window_s: 60 }),
];

/** scada1 runs hmi, scada2 stands by. */
export function healthy(): StatusSnapshot {
  return snapshot("scada1", peer("up"), [hmi("scada1", { scada1: "PRIM", scada2: "SECOND" })], resources("up", "up", `started at ${at(11)}`), startEvents);
}

/** scada2 (this console) saw scada1 die and is running its start script now. */
export function failoverInProgress(): StatusSnapshot {
  const events = [
    event(1, 0, "info", "vigil started", { version: "0.9.0", node: "scada2", cluster: "plant", config: "/media/usb0/vigil.yaml" }),
    event(2, 1, "info", "peer scada1 up", { peer: "scada1", from: "unknown", to: "up", reason: "first-heard" }),
    event(3, 50, "error", "peer scada1 dead", { peer: "scada1", from: "up", to: "dead", reason: "silent-deadtime", detail: "nothing heard for 830 ms" }),
    event(4, 50, "warn", "module hmi SECOND -> ALONE", { module: "hmi", from: "SECOND", to: "ALONE", reason: "peer-dead", detail: "scada1 is dead" }),
    event(5, 50, "info", "module hmi start vip 198.51.100.100/24 ok", { module: "hmi", resource: "vip 198.51.100.100/24", run: 2, detail: "" }),
  ];
  const m = hmi("scada2", { scada1: "dead", scada2: "ALONE" }, {
    lastTransition: { time: at(50), from: "SECOND", to: "ALONE", reason: "peer-dead", detail: "scada1 is dead" },
    checkers: [{ name: "http", target: "http http://127.0.0.1:8080/", onFail: "restart", ok: null, failing: false, detail: "", lastCheckedAt: null }],
  });
  return snapshot("scada2", peer("dead", "scada1"), [m], resources("up", "starting", `starting since ${at(50)}`), events);
}

/** scada2 (this console) hears nobody: scada1 is gone, so is it. */
export function stoppedPeer(): StatusSnapshot {
  const m = hmi("scada2", { scada1: "STOP", scada2: "ALONE" }, {
    lastTransition: { time: at(50), from: "SECOND", to: "ALONE", reason: "peer-dead", detail: "scada1 stopped" },
  });
  const p = { ...peer("dead", "scada1"), state: "stopped" } as unknown as PeerStatus;
  return snapshot("scada2", p, [m], resources("up", "up", `started at ${at(51)}`), [
    event(1, 0, "info", "vigil started", { version: "0.9.0", node: "scada2", cluster: "plant", config: "/media/usb0/vigil.yaml" }),
    event(2, 50, "info", "peer scada1 stopped", { peer: "scada1", from: "up", to: "stopped", reason: "goodbye" }),
  ]);
}

/** A WAIT node whose service is stopped: its checker badges must not say OK. */
export function waitingNode(): StatusSnapshot {
  const m = hmi("scada1", { scada1: "WAIT", scada2: "ALONE" }, {
    lastTransition: { time: at(40), from: "PRIM", to: "WAIT", reason: "start-failed", detail: "start.sh exited 1" },
    blocked: "start script start.sh exited 1",
  });
  return snapshot("scada1", peer("up"), [m], resources("down", "failed", `start failed at ${at(39)}: exit 1`), startEvents);
}

/** scada2 runs another config than scada1 (this console): failback and a checker interval differ. */
export function configDrift(): StatusSnapshot {
  const p = { ...peer("up"), configDrift: ["modules.hmi.checkers", "modules.hmi.failback"] };
  return snapshot("scada1", p, [hmi("scada1", { scada1: "PRIM", scada2: "SECOND" })], resources("up", "up", `started at ${at(11)}`), startEvents);
}
