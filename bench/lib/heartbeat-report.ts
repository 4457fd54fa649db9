/** The heartbeat benchmark's results as one table: measure | vigil | heartbeat | ratio. */
import { fmt, markdownTable, type Cell } from "./report.ts";
import { ratio, type Summary } from "./stats.ts";
import type { IdleFigures } from "./proc-usage.ts";

export interface Timers {
  intervalMs: number;
  warntimeMs: number;
  deadtimeMs: number;
  initdeadMs: number;
}

export interface SideResult {
  /** Kill to each surviving peer's dead verdict, seen in the peer's log file (ms). */
  detection: Summary;
  /** Kills after which some peer gave no verdict in time. */
  missedVerdicts: number;
  /** Dead verdicts about nodes that had not been killed, given while a killed node was down or coming back. */
  deadAboutLiveNodesDuringKills: number;
  idle: IdleFigures;
  scheduling: string | null;
  /** Verdicts about live nodes while stress-ng ran; null when no stress window was run. */
  underStress: { dead: number; late: number; linkDown: number; notRunningAtEnd: string[] } | null;
}

export interface PresetResult {
  preset: string;
  timers: Timers;
  kills: number;
  stressMinutes: number;
  /** Share of all CPUs busy over the stress window, in %. */
  stressBusyPercent: number | null;
  vigil: SideResult;
  heartbeat: SideResult;
  /** vigil's median detection from its own log timestamps rather than from when the line was seen. */
  vigilOwnTimestampMedianMs: number;
}

const timersLabel = (t: Timers): string => `${t.intervalMs}/${t.deadtimeMs} ms`;

export function resultTable(results: readonly PresetResult[], heartbeatLabel: string, stressLabel: string): string {
  const rows: Cell[][] = [];
  const row = (name: string, v: number | null | undefined, h: number | null | undefined, digits?: number): void => {
    rows.push([name, fmt(v, digits), fmt(h, digits), v === 0 && h === 0 ? "-" : fmt(ratio(v, h))]);
  };
  for (const r of results) {
    const p = `${r.preset} (${timersLabel(r.timers)})`;
    const n = `n=${r.vigil.detection.n}/${r.heartbeat.detection.n}`;
    row(`detection, ${p}: median (ms, ${n})`, r.vigil.detection.median, r.heartbeat.detection.median, 0);
    row(`detection, ${p}: p90 (ms)`, r.vigil.detection.p90, r.heartbeat.detection.p90, 0);
    row(`detection, ${p}: max (ms)`, r.vigil.detection.max, r.heartbeat.detection.max, 0);
    if (r.vigil.underStress !== null && r.heartbeat.underStress !== null) {
      const w = `${r.stressMinutes} min of ${stressLabel}`;
      row(`false-dead verdicts, ${p}, ${w}`, r.vigil.underStress.dead, r.heartbeat.underStress.dead, 0);
      row(`late warnings, ${p}, ${w}`, r.vigil.underStress.late, r.heartbeat.underStress.late, 0);
    }
    row(`idle CPU, ${p} (% of one core over ${Math.round(r.vigil.idle.seconds)} s)`, r.vigil.idle.cpuPercent, r.heartbeat.idle.cpuPercent);
    row(`idle RSS, ${p} (MiB, all processes)`, r.vigil.idle.rssMiB, r.heartbeat.idle.rssMiB);
    row(`idle PSS, ${p} (MiB, all processes)`, r.vigil.idle.pssMiB, r.heartbeat.idle.pssMiB);
  }
  return markdownTable(["measure", "vigil", heartbeatLabel, "ratio vigil/heartbeat"], rows);
}

/** What the table cannot say in a cell: misses, CPU saturation, scheduling, daemons that died. */
export function resultNotes(results: readonly PresetResult[]): string[] {
  const notes: string[] = [];
  for (const r of results) {
    for (const [name, s] of [["vigil", r.vigil], ["heartbeat", r.heartbeat]] as const) {
      if (s.deadAboutLiveNodesDuringKills > 0) notes.push(`${r.preset}: ${name} declared a live node dead ${s.deadAboutLiveNodesDuringKills} time(s) while a killed node was down (outside the stress window).`);
      if (s.missedVerdicts > 0) notes.push(`${r.preset}: ${name} gave no dead verdict in time after ${s.missedVerdicts} kill(s).`);
      if (s.underStress !== null && s.underStress.notRunningAtEnd.length > 0) notes.push(`${r.preset}: ${name} was not running on ${s.underStress.notRunningAtEnd.join(", ")} at the end of the stress window.`);
    }
    notes.push(`${r.preset}: vigil's median detection by its own log timestamps: ${fmt(r.vigilOwnTimestampMedianMs, 0)} ms.`);
    if (r.stressBusyPercent !== null) notes.push(`${r.preset}: all CPUs were ${fmt(r.stressBusyPercent, 1)}% busy over the stress window.`);
    notes.push(`${r.preset}: scheduling: vigil ${r.vigil.scheduling ?? "?"}, heartbeat ${r.heartbeat.scheduling ?? "?"}.`);
  }
  return notes;
}
