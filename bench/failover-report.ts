/** The failover benchmark's tables: outage per setting and fault, vigil beside keepalived, and the idle-stability search. */
import { fmt, markdownTable } from "./lib/report.ts";
import { ratio, summarize, type Summary } from "./lib/stats.ts";
import type { Fault, IdleResult, TrialResult } from "./failover-trial.ts";
import { BACKUP_PRIORITY, type Impl } from "./failover-routers.ts";

export interface Setting {
  advertMs: number;
  impls: readonly Impl[];
  /** vigil's fastest stable advert_int (keepalived runs it too, for the ratio). */
  fastest?: boolean;
}

export interface Row {
  advertMs: number;
  fault: Fault;
  fastest: boolean;
  /** RFC 5798 Master_Down_Interval of the backup: 3 adverts plus its skew time. */
  masterDownMs: number;
  vigil: Summary | null;
  keepalived: Summary | null;
  /** Median over median. */
  ratio: number | null;
  failedTrials: { vigil: number; keepalived: number };
}

const FAULT_LABEL: Record<Fault, string> = { kill: "SIGKILL of the master", "link-down": "master's link down" };

export const masterDownMs = (advertMs: number): number => 3 * advertMs + ((256 - BACKUP_PRIORITY) / 256) * advertMs;

export const advertLabel = (ms: number): string => (ms >= 1_000 && ms % 1_000 === 0 ? `${ms / 1_000} s` : `${ms} ms`);

export function rows(settings: readonly Setting[], faults: readonly Fault[], trials: readonly TrialResult[]): Row[] {
  const out: Row[] = [];
  for (const s of settings) {
    for (const fault of faults) {
      const of = (impl: Impl): TrialResult[] => trials.filter((t) => t.impl === impl && t.advertMs === s.advertMs && t.fault === fault);
      const summary = (impl: Impl): Summary | null => {
        if (!s.impls.includes(impl)) return null;
        const xs = of(impl).flatMap((t) => (t.outage === null ? [] : [t.outage.outageMs]));
        return xs.length === 0 ? null : summarize(xs);
      };
      const vigil = summary("vigil");
      const keepalived = summary("keepalived");
      out.push({
        advertMs: s.advertMs,
        fault,
        fastest: s.fastest === true,
        masterDownMs: masterDownMs(s.advertMs),
        vigil,
        keepalived,
        ratio: ratio(vigil?.median, keepalived?.median),
        failedTrials: {
          vigil: of("vigil").filter((t) => t.outage === null).length,
          keepalived: of("keepalived").filter((t) => t.outage === null).length,
        },
      });
    }
  }
  return out;
}

const cell = (s: Summary | null, failed: number): string => {
  if (s === null) return failed > 0 ? `no figure (${failed} failed)` : "-";
  const base = `**${fmt(s.median, 0)}** (${fmt(s.min, 0)}–${fmt(s.max, 0)}, n=${s.n})`;
  return failed > 0 ? `${base}, ${failed} failed` : base;
};

export function outageTable(rs: readonly Row[]): string {
  return markdownTable(
    ["advert_int", "fault", "Master_Down_Interval (ms)", "vigil outage ms: median (min–max)", "keepalived 2.2.7 outage ms: median (min–max)", "vigil / keepalived"],
    rs.map((r) => [
      r.fastest ? `${advertLabel(r.advertMs)} (vigil's fastest stable)` : advertLabel(r.advertMs),
      FAULT_LABEL[r.fault],
      fmt(r.masterDownMs, 0),
      cell(r.vigil, r.failedTrials.vigil),
      cell(r.keepalived, r.failedTrials.keepalived),
      r.ratio === null ? "-" : fmt(r.ratio, 2),
    ]),
  );
}

export function stabilityTable(idle: readonly IdleResult[]): string {
  return markdownTable(
    ["implementation", "advert_int", "down_timer_adverts", "idle time (s)", "spurious failovers", "stable"],
    idle.map((r) => [r.impl, advertLabel(r.advertMs), String(r.downTimerAdverts), String(r.seconds), String(r.spuriousFailovers), r.stable ? "yes" : "no"]),
  );
}
