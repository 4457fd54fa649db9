/**
 * A failover module on one node: which node runs it (PRIM/ALONE), who
 * stands by (SECOND), who cannot (WAIT) or must not (STOP), and the safe
 * order of starting and stopping its resources. A pure reducer (see
 * step.ts); the driver runs scripts, moves addresses, pings, talks to the
 * arbiter, owns the clock and persistence.
 *
 * Every step folds the event into what we know (peers' liveness and
 * adverts, checkers, witness, lease, commands), then lets
 * election.ts decide where this node wants to be, and walks towards
 * it one resource at a time:
 * - to run: (with an arbiter: win the lease, arm the watchdog, wait out the
 *   takeover wait if a peer is not heard) publish the claim, start
 *   resources in order;
 * - to rest: stop resources in reverse, release the lease, disarm the
 *   watchdog, and only then publish SECOND/WAIT/STOP.
 * A change of mind while a resource operation runs waits for its result:
 * scripts are never abandoned half way.
 *
 * At start every resource is stopped once (cleanup), since a previous run
 * may have left them up, and the node announces STOP until that is done.
 *
 * Generation (generation.ts): the latest takeover has the highest
 * one and wins a conflict (two PRIM after a partition heals); equal
 * generations (both claimed at once at startup) go to the preferred node,
 * then the lowest name. A SECOND that wants the module (operator `prim`)
 * advertises an odd generation: a takeover request.
 *
 * Failback (auto): the PRIM hands over once the preferred node has been
 * back as SECOND for failback delay; "back" means it arrived (started,
 * was heard again, left WAIT or STOP), not that it just handed over.
 * A SECOND whose claim generation jumps above every claim we heard has
 * claimed and stepped down between two of its frames (a swap right after a
 * takeover): that is a handover too, and it goes last.
 *
 * Checkers (checkers.ts): restarts count in their window. When a
 * checker asks to fail over (restart limit reached, or on_fail failover)
 * and no other node can take the module (none alive as SECOND), the module
 * is left as it is here: no restart, no stop, an event "restart-limit"
 * saying no node can take over. It is handed over as soon as a node can
 * take it; the wish is dropped when the checker is healthy again, when the
 * module (re)starts here (operator `restart`) or stops. `then: stop` stops
 * it (STOP) whether or not another node could take it.
 *
 * Back from isolation: a node that heard no peer while its witness did not
 * answer, and whose witness answers again, treats the peers it does not
 * hear as unknown for rejoin wait (deadtime + interval): its heartbeat
 * links usually come back with the witness, and a peer that ran the module
 * meanwhile (ALONE) must be heard before we claim it, or our newer claim
 * would win and move the module for nothing.
 */
import type { Stepped } from "../step.ts";
import { countResult, escalate, freshCounts, initCheckerTracks, isAppChecker } from "./checkers.ts";
import { acceptCommand, settleCommand, whereNow } from "./commands.ts";
import { resolveModuleConfig, type ModuleCoreConfig } from "./config.ts";
import { decide, hearsEveryPeer, isAlive, isIsolated, rankCandidates } from "./election.ts";
import { claimPart, isRequest, nextClaim, requestAbove } from "./generation.ts";
import { answer, note, resourceLabel, type ModuleDraft, type Mutable } from "./draft.ts";
import { arbiterAnswering, dropLease, initLease, leaseUsable, nextRequestAt, sendRequest, takeAnswer } from "./lease.ts";
import {
  isPrimaryRole,
  MODULE_ROLES,
  type ModuleAction,
  type ModuleInput,
  type ModuleReason,
  type ModuleRole,
  type ModuleState,
  type PeerModule,
  type RestingRole,
} from "./types.ts";
import type { PeerState } from "../membership/types.ts";

export * from "./types.ts";
export * from "./config.ts";
export { decide, claimBeats, rankCandidates } from "./election.ts";
export { resourceLabel, type ModuleDraft } from "./draft.ts";
export { commandProgress } from "./commands.ts";
export { claimPart, isRequest } from "./generation.ts";

export interface ModuleStart {
  readonly now: number;
  /** Why this node must not take the module, as last persisted; null or absent = clear. */
  readonly blocked?: string | null;
  /** false: rest in STOP until the operator's `start`. Default true. */
  readonly autostart?: boolean;
  /** false: skip the stop of every resource at start (the driver knows nothing runs). Default true. */
  readonly cleanup?: boolean;
  /**
   * First lease request number. Use one above any number an earlier run of
   * the daemon may have used (e.g. wall-clock ms x 1000), so a late answer
   * to an earlier run is never taken for ours. Default 1.
   */
  readonly firstLeaseRequest?: number;
}

/** Throws RangeError on a config validateModuleConfig() rejects. */
export function initModule(config: ModuleCoreConfig, start: ModuleStart): ModuleState {
  const c = resolveModuleConfig(config);
  const n = c.resources.length;
  const cleanup = start.cleanup !== false && n > 0;
  const peers: PeerModule[] = c.nodes
    .filter((name) => name !== c.self)
    .map((name) => ({ name, liveness: "unknown", role: "unknown", generation: 0, lastRole: null, yieldedAt: null, arrivedAt: null, upAt: null, starting: false, failure: null }));
  const lease = initLease();
  return {
    config: c,
    role: "STOP",
    generation: 0,
    highestHeard: 0,
    peers,
    decision: { primary: false, rest: "STOP", reason: "startup", detail: "starting", yieldTo: false },
    run: null,
    started: cleanup ? n : 0,
    cleanup,
    restartPending: false,
    failoverWanted: null,
    stopped: start.autostart === false ? { reason: "operator", detail: "not started (autostart is off)" } : null,
    stopFailed: null,
    blocked: start.blocked ?? null,
    forced: false,
    dataBlocked: null,
    handover: null,
    request: null,
    command: null,
    checkers: initCheckerTracks(c.checkers),
    watching: [],
    witness: null,
    rejoinUntil: null,
    lease: { ...lease, nextId: start.firstLeaseRequest ?? lease.nextId },
    published: null,
    seq: 0,
    nextToken: 1,
    startedAt: start.now,
    lastStepAt: null,
  };
}

export function stepModule(state: ModuleState, input: ModuleInput, now: number): Stepped<ModuleState, ModuleAction> {
  if (changesNothing(state, input, now)) return { state, actions: [] };
  const x: ModuleDraft = { ...state, peers: state.peers.map((p) => ({ ...p })), lastStepAt: now, now, out: [] };
  checkWatchdog(x);
  switch (input.type) {
    case "tick":
      break;
    case "peer":
      onPeer(x, input.node, input.liveness);
      break;
    case "advert":
      onAdvert(x, input.node, input.role, input.generation, input.starting === true, input.failure ?? null);
      break;
    case "resource":
      onResource(x, input.run, input.ok, input.detail);
      break;
    case "check":
      onCheck(x, input.checker, input.ok, input.detail);
      break;
    case "witness":
      onWitness(x, input.reachable === true, String(input.detail));
      break;
    case "data":
      x.dataBlocked = input.blocked;
      break;
    case "lease":
      onLease(x, input);
      break;
    case "command":
      acceptCommand(x, input.id, input.command, input.shutdown === true);
      break;
  }
  expireWaits(x);
  reconcile(x);
  scheduleLease(x);
  pushWatchdog(x);
  syncWatch(x);
  settleCommand(x);
  syncPublish(x);
  const { now: _now, out, ...next } = x;
  return { state: next, actions: out };
}

/**
 * Most events repeat what we know: every heartbeat frame carries the same
 * advert, and the driver ticks more often than we need. Every rule that
 * depends on time has its deadline in nextWakeAt(), so before the next one
 * such an event cannot change any decision and is answered at once. Keeps
 * the core cheap at one advert per frame per link.
 */
function changesNothing(s: ModuleState, input: ModuleInput, now: number): boolean {
  if (s.lastStepAt === null) return false;
  const wake = nextWakeAt(s);
  if (wake !== null && now >= wake) return false;
  if (input.type === "tick") return true;
  if (input.type === "peer") return s.peers.find((p) => p.name === input.node)?.liveness === input.liveness;
  if (input.type !== "advert") return false;
  const p = s.peers.find((q) => q.name === input.node);
  if (p === undefined || !isAlive(p)) return p === undefined;
  return (
    (parseRole(input.role) ?? "absent") === p.role &&
    sanitizeGeneration(input.generation) === p.generation &&
    (input.starting === true) === p.starting &&
    (input.failure ?? null) === p.failure
  );
}

/** The time the driver must deliver the next tick, or null if only events matter. */
export function nextWakeAt(s: ModuleState): number | null {
  const c = s.config;
  // Nothing published yet: the first step announces STOP and starts the cleanup.
  if (s.lastStepAt === null) return s.startedAt;
  const at: number[] = [];
  if (s.handover?.until != null) at.push(s.handover.until);
  if (s.request !== null) at.push(s.request.until);
  if (s.command?.until != null) at.push(s.command.until);
  if (s.rejoinUntil !== null) at.push(s.rejoinUntil);
  for (const p of s.peers) {
    if (p.yieldedAt !== null) at.push(p.yieldedAt + c.handoverTimeoutMs);
    if (p.upAt !== null && p.role === "absent") at.push(p.upAt + c.absentGraceMs);
    if (p.arrivedAt !== null && p.name === c.prefer && c.failback === "auto") at.push(p.arrivedAt + c.failbackDelayMs);
  }
  const a = c.arbiter;
  if (a !== null) {
    const l = s.lease;
    if (wantsLease(s) && l.lastSentAt !== null) at.push(nextRequestAt(l, a));
    if (l.validUntil !== null) at.push(l.validUntil - a.stopBeforeMs, l.validUntil);
    if (l.watchdog !== null) at.push(l.watchdog, l.watchdog + watchdogQuantum(a.fenceMs) - a.fenceMs);
    if (l.startNotBefore !== null) at.push(l.startNotBefore);
    if (l.lastReplyAt !== null) at.push(l.lastReplyAt + a.renewMs + a.retryMs + 1);
  }
  // A step acts on everything due up to its own time, so only later deadlines need a wake-up.
  const last = s.lastStepAt;
  const due = at.filter((t) => t > last);
  return due.length === 0 ? null : Math.min(...due);
}

// ---- small helpers ----------------------------------------------------------

/** Far below the codec's 2^53 - 1, so our own claims (2 more) always fit. */
const MAX_GENERATION = 2 ** 52;

function publishedGeneration(x: ModuleState): number {
  return isPrimaryRole(x.role) ? x.generation : (x.request?.generation ?? x.generation);
}

function announce(x: ModuleDraft, to: ModuleRole, reason: ModuleReason, detail: string): void {
  const from = x.role;
  x.role = to;
  x.seq += 1;
  x.out.push({ type: "transition", module: x.config.module, seq: x.seq, at: x.now, from, to, reason, detail });
  syncPublish(x);
}

/** Runs here with every resource started and nothing under way: what a command waits for. */
export function runsFully(x: ModuleState): boolean {
  return isPrimaryRole(x.role) && x.run === null && x.started === x.config.resources.length && x.decision.primary && !x.restartPending && !x.cleanup;
}

function syncPublish(x: ModuleDraft): void {
  // Peers wait for a node that lists no role yet: better than seeing STOP and taking the module at boot.
  if (x.published === null && x.cleanup) return;
  const generation = publishedGeneration(x);
  // A claim is published before its resources start (see ModuleAction); "starting" tells peers it is not served yet.
  // Only while it means to run: a PRIM stopping to hand over is not "starting".
  const starting = isPrimaryRole(x.role) && x.decision.primary && !(x.run === null && x.started === x.config.resources.length && !x.cleanup && !x.restartPending);
  const failure = x.blocked;
  const p = x.published;
  if (p !== null && p.role === x.role && p.generation === generation && p.starting === starting && p.failure === failure) return;
  x.published = { role: x.role, generation, starting, failure };
  x.out.push({
    type: "publish",
    module: x.config.module,
    role: x.role,
    generation,
    ...(starting ? { starting: true as const } : {}),
    ...(failure !== null ? { failure } : {}),
  });
}

function wantsLease(s: ModuleState): boolean {
  if (s.config.arbiter === null || s.lease.lost) return false;
  return s.decision.primary || isPrimaryRole(s.role) || s.started > 0 || s.run?.op === "start";
}

function holdsResources(s: ModuleState): boolean {
  return isPrimaryRole(s.role) || s.started > 0 || s.run !== null;
}

function watchdogQuantum(fenceMs: number): number {
  return Math.max(1, Math.floor(fenceMs / 4));
}

function times(n: number): string {
  return n === 1 ? "once" : `${n} times`;
}

function peerSummary(x: ModuleState): string {
  return x.peers.map((p) => `${p.name} ${isAlive(p) ? p.role : p.liveness}`).join(", ") || "no peers";
}

function primaryLabel(x: ModuleState): "PRIM" | "ALONE" {
  return x.peers.some(isAlive) ? "PRIM" : "ALONE";
}

// ---- events -----------------------------------------------------------------

function onWitness(x: ModuleDraft, reachable: boolean, detail: string): void {
  const silentBefore = x.witness !== null && !x.witness.reachable;
  x.witness = { reachable, at: x.now, detail };
  if (!reachable) x.rejoinUntil = null;
  else if (silentBefore && isIsolated(x) && !isPrimaryRole(x.role)) x.rejoinUntil = x.now + x.config.rejoinWaitMs;
}

function onPeer(x: ModuleDraft, node: string, liveness: PeerState): void {
  const p = x.peers.find((q) => q.name === node) as Mutable<PeerModule> | undefined;
  if (p === undefined || p.liveness === liveness) return;
  const wasAlive = isAlive(p);
  p.liveness = liveness;
  if (isAlive(p) === wasAlive) return;
  // Dead or just back: its role is unknown until its next advert.
  p.role = "unknown";
  p.yieldedAt = null;
  p.arrivedAt = null;
  p.upAt = isAlive(p) ? x.now : null;
  p.starting = false;
  p.failure = null;
  if (isAlive(p)) x.forced = false;
  else if (isPrimaryRole(p.lastRole)) takerFell(x, `${node} ${liveness === "stopped" ? "stopped" : "died"} while taking ${x.config.module} over`);
}

/**
 * A peer that had claimed the module during our pending command (our
 * `second`, or a swap) no longer runs it: the command cannot end as asked.
 * Recorded on the command; settleCommand answers once it is known where
 * the module runs now.
 */
function takerFell(x: ModuleDraft, what: string): void {
  const c = x.command;
  if (c === null || c.as !== "second" || c.failure !== null) return;
  x.command = { ...c, failure: what };
}

function sanitizeGeneration(raw: number): number {
  return Number.isSafeInteger(raw) && raw >= 0 && raw <= MAX_GENERATION ? raw : 0;
}

function parseRole(raw: string | null): ModuleRole | "absent" | null {
  if (raw === null) return "absent";
  return (MODULE_ROLES as readonly string[]).includes(raw) ? (raw as ModuleRole) : null;
}

function onAdvert(x: ModuleDraft, node: string, rawRole: string | null, rawGeneration: number, starting: boolean, failure: string | null): void {
  const p = x.peers.find((q) => q.name === node) as Mutable<PeerModule> | undefined;
  if (p === undefined || !isAlive(p)) return;
  let role = parseRole(rawRole);
  if (role === null) {
    if (p.role !== "absent") note(x, "bad-advert", `${node} advertises role ${JSON.stringify(rawRole)} for ${x.config.module}, which we do not know; treated as not running it`);
    role = "absent";
  }
  const generation = sanitizeGeneration(rawGeneration);
  if (generation !== rawGeneration && generation !== p.generation) note(x, "bad-advert", `${node} advertises generation ${rawGeneration} for ${x.config.module}, outside 0..${MAX_GENERATION}; taken as 0`);
  const before = p.role;
  if (role === "SECOND") {
    // Its claim jumped above every claim we heard while we saw it SECOND: it claimed and stepped down unseen.
    const unseenHandover = before === "SECOND" && !isRequest(generation) && generation > x.highestHeard && generation > claimPart(p.generation);
    if (isPrimaryRole(before) || unseenHandover) {
      p.yieldedAt = x.now;
      p.arrivedAt = null;
    } else if (before !== "SECOND") {
      p.arrivedAt = x.now;
    }
  } else {
    p.yieldedAt = null;
    p.arrivedAt = null;
  }
  if (isPrimaryRole(role) && !isPrimaryRole(before)) {
    // Someone took the module: nobody is handing over any more.
    for (const q of x.peers) if (q !== p) (q as Mutable<PeerModule>).yieldedAt = null;
    if (x.handover !== null && !isPrimaryRole(x.role)) x.handover = null;
  }
  p.role = role;
  if (role !== "absent") p.lastRole = role;
  p.generation = generation;
  p.starting = isPrimaryRole(role) && starting;
  p.failure = failure;
  if (isPrimaryRole(before) && !isPrimaryRole(role)) {
    const m = x.config.module;
    takerFell(x, failure === null ? `${node} stepped down (${role}) while taking ${m} over` : `${node} could not start ${m} (${failure})`);
  }
  x.highestHeard = Math.max(x.highestHeard, claimPart(generation));
  if (!isPrimaryRole(x.role)) x.generation = Math.max(x.generation, claimPart(generation));
  // A request must stay above every claim we know, or nobody would read it as one.
  if (x.request !== null && x.request.generation < x.highestHeard) x.request = { ...x.request, generation: requestAbove(x.highestHeard) };
}

function onResource(x: ModuleDraft, token: number, ok: boolean, detail: string): void {
  const r = x.run;
  if (r === null || r.token !== token) {
    note(x, "stale-result", `resource result for run ${token} ignored: ${r === null ? "nothing is running" : `run ${r.token} is the current one`}`);
    return;
  }
  x.run = null;
  if (r.voided) return;
  const res = x.config.resources[r.index];
  const label = res === undefined ? `resource ${r.index}` : resourceLabel(res, r.op);
  if (r.op === "start") {
    if (!ok && res?.kind === "mirror" && x.dataBlocked !== null) {
      // The copy's gate closed after the claim (its record could not be saved): the mirror
      // resource refused before mounting anything. Not a failure of this node: it waits in WAIT
      // for the gate (decide says why), forceprim included, and claims again once it opens.
      x.started = r.index;
      x.forced = false;
      return;
    }
    // A failed start may be half done: it is stopped with the rest.
    x.started = r.index + 1;
    if (!ok) {
      // forceprim overrides a block it finds, not one its own start makes: the resources after
      // this one (a VIP over a service that did not start) are not started, and the started ones
      // are stopped, as in any failed start.
      x.forced = false;
      x.blocked = `start of ${label} failed: ${detail}`;
      note(x, "start-failed", x.blocked);
      x.out.push({ type: "persist", module: x.config.module, blocked: x.blocked });
    } else if (x.started === x.config.resources.length) {
      x.checkers = x.checkers.map((t, i) => (x.config.checkers[i] !== undefined && isAppChecker(x.config.checkers[i]) ? freshCounts(t) : t));
      x.failoverWanted = null;
    }
    return;
  }
  x.started = Math.min(x.started, r.index);
  if (!ok) {
    x.stopFailed = `stop of ${label} failed: ${detail}`;
    note(x, "stop-failed", x.stopFailed);
  }
}

function onCheck(x: ModuleDraft, name: string, ok: boolean, detail: string): void {
  const i = x.config.checkers.findIndex((k) => k.name === name);
  const cfg = x.config.checkers[i];
  const track = x.checkers[i];
  if (cfg === undefined || track === undefined) return;
  // A late result of a checker we no longer run says nothing about now.
  if (isAppChecker(cfg) && !x.watching.includes(name)) return;
  const counted = countResult(track, cfg, ok === true, String(detail));
  let t = counted.track;
  if (counted.verdict === "healthy") {
    note(x, "checker-healthy", `checker ${name} healthy again: ${detail}`);
    if (x.failoverWanted?.checker === name) x.failoverWanted = null;
  }
  if (counted.verdict === "failing") {
    note(x, "checker-failing", `checker ${name} failing (${cfg.fall} in a row): ${detail}`);
    if (isAppChecker(cfg)) {
      const esc = escalate(t, cfg, x.now);
      t = esc.track;
      const step = esc.step;
      const after = (n: number) => (n > 0 ? ` after ${n} restart${n === 1 ? "" : "s"} within ${cfg.windowMs} ms` : "");
      if (step.kind === "restart") {
        note(x, "restart", `restarting ${x.config.module} here (${step.count} of ${step.of}): checker ${name} failing`);
        x.restartPending = true;
      } else if (step.kind === "failover") {
        const others = rankCandidates(x, x.now, false);
        if (others.length > 0) {
          x.handover = { since: x.now, until: null, reason: "checker", detail: `checker ${name} failing${after(step.afterRestarts)}` };
          note(x, "restart", `checker ${name} failing${after(step.afterRestarts)}: handing ${x.config.module} over`);
        } else {
          // Restarting again would loop once per checker interval; nobody else can serve it either.
          const why = `checker ${name} failing${after(step.afterRestarts)}`;
          x.failoverWanted = { checker: name, detail: why };
          note(x, "restart-limit", `${why}; no other node can take ${x.config.module} (${peerSummary(x)}): left as it is here, not restarted again; it fails over once a node can take it`);
        }
      } else if (step.kind === "stop") {
        x.stopped = { reason: "checker", detail: `checker ${name} failing${after(step.afterRestarts)}: ${detail}` };
      }
    }
  }
  const checkers = [...x.checkers];
  checkers[i] = t;
  x.checkers = checkers;
}

function onLease(x: ModuleDraft, input: Extract<ModuleInput, { type: "lease" }>): void {
  const a = x.config.arbiter;
  if (a === null) return;
  const hadUsable = leaseUsable(x.lease, a, x.now);
  // After a silence (the arbiter away, or we stopped asking) a denial is news again.
  const lease = arbiterAnswering(x.lease, a, x.now) ? x.lease : { ...x.lease, denials: null };
  const taken = takeAnswer(lease, input, x.now);
  x.lease = taken.lease;
  const r = taken.result;
  if (r.kind === "denied") {
    // Once per change of answer: a waiting node asks several times a second.
    if (!r.repeat && (r.holder !== null || hadUsable)) {
      const before = r.previous === null ? "" : ` (before: held by ${r.previous.holder ?? "nobody yet"}, ${times(r.previous.count)})`;
      note(x, "lease-denied", `arbiter: lease of ${x.config.module} held by ${r.holder ?? "nobody yet"}: ${input.detail}${before}`);
    }
    return;
  }
  if (r.kind !== "extended") {
    if (r.kind === "unknown" && input.granted && !wantsLease(x)) x.out.push({ type: "lease-release", module: x.config.module });
    return;
  }
  if (!wantsLease(x)) {
    // A late answer after we gave up. Still stopping: rest() releases it once
    // everything is stopped; otherwise give it back now.
    if (holdsResources(x)) return;
    x.lease = dropLease(x.lease);
    x.out.push({ type: "lease-release", module: x.config.module });
    return;
  }
  if (!hadUsable) {
    const after = r.afterDenials > 0 ? ` (after ${r.afterDenials} denial${r.afterDenials === 1 ? "" : "s"})` : "";
    note(x, "lease-granted", `arbiter granted the lease of ${x.config.module} until ${r.validUntil}${after}`);
  }
  if (holdsResources(x) && (x.lease.watchdog === null || r.validUntil > x.lease.watchdog)) armWatchdog(x, r.validUntil);
}

function armWatchdog(x: ModuleDraft, deadline: number | null): void {
  x.lease = { ...x.lease, watchdog: deadline };
  x.out.push({ type: "watchdog", module: x.config.module, deadline });
}

/** The watchdog fired (by contract, at its deadline): whatever ran is killed; clean up. */
function checkWatchdog(x: ModuleDraft): void {
  const w = x.lease.watchdog;
  if (x.config.arbiter === null || w === null || x.now < w) return;
  const busy = x.started > 0 || x.run !== null;
  x.lease = { ...dropLease(x.lease), watchdog: null, lost: isPrimaryRole(x.role) || busy };
  note(x, "fenced", `watchdog deadline ${w} passed: fencing ${x.config.module} here (stopping its resources)`);
  if (!busy) return;
  if (x.run !== null) x.run = { ...x.run, voided: true };
  x.started = x.config.resources.length;
  x.cleanup = true;
  x.restartPending = false;
}

function expireWaits(x: ModuleDraft): void {
  const now = x.now;
  if (x.handover !== null && x.handover.until !== null && now >= x.handover.until) {
    x.handover = null;
    if (x.command?.as === "second") answer(x, false, `no other node took ${x.config.module} within ${x.config.handoverTimeoutMs} ms`);
  }
  if (x.request !== null && now >= x.request.until) {
    x.request = null;
    if (x.command?.as === "prim") answer(x, false, `${x.config.module} was not handed over to us within ${x.config.handoverTimeoutMs} ms`);
  }
  if (x.command !== null && x.command.until !== null && now >= x.command.until) {
    const c = x.command;
    answer(x, false, c.failure !== null ? `${c.failure}; ${whereNow(x)}` : `${c.command} did not complete within ${c.until === null ? 0 : c.until - c.since} ms; ${whereNow(x)}`);
  }
  for (const p of x.peers) {
    if (p.yieldedAt !== null && now - p.yieldedAt >= x.config.handoverTimeoutMs) (p as Mutable<PeerModule>).yieldedAt = null;
  }
  if (x.rejoinUntil !== null && now >= x.rejoinUntil) x.rejoinUntil = null;
}

// ---- walking towards the decision ------------------------------------------

/** A failover a checker asked for while nobody could take the module: done once someone can. */
function failOverWhenPossible(x: ModuleDraft): void {
  const w = x.failoverWanted;
  if (w === null) return;
  if (!isPrimaryRole(x.role)) {
    x.failoverWanted = null;
    return;
  }
  if (x.handover !== null) return;
  const first = rankCandidates(x, x.now, false)[0];
  if (first === undefined) return;
  x.failoverWanted = null;
  x.handover = { since: x.now, until: null, reason: "checker", detail: w.detail };
  note(x, "restart", `${w.detail}; ${first.name} can take ${x.config.module} now: handing it over`);
}

function reconcile(x: ModuleDraft): void {
  failOverWhenPossible(x);
  // Each pass changes the role or issues one operation; a handful is plenty.
  for (let pass = 0; pass < 16; pass++) {
    const d = decide(x, x.now);
    x.decision = d;
    if (d.yieldTo && isPrimaryRole(x.role) && x.handover === null) x.handover = { since: x.now, until: null, reason: d.reason, detail: d.detail };
    if (d.reason === "lease-lost" && !x.lease.lost && holdsResources(x)) {
      // Sticky until we rest: no renewal may revive a right that already ended.
      x.lease = { ...x.lease, lost: true };
      note(x, "lease-lost", d.detail);
    }
    if (x.run !== null) return;
    if (!advance(x)) return;
  }
}

/** One move towards the decision; true if the picture changed and we should decide again. */
function advance(x: ModuleDraft): boolean {
  const d = x.decision;
  const a = x.config.arbiter;
  const leaving = !d.primary || x.cleanup || x.restartPending || x.lease.lost;
  if (leaving) {
    if (x.started > 0) return issue(x, "stop", x.started - 1);
    if (x.restartPending) {
      x.restartPending = false;
      return true;
    }
    if (x.cleanup) {
      x.cleanup = false;
      return true;
    }
    return rest(x, d.rest, d.reason, d.detail, true);
  }
  if (!isPrimaryRole(x.role)) {
    if (a === null || leaseUsable(x.lease, a, x.now)) {
      claim(x);
      return true;
    }
    // Waiting for the lease: rest meanwhile, keeping whatever we were granted.
    const waiting = d.rest === "SECOND" ? `${d.detail}; asking the arbiter for the lease` : d.detail;
    return x.role === d.rest ? false : rest(x, d.rest, d.rest === "SECOND" ? "standby" : d.reason, waiting, false);
  }
  const label = primaryLabel(x);
  if (x.role !== label) {
    if (label === "PRIM") announce(x, label, "peer-up", "a peer is heard again");
    else {
      const stopped = x.peers.filter((p) => p.liveness === "stopped").map((p) => p.name);
      const allStopped = stopped.length === x.peers.length;
      announce(x, label, allStopped ? "peer-stopped" : "peer-dead", stopped.length === 0 ? "no peer heard any more" : `no peer heard any more (${stopped.join(", ")} stopped)`);
    }
    return true;
  }
  if (x.lease.startNotBefore !== null) {
    const clear = hearsEveryPeer(x) && !x.peers.some((p) => isPrimaryRole(p.role));
    if (!clear && x.now < x.lease.startNotBefore) return false;
    x.lease = { ...x.lease, startNotBefore: null };
  }
  if (x.started < x.config.resources.length) return issue(x, "start", x.started);
  return false;
}

/**
 * Rest in `role` once everything is stopped: lease released, watchdog
 * disarmed (unless a stop failed: then the watchdog must still fire), then
 * announced. `letGo` is false when we only change resting role on the way
 * to a claim and keep any lease we were granted.
 */
function rest(x: ModuleDraft, role: RestingRole, reason: ModuleReason, detail: string, letGo: boolean): boolean {
  if (letGo && x.config.arbiter !== null && x.stopFailed === null) {
    if (x.lease.validUntil !== null) {
      x.out.push({ type: "lease-release", module: x.config.module });
      x.lease = dropLease(x.lease);
    }
    if (x.lease.watchdog !== null) armWatchdog(x, null);
  }
  if (x.lease.lost) x.lease = { ...x.lease, lost: false };
  if (isPrimaryRole(x.role)) {
    x.forced = false;
    if (x.handover !== null) x.handover = { ...x.handover, until: x.now + x.config.handoverTimeoutMs };
  }
  if (x.role === role) return false;
  announce(x, role, reason, detail);
  return true;
}

function claim(x: ModuleDraft): void {
  const a = x.config.arbiter;
  const d = x.decision;
  x.generation = nextClaim(Math.max(x.generation, x.highestHeard, x.request?.generation ?? 0));
  x.highestHeard = x.generation;
  x.request = null;
  if (x.handover !== null) {
    x.handover = null;
    const c = x.command;
    if (c?.as === "second" && c.failure === null) {
      // Answered once it runs here again (settleCommand), naming the failed start if a peer told us one.
      const failed = x.peers.find((p) => isAlive(p) && p.failure !== null);
      const why = failed === undefined ? `no other node could take ${x.config.module}` : `${failed.name} could not start ${x.config.module} (${failed.failure})`;
      x.command = { ...c, failure: why, left: true };
    }
  }
  for (const p of x.peers) (p as Mutable<PeerModule>).yieldedAt = null;
  if (a !== null) {
    const valid = x.lease.validUntil;
    if (valid !== null && (x.lease.watchdog === null || valid > x.lease.watchdog)) armWatchdog(x, valid);
    if (!hearsEveryPeer(x)) {
      x.lease = { ...x.lease, startNotBefore: x.now + a.takeoverWaitMs };
      const silent = x.peers.filter((p) => !isAlive(p)).map((p) => p.name).join(", ");
      note(x, "takeover-wait", `waiting ${a.takeoverWaitMs} ms before starting: ${silent} not heard and may still be stopping`);
    }
  }
  announce(x, primaryLabel(x), d.reason, `${d.detail} (generation ${x.generation})`);
}

/** Issues the start or stop of resource `index`; a script side with nothing to run is done at once (returns true). */
function issue(x: ModuleDraft, op: "start" | "stop", index: number): boolean {
  const r = x.config.resources[index];
  if (r === undefined) return false;
  const nothing = r.kind === "script" && (op === "start" ? r.start : r.stop) === null;
  if (nothing) {
    x.started = op === "start" ? index + 1 : index;
    return true;
  }
  const token = x.nextToken;
  x.nextToken += 1;
  x.run = { token, op, index, since: x.now, cleanup: x.cleanup, voided: false };
  if (op === "start") x.out.push({ type: "start-resource", module: x.config.module, run: token, index, resource: r });
  else x.out.push({ type: "stop-resource", module: x.config.module, run: token, index, resource: r, cleanup: x.cleanup });
  return false;
}

// ---- after the decision -----------------------------------------------------

function scheduleLease(x: ModuleDraft): void {
  const a = x.config.arbiter;
  if (a === null || !wantsLease(x)) return;
  if (x.now < nextRequestAt(x.lease, a)) return;
  const sent = sendRequest(x.lease, x.now, a);
  x.lease = sent.lease;
  x.out.push({ type: "lease-request", module: x.config.module, request: sent.id });
}

/** While we hear every peer and mean to run, the right to run goes on: move the watchdog along. */
function pushWatchdog(x: ModuleDraft): void {
  const a = x.config.arbiter;
  if (a === null || x.lease.lost || !holdsResources(x) || !x.decision.primary || !hearsEveryPeer(x)) return;
  if (!isPrimaryRole(x.role)) return;
  const target = x.now + a.fenceMs;
  const w = x.lease.watchdog;
  if (w === null || target >= w + watchdogQuantum(a.fenceMs)) armWatchdog(x, target);
}

function syncWatch(x: ModuleDraft): void {
  const running =
    isPrimaryRole(x.role) && x.decision.primary && x.run === null && !x.restartPending && !x.cleanup && x.started === x.config.resources.length;
  const want = x.config.checkers.filter((c) => !isAppChecker(c) || running).map((c) => c.name);
  if (want.length === x.watching.length && want.every((n, i) => x.watching[i] === n)) return;
  x.watching = want;
  x.out.push({ type: "watch-checkers", module: x.config.module, checkers: want });
}
