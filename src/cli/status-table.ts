import { reachableConsole } from "../api/console-urls.ts";
import type { StatusSnapshot } from "../api/status.ts";
import { formatFarms } from "./farm-table.ts";
import { formatModules } from "./module-table.ts";
import { table } from "./text-table.ts";

/** The human view of a status snapshot, as `vigil status` prints it. */
export function formatStatus(s: StatusSnapshot): string {
  const lines = [
    `node      ${s.node.name} (${s.node.addresses.join(", ")})`,
    `cluster   ${s.cluster.name}`,
    `version   ${s.version}, PID ${s.pid}, up ${formatUptime(s.uptimeMs)}`,
    `config    ${s.configFile}`,
    // A console on 0.0.0.0 is reached at the node's addresses, not at "http://0.0.0.0:9010/".
    `console   ${reachableConsole(s.web.url ?? `http://${s.web.listen}/`, s.node.addresses)}`,
    ...(s.web.tls ? [`          certificate sha256 ${s.web.tls.sha256}${s.web.tls.selfSigned ? " (self-signed)" : ""}`] : []),
    "",
  ];
  lines.push(...healthLines(s));
  lines.push(...table(
    ["PEER", "STATE", "LINKS", "RTT", "BAD FRAMES"],
    s.peers.map((p) => [
      p.name,
      p.state,
      p.links.map((l) => `${l.address}:${l.state}${l.lastHeardMsAgo === null ? "" : `(${l.lastHeardMsAgo}ms)`}`).join(" "),
      p.rttMs === null ? "-" : `${p.rttMs.toFixed(1)}ms`,
      String(p.badFrames),
    ]),
    "no peers configured",
  ));
  const drift = s.peers.filter((p) => (p.configDrift?.length ?? 0) > 0);
  if (drift.length > 0) lines.push("CONFIG DRIFT (keys whose value differs from this node's vigil.yaml)", ...drift.map((p) => `  ${p.name}: ${(p.configDrift ?? []).join(", ")}`));
  lines.push("");
  const farms = s.farms ?? [];
  // A farm module the farm engine runs is shown in its own section below; with only such
  // modules the table would say "no modules configured" above them, so it is left out.
  const others = s.modules.filter((m) => !(m.type === "farm" && farms.some((f) => f.module === m.name)));
  if (others.length > 0 || farms.length === 0) lines.push(...formatModules(others, s.resources ?? []));
  if (farms.length > 0) lines.push(...(others.length > 0 ? [""] : []), ...formatFarms(farms, s.node.name));
  const vrrp = s.vrrp ?? [];
  if (vrrp.length > 0) {
    lines.push("");
    lines.push(...table(["VRRP", "VRID", "INTERFACE", "ROLE", "PRIORITY", "MASTER", "VIPS", "LAST CHANGE"], vrrp.map((v) => [
      v.name,
      String(v.vrid),
      v.interface,
      v.role === "initialize" ? "INIT" : v.role.toUpperCase(),
      // Effective first: that is what the election uses.
      v.effectivePriority === v.priority ? String(v.priority) : `${v.effectivePriority} (of ${v.priority})`,
      v.masterAddress === null ? "-" : v.masterAddress === v.primaryAddress ? `${v.masterAddress} (us)` : v.masterAddress,
      v.vips.join(" "),
      v.lastTransition === null ? "-" : `${v.lastTransition.time} ${v.lastTransition.reason}`,
    ]), "no VRRP instances"));
    const down = vrrp.flatMap((v) => v.tracks.filter((t) => !t.up).map((t) => `  ${v.name}: ${t.name} down (weight ${t.weight}): ${t.detail}`));
    if (down.length > 0) lines.push("TRACKED OBJECTS DOWN", ...down);
  }
  const recent = s.events.slice(-10);
  if (recent.length > 0) {
    lines.push("", "RECENT EVENTS");
    for (const e of recent) lines.push(`  ${e.time} ${e.level.padEnd(5)} ${e.text ?? e.msg}`);
  }
  return lines.join("\n");
}

/** Alarms first (they need someone now), then each module in words. */
function healthLines(s: StatusSnapshot): string[] {
  const h = s.health;
  if (h === undefined) return [];
  const out: string[] = [];
  if (h.isolated !== null) out.push(`ALARM     ${h.isolated}`);
  if (h.drift !== undefined && h.drift !== null) out.push(`ATTENTION ${h.drift}`);
  for (const a of h.alarms) {
    if (a.kind === "running-nowhere") out.push(`ALARM     ${a.text} (since ${a.since})`);
  }
  for (const m of h.modules) out.push(`${m.severity === "ok" ? "ok       " : m.severity === "warn" ? "ATTENTION" : "PROBLEM  "} ${m.text}`);
  if (out.length > 0) out.push("");
  return out;
}

export function formatUptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}
