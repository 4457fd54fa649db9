/** The tables of bench/mirror.ts: one per link shape, resync, stall, and the issue's targets. */
import { fmt, markdownTable, type Cell } from "./lib/report.ts";
import { median, ratio } from "./lib/stats.ts";
import type { LinkShape } from "./mirror-link.ts";
import type { SuiteResult, SuiteSizes } from "./mirror-measure.ts";
import type { InitialSyncResult, ResyncResult, RsyncFigures, VigilCpu, VigilPasses } from "./mirror-resync.ts";

export interface StallResult {
  label: string;
  cutMs: number;
  /** Longest time between two acknowledged 4 KiB write + fsync in the loop. */
  maxGapMs: number;
  /** Where that gap began, relative to the cut (negative: before it). */
  gapStartAfterCutMs: number;
  acks: number;
  errors: number;
  errorCodes: Record<string, number>;
  firstErrorAfterCutMs: number | null;
}

export interface PhaseResult {
  shape: LinkShape;
  /** One TCP stream's goodput h1 -> h2, MB/s. */
  linkMBps: number;
  rounds: Record<string, SuiteResult[]>;
  medians: Record<string, SuiteResult | null>;
  /** Both vigil daemons during the sync rounds (the bare and GlusterFS rounds in between included). */
  daemons: { cpuPercent: number; peakRssMiB: number };
  resync: ResyncResult | null;
  /** Absent in results written before the row existed. */
  initial?: InitialSyncResult | null;
  stalls: StallResult[];
}

export interface MirrorJson {
  command: string;
  rounds: number;
  sizes: SuiteSizes;
  glusterStormFiles: number;
  stormReportedFiles: number;
  cutMs: number;
  deadtimeMs: number;
  cpus: number;
  loadavg: { min: number; max: number; samples: number[] };
  minutes: number;
  glusterVersion: string;
  phases: PhaseResult[];
  /** Share of the tree the resync row rewrites (older results: 0.01). */
  change?: number;
  /** Where the scratch folders lived, and their file system (older results: /tmp on the host's root). */
  scratch?: { dir: string; fs: string };
}

/** The veth pair's round trip here, for the latency target (a real LAN is slower). */
export const RTT_MS = 0.05;
const COLS = ["bare", "vigil ALONE", "vigil sync", "vigil async", "GlusterFS"] as const;
const MiB = 1024 * 1024;

function phaseTable(p: PhaseResult, sizes: SuiteSizes, glusterFiles: number, reported: number): string {
  const m = (c: string) => p.medians[c] ?? null;
  const row = (name: string, k: keyof SuiteResult, higherBetter: boolean): Cell[] => {
    const v = COLS.map((c) => m(c)?.[k] ?? null);
    const [bare, , sync, , gl] = v;
    const r = (a: number | null, b: number | null) => (higherBetter ? ratio(a, b) : ratio(b, a));
    return [name, ...v, r(sync ?? null, bare ?? null), r(sync ?? null, gl ?? null)];
  };
  const storm10k = COLS.map((c) => {
    const s = m(c);
    return s === null ? null : reported / s.stormFilesPerSec;
  });
  return markdownTable(
    ["measure", ...COLS, "sync vs bare", "sync vs GlusterFS"],
    [
      row("sequential write, dd 1M conv=fsync (MB/s)", "seqWriteMBps", true),
      row("sequential write, 2 dd at once, half each (MB/s, total)", "seqWrite2MBps", true),
      row("sequential read, cold (MB/s)", "seqReadMBps", true),
      row("sequential read, cold, reader opens O_DIRECT (MB/s)", "seqReadDirectMBps", true),
      row("4 KiB write + fsync (IOPS)", "fsyncIops", true),
      row("4 KiB write + fsync, p50 (ms)", "fsyncP50Ms", false),
      row("4 KiB write + fsync, p99 (ms)", "fsyncP99Ms", false),
      row("create/rename/delete storm (files/s)", "stormFilesPerSec", true),
      [`storm of ${reported} files at that rate (s)`, ...storm10k.map((v, i) => (v === null ? null : `${fmt(v)} (ran ${COLS[i] === "GlusterFS" ? glusterFiles : sizes.stormFiles})`)), null, null],
    ],
  ) + "\n\nRatios are speed-ups: above 1 means vigil sync is faster (or lower latency).";
}

/** A figure of a row that ran: NaN in a run's own results, null once read back from its JSON. */
function measured(x: number | null): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

/**
 * vigil sync's read over bare's ordinary read of the same round (or its storm over GlusterFS's),
 * median of the rounds: what the virtual disk's host still caches and the machine's load change
 * from run to run (bare's cold read swung 141-1951 MB/s between runs), and the figures of one
 * round see about the same state.
 */
function perRound(p: PhaseResult, k: "seqReadMBps" | "seqReadDirectMBps" | "stormFilesPerSec", against: "bare" | "GlusterFS" = "bare"): string {
  const sync = p.rounds["vigil sync"] ?? [];
  const other = p.rounds[against] ?? [];
  const base = k === "stormFilesPerSec" ? k : "seqReadMBps";
  const rs = sync.map((r, i) => ratio(r[k], other[i]?.[base])).filter((x): x is number => x !== null);
  return rs.length === 0 ? "" : ` (round by round: median ${fmt(median(rs), 3)}x of ${rs.length})`;
}

function targets(j: MirrorJson): string {
  const shaped = j.phases.find((p) => p.shape === "1gbit");
  const rows: Cell[][] = [];
  const yes = (b: boolean | null) => (b === null ? "not measured" : b ? "met" : "missed");
  for (const p of j.phases) {
    const s = p.medians["vigil sync"];
    const b = p.medians["bare"];
    const g = p.medians["GlusterFS"];
    if (!s || !b || !g) continue;
    const tag = p.shape === "1gbit" ? "1 Gbit/s" : "unshaped";
    if (p.shape === "1gbit") {
      const link = 125;
      rows.push([`${tag}: sync sequential write >= 90 % of the link`, `${fmt(s.seqWriteMBps)} MB/s = ${fmt((s.seqWriteMBps / link) * 100)} % of 125 MB/s (${fmt((s.seqWriteMBps / p.linkMBps) * 100)} % of one TCP stream's ${fmt(p.linkMBps)}); two writers at once ${fmt(s.seqWrite2MBps)} MB/s`, yes(measured(s.seqWriteMBps) ? s.seqWriteMBps >= 0.9 * link : null)]);
    }
    const ahead = [s.seqWriteMBps > g.seqWriteMBps, s.seqWrite2MBps > g.seqWrite2MBps, s.seqReadMBps > g.seqReadMBps, s.fsyncIops > g.fsyncIops, s.fsyncP50Ms < g.fsyncP50Ms, s.fsyncP99Ms < g.fsyncP99Ms, s.stormFilesPerSec > g.stormFilesPerSec];
    rows.push([`${tag}: sync ahead of GlusterFS on every row`, `${ahead.filter(Boolean).length} of ${ahead.length} rows`, yes(ahead.every(Boolean))]);
    const bound = measured(b.fsyncP50Ms) ? b.fsyncP50Ms + RTT_MS + 0.5 : Number.NaN;
    rows.push([`${tag}: 4 KiB fsync latency <= bare + RTT + 0.5 ms`, `p50 ${fmt(s.fsyncP50Ms, 3)} ms vs bound ${fmt(bound, 3)} ms (bare ${fmt(b.fsyncP50Ms, 3)}); p99 ${fmt(s.fsyncP99Ms, 2)} vs bare ${fmt(b.fsyncP99Ms, 2)}`, yes(measured(s.fsyncP50Ms) && measured(b.fsyncP50Ms) ? s.fsyncP50Ms <= bound : null)]);
    const storm = ratio(s.stormFilesPerSec, g.stormFilesPerSec);
    rows.push([`${tag}: metadata storm >= 5x GlusterFS`, `${fmt(storm, 2)}x${perRound(p, "stormFilesPerSec", "GlusterFS")}`, yes(storm === null ? null : storm >= 5)]);
    const reads = ratio(s.seqReadMBps, b.seqReadMBps);
    rows.push([`${tag}: reads >= 0.8x bare`, `${fmt(reads, 3)}x${perRound(p, "seqReadMBps")}`, yes(reads === null ? null : reads >= 0.8)]);
    // The same target for a reader that opens O_DIRECT through the mount, against the bare folder read as usual.
    const direct = ratio(s.seqReadDirectMBps, b.seqReadMBps);
    if (direct !== null) rows.push([`${tag}: reads >= 0.8x bare, the reader opening O_DIRECT through the mount (bare read as above)`, `${fmt(direct, 3)}x${perRound(p, "seqReadDirectMBps")}`, yes(direct >= 0.8)]);
  }
  const vs = shaped?.stalls.find((x) => x.label === "vigil sync");
  rows.push(["write stall on a link cut <= deadtime", vs ? `${fmt(vs.maxGapMs)} ms (deadtime ${j.deadtimeMs} ms)` : "-", yes(vs ? vs.maxGapMs <= j.deadtimeMs : null)]);
  const rs = shaped?.resync ?? null;
  if (rs) {
    const x = rs.vigil.wireBytes / rs.changedBytes;
    rows.push(["resync bytes <= 1.1x changed", `${fmt(x)}x (rsync ${fmt(rs.rsync.wireBytes / rs.changedBytes)}x)`, yes(x <= 1.1)]);
    const own = rs.vigil.resyncSeconds;
    rows.push(["resync faster than rsync (each from its daemon's start; vigil's pass alone in brackets)", `${fmt(rs.vigil.wallSeconds)} s (${fmt(own)} s) vs ${fmt(rs.rsync.seconds)} s`, yes(rs.vigil.wallSeconds < rs.rsync.seconds)]);
  } else {
    rows.push(["resync", "not measured", "not measured"]);
  }
  return markdownTable(["target (issue 10)", "measured", ""], rows);
}

/** How both sides of a resync row are timed. */
const STARTS = "Both times run from starting the receiving side's daemon (vigil's SECOND; rsync --daemon, its client trying again until it listens) to the copy being there (the PRIM logging the resync done; the rsync client's exit): each includes its daemon's start, its connection and handshake.";

function polled(v: { polledSeconds?: number; passes?: VigilPasses }): string {
  const poll = v.polledSeconds === undefined ? "" : `; the bench's status poll saw both sides replicating after ${fmt(v.polledSeconds)} s`;
  const passes = v.passes === undefined ? "" : `; passes that failed and started over: ${v.passes.failed}; the last pass by phase (ms): ${v.passes.lastPhaseMs ?? "-"}${(v.passes.why ?? []).map((w) => `\n- ${w}`).join("")}${(v.passes.around ?? []).map((w) => `\n  - ${w}`).join("")}${v.passes.late === undefined ? "" : `\n- heartbeat "ran late" lines: PRIM ${v.passes.late.prim.count} (longest gap ${v.passes.late.prim.maxGapMs} ms, credited ${v.passes.late.prim.maxCreditedMs}), SECOND ${v.passes.late.second.count} (longest gap ${v.passes.late.second.maxGapMs} ms, credited ${v.passes.late.second.maxCreditedMs})`}`;
  return poll + passes;
}

/** CPU rows of a resync table: sending and receiving side, and per file (results of older runs have none). */
function cpuRows(v: VigilCpu | undefined, r: RsyncFigures["cpu"] | undefined, files: number): (string | number | null)[][] {
  if (v === undefined || r === undefined) return [];
  const us = (ms: number) => (ms * 1000) / Math.max(1, files);
  return [
    ["CPU, sending side (PRIM / rsync client), ms", v.primTotalMs, r.senderMs, ratio(v.primTotalMs, r.senderMs)],
    ["CPU, receiving side (SECOND / rsync daemon), ms", v.secondTotalMs, r.receiverMs, ratio(v.secondTotalMs, r.receiverMs)],
    ["CPU per file, both sides (µs)", us(v.primTotalMs + v.secondTotalMs), us(r.senderMs + r.receiverMs), ratio(v.primTotalMs + v.secondTotalMs, r.senderMs + r.receiverMs)],
  ];
}

function cpuThreads(v: VigilCpu | undefined): string {
  if (v === undefined) return "";
  const list = (by: Record<string, number>) => Object.entries(by).map(([k, ms]) => `${k} ${Math.round(ms)}`).join(", ");
  return `vigil's CPU by thread (ms; the SECOND's from its daemon's start, start-up included): PRIM ${list(v.primMs)}; SECOND ${list(v.secondMs)}.`;
}

export function mirrorMarkdown(j: MirrorJson): string {
  const out: string[] = [];
  const load = j.loadavg.samples.length ? `${fmt(j.loadavg.min)}-${fmt(j.loadavg.max)} (median ${fmt(median(j.loadavg.samples))})` : "-";
  out.push(`# Mirror benchmark`, "");
  out.push(`\`${j.command}\` (${j.minutes.toFixed(1)} min). Medians of ${j.rounds} round(s); ${j.cpus} cores shared with other jobs, 1-minute load average ${load} during the run: figures are rough. ${j.glusterVersion}.`);
  out.push(`The link is a veth pair through a bridge: RTT ~${RTT_MS} ms, optimistic against a real LAN (0.1-0.5 ms), so latency-bound rows flatter both replicating rows.`);
  out.push("Rounds take turns between bare, vigil sync and GlusterFS; the vigil ALONE rounds follow them (the SECOND's daemon must be stopped for them), then the vigil async rounds on a pair of their own (mode: async, async_queue 64 MiB). A column without figures was not run.");
  if (j.scratch !== undefined) out.push(`Scratch folders (bare, both vigil copies, rsync's copies) in ${j.scratch.dir}: ${j.scratch.fs}.`);
  out.push(`Sizes: dd ${j.sizes.seqMiB} MiB; 4 KiB fsync loop up to ${j.sizes.fsyncOps} ops or ${j.sizes.fsyncMs} ms; storm ${j.sizes.stormFiles} files (GlusterFS ${j.glusterStormFiles}: about 20-30 ms per file here), each create, rename and delete, scaled to ${j.stormReportedFiles} files by its rate to keep the run under ~10 minutes.`, "");
  for (const p of j.phases) {
    out.push(`## ${p.shape === "1gbit" ? "Link shaped to 1 Gbit/s (HTB)" : "Link unshaped"}: one TCP stream carries ${fmt(p.linkMBps)} MB/s`, "");
    out.push(phaseTable(p, j.sizes, j.glusterStormFiles, j.stormReportedFiles), "");
    out.push(`Both vigil daemons during the sync rounds: ${fmt(p.daemons.cpuPercent)} % of one core (averaged over the rounds of every row), peak RSS ${fmt(p.daemons.peakRssMiB)} MiB (sum of both).`, "");
    if (p.resync) {
      const r = p.resync;
      out.push(`### Resync after ${fmt((j.change ?? 0.01) * 100)} % of a ${fmt(r.treeBytes / MiB)} MiB tree (${r.treeFiles} files) changed while the PRIM was ALONE`, "");
      out.push(`${r.changedBytes / 4096} scattered 4 KiB rewrites in ${r.changedFiles} files = ${fmt(r.changedBytes / MiB)} MiB changed.`, "");
      out.push(markdownTable(["", "vigil (journal resync)", "rsync -a --inplace --no-whole-file", "vigil / rsync"], [
        ["time (s)", r.vigil.wallSeconds, r.rsync.seconds, ratio(r.vigil.wallSeconds, r.rsync.seconds)],
        ...(r.rsync.durableSeconds === undefined ? [] : [["time until the copy is on disk (s; rsync: its exit, then sync -f)", r.vigil.wallSeconds, r.rsync.durableSeconds, ratio(r.vigil.wallSeconds, r.rsync.durableSeconds)]]),
        ["bytes on the wire (MiB, both ways)", r.vigil.wireBytes / MiB, r.rsync.wireBytes / MiB, ratio(r.vigil.wireBytes, r.rsync.wireBytes)],
        ["wire / changed bytes", r.vigil.wireBytes / r.changedBytes, r.rsync.wireBytes / r.changedBytes, null],
        ...cpuRows(r.vigil.cpu, r.rsync.cpu, r.changedFiles),
        ["copies identical afterwards (diff -r)", r.vigil.copiesEqual ? "yes" : "NO", r.rsync.copiesEqual ? "yes" : "NO", null],
      ]), "");
      out.push(cpuThreads(r.vigil.cpu), "");
      out.push(`${STARTS} The resync itself reported ${r.vigil.resyncSeconds === null ? "-" : `${fmt(r.vigil.resyncSeconds)} s`} (${r.vigil.mode ?? "-"} mode, ${r.vigil.reportedBytesSent === null ? "-" : fmt(r.vigil.reportedBytesSent / MiB)} MiB sent by its count)${polled(r.vigil)}.`, "");
    }
    if (p.initial) {
      const r = p.initial;
      out.push(`### Full initial sync of a ${fmt(r.treeBytes / MiB)} MiB tree (${r.treeFiles} files) to an empty SECOND`, "");
      out.push(markdownTable(["", "vigil (full resync)", "rsync -a into an empty folder", "vigil / rsync"], [
        ["time (s)", r.vigil.wallSeconds, r.rsync.seconds, ratio(r.vigil.wallSeconds, r.rsync.seconds)],
        ...(r.rsync.durableSeconds === undefined ? [] : [["time until the copy is on disk (s; rsync: its exit, then sync -f)", r.vigil.wallSeconds, r.rsync.durableSeconds, ratio(r.vigil.wallSeconds, r.rsync.durableSeconds)]]),
        ["bytes on the wire (MiB, both ways)", r.vigil.wireBytes / MiB, r.rsync.wireBytes / MiB, ratio(r.vigil.wireBytes, r.rsync.wireBytes)],
        ...cpuRows(r.vigil.cpu, r.rsync.cpu, r.treeFiles),
        ["copies identical afterwards (diff -r)", r.vigil.copiesEqual ? "yes" : "NO", r.rsync.copiesEqual ? "yes" : "NO", null],
      ]), "");
      out.push(cpuThreads(r.vigil.cpu), "");
      out.push(`The SECOND's copy and state were wiped (a new node). ${STARTS} The resync itself reported ${r.vigil.resyncSeconds === null ? "-" : `${fmt(r.vigil.resyncSeconds)} s`} (${r.vigil.mode ?? "-"} mode)${polled(r.vigil)}. Page caches were dropped before each.`, "");
    }
    if (p.stalls.length) {
      out.push(`### Write stall: h2's cable pulled for ${j.cutMs} ms during a loop of 4 KiB write + fsync`, "");
      out.push(markdownTable(["", "longest gap between acknowledged writes (ms)", "gap began after the cut (ms)", "writes acknowledged", "write errors"],
        p.stalls.map((s) => [s.label, s.maxGapMs, s.gapStartAfterCutMs, s.acks, s.errors === 0 ? "0" : `${s.errors} (${Object.entries(s.errorCodes).map(([k, v]) => `${k} ${v}`).join(", ")}; first ${fmt(s.firstErrorAfterCutMs)} ms after the cut)`])), "");
      out.push(`The write loop ends 300 ms before the cable is back: in a two-node cluster without a witness the cut SECOND takes the module over too, and what follows the return is split-brain handling.`, "");
      out.push(`GlusterFS blocks until the link returns or its 42 s ping timeout ends, so its gap is bounded by the ${j.cutMs} ms cut here; vigil's heartbeat deadtime is ${j.deadtimeMs} ms.`, "");
    }
  }
  out.push("## Targets", "", targets(j), "");
  return out.join("\n");
}
