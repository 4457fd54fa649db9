/**
 * What the soak counts, from the daemons' logs and the module service's own
 * timestamps: dead verdicts, module and VRRP transitions (each expected or
 * not, by the windows in which the soak itself killed a daemon or asked for
 * a swap), service runs, moves, and windows where both nodes ran the service.
 */
import type { VigilLogEvent } from "../test/lab/vigil-cluster.ts";

/**
 * Wall-clock ms in which the soak caused changes on purpose: a daemon killed
 * and restarted, a commanded swap. A "loss" window (a burst of 30 % loss on
 * both links, and one Master_Down_Interval after it) excuses VRRP transitions
 * only: three adverts lost in a row end a backup's wait by the protocol's own
 * rule (RFC 5798, keepalived alike), while the heartbeat must ride the same
 * burst without a verdict.
 */
export interface ExpectedWindow {
  what: string;
  node: string;
  from: number;
  to: number;
}

export const isTransition = (e: VigilLogEvent): boolean => e.msg.startsWith("module web ") && typeof e.fields["from"] === "string" && typeof e.fields["to"] === "string";
export const isVrrpTransition = (e: VigilLogEvent): boolean => e.msg.startsWith("vrrp ") && typeof e.fields["from"] === "string" && typeof e.fields["to"] === "string";
export const isDead = (e: VigilLogEvent): boolean => typeof e.fields["peer"] === "string" && e.fields["to"] === "dead" && e.fields["link"] === undefined;

const inside = (at: number, w: ExpectedWindow): boolean => at >= w.from && at <= w.to;

export interface Verdicts {
  /** Dead verdicts on a peer the soak had not killed. */
  falseDead: VigilLogEvent[];
  expectedDead: number;
  /** Module role changes outside every expected window. */
  unexpectedTransitions: VigilLogEvent[];
  expectedTransitions: number;
  unexpectedVrrp: VigilLogEvent[];
  expectedVrrp: number;
  /** VRRP transitions inside a loss window (VRRP's own timeout), counted apart from the expected ones. */
  lossVrrp: VigilLogEvent[];
}

/**
 * Sorts one node's events (all its lives) after `since` into expected and not.
 * A kill window excuses one dead verdict on the killed node, the kill's own: a
 * second one in the same window came after the node was heard again (its
 * next life starting), which the kill does not explain.
 */
export function classify(events: readonly VigilLogEvent[], windows: readonly ExpectedWindow[], since: number): Verdicts {
  const v: Verdicts = { falseDead: [], expectedDead: 0, unexpectedTransitions: [], expectedTransitions: 0, unexpectedVrrp: [], expectedVrrp: 0, lossVrrp: [] };
  const excused = new Set<ExpectedWindow>();
  for (const e of events) {
    if (e.at < since) continue;
    if (isDead(e)) {
      const kill = windows.find((w) => w.what === "kill" && w.node === e.fields["peer"] && inside(e.at, w) && !excused.has(w));
      if (kill !== undefined) {
        excused.add(kill);
        v.expectedDead++;
      } else v.falseDead.push(e);
    } else if (isTransition(e)) {
      if (windows.some((w) => w.what !== "loss" && inside(e.at, w))) v.expectedTransitions++;
      else v.unexpectedTransitions.push(e);
    } else if (isVrrpTransition(e)) {
      if (windows.some((w) => w.what !== "loss" && inside(e.at, w))) v.expectedVrrp++;
      else if (windows.some((w) => w.what === "loss" && inside(e.at, w))) v.lossVrrp.push(e);
      else v.unexpectedVrrp.push(e);
    }
  }
  return v;
}

/** One run of the module's service on a node: from its start script's first line to its stop script's last (null: still running). */
export interface ServiceRun {
  node: string;
  from: number;
  to: number | null;
}

/**
 * The service log: lines "NODE start-begin MS", "NODE start-end MS",
 * "NODE stop-begin MS", "NODE stop-end MS" appended by the scripts. A run
 * counts from the start script's beginning to the stop script's end, the
 * widest reading: a stop with no run before it (a clean-up at start) is no run.
 */
export function serviceRuns(text: string): ServiceRun[] {
  const runs: ServiceRun[] = [];
  const open = new Map<string, ServiceRun>();
  const lines = text.split("\n").map((l) => l.trim().split(/\s+/)).filter((p) => p.length === 3 && Number.isFinite(Number(p[2])));
  lines.sort((a, b) => Number(a[2]) - Number(b[2]));
  for (const [node = "", what = "", ms = ""] of lines) {
    const at = Number(ms);
    if (what === "start-begin" && !open.has(node)) {
      const run = { node, from: at, to: null };
      runs.push(run);
      open.set(node, run);
    } else if (what === "stop-end") {
      const run = open.get(node);
      if (run !== undefined) run.to = at;
      open.delete(node);
    }
  }
  return runs;
}

export interface Overlap {
  from: number;
  to: number;
  ms: number;
  nodes: string;
}

/** Spans in which runs of two different nodes overlap; a run still open counts up to `endAt`. */
export function overlaps(runs: readonly ServiceRun[], endAt: number): Overlap[] {
  const out: Overlap[] = [];
  for (let i = 0; i < runs.length; i++) {
    for (let j = i + 1; j < runs.length; j++) {
      const a = runs[i];
      const b = runs[j];
      if (a === undefined || b === undefined || a.node === b.node) continue;
      const from = Math.max(a.from, b.from);
      const to = Math.min(a.to ?? endAt, b.to ?? endAt);
      if (to > from) out.push({ from, to, ms: to - from, nodes: `${a.node}+${b.node}` });
    }
  }
  return out.sort((x, y) => x.from - y.from);
}

/** Runs that began on another node than the run before: the module moved. */
export function moves(runs: readonly ServiceRun[]): ServiceRun[] {
  const sorted = [...runs].sort((a, b) => a.from - b.from);
  return sorted.filter((r, i) => i > 0 && sorted[i - 1]?.node !== r.node);
}

export const inExpectedWindow = (at: number, windows: readonly ExpectedWindow[]): boolean => windows.some((w) => w.what !== "loss" && inside(at, w));
