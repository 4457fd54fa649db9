/**
 * The cluster in words, from what this node knows: its own roles, and each
 * peer's liveness and the roles it advertises in its heartbeats. Pure: the
 * daemon builds it into every status snapshot, the console and `vigil
 * status` show it. Alarms (a condition that lasted) are the daemon's, see
 * src/daemon/health-watch.ts.
 */
import type { ModuleStatus } from "./modules.ts";
import type { FarmStatus } from "./farm.ts";
import type { ClusterHealth, ModuleSummary, NodeHealth, PeerStatus, StatusSnapshot } from "./status.ts";

export interface HealthOptions {
  /** Peers not heard since start-up count as lost only after this (the heartbeat's initdead). */
  readonly isolatedAfterMs: number;
  /** web.listen of the config, which peers listen on (this node may have been moved by --listen). */
  readonly peerListen?: string;
}

const RUNNING = new Set(["PRIM", "ALONE"]);

/** Roles in which the service runs on the node that has it. */
export function runsThere(role: string): boolean {
  return RUNNING.has(role);
}

type Base = Pick<StatusSnapshot, "node" | "peers" | "modules" | "farms" | "uptimeMs" | "web" | "resources">;

export function clusterHealth(s: Base, o: HealthOptions): Omit<ClusterHealth, "alarms"> {
  const farms = s.farms ?? [];
  const modules = s.modules.map((m) => {
    const farm = farms.find((f) => f.module === m.name);
    if (farm !== undefined) return summariseFarm(farm);
    const busy = s.resources?.find((r) => r.module === m.name)?.resources.find((r) => r.state === "starting" || r.state === "stopping");
    return summariseModule(m, s.peers, s.node.name, busy === undefined ? undefined : `${busy.name} ${busy.state}`);
  });
  return { isolated: isolation(s, o), drift: drift(s.peers), nodes: nodes(s, o.peerListen ?? s.web.listen), modules };
}

/** The banner's sentence when this node hears no peer on any link while peers are configured. */
export function isolation(s: Pick<Base, "peers" | "uptimeMs"> & { modules?: Base["modules"] }, o: HealthOptions): string | null {
  if (s.peers.length === 0) return null;
  // A witness this node reaches says its network works: the silent peers are down, not this node cut off.
  if ((s.modules ?? []).some((m) => m.witness?.reachable === true)) return null;
  if (s.peers.some((p) => p.state === "up" || p.state === "late")) return null;
  // Peers that said goodbye are gone on purpose: that is no sign of a cut link.
  const lost = s.peers.filter((p) => p.state === "dead" || (p.state === "unknown" && s.uptimeMs >= o.isolatedAfterMs));
  if (lost.length === 0) return null;
  const links = lost.flatMap((p) => p.links.map((l) => l.address));
  return `This node is isolated: it hears no peer on any link (${lost.map((p) => p.name).join(", ")} silent on ${links.join(", ")}). `
    + "Either this node's links are cut, and the peers may be running the modules on their side, or every peer is down. Check this node's cables and interfaces.";
}

/** Which peers run a config that differs from ours in what must be equal, and where. */
export function drift(peers: readonly PeerStatus[]): string | null {
  const differ = peers.filter((p) => (p.configDrift?.length ?? 0) > 0);
  if (differ.length === 0) return null;
  const one = (p: PeerStatus) => {
    const keys = p.configDrift ?? [];
    const shown = keys.slice(0, 6).join(", ");
    return `${p.name} runs another config: ${shown}${keys.length > 6 ? ` and ${keys.length - 6} more` : ""} ${keys.length === 1 ? "differs" : "differ"}`;
  };
  return `${differ.map(one).join("; ")}. Copy the same vigil.yaml to every node and reload it (SIGHUP).`;
}

function consoleAddress(addresses: readonly string[], listen: string): string | null {
  const port = listen.slice(listen.lastIndexOf(":") + 1);
  const first = addresses[0];
  if (first === undefined || !/^\d+$/.test(port)) return null;
  return `${first}:${port}`;
}

function nodes(s: Base, peerListen: string): NodeHealth[] {
  const roleOf = (node: string) => s.modules.map((m) => ({ module: m.name, role: m.nodes.find((n) => n.node === node)?.role ?? "unknown" }));
  const listenHost = s.web.listen.slice(0, s.web.listen.lastIndexOf(":"));
  const selfHost = listenHost === "0.0.0.0" || listenHost === "" || listenHost === "[::]" ? s.node.addresses[0] : listenHost;
  const self: NodeHealth = {
    name: s.node.name,
    self: true,
    state: "self",
    console: selfHost === undefined ? null : consoleAddress([selfHost], s.web.listen),
    links: { up: s.node.addresses.length, total: s.node.addresses.length },
    roles: roleOf(s.node.name),
  };
  const peers = s.peers.map((p): NodeHealth => ({
    name: p.name,
    self: false,
    state: p.state,
    console: consoleAddress(p.addresses, peerListen),
    links: { up: p.links.filter((l) => l.state === "up").length, total: p.links.length },
    roles: roleOf(p.name),
    ...(p.configDrift === undefined ? {} : { configDrift: [...p.configDrift] }),
  }));
  return [self, ...peers];
}

const IDLE_WORDS: Record<string, string> = {
  PRIM: "runs it",
  ALONE: "runs it without a partner",
  WAIT: "waits",
  STOP: "is stopped",
  SECOND: "stands by",
  unknown: "is not heard yet",
  dead: "is dead",
};

function peerState(peers: readonly PeerStatus[], node: string): string | undefined {
  return peers.find((p) => p.name === node)?.state;
}

/** Why a node does not run the module, as far as this node can tell. */
function idleWhy(m: ModuleStatus, node: string, role: string, self: string, peers: readonly PeerStatus[]): string {
  const state = peerState(peers, node);
  if (node !== self && state === "stopped") return `${node} is stopped`;
  let words = `${node} ${IDLE_WORDS[role] ?? role.toLowerCase()}`;
  if (node === self && (role === "WAIT" || role === "STOP")) {
    const why = m.blocked ?? (m.lastTransition === null ? null : [m.lastTransition.reason, m.lastTransition.detail].filter((x) => x !== "").join(": "));
    if (why !== null && why !== "") words += ` (${why})`;
  }
  return words;
}

/**
 * `busy`: the resource this node is starting or stopping now ("script
 * start.sh starting"): a takeover or a handover is under way here.
 */
export function summariseModule(m: ModuleStatus, peers: readonly PeerStatus[], self: string, busy?: string): ModuleSummary {
  const s = summariseSettled(m, peers, self);
  if (busy === undefined) return s;
  const verb = busy.endsWith(" starting") ? "starting" : "stopping";
  const rest = m.nodes.filter((n) => n.node !== self).map((n) => idleWhy(m, n.node, n.role, self, peers).replace(`${n.node} stands by`, `${n.node} is ready`));
  return { ...s, runsNowhere: false, severity: "warn", text: `${m.name} is ${verb} on ${self} (${busy})${rest.length === 0 ? "" : `; ${rest.join("; ")}`}.` };
}

function summariseSettled(m: ModuleStatus, peers: readonly PeerStatus[], self: string): ModuleSummary {
  const runsOn = m.nodes.filter((n) => runsThere(n.role)).map((n) => n.node);
  const ready = m.nodes.filter((n) => n.role === "SECOND").map((n) => n.node);
  const others = m.nodes.filter((n) => !runsThere(n.role));
  const base = { module: m.name, type: m.type, runsOn, ready };
  if (runsOn.length > 1) {
    return { ...base, runsNowhere: false, severity: "bad", text: `${m.name} runs on ${runsOn.join(" and ")} at once: both serve clients (split brain).` };
  }
  if (runsOn.length === 1) {
    const where = runsOn[0] as string;
    if (others.length === 0) return { ...base, runsNowhere: false, severity: "ok", text: `${m.name} runs on ${where}.` };
    if (ready.length > 0) {
      const rest = others.filter((n) => n.role !== "SECOND").map((n) => idleWhy(m, n.node, n.role, self, peers));
      const readyWords = `${ready.join(" and ")} ${ready.length === 1 ? "is" : "are"} ready to take over`;
      const ok = rest.length === 0;
      return { ...base, runsNowhere: false, severity: ok ? "ok" : "warn", text: `${m.name} runs on ${where}; ${[readyWords, ...rest].join("; ")}.` };
    }
    const why = others.map((n) => idleWhy(m, n.node, n.role, self, peers));
    return { ...base, runsNowhere: false, severity: "warn", text: `${m.name} runs on ${where} without a partner: ${why.join("; ")}.` };
  }
  if (m.nodes.every((n) => n.role === "STOP")) {
    return { ...base, runsNowhere: true, severity: "warn", text: `${m.name} runs nowhere: it is stopped on every node.` };
  }
  const why = m.nodes.map((n) => idleWhy(m, n.node, n.role, self, peers));
  return { ...base, runsNowhere: true, severity: "bad", text: `${m.name} runs nowhere: ${why.join("; ")}.` };
}

export function summariseFarm(f: FarmStatus): ModuleSummary {
  const serving = f.members.filter((x) => x.state === "in" || x.state === "drain");
  const runsOn = serving.map((x) => x.node);
  const base = { module: f.module, type: "farm", runsOn, ready: [] as string[] };
  if (serving.length === 0) {
    const why = f.members.map((x) => `${x.node} ${x.state}`);
    return { ...base, runsNowhere: true, severity: "bad", text: `${f.module} runs nowhere: ${why.join("; ")}.` };
  }
  const shares = serving.map((x) => `${x.node} ${x.sharePct} %`).join(", ");
  const out = f.members.filter((x) => x.state !== "in" && x.state !== "drain");
  const text = `${f.module} is served by ${runsOn.join(" and ")} (${shares})${out.length === 0 ? "" : `; ${out.map((x) => `${x.node} ${x.state}`).join("; ")}`}.`;
  return { ...base, runsNowhere: false, severity: out.length === 0 ? "ok" : "warn", text };
}
