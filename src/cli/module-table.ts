import type { CheckerStatus, MirrorStatus, ModuleStatus } from "../api/modules.ts";
import type { ModuleResources } from "../api/status.ts";
import { table } from "./text-table.ts";

/**
 * The modules part of `vigil status`: one row per module with every node's
 * role and the last transition, then indented lines for what needs a look
 * (checkers, a blocked start, a pending command, restarts, witness, lease).
 */
export function formatModules(modules: ModuleStatus[], resources: readonly ModuleResources[] = []): string[] {
  const rows = modules.map((m) => [
    m.name,
    m.type,
    m.state,
    m.nodes.map((n) => `${n.node}:${n.role}`).join(" "),
    m.lastTransition === null
      ? "-"
      : `${m.lastTransition.time} ${m.lastTransition.from}->${m.lastTransition.to} ${m.lastTransition.reason}${m.lastTransition.detail ? `: ${m.lastTransition.detail}` : ""}`,
  ]);
  const [head, ...lines] = table(["MODULE", "TYPE", "STATE", "NODES", "LAST TRANSITION"], rows, "no modules configured");
  if (rows.length === 0) return [head as string];
  return [head as string, ...modules.flatMap((m, i) => [lines[i] as string, ...details(m), ...resourceLines(resources.find((r) => r.module === m.name))])];
}

/** One line per resource: "vip 198.51.100.100/24 up: on this node (eth0); started at ...". */
function resourceLines(r: ModuleResources | undefined): string[] {
  if (r === undefined) return [];
  return r.resources.map((x) => `  resource ${x.name} ${x.state === "up" ? "up" : x.state === "failed" ? "FAILED" : x.state}${x.expected ? "" : " (UNEXPECTED for this role)"}: ${x.detail}`);
}

function details(m: ModuleStatus): string[] {
  const out: string[] = [];
  // The last transition's reason may be stale (a peer heard since): say what holds now.
  if (m.why) out.push(`now: ${m.why.detail} (${m.why.reason})`);
  if (m.checkers.length > 0) out.push(`checkers: ${m.checkers.map((c) => checker(c, m)).join(", ")}`);
  if (m.blocked !== null) out.push(`blocked: ${m.blocked}`);
  if (m.pending !== null) out.push(`pending: ${m.pending.command} since ${m.pending.since}`);
  if (m.restarts > 0) out.push(`restarts: ${m.restarts} in the current window`);
  if (m.witness !== null) out.push(`witness: ${m.witness.reachable === null ? "not asked yet" : m.witness.reachable ? "reachable" : "UNREACHABLE"}${m.witness.detail ? ` (${m.witness.detail})` : ""}`);
  if (m.lease !== null) out.push(`lease: ${m.lease.holder ?? "nobody"}${m.lease.detail ? ` (${m.lease.detail})` : ""}`);
  // Several folders: a block per folder, each its own copy, link and resync.
  if (m.mirror !== undefined) out.push(...(m.mirror.folders ?? [m.mirror]).flatMap(mirrorLines));
  return out.map((l) => `  ${l}`);
}

const DATA_WORDS: Record<MirrorStatus["data"], string> = { uptodate: "up to date", outdated: "OUTDATED", inconsistent: "being resynced (incomplete)" };

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

/** Mode async on the node that runs the module: how far the peer's copy is behind what the service was told. */
function asyncWords(mi: MirrorStatus): string {
  if (mi.mode !== "async") return "";
  if (mi.asyncLag === null || mi.writes === "standby") return " (mode async)";
  return ` (mode async: ${mib(mi.asyncLag.bytes)} not yet on the peer, oldest ${mi.asyncLag.seconds.toFixed(1)} s)`;
}

/** `read:` as this node's mount serves it, and why when that is not what is configured. */
function readWords(mi: MirrorStatus): string {
  const r = mi.read;
  if (r === undefined) return "";
  if (r.served === null) return `; reads ${r.configured} (configured: not mounted on this node yet)`;
  if (r.fallback !== null) return `; reads ${r.served}, NOT ${r.configured} (${r.fallback})`;
  return `; reads ${r.served}`;
}

/** A mirror module: this copy, the link and writes, a resync's progress, and what needs the operator. */
function mirrorLines(mi: MirrorStatus): string[] {
  const out = [
    `mirror ${mi.folder}: copy ${DATA_WORDS[mi.data]} (gen ${mi.gen}, since ${mi.since}); replication ${mi.link}${mi.link === "up" ? "" : ` (${mi.linkDetail})`}; writes ${mi.writes}${mi.waitingOps > 0 ? ` (${mi.waitingOps} waiting)` : ""}${asyncWords(mi)}${readWords(mi)}`,
  ];
  if (mi.serving !== null) out.push(`not served here: ${mi.serving}`);
  const r = mi.resync;
  if (r !== null && r.phase !== "done") {
    const pct = r.bytesTotal > 0 ? Math.min(100, Math.round((100 * r.bytesDone) / r.bytesTotal)) : 0;
    const eta = r.etaSec === null ? "" : `, ${r.etaSec} s left`;
    out.push(`resync ${r.mode} ${r.phase}: ${pct} % (${mib(r.bytesDone)} of ${mib(r.bytesTotal)}, files ${r.filesDone}/${r.filesTotal}, ${mib(r.bytesPerSec)}/s${eta})`);
  }
  if (mi.splitBrain !== null) out.push(`${mi.keptKind === "unsent-writes" ? "ASYNC WRITES KEPT ASIDE" : mi.keptKind === "first-sync" ? "FILES KEPT ASIDE AT FIRST SYNC" : "SPLIT BRAIN"}: ${mi.splitBrain}`);
  if (mi.forcedAt !== null) out.push(`forced: forceprim served this copy at ${mi.forcedAt}`);
  if ((mi.journalLost ?? null) !== null) out.push(`ALONE journal lost: ${mi.journalLost}`);
  if ((mi.diskHung ?? null) !== null) out.push(`DISK HUNG: ${mi.diskHung}`);
  return out;
}

/** "http ok", "tcp FAILING (connection refused)": state words in capitals when the module acts on them. */
function checker(c: CheckerStatus, m: ModuleStatus): string {
  // Where the service is not running, a result from before it stopped says nothing about now.
  if (m.state !== "PRIM" && m.state !== "ALONE") {
    const checked = c.lastCheckedAt === null ? NaN : Date.parse(c.lastCheckedAt);
    const stopped = m.lastTransition === null ? NaN : Date.parse(m.lastTransition.time);
    if (!(checked > stopped)) return `${c.name} not checked (service stopped here)`;
  }
  const state = c.ok === null ? "not run yet" : c.ok ? "ok" : c.failing ? "FAILING" : "failed";
  return `${c.name} ${state}${c.ok === false && c.detail ? ` (${c.detail})` : ""}`;
}
