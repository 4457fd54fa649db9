/**
 * Where this node wants to be for a module, from what it knows now: run it
 * (PRIM/ALONE) or rest (SECOND, WAIT, STOP). A pure function of the state;
 * module.ts carries the decision out in the safe order.
 *
 * Rules, first match wins:
 * 1. STOP when stopped (operator, checker `then: stop`) or a stop failed.
 * 2. WAIT when the right to run was lost (arbiter lease) until stopped.
 * 3. WAIT when a start failed here and was not cleared, a wait-class
 *    checker fails, or (mirror modules) this node's copy may not be served
 *    and it does not run the module, or claimed it without its folders
 *    mounted yet (forceprim overrides all three; a takeover whose copy
 *    record cannot be saved waits here until it can).
 * 4. Not running yet and a peer is still unknown (initdead has not run out,
 *    it is heard but its advert is not, it lists no role yet and was heard
 *    for less than the absent grace, it is late: about to be declared dead
 *    or back, so a node cut off from everyone does not claim in the moment
 *    between one peer's death and the next, or we are back from isolation
 *    and it is not heard yet, for rejoin wait): SECOND, no claim.
 * 5. Isolated (every peer dead) and the witness does not answer: WAIT,
 *    PRIM included. Witness = the ping addresses if configured, and the
 *    arbiter if configured (a resting node keeps asking it for the lease
 *    meanwhile; a running one is held by rule 6's lease check). No witness
 *    configured: an isolated node takes over, as Heartbeat without ping
 *    nodes does (split brain is possible).
 * 6. Running: step down to SECOND when a live peer's claim beats ours
 *    (higher generation; equal: the preferred node; then the lowest name),
 *    when the lease is not usable and some peer is not heard, when a peer
 *    asks to take over (a SECOND advertising a request generation above
 *    ours, see generation.ts), on
 *    our own handover, or for an auto failback (the preferred node has been
 *    back as SECOND for failback delay, not counting a node that just
 *    handed over).
 * 7. Resting with a live claimant: SECOND.
 * 8. Resting, nobody runs it: the first eligible node in this order runs
 *    it: a takeover requester (highest requested generation), then the
 *    preferred node, then the lowest name. Eligible: this node if rules 1-5
 *    let it through; a peer if it is alive and SECOND. A node that just
 *    handed over goes last, and only counts when there is nobody else.
 *    Every node computes the same order from the same adverts, so only one
 *    claims; if two do (adverts crossed), rule 6 settles it.
 *
 * Without an arbiter, two nodes that both reach their witness but not each
 * other both run the module (ALONE): ping witnesses only tell an isolated
 * node from a node whose network is down. When they hear each other again,
 * rule 6 keeps the higher generation (the later takeover) and the other
 * stops. With an arbiter, a claim needs the lease, which it grants to one
 * node at a time, so this cannot happen.
 */
import { isRequest } from "./generation.ts";
import { arbiterAnswering, leaseUsable } from "./lease.ts";
import { isPrimaryRole, type Decision, type ModuleState, type PeerModule } from "./types.ts";

export function isAlive(p: PeerModule): boolean {
  return p.liveness === "up" || p.liveness === "late";
}

/**
 * No peer is heard and at least one is dead (never true without peers). A
 * peer that said goodbye ("stopped") runs nothing: it does not make us
 * isolated, so a node whose only peer stopped cleanly takes over without
 * asking the witness.
 */
export function isIsolated(s: ModuleState): boolean {
  return s.peers.length > 0 && s.peers.every((p) => p.liveness === "dead" || p.liveness === "stopped") && s.peers.some((p) => p.liveness === "dead");
}

/**
 * A mirror module's folders are mounted here (its "mirror" resource is
 * started): from then on this copy is the reference and no gate stops it.
 * True for a module without one.
 */
export function dataStarted(s: ModuleState): boolean {
  const i = s.config.resources.findIndex((r) => r.kind === "mirror");
  return i < 0 || s.started > i;
}

export function hearsEveryPeer(s: ModuleState): boolean {
  return s.peers.every(isAlive);
}

export function witnessAnswers(s: ModuleState, now: number): boolean {
  const c = s.config;
  if (c.witnessPing && s.witness?.reachable !== true) return false;
  if (c.arbiter !== null && !arbiterAnswering(s.lease, c.arbiter, now)) return false;
  return true;
}

/** Heard, but no role listed yet, and not for long: probably still cleaning up at its start. */
function startingUp(s: ModuleState, p: PeerModule, now: number): boolean {
  return p.role === "absent" && p.upAt !== null && now - p.upAt < s.config.absentGraceMs;
}

export function peerYielded(s: ModuleState, p: PeerModule, now: number): boolean {
  return p.yieldedAt !== null && now - p.yieldedAt < s.config.handoverTimeoutMs;
}

/** A SECOND advertising a request above our generation (our claim, or the highest we know) asks for the module. */
export function peerRequesting(s: ModuleState, p: PeerModule): boolean {
  return isAlive(p) && p.role === "SECOND" && isRequest(p.generation) && p.generation > s.generation;
}

/** True if claim a beats claim b: higher generation, then the preferred node, then the lowest name. */
export function claimBeats(prefer: string | null, a: { name: string; generation: number }, b: { name: string; generation: number }): boolean {
  if (a.generation !== b.generation) return a.generation > b.generation;
  if (a.name === prefer || b.name === prefer) return a.name === prefer;
  return a.name < b.name;
}

interface Candidate {
  readonly name: string;
  readonly request: number;
  readonly yielded: boolean;
}

function candidateFirst(prefer: string | null, a: Candidate, b: Candidate): number {
  if (a.request !== b.request) return b.request - a.request;
  if (a.name === prefer || b.name === prefer) return a.name === prefer ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** The nodes that could take the module now, best first (this node included when it may). */
export function rankCandidates(s: ModuleState, now: number, includeSelf: boolean): Candidate[] {
  const all: Candidate[] = [];
  if (includeSelf) all.push({ name: s.config.self, request: s.request?.generation ?? 0, yielded: s.handover !== null });
  for (const p of s.peers) {
    if (!isAlive(p) || p.role !== "SECOND") continue;
    all.push({ name: p.name, request: peerRequesting(s, p) ? p.generation : 0, yielded: peerYielded(s, p, now) });
  }
  const fresh = all.filter((c) => !c.yielded);
  const pool = fresh.length > 0 ? fresh : all;
  return pool.sort((a, b) => candidateFirst(s.config.prefer, a, b));
}

function rest(role: "STOP" | "WAIT" | "SECOND", reason: Decision["reason"], detail: string, yieldTo = false): Decision {
  return { primary: false, rest: role, reason, detail, yieldTo };
}

function failbackDue(s: ModuleState, now: number): string | null {
  const c = s.config;
  if (c.failback !== "auto" || c.prefer === null || c.prefer === c.self) return null;
  const p = s.peers.find((x) => x.name === c.prefer);
  if (p === undefined || !isAlive(p) || p.role !== "SECOND" || p.arrivedAt === null || peerYielded(s, p, now)) return null;
  if (now < p.arrivedAt + c.failbackDelayMs) return null;
  if (c.arbiter !== null && !arbiterAnswering(s.lease, c.arbiter, now)) return null;
  return p.name;
}

export function decide(s: ModuleState, now: number): Decision {
  const c = s.config;
  if (s.stopped !== null) return rest("STOP", s.stopped.reason, s.stopped.detail);
  if (s.stopFailed !== null) return rest("STOP", "stop-failed", `${s.stopFailed}; it may still run here: check, then "start"`);
  if (s.lease.lost) return rest("WAIT", "lease-lost", "lost the right to run (arbiter lease not renewed and a peer not heard)");
  if (!s.forced) {
    if (s.blocked !== null) return rest("WAIT", "start-failed", `${s.blocked}; "start" clears it`);
    const failing = s.checkers.filter((t, i) => t.failing && c.checkers[i]?.onFail === "wait").map((t) => t.name);
    if (failing.length > 0) return rest("WAIT", "wait-checker", `checker ${failing.join(", ")} failing: this node cannot serve`);
    if (s.dataBlocked !== null && (!isPrimaryRole(s.role) || !dataStarted(s))) return rest("WAIT", "data-not-current", s.dataBlocked);
  }
  const running = isPrimaryRole(s.role);
  if (!s.forced && !running) {
    const rejoining = s.rejoinUntil !== null && now < s.rejoinUntil;
    const unsure = s.peers.filter(
      (p) => p.liveness === "unknown" || p.liveness === "late" || (rejoining && p.liveness === "dead") || (isAlive(p) && (p.role === "unknown" || startingUp(s, p, now))),
    );
    const names = unsure.map((p) => p.name).join(", ");
    if (rejoining && unsure.some((p) => p.liveness === "dead")) {
      return rest("SECOND", "peers-unknown", `back from isolation: waiting up to ${s.config.rejoinWaitMs} ms to hear ${names} before taking the module`);
    }
    if (unsure.length > 0) return rest("SECOND", "peers-unknown", `waiting to hear ${names} before taking the module`);
  }
  const isolated = isIsolated(s);
  if (isolated && !s.forced) {
    if (c.witnessPing && s.witness?.reachable !== true) {
      return rest("WAIT", "isolated-no-witness", "no peer heard and the witness addresses do not answer: not safe to run the module");
    }
    if (!running && c.arbiter !== null && !arbiterAnswering(s.lease, c.arbiter, now)) {
      // Keep asking: the lease is both the witness and the right to run.
      return { primary: true, rest: "WAIT", reason: "isolated-no-witness", detail: "no peer heard and the arbiter does not answer yet", yieldTo: false };
    }
  }
  const claimants = s.peers.filter((p) => isAlive(p) && isPrimaryRole(p.role));
  if (running) {
    const self = { name: c.self, generation: s.generation };
    const better = claimants.find((p) => claimBeats(c.prefer, p, self));
    if (better !== undefined) {
      return rest("SECOND", "conflict", `${better.name} also runs it with generation ${better.generation} (ours ${s.generation}); ${better.name} keeps it`);
    }
    if (c.arbiter !== null && !leaseUsable(s.lease, c.arbiter, now) && !hearsEveryPeer(s)) {
      return rest("WAIT", "lease-lost", "arbiter lease not renewed and a peer not heard: stopping before the lease runs out");
    }
    const requester = s.peers.find((p) => peerRequesting(s, p));
    if (requester !== undefined) return rest("SECOND", "takeover-request", `${requester.name} asked to take over`, true);
    if (s.handover !== null) return rest("SECOND", s.handover.reason, s.handover.detail, true);
    const back = failbackDue(s, now);
    if (back !== null) return rest("SECOND", "failback", `failback to the preferred node ${back}`, true);
    return { primary: true, rest: "SECOND", reason: s.forced ? "forced" : "elected", detail: "runs here", yieldTo: false };
  }
  if (claimants.length > 0) {
    const names = claimants.map((p) => `${p.name} (${p.role})`).join(", ");
    return rest("SECOND", "peer-primary", `${names} runs it`);
  }
  if (s.forced) return { primary: true, rest: "SECOND", reason: "forced", detail: "forceprim by the operator", yieldTo: false };
  const ranked = rankCandidates(s, now, true);
  const first = ranked[0];
  if (first !== undefined && first.name === c.self) {
    const deadPeers = s.peers.filter((p) => p.liveness === "dead").map((p) => p.name);
    const stoppedPeers = s.peers.filter((p) => p.liveness === "stopped").map((p) => `${p.name} stopped`);
    const gone = [...deadPeers.map((n) => `${n} dead`), ...stoppedPeers].join(", ");
    const witnessed = isolated && (c.witnessPing || c.arbiter !== null);
    const reason = witnessed ? "isolated-witness-ok" : deadPeers.length > 0 ? "peer-dead" : stoppedPeers.length > 0 ? "peer-stopped" : "elected";
    const detail = witnessed
      ? "no peer heard; the witness answers"
      : isolated
        ? `${gone} (no witness configured)`
        : gone !== ""
          ? `${gone}; first in line`
          : "first in line";
    return { primary: true, rest: "SECOND", reason, detail, yieldTo: false };
  }
  return rest("SECOND", "standby", first === undefined ? "standby" : `${first.name} goes first`);
}
