/**
 * The module-failover benchmark's table: per fault and vigil setup, vigil's
 * outage summary beside Heartbeat's for the same fault, and the ratio of
 * the medians.
 */
import { markdownTable } from "./lib/report.ts";
import { ratio, summarize, type Summary } from "./lib/stats.ts";
import type { Impl } from "./module-failover-pairs.ts";
import type { Fault, TrialResult } from "./module-failover-trial.ts";

export type VigilImpl = Exclude<Impl, "heartbeat">;

export interface OutageRow {
  fault: Fault;
  vigilImpl: VigilImpl;
  vigil: Summary;
  heartbeat: Summary;
  /** Trials that gave no figure, per side. */
  missing: { vigil: number; heartbeat: number };
  /** vigil's median / Heartbeat's median; below 1 means vigil's outage is shorter. */
  ratio: number | null;
}

export const FAULT_LABELS: Readonly<Record<Fault, string>> = {
  crash: "primary crash (daemon + service SIGKILLed, links down)",
  swap: "swap (`vigil swap web` / `hb_standby all`)",
};

const VIGIL_LABELS: Readonly<Record<VigilImpl, string>> = {
  vigil: "no witness",
  "vigil-witness": "witness ping",
  "vigil-compare": "no witness, --compare build",
};

/** One row per fault and vigil setup that has trials. */
export function outageRows(faults: readonly Fault[], trials: readonly TrialResult[]): OutageRow[] {
  const of = (fault: Fault, impl: Impl): TrialResult[] => trials.filter((t) => t.fault === fault && t.impl === impl);
  const outages = (ts: readonly TrialResult[]): number[] => ts.flatMap((t) => (t.outage === null ? [] : [t.outage.outageMs]));
  return faults.flatMap((fault) => {
    const hb = of(fault, "heartbeat");
    const heartbeat = summarize(outages(hb));
    return (Object.keys(VIGIL_LABELS) as VigilImpl[])
      .filter((impl) => of(fault, impl).length > 0)
      .map((vigilImpl) => {
        const v = of(fault, vigilImpl);
        const vigil = summarize(outages(v));
        return {
          fault,
          vigilImpl,
          vigil,
          heartbeat,
          missing: { vigil: v.length - vigil.n, heartbeat: hb.length - heartbeat.n },
          ratio: ratio(vigil.median, heartbeat.median),
        };
      });
  });
}

/** "538 (523–653, n=7)", as bench/results/failover.md prints it. */
function cell(s: Summary, missing: number): string {
  const failed = missing === 0 ? "" : `, ${missing} failed`;
  if (s.n === 0) return `- (n=0${failed})`;
  return `**${s.median.toFixed(0)}** (${s.min.toFixed(0)}–${s.max.toFixed(0)}, n=${s.n}${failed})`;
}

export function moduleFailoverTable(rows: readonly OutageRow[], heartbeatLabel: string): string {
  return markdownTable(
    ["fault", "vigil", "vigil outage ms: median (min–max)", `${heartbeatLabel} outage ms: median (min–max)`, "vigil / Heartbeat"],
    rows.map((r) => [
      FAULT_LABELS[r.fault],
      VIGIL_LABELS[r.vigilImpl],
      cell(r.vigil, r.missing.vigil),
      cell(r.heartbeat, r.missing.heartbeat),
      r.ratio === null ? null : r.ratio.toFixed(2),
    ]),
  );
}
