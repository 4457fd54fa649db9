/**
 * Operator commands on a module, as seen from the node that received them.
 * Each is accepted (and answered once its goal is reached or missed) or
 * refused at once with the reason. One command at a time; `stop` overrides
 * whatever is pending.
 *
 * - stop: stop the module here and rest in STOP. Another node takes over if
 *   it can. Done once everything here is stopped.
 * - start: leave STOP, and clear a failed start or checker history, so this
 *   node may run the module again. Done once the node has settled.
 * - restart: stop and start the module where it runs, staying PRIM
 *   (does not count against checker restarts).
 * - prim (Heartbeat's hb_takeover): take the module. If a peer runs it,
 *   ask it to hand over (a request generation in our advert) and take it once
 *   it stepped down. Refused where this node cannot run it.
 * - second (hb_standby): hand the module over to another node. Refused when
 *   no other node can take it. Done when another node claims it.
 * - swap: second where it runs, prim where it stands by.
 * - forceprim: take the module although the usual rules say no (isolated
 *   without witness, peers still unknown, a failed start, a failing
 *   wait-class checker), for when the operator knows the peer is down.
 *   Guarded: refused while a peer is heard running it (use prim), in STOP
 *   (use start), and, with an arbiter, still only runs under its lease.
 */
import { clearFailures, answer, type ModuleDraft } from "./draft.ts";
import { isAlive, isIsolated, rankCandidates, witnessAnswers } from "./election.ts";
import { requestAbove } from "./generation.ts";
import { arbiterAnswering } from "./lease.ts";
import { isPrimaryRole, type ModuleCommand, type ModuleState, type PeerModule, type PendingCommand } from "./types.ts";

function refuse(x: ModuleDraft, id: string, detail: string): void {
  x.out.push({ type: "answer", module: x.config.module, id, ok: false, detail });
}

function done(x: ModuleDraft, id: string, detail: string): void {
  x.out.push({ type: "answer", module: x.config.module, id, ok: true, detail });
}

function pend(x: ModuleDraft, id: string, command: ModuleCommand, as: PendingCommand["as"], until: number | null): void {
  x.command = { id, command, as, since: x.now, until, failure: null, left: false };
}

/** Runs here with every resource started and nothing under way. */
function runsFully(x: ModuleState): boolean {
  return isPrimaryRole(x.role) && x.run === null && x.started === x.config.resources.length && x.decision.primary && !x.restartPending && !x.cleanup;
}

/**
 * A peer that runs the module with every resource started, as its advert
 * says: PRIM/ALONE, not starting, and no failed start (a PRIM whose start
 * just failed still announces PRIM while it stops again).
 */
function servingPeer(x: ModuleState): PeerModule | undefined {
  return x.peers.find((p) => isAlive(p) && isPrimaryRole(p.role) && !p.starting && p.failure === null);
}

/** Where the module is now, in words, for an answer: "hmi runs on scada1", "scada2 is still starting hmi". */
export function whereNow(x: ModuleState): string {
  const m = x.config.module;
  const self = x.config.self;
  if (runsFully(x)) return `${m} runs on ${self}`;
  if (isPrimaryRole(x.role)) return `${self} is still starting ${m}`;
  const serving = servingPeer(x);
  if (serving !== undefined) return `${m} runs on ${serving.name}`;
  const starting = x.peers.find((p) => isAlive(p) && isPrimaryRole(p.role));
  if (starting !== undefined) return `${starting.name} is still starting ${m}`;
  if (x.run !== null) return `${m} is stopping on ${self}`;
  return `${m} runs nowhere (${self} ${x.role}${x.peers.length > 0 ? `, ${peerStates(x)}` : ""})`;
}

/** After a stop here: where the module runs now, if anywhere. */
function stopWhere(x: ModuleState): string {
  const serving = servingPeer(x);
  if (serving !== undefined) return `it runs on ${serving.name}`;
  const starting = x.peers.find((p) => isAlive(p) && isPrimaryRole(p.role));
  if (starting !== undefined) return `${starting.name} is taking it over`;
  const standby = x.peers.find((p) => isAlive(p) && p.role === "SECOND");
  if (standby !== undefined) return `${standby.name} stands by to take it over`;
  return "it runs nowhere now";
}

/** The pending command and how far it got, in words; null when none is pending. */
export function commandProgress(x: ModuleState): string | null {
  const c = x.command;
  if (c === null) return null;
  return c.failure !== null ? `${c.failure}; ${whereNow(x)}` : whereNow(x);
}

function peerStates(x: ModuleState): string {
  return x.peers.map((p) => `${p.name} ${isAlive(p) ? p.role : p.liveness}`).join(", ");
}

/** Why this node could not run the module now, or null. */
function cannotRun(x: ModuleDraft): string | null {
  const m = x.config.module;
  if (x.stopped !== null || x.stopFailed !== null) return `${m} is STOP on ${x.config.self} (${x.stopFailed ?? x.stopped?.detail}); "start" first`;
  if (x.blocked !== null) return `${x.blocked}; "start" clears it, "forceprim" overrides`;
  const failing = x.checkers.filter((t, i) => t.failing && x.config.checkers[i]?.onFail === "wait").map((t) => t.name);
  if (failing.length > 0) return `checker ${failing.join(", ")} failing: ${x.config.self} cannot serve; "forceprim" overrides`;
  if (isIsolated(x) && !witnessAnswers(x, x.now)) return `no peer heard and the witness does not answer; "forceprim" overrides`;
  return null;
}

export function acceptCommand(x: ModuleDraft, id: string, command: ModuleCommand, shutdown = false): void {
  const m = x.config.module;
  const self = x.config.self;
  if (x.command !== null) {
    if (command !== "stop") return refuse(x, id, `${x.command.command} is still in progress on ${m}`);
    answer(x, false, `overridden by stop`);
  }
  const running = isPrimaryRole(x.role);
  const claimant = x.peers.find((p) => isAlive(p) && isPrimaryRole(p.role));
  switch (command) {
    case "stop":
      x.stopped = shutdown
        ? { reason: "shutdown", detail: `vigil is stopping on ${self}` }
        : { reason: "operator", detail: "stopped by the operator" };
      x.forced = false;
      x.request = null;
      return pend(x, id, command, "stop", null);
    case "start":
      if (x.stopped === null && x.stopFailed === null && x.blocked === null) return done(x, id, `${m} is already started on ${self} (${x.role})`);
      clearFailures(x);
      return pend(x, id, command, "start", null);
    case "restart":
      if (!running) return refuse(x, id, `${m} does not run on ${self} (${x.role}); restart restarts it where it runs`);
      x.restartPending = true;
      return pend(x, id, command, "restart", null);
    case "swap":
      if (running) return second(x, id, command);
      if (claimant !== undefined) return prim(x, id, command);
      return refuse(x, id, `nothing to swap: no node runs ${m} (${self} ${x.role}; ${peerStates(x)})`);
    case "prim":
      return prim(x, id, command);
    case "second":
      return second(x, id, command);
    case "forceprim":
      return forceprim(x, id, command);
  }
  // Commands come from outside (CLI, console): never leave one unanswered.
  refuse(x, id, `unknown command ${JSON.stringify(command)}; expected one of swap, stop, start, restart, prim, second, forceprim`);
}

function prim(x: ModuleDraft, id: string, command: ModuleCommand): void {
  const m = x.config.module;
  if (isPrimaryRole(x.role)) return done(x, id, `${m} already runs on ${x.config.self} (${x.role})`);
  const why = cannotRun(x);
  if (why !== null) return refuse(x, id, why);
  const a = x.config.arbiter;
  if (a !== null && !arbiterAnswering(x.lease, a, x.now) && x.lease.lastSentAt !== null) {
    return refuse(x, id, `the arbiter does not answer: ${x.config.self} could not get the lease`);
  }
  // A generation above every one heard puts us first in line, and asks a running peer to step down.
  const generation = requestAbove(Math.max(x.generation, x.highestHeard, ...x.peers.map((p) => p.generation)));
  const until = x.now + x.config.handoverTimeoutMs;
  x.request = { generation, until };
  pend(x, id, command, "prim", until);
}

function second(x: ModuleDraft, id: string, command: ModuleCommand): void {
  const m = x.config.module;
  if (!isPrimaryRole(x.role)) {
    if (x.role === "SECOND") return done(x, id, `${m} already stands by on ${x.config.self}`);
    return refuse(x, id, `${m} is ${x.role} on ${x.config.self}; second hands over a module that runs here`);
  }
  if (rankCandidates(x, x.now, false).length === 0) {
    return refuse(x, id, `no other node can take ${m}: ${peerStates(x) || "no peers"}`);
  }
  const a = x.config.arbiter;
  if (a !== null && !arbiterAnswering(x.lease, a, x.now)) {
    return refuse(x, id, `the arbiter does not answer: the other node could not get the lease, so ${m} stays here`);
  }
  x.handover = { since: x.now, until: null, reason: "operator", detail: `${command} by the operator` };
  pend(x, id, command, "second", null);
}

function forceprim(x: ModuleDraft, id: string, command: ModuleCommand): void {
  const m = x.config.module;
  if (isPrimaryRole(x.role)) return done(x, id, `${m} already runs on ${x.config.self} (${x.role})`);
  const claimant = x.peers.find((p) => isAlive(p) && isPrimaryRole(p.role));
  if (claimant !== undefined) return refuse(x, id, `${claimant.name} runs ${m} (${claimant.role}) and is heard: use prim for a handover`);
  if (x.stopped !== null || x.stopFailed !== null) return refuse(x, id, `${m} is STOP on ${x.config.self} (${x.stopFailed ?? x.stopped?.detail}); "start" first`);
  const a = x.config.arbiter;
  const holder = x.lease.deniedBy;
  if (a !== null && holder !== null && holder !== x.config.self && arbiterAnswering(x.lease, a, x.now)) {
    return refuse(x, id, `the arbiter gives the lease of ${m} to ${holder}: it may still run there`);
  }
  if (x.blocked !== null) clearFailures(x);
  x.forced = true;
  x.handover = null;
  pend(x, id, command, "forceprim", a === null ? null : x.now + x.config.handoverTimeoutMs);
}

/**
 * Answers the pending command once its goal is reached, or cannot be any
 * more. "Reached" means the service runs where it should with every
 * resource started (a peer's advert says so with its "starting" flag), not
 * merely that a node claimed it. A goal that cannot be reached any more (a
 * failed start here or at the taker) is answered once it is known where the
 * module runs instead, and says so.
 */
export function settleCommand(x: ModuleDraft): void {
  const c = x.command;
  if (c === null) return;
  const m = x.config.module;
  const self = x.config.self;
  const idle = x.run === null;
  const runningFully = runsFully(x);
  // Where the module went after a failure: back on a node, or nowhere (no node can take it).
  const settledElsewhere = (): boolean =>
    servingPeer(x) !== undefined || (!isPrimaryRole(x.role) && idle && !x.peers.some((p) => isAlive(p) && (p.role === "SECOND" || isPrimaryRole(p.role))));
  const failStart = (): void => {
    if (c.failure === null) x.command = { ...c, failure: `${self} could not start ${m} (${x.blocked ?? x.decision.detail})` };
    const now = x.command;
    if (now !== null && settledElsewhere()) answer(x, false, `${now.failure}; ${whereNow(x)}`);
  };
  switch (c.as) {
    case "stop":
      if (x.role === "STOP" && idle && x.started === 0) answer(x, true, `${m} is STOP on ${self}; ${stopWhere(x)}`);
      return;
    case "start":
      if (x.stopped !== null || x.stopFailed !== null) return answer(x, false, `${m} stopped again: ${x.decision.detail}`);
      if (x.blocked !== null) return failStart();
      if (!idle || x.role === "STOP") return;
      if (isPrimaryRole(x.role) && !runningFully) return;
      return answer(x, true, `${m} is ${x.role} on ${self}`);
    case "restart":
      if (runningFully) return answer(x, true, `${m} restarted on ${self}`);
      if (x.blocked !== null) return failStart();
      if (!isPrimaryRole(x.role)) return answer(x, false, `${m} did not come back on ${self}: ${x.decision.detail}; ${whereNow(x)}`);
      return;
    case "prim":
    case "forceprim":
      if (runningFully) return answer(x, true, `${m} runs on ${self} (${x.role}), all its resources started`);
      if (x.stopped !== null || x.stopFailed !== null) return answer(x, false, `${m} cannot run on ${self}: ${x.decision.detail}`);
      if (x.blocked !== null) return failStart();
      return;
    case "second": {
      if (!isPrimaryRole(x.role) && !c.left) x.command = { ...c, left: true };
      const taker = servingPeer(x);
      if (!isPrimaryRole(x.role) && idle && x.started === 0 && taker !== undefined) return answer(x, true, `${taker.name} runs ${m} now, all its resources started`);
      const left = x.command?.left === true;
      if (left && runningFully) return answer(x, false, `${c.failure ?? `no other node kept ${m}`}; ${m} is back on ${self}`);
      if (c.failure !== null && settledElsewhere()) return answer(x, false, `${c.failure}; ${whereNow(x)}`);
      return;
    }
  }
}
