/**
 * The arbiter (`vigil witness`, on a third machine): grants each module's
 * PRIM lease to at most one node at a time. A pure reducer (see step.ts);
 * the driver owns the socket, authentication and the clock.
 *
 * Rules
 * - A request from the holder renews its lease: it ends leaseMs from now.
 * - A request from anyone else is denied while the lease runs, and for
 *   graceMs after it ran out (clocks of two machines do not tick at exactly
 *   the same rate; the holder counts its lease from when it sent the
 *   request, so it ends its use first). Meanwhile the old holder may still
 *   renew. After that, or once the holder released it, the next request
 *   wins.
 * - A release from the holder frees the lease at once: it is only sent
 *   after the holder stopped everything.
 * - After our own (re)start we remember no lease, so for leaseMs + graceMs
 *   we grant nothing: any lease granted before the restart has run out by
 *   then. Nodes that hear all their peers keep running meanwhile (they do
 *   not need the lease for that); isolated ones stop, as they would with
 *   the arbiter down.
 * - Requests from nodes or for modules we do not know are refused, with the
 *   reason, and never change anything.
 *
 * Each grant carries a token, +1 per new holder, for logs and fencing.
 */
import type { ConfigProblem } from "./membership/config.ts";
import type { Stepped } from "./step.ts";

export interface WitnessConfig {
  /** Nodes allowed to ask. */
  readonly nodes: readonly string[];
  /** Modules it hands leases out for; absent = any name. */
  readonly modules?: readonly string[];
  readonly leaseMs: number;
  readonly graceMs: number;
}

export interface WitnessLease {
  readonly module: string;
  readonly holder: string;
  readonly token: number;
  readonly grantedAt: number;
  /** Our clock. */
  readonly expiresAt: number;
  readonly released: boolean;
  /** The "expired" event was emitted. */
  readonly reported: boolean;
}

export interface WitnessState {
  readonly config: WitnessConfig;
  readonly startedAt: number;
  /** No grants before this (see the header). */
  readonly quietUntil: number;
  /** Leases running, in grace, or just released; dropped once free. */
  readonly leases: readonly WitnessLease[];
  readonly nextToken: number;
  readonly seq: number;
}

export type WitnessInput =
  | { readonly type: "request"; readonly node: string; readonly module: string; readonly request: number }
  | { readonly type: "release"; readonly node: string; readonly module: string }
  | { readonly type: "tick" };

export type WitnessEventKind = "granted" | "renewed" | "denied" | "released" | "expired" | "refused";

export type WitnessAction =
  /**
   * Send back to `to`. `durationMs` is the lease length granted; `holder`
   * names the current holder (null during the quiet period, or for a
   * refusal).
   */
  | {
      readonly type: "reply";
      readonly to: string;
      readonly module: string;
      readonly request: number;
      readonly granted: boolean;
      readonly durationMs: number;
      readonly holder: string | null;
      readonly token: number;
      readonly detail: string;
    }
  /** For the log; renewals are not reported, only grants to a new holder and other changes. */
  | { readonly type: "event"; readonly seq: number; readonly at: number; readonly module: string; readonly node: string; readonly kind: WitnessEventKind; readonly detail: string };

function whole(n: number, min: number): boolean {
  return Number.isSafeInteger(n) && n >= min;
}

export function validateWitnessConfig(c: WitnessConfig): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  if (c.nodes.length === 0) out.push({ path: "nodes", message: "needs at least one node allowed to ask" });
  if (new Set(c.nodes).size !== c.nodes.length) out.push({ path: "nodes", message: `node names must be unique, got ${c.nodes.join(", ")}` });
  if (!whole(c.leaseMs, 1)) out.push({ path: "lease", message: `must be a whole number of milliseconds >= 1, got ${c.leaseMs}` });
  if (!whole(c.graceMs, 0)) out.push({ path: "grace", message: `must be a whole number of milliseconds >= 0, got ${c.graceMs}` });
  return out;
}

/**
 * `quiet: false` only when the driver knows no earlier run of the arbiter
 * granted anything (e.g. its state dir says so). Throws RangeError on a
 * config validateWitnessConfig() rejects.
 */
export function initWitness(config: WitnessConfig, start: { now: number; quiet?: boolean }): WitnessState {
  const problems = validateWitnessConfig(config);
  if (problems.length > 0) throw new RangeError(`invalid witness config: ${problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`);
  const quiet = start.quiet !== false;
  return {
    config,
    startedAt: start.now,
    quietUntil: quiet ? start.now + config.leaseMs + config.graceMs : start.now,
    leases: [],
    nextToken: 1,
    seq: 0,
  };
}

export function nextWakeAt(s: WitnessState): number | null {
  let at: number | null = null;
  for (const l of s.leases) {
    const t = l.released ? l.expiresAt : l.reported ? l.expiresAt + s.config.graceMs : l.expiresAt;
    at = at === null ? t : Math.min(at, t);
  }
  return at;
}

export function stepWitness(s: WitnessState, input: WitnessInput, now: number): Stepped<WitnessState, WitnessAction> {
  const out: WitnessAction[] = [];
  let seq = s.seq;
  const event = (module: string, node: string, kind: WitnessEventKind, detail: string) => {
    seq += 1;
    out.push({ type: "event", seq, at: now, module, node, kind, detail });
  };
  let leases = expire(s, now, event);
  let nextToken = s.nextToken;

  if (input.type === "request") {
    const { node, module, request } = input;
    const reply = (granted: boolean, holder: string | null, token: number, detail: string) =>
      out.push({ type: "reply", to: node, module, request, granted, durationMs: granted ? s.config.leaseMs : 0, holder, token, detail });
    const refusal = refuseReason(s.config, node, module);
    if (refusal !== null) {
      event(module, node, "refused", refusal);
      reply(false, null, 0, refusal);
    } else if (now < s.quietUntil) {
      reply(false, null, 0, `the arbiter started ${Math.round(now - s.startedAt)} ms ago and grants nothing before ${Math.ceil(s.quietUntil - now)} ms more (leases from before its restart may still run)`);
    } else {
      const held = leases.find((l) => l.module === module);
      const busy = held !== undefined && !held.released && now < held.expiresAt + s.config.graceMs;
      if (held !== undefined && busy && held.holder !== node) {
        const left = held.expiresAt - now;
        const detail = left > 0 ? `held by ${held.holder} for ${left} ms more` : `held by ${held.holder} until ${held.expiresAt + s.config.graceMs - now} ms more of grace`;
        event(module, node, "denied", detail);
        reply(false, held.holder, held.token, detail);
      } else {
        const renewal = held !== undefined && busy && held.holder === node;
        const token = renewal ? held.token : nextToken++;
        const lease: WitnessLease = {
          module,
          holder: node,
          token,
          grantedAt: renewal ? held.grantedAt : now,
          expiresAt: now + s.config.leaseMs,
          released: false,
          reported: false,
        };
        leases = [...leases.filter((l) => l.module !== module), lease];
        const wasRunning = renewal && now < held.expiresAt;
        if (!wasRunning) event(module, node, "granted", `lease ${token} of ${module} to ${node} for ${s.config.leaseMs} ms`);
        reply(true, node, token, renewal ? "renewed" : "granted");
      }
    }
  } else if (input.type === "release") {
    const held = leases.find((l) => l.module === input.module);
    if (held !== undefined && held.holder === input.node && !held.released) {
      leases = leases.map((l) => (l === held ? { ...l, released: true, expiresAt: now } : l));
      event(input.module, input.node, "released", `${input.node} released lease ${held.token} of ${input.module}`);
    }
  }
  return { state: { ...s, leases, nextToken, seq }, actions: out };
}

function refuseReason(c: WitnessConfig, node: string, module: string): string | null {
  if (!c.nodes.includes(node)) return `node ${JSON.stringify(node)} is not one of ${c.nodes.join(", ")}`;
  if (c.modules !== undefined && !c.modules.includes(module)) return `module ${JSON.stringify(module)} is not one of ${c.modules.join(", ")}`;
  return null;
}

/** Reports leases that ran out and drops those that are free again. */
function expire(
  s: WitnessState,
  now: number,
  event: (module: string, node: string, kind: WitnessEventKind, detail: string) => void,
): readonly WitnessLease[] {
  let changed = false;
  const kept: WitnessLease[] = [];
  for (const l of s.leases) {
    let cur = l;
    if (!cur.released && !cur.reported && now >= cur.expiresAt) {
      event(cur.module, cur.holder, "expired", `lease ${cur.token} of ${cur.module} held by ${cur.holder} ran out`);
      cur = { ...cur, reported: true };
      changed = true;
    }
    const free = cur.released ? now >= cur.expiresAt : now >= cur.expiresAt + s.config.graceMs;
    if (free) {
      changed = true;
      continue;
    }
    kept.push(cur);
  }
  return changed ? kept : s.leases;
}
