/**
 * The farm core: which buckets this node holds, whether it is the ARP owner,
 * and what it tells its peers, from membership, peer adverts, checker verdicts
 * and operator commands.
 *
 * Every change goes through reconcile(), which works in three moves so that a
 * bucket never has two live holders once views agree (see handover.ts):
 * 1. drop the buckets we no longer own (write),
 * 2. advertise the new view (only now may peers count on it),
 * 3. add the buckets we now own that no live peer may still hold (write).
 * Buckets still held elsewhere are added later, on the peer's advert.
 */
import type { Stepped } from "../step.ts";
import { FLOW_EPOCHS, flowOwnerValue } from "./flow-owner-value.ts";
import { aliveThrough, deathDisputed } from "./deaths.ts";
import { mayTake } from "./handover.ts";
import { hasMember, isMembers, NO_MEMBERS, withMember } from "./members.ts";
import { arpOwnerOf, bucketsOf, ownershipTable, type OwnershipTable } from "./ownership.ts";
import type {
  FarmAction,
  FarmAdvert,
  FarmCoreConfig,
  FarmEvent,
  FarmMode,
  FarmPeer,
  FarmRole,
  FarmState,
  Members,
  PeerLive,
  QuietReason,
  RebalanceReason,
} from "./types.ts";

/** How often a draining node counts its remaining connections. */
export const DRAIN_POLL_MS = 500;

/** settleMs when the config does not give one: the default heartbeat deadtime. */
export const DEFAULT_SETTLE_MS = 500;

const tables = new WeakMap<FarmCoreConfig, OwnershipTable>();

/** The ownership table of a config, built once per config object. */
export function tableOf(config: FarmCoreConfig): OwnershipTable {
  let t = tables.get(config);
  if (t === undefined) {
    t = ownershipTable(config.nodes, config.ownershipSeed);
    tables.set(config, t);
  }
  return t;
}

export function initFarmState(config: FarmCoreConfig): FarmState {
  return {
    config,
    mode: "stopped",
    healthy: true,
    peers: config.nodes.map((): FarmPeer => ({ live: "unknown" })),
    held: [],
    arpOwner: false,
    advertised: NO_MEMBERS,
    advertisedAt: -Infinity,
    inSince: Infinity,
    role: "stopped",
    detail: "not started",
    linkDown: false,
    flowEpochs: config.nodes.map(() => 0),
  };
}

/** When the driver must deliver a tick; undefined: no timer needed. */
export function nextWakeAt(state: FarmState): number | undefined {
  const check = state.checkAt?.[0];
  if (check === undefined) return state.wakeAt;
  return state.wakeAt === undefined ? check : Math.min(state.wakeAt, check);
}

/**
 * After gaining buckets, when (ms after the gain) to check the flows of our
 * buckets that our table leaves to peers: a flow whose first datagram came
 * while its bucket changed hands may be credited to a node that never took
 * it (the bucket moved on before it did); every node then leaves it to that
 * node, and nobody answers it. The node that named says so, and the record
 * goes. Checked more than once: a message may be lost.
 */
export const FLOWS_CHECK_AFTER_MS: readonly number[] = [200, 1000, 3000];

/**
 * Schedules and fires the checks of our buckets' flows left to peers (see
 * FLOWS_CHECK_AFTER_MS). A flow we leave to a peer in a bucket we hold is
 * safe to ask about: the peer does not hold that bucket, so it takes no new
 * flow there, and what it answers is in its table.
 */
function checking(before: FarmState, r: Stepped<FarmState, FarmAction>, now: number): Stepped<FarmState, FarmAction> {
  const s = r.state;
  if (s.mode === "stopped") {
    if (s.checkAt === undefined) return r;
    const { checkAt: _c, ...rest } = s;
    return { state: rest, actions: r.actions };
  }
  const gained = s.held.some((b) => !before.held.includes(b));
  let at = gained ? FLOWS_CHECK_AFTER_MS.map((d) => now + d) : (s.checkAt ?? []);
  const due = at.length > 0 && (at[0] ?? Infinity) <= now;
  at = at.filter((t) => t > now);
  const { checkAt: _c, ...rest } = s;
  let next: FarmState = at.length > 0 ? { ...rest, checkAt: at } : rest;
  const peers = s.peers.flatMap((p, i) => (i !== s.config.self && keepsFlows(p) ? [{ node: i, value: flowOwnerValue(i, s.flowEpochs[i] ?? 0) }] : []));
  const actions = [...r.actions];
  if ((gained || (due && s.held.length > 0)) && peers.length > 0) {
    // A flow a peer took in a bucket just before it let go of it may have reached no table of
    // ours (views disagreed then): we would answer it beside that peer. Its tell says so; asked
    // again at each check, as a datagram may be lost, and before we drop a record a peer
    // disclaims (the flow may be a third node's).
    actions.push({ type: "ask-flows", nodes: peers.map((p) => p.node), at: now });
    next = { ...next, gainAsks: [...(s.gainAsks ?? []).slice(-3), now] };
  }
  if (due && s.held.length > 0 && peers.length > 0) actions.push({ type: "check-flows", held: s.held, peers, at: now });
  return { state: next, actions };
}

/**
 * The member set this node computes from: peers that are up and serve and,
 * if we serve, us. A peer just heard but whose advert has not arrived counts
 * as serving: we drop its buckets at once rather than risk holding what it
 * may hold (a node back from isolation holds everything), and take them back
 * if its advert says it does not serve.
 *
 * A peer dead for us that a peer we hear hears and counts (deaths.ts
 * aliveThrough: a loss in one direction) counts as serving too: that keeps
 * every node on one view, so each bucket keeps one holder while the loss
 * lasts, and a real death still leaves the view once the witness's own
 * heartbeat gives it up.
 */
export function eligibleView(state: FarmState): Members {
  let view = NO_MEMBERS;
  state.peers.forEach((p, i) => {
    if (i === state.config.self) return;
    if ((p.live === "up" && (p.advert === undefined || p.advert.role === "in")) || aliveThrough(state, i)) view = withMember(view, i);
  });
  if (state.mode === "in") view = withMember(view, state.config.self);
  return view;
}

/**
 * Whether this node hears no peer although it has some, and not because they
 * all said goodbye.
 */
export function isAlone(state: FarmState): boolean {
  const others = state.peers.filter((_, i) => i !== state.config.self);
  return others.length > 0 && others.every((p) => p.live === "dead") && others.some((p) => p.stopped !== true);
}

/**
 * Whether this node must hold nothing because it hears no peer. Alone, it
 * cannot tell being cut off (a dead switch uplink, its carrier still up) from
 * their deaths. Without a witness availability wins: it serves every bucket
 * (the survivor of a crash must not serve nobody), at the price that a node
 * that was only cut off answers new clients beside its peers from the moment
 * the network heals until a heartbeat says so. With a witness
 * (cluster.witness.ping) it holds nothing unless a round asked for after the
 * last peer fell silent answers: then the peers are down, not it cut off.
 */
export function isIsolated(state: FarmState): boolean {
  return isAlone(state) && state.config.witness === true && state.witnessed !== true;
}

function settled(state: FarmState): boolean {
  return state.peers.every((p, i) => i === state.config.self || p.live !== "unknown");
}

/** The mode a running (not stopped, not draining) node should be in. */
function runningMode(state: FarmState): { mode: FarmMode; detail: string } {
  // Both hold nothing: a node that cannot be reached must not come back holding
  // what it took while it heard no one (see the "link" event).
  if (state.linkDown) return { mode: "wait", detail: "the farm's interface has no carrier" };
  if (isIsolated(state)) {
    const ask = state.config.witness === true ? "; the witness does not answer" : "";
    return { mode: "wait", detail: `hears no peer: cut off from the others, or they are all down${ask}; holding nothing until one is heard` };
  }
  if (state.quiet !== undefined) {
    if (state.quiet.reason === "start" || state.quiet.reason === "lapsed") return { mode: "wait", detail: "listening to the clients' UDP flows before taking buckets" };
    const why = state.quiet.reason === "link-up" ? "its interface came back" : "it hears peers again after hearing none";
    return { mode: "wait", detail: `listening for peers before taking buckets: ${why}` };
  }
  if (!settled(state)) {
    const unknown = state.config.nodes.filter((_, i) => i !== state.config.self && state.peers[i]?.live === "unknown").map((n) => n.name);
    return { mode: "wait", detail: `waiting to hear ${unknown.join(", ")}` };
  }
  if (!state.healthy) return { mode: "out", detail: state.detail.startsWith("checker:") ? state.detail : "checker: failing" };
  if (!isAlone(state)) return { mode: "in", detail: "serving its share" };
  const why = state.config.witness === true ? "and the witness answers" : "cut off from the others, or they are all down (no witness to tell)";
  return { mode: "in", detail: `serving alone: no peer heard, ${why}` };
}

function roleOf(mode: FarmMode): FarmRole {
  return mode;
}

function sameBuckets(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Whether a peer may keep UDP flows that started before our table existed.
 * One that is dead, or whose advert says it waits or stopped, keeps none (a
 * new table, or one that forgot).
 */
function mayKeepOldFlows(p: FarmPeer | undefined): boolean {
  return p !== undefined && p.live !== "dead" && (p.live !== "up" || p.advert === undefined || keepsFlows(p));
}

/** A peer heard whose advert says it waits: it holds nothing and keeps no flow, but may serve at any moment. */
function waits(p: FarmPeer | undefined): boolean {
  return p?.live === "up" && p.advert?.role === "wait";
}

/**
 * The peers a listening time is for (FarmState.learnFrom): those that may keep
 * old flows, and those that wait, which may serve before we are done (see
 * learningDone).
 */
function learnFromNow(state: FarmState): readonly number[] {
  return state.peers.flatMap((p, i) => (i !== state.config.self && (mayKeepOldFlows(p) || waits(p)) ? [i] : []));
}

/** How often a listening node asks again the peers that have not told it their flows (a datagram may be lost). */
export const FLOWS_ASK_RETRY_MS = 100;

/** Whether a listening time runs (a start's once the table exists, a lapse's, or a heal's). */
function learning(s: FarmState): s is FarmState & { readonly quiet: NonNullable<FarmState["quiet"]>; readonly learnFrom: readonly number[]; readonly learnSince: number } {
  const q = s.quiet;
  return q !== undefined && q.until !== Infinity && s.learnFrom !== undefined && s.learnSince !== undefined;
}

/** A heal's listening time (heard again after hearing no one, or the carrier back): it is for peers to be heard too. */
function healing(s: FarmState): boolean {
  return s.quiet?.reason === "heard-again" || s.quiet?.reason === "link-up";
}

/**
 * While listening: a peer heard (again) joins those learned from. Dead when
 * the listening began (we were cut off, or it was), it may have answered
 * flows in our buckets meanwhile; its advert then comes (retold) and we wait
 * for its report as for the others'.
 */
function learnsFrom(s: FarmState, node: number): FarmState {
  if (!learning(s) || s.learnFrom.includes(node)) return s;
  return { ...s, learnFrom: [...s.learnFrom, node] };
}

/** The state without a listening time and what belongs to it. */
function unquiet(s: FarmState): FarmState {
  const { quiet: _q, wakeAt: _w, learnFrom: _l, learnSince: _s, told: _t, reports: _r, retell: _e, askedAt: _a, asked: _k, ...rest } = s;
  return rest;
}

/**
 * The peers a listening node still waits for: in learnFrom, heard, still
 * keeping flows, and without a whole report asked late enough (see retell).
 * Until each has told, or reportWaitMs past the listening time, we take no
 * bucket: one of them may answer flows in our buckets that we have not seen.
 */
function awaitedReports(s: FarmState): number[] {
  if (!learning(s)) return [];
  const told = s.told ?? [];
  return s.learnFrom.filter((i) => s.peers[i]?.live === "up" && mayKeepOldFlows(s.peers[i]) && !told.includes(i));
}

/**
 * While listening: peers dead since before we heard a peer again after
 * hearing none (FarmPeer.deadWhileAlone) that a peer we hear still counts
 * among its members (or whose advert we do not know yet). Its death may
 * have been our isolation only: heard after our listening ended, it would
 * find us serving its buckets' neighbours without its flows (sim: flows
 * answered by the healed node and by the peer it heard last). We listen on
 * until it is heard (and tells us its flows) or the peers drop it too, up
 * to reportWaitMs past the listening time as for a report.
 */
function unsettledDeaths(s: FarmState): number[] {
  if (!learning(s)) return [];
  const self = s.config.self;
  const heard = s.peers.filter((p, i) => i !== self && p.live === "up");
  return s.peers.flatMap((p, i) =>
    i !== self && p.live === "dead" && p.deadWhileAlone === true && heard.some((q) => q.advert === undefined || hasMember(q.advert.view, i)) ? [i] : [],
  );
}

/**
 * A death seen while alone is settled once every peer we hear has an advert
 * that does not count the dead one: then it is dead (or holds nothing) for
 * them too, and its buckets may go by the handover rules of a dead node's.
 */
function settledDeaths(s: FarmState): FarmState {
  const self = s.config.self;
  const heard = s.peers.filter((p, i) => i !== self && p.live === "up");
  const settled = (i: number): boolean => heard.every((q) => q.advert !== undefined && !hasMember(q.advert.view, i));
  if (!s.peers.some((p, i) => p.deadWhileAlone === true && settled(i))) return s;
  return {
    ...s,
    peers: s.peers.map((p, i) => {
      if (p.deadWhileAlone !== true || !settled(i)) return p;
      const { deadWhileAlone: _d, ...rest } = p;
      return rest;
    }),
  };
}

/** Whether a listening time past its end still waits: for a peer's report, or for a death to be settled. */
function waitsOn(s: FarmState): boolean {
  return awaitedReports(s).length > 0 || unsettledDeaths(s).length > 0;
}

/** The end of a listening time's wait for reports: learnMs, then at most reportWaitMs more while one is awaited. */
function reportsDeadline(s: FarmState & { readonly quiet: NonNullable<FarmState["quiet"]> }): number {
  return s.quiet.until + (s.config.reportWaitMs ?? 0);
}

/**
 * A start's or lapse's listening time ends early once no peer is left to
 * learn from (not before the table exists): each is dead or stopped. A peer
 * that waits keeps no old flow either, but it stays one to learn from: it may
 * serve again while we listen (it lapsed too, or started), take buckets under
 * a view our stale advert gave it, and answer flows in them that we credit to
 * nobody (our views disagree); when it does, its advert changes (retold) and
 * we wait for its report as for any serving peer's. Ending early on it, two
 * nodes that lapsed in one stall each took their share beside the other's
 * flows (lab farm-stall at load 19: the same flows answered by h1 and h3 for
 * a second), or both took a dead node's buckets under views that each named
 * only the other (sim). A peer's report of its flows does not end
 * it early: the report is what its table held when read, and a peer that just
 * forgot its flows (back from serving alone) takes those of its buckets
 * again at their next datagrams, which only watching sees. Past learnMs it
 * lasts while a report is awaited (awaitedReports), up to reportWaitMs more:
 * watching alone can miss a peer's flows (while its advert is unknown, or
 * disagrees with our view, we credit nothing), and a node that took its
 * buckets without them answered them beside that peer.
 */
function learningDone(s: FarmState, now: number): FarmState {
  if (!learning(s)) return s;
  const left = s.learnFrom.filter((i) => mayKeepOldFlows(s.peers[i]) || waits(s.peers[i]));
  // A heal's listening also waits settleMs for peers still silent: it does not end early.
  if (left.length === 0 && !healing(s)) return unquiet(s);
  const next = left.length === s.learnFrom.length ? s : { ...s, learnFrom: left };
  // Past its time, listening goes on only while a peer's report is awaited.
  return now >= s.quiet.until && !waitsOn(next) ? unquiet(next) : next;
}

/**
 * While listening: asks the peers still to tell us their flows, those not
 * asked yet at once, all of them again every FLOWS_ASK_RETRY_MS, and wakes
 * for that.
 */
function asking(r: Stepped<FarmState, FarmAction>, now: number): Stepped<FarmState, FarmAction> {
  const s = r.state;
  if (!learning(s) || s.mode === "stopped" || s.mode === "drain") return r;
  const told = s.told ?? [];
  const pending = s.learnFrom.filter((i) => s.peers[i]?.live === "up" && mayKeepOldFlows(s.peers[i]) && !told.includes(i));
  if (pending.length === 0) {
    // Past the listening time, a death still unsettled: woken to give up at the deadline.
    const wakeAt = now >= s.quiet.until && unsettledDeaths(s).length > 0 ? reportsDeadline(s) : s.quiet.until;
    return s.wakeAt === wakeAt ? r : { state: { ...s, wakeAt }, actions: r.actions };
  }
  const due = s.askedAt === undefined || now >= s.askedAt + FLOWS_ASK_RETRY_MS;
  const asked = s.asked ?? [];
  const fresh = due ? pending : pending.filter((i) => !asked.includes(i));
  let next: FarmState = s;
  let actions = r.actions;
  if (fresh.length > 0) {
    actions = [...actions, { type: "ask-flows", nodes: fresh, at: now }];
    next = due ? { ...s, asked: pending, askedAt: now } : { ...s, asked: [...asked, ...fresh] };
  }
  const nextAsk = (next.askedAt ?? now) + FLOWS_ASK_RETRY_MS;
  // Past the listening time (waiting for a report): woken to ask again, or to give up.
  const wakeAt = now < s.quiet.until ? Math.min(s.quiet.until, nextAsk) : Math.min(nextAsk, reportsDeadline(s));
  return { state: { ...next, wakeAt }, actions };
}

/**
 * A part of a peer's report of the flows it answers, while we listen: its
 * flows are recorded as the peer's at once (before any write of ours that
 * could take their buckets). Watching alone would credit a flow the peer
 * kept outside its buckets (after a quota side-move) to the bucket's holder.
 * Once every part of one report came, the peer is not asked again.
 */
function flowsTold(state: FarmState, event: Extract<FarmEvent, { type: "flows-told" }>, now: number): Stepped<FarmState, FarmAction> {
  const i = event.node;
  const p = state.peers[i];
  const ok = Number.isInteger(event.parts) && event.parts >= 1 && Number.isInteger(event.part) && event.part >= 0 && event.part < event.parts;
  if (p === undefined || i === state.config.self || p.live !== "up" || !ok) return { state, actions: [] };
  // A peer whose advert says it keeps no flows (it waits: it lapsed or restarted) answers none. A
  // report it read before it forgot them is stale, and recorded under its new flow epoch it would
  // credit it with them once it serves again, beside the nodes that answer them now.
  if (p.advert !== undefined && !keepsFlows(p)) return { state, actions: [] };
  const record: FarmAction[] = event.flows.length > 0 ? [{ type: "record-flows", flows: event.flows, value: flowOwnerValue(i, state.flowEpochs[i] ?? 0) }] : [];
  // The answer to an ask made as we gained buckets: recorded, over our own records too.
  if (!learning(state)) return { state, actions: state.gainAsks?.includes(event.askedAt) === true ? record : [] };
  if (event.askedAt < state.learnSince) return { state, actions: [] };
  const told = state.told ?? [];
  if (told.includes(i)) return { state, actions: record };
  // Read before the peer's advert changed (or before we knew it): its flows since may be missing.
  const since = state.retell?.find((x) => x.node === i)?.since;
  if (since !== undefined && event.askedAt <= since) return { state, actions: record };
  const reports = state.reports ?? [];
  const old = reports.find((x) => x.node === i);
  // Parts of an older reading still count as records, not toward a whole report.
  if (old !== undefined && event.askedAt < old.askedAt) return { state, actions: record };
  const base = old !== undefined && old.askedAt === event.askedAt && old.parts === event.parts ? old : { node: i, askedAt: event.askedAt, parts: event.parts, got: [] };
  const got = base.got.includes(event.part) ? base.got : [...base.got, event.part];
  const others = reports.filter((x) => x.node !== i);
  if (got.length < base.parts) return { state: { ...state, reports: [...others, { ...base, got }] }, actions: record };
  const { reports: _r, ...rest } = state;
  const next: FarmState = others.length > 0 ? { ...rest, reports: others, told: [...told, i] } : { ...rest, told: [...told, i] };
  // The last awaited report, past the listening time: take our buckets now.
  if (now >= state.quiet.until && !waitsOn(next)) {
    const r = reconcile(next, now, state.quiet.reason, selfName(state));
    return { state: r.state, actions: [...record, ...r.actions] };
  }
  return { state: next, actions: record };
}

/**
 * While listening: a peer in learnFrom whose advert changed, or came for the
 * first time, must tell us again, by a report asked after now (see retell).
 */
function retold(state: FarmState, node: number, old: FarmAdvert | undefined, advert: FarmAdvert, now: number): FarmState {
  if (!learning(state) || !state.learnFrom.includes(node)) return state;
  if (old !== undefined && old.role === advert.role && old.view === advert.view) return state;
  const retell = [...(state.retell ?? []).filter((x) => x.node !== node), { node, since: now }];
  const told = (state.told ?? []).filter((x) => x !== node);
  const reports = (state.reports ?? []).filter((x) => x.node !== node);
  const { told: _t, reports: _r, ...rest } = state;
  return { ...rest, retell, ...(told.length > 0 ? { told } : {}), ...(reports.length > 0 ? { reports } : {}) };
}

function reconcile(state: FarmState, now: number, reason: RebalanceReason, node: string): Stepped<FarmState, FarmAction> {
  const cfg = state.config;
  let s = settledDeaths(state);
  if (s.mode !== "stopped" && s.mode !== "drain") {
    s = learningDone(s, now);
    const r = runningMode(s);
    s = { ...s, mode: r.mode, detail: r.detail };
  }
  const t = tableOf(cfg);
  const view = eligibleView(s);
  const serving = s.mode === "in";
  const target = serving ? bucketsOf(t, cfg.self, view) : [];
  const targetSet = new Set(target);
  const claimed = claimedByPeers(t, s, view);
  const keep = s.held.filter((b) => targetSet.has(b) && !claimed.has(b));
  const arpTarget = serving && arpOwnerOf(t, view) === cfg.self;
  const role = roleOf(s.mode);
  const actions: FarmAction[] = [];

  let arpOwner = s.arpOwner;
  if (arpOwner && !arpTarget) {
    actions.push({ type: "arp-responder", on: false });
    arpOwner = false;
  }
  if (keep.length !== s.held.length || arpOwner !== s.arpOwner) {
    if (s.mode !== "stopped") actions.push({ type: "write", held: keep, arpOwner });
  }
  let advertisedAt = s.advertisedAt;
  let inSince = s.inSince;
  if (view !== s.advertised || role !== s.role) {
    actions.push({ type: "advertise", role, view });
    advertisedAt = now;
    if (role === "in" && s.role !== "in") inSince = now;
  }

  const keepSet = new Set(keep);
  const gains = target.filter((b) => !keepSet.has(b) && mayTake(t, b, cfg.self, view, s.peers, advertisedAt, inSince));
  const held = gains.length === 0 ? keep : [...keep, ...gains].sort((a, b) => a - b);
  if (gains.length > 0 || arpTarget !== arpOwner) {
    actions.push({ type: "write", held, arpOwner: arpTarget });
    if (arpTarget && !arpOwner) actions.push({ type: "arp-responder", on: true }, { type: "garp" });
  }

  let next: FarmState = { ...s, held, arpOwner: arpTarget, advertised: view, advertisedAt, inSince, role };
  if (!sameBuckets(held, state.held)) {
    const rebalance = { at: now, reason, node, gained: gains.length, lost: state.held.length - keep.length };
    next = { ...next, lastRebalance: rebalance };
    actions.push({ type: "rebalanced", rebalance, held: held.length, view });
  }
  return { state: next, actions };
}

/**
 * Buckets a live serving peer says it owns under a view other than ours. We
 * own them under ours, so the views disagree (a node back from isolation still
 * holds what it took alone, or two nodes see a third differently); the peer may
 * hold them, so we let go, and whoever owns them once the views agree takes
 * them by the usual handover.
 */
function claimedByPeers(t: OwnershipTable, s: FarmState, view: Members): Set<number> {
  const out = new Set<number>();
  s.peers.forEach((p, i) => {
    const adv = p.advert;
    if (i === s.config.self || p.live !== "up" || adv === undefined || adv.role !== "in" || adv.view === view) return;
    if (((adv.view >>> i) & 1) === 0) return;
    for (const b of bucketsOf(t, i, adv.view)) out.add(b);
  });
  return out;
}

function teardown(state: FarmState, now: number, reason: RebalanceReason, detail: string): Stepped<FarmState, FarmAction> {
  const actions: FarmAction[] = [];
  if (state.arpOwner) actions.push({ type: "arp-responder", on: false });
  if (state.held.length > 0 || state.arpOwner) actions.push({ type: "write", held: [], arpOwner: false });
  actions.push({ type: "advertise", role: "stopped", view: eligibleView({ ...state, mode: "stopped" }) });
  actions.push({ type: "teardown" });
  const { drainDeadline: _d, ...rest } = unquiet(state);
  let next: FarmState = {
    ...rest,
    mode: "stopped",
    held: [],
    arpOwner: false,
    role: "stopped",
    advertised: eligibleView({ ...state, mode: "stopped" }),
    advertisedAt: now,
    detail,
  };
  if (state.held.length > 0) {
    const rebalance = { at: now, reason, node: state.config.nodes[state.config.self]?.name ?? "", gained: 0, lost: state.held.length };
    next = { ...next, lastRebalance: rebalance };
    actions.push({ type: "rebalanced", rebalance, held: 0, view: next.advertised });
  }
  return { state: next, actions };
}

/** A peer as membership last told us of it, without what it advertised. */
function sameLife(p: FarmPeer): FarmPeer {
  return {
    live: p.live,
    ...(p.stopped === true ? { stopped: true as const } : {}),
    ...(p.deadWhileAlone === true ? { deadWhileAlone: true as const } : {}),
    ...(p.diedAs === undefined ? {} : { diedAs: p.diedAs }),
  };
}

/**
 * We hear a peer again after hearing none: the peers still dead may have
 * died only for us, silenced by the same cut (FarmPeer.deadWhileAlone). A
 * peer that said goodbye did stop.
 */
function markedDeadWhileAlone(state: FarmState): FarmState {
  if (!state.peers.some((p, i) => i !== state.config.self && p.live === "dead" && p.stopped !== true)) return state;
  return { ...state, peers: state.peers.map((p, i) => (i !== state.config.self && p.live === "dead" && p.stopped !== true ? { ...p, deadWhileAlone: true as const } : p)) };
}

function withPeer(state: FarmState, index: number, peer: FarmPeer): FarmState {
  return { ...state, peers: state.peers.map((p, i) => (i === index ? peer : p)) };
}

function selfName(state: FarmState): string {
  return state.config.nodes[state.config.self]?.name ?? "";
}

export function farmStep(state: FarmState, event: FarmEvent, now: number): Stepped<FarmState, FarmAction> {
  const r = checking(state, asking(step(state, event, now), now), now);
  const epochs = nextFlowEpochs(state, r.state);
  const stepped = epochs === r.state.flowEpochs ? r : { state: { ...r.state, flowEpochs: epochs }, actions: r.actions };
  return aloneTracked(state, stepped, now);
}

/**
 * Keeps aloneSince and witnessed: set when every peer falls silent (and the
 * witness asked then, if there is one), dropped as soon as one is heard.
 */
function aloneTracked(before: FarmState, r: Stepped<FarmState, FarmAction>, now: number): Stepped<FarmState, FarmAction> {
  const after = r.state;
  if (isAlone(after)) {
    if (isAlone(before) || after.mode === "stopped") return r;
    const { witnessed: _w, witnessSince: _s, ...rest } = after;
    const ask: FarmAction[] = after.config.witness === true ? [{ type: "ask-witness", at: now }] : [];
    return { state: { ...rest, aloneSince: now }, actions: [...r.actions, ...ask] };
  }
  if (after.aloneSince === undefined && after.witnessed === undefined && after.witnessSince === undefined) return r;
  const { aloneSince: _a, witnessed: _w, witnessSince: _s, ...rest } = after;
  return { state: rest, actions: r.actions };
}

/**
 * A peer that stops keeping its UDP flows (it died, or its advert left
 * in/out/drain: it restarted, was cut off or froze, and forgot them) starts a
 * new flow epoch here: what we recorded of it before is not honoured again
 * when it serves anew (src/core/farm/flows.ts).
 */
function nextFlowEpochs(before: FarmState, after: FarmState): readonly number[] {
  let out = after.flowEpochs;
  after.peers.forEach((p, i) => {
    if (i === after.config.self || !keepsFlowsIn(before, i) || keepsFlowsIn(after, i)) return;
    if (out === after.flowEpochs) out = [...out];
    (out as number[])[i] = ((out[i] ?? 0) + 1) % FLOW_EPOCHS;
  });
  return out;
}

export function keepsFlows(p: FarmPeer | undefined): boolean {
  const role = p?.advert?.role;
  return p?.live === "up" && (role === "in" || role === "out" || role === "drain");
}

/**
 * keepsFlows, or dead for us while a peer we hear still counts it, having
 * kept flows when it died (deaths.ts): it may still answer them.
 */
export function keepsFlowsIn(state: FarmState, node: number): boolean {
  const p = state.peers[node];
  if (keepsFlows(p)) return true;
  const role = p?.diedAs;
  return (role === "in" || role === "out" || role === "drain") && deathDisputed(state, node);
}

function step(state: FarmState, event: FarmEvent, now: number): Stepped<FarmState, FarmAction> {
  const cfg = state.config;
  switch (event.type) {
    case "start": {
      if (state.mode !== "stopped") return { state, actions: [] };
      const learnMs = cfg.learnMs ?? 0;
      const starting: FarmState = { ...state, mode: "wait", detail: "starting" };
      // Listening starts once the table exists ("set-up"): setting it up can take long on a loaded machine.
      const r = reconcile(learnMs > 0 ? { ...starting, quiet: { until: Infinity, reason: "start" } } : starting, now, "start", selfName(state));
      return { state: r.state, actions: [{ type: "setup" }, ...r.actions] };
    }
    case "peer": {
      const i = event.node;
      const peer = state.peers[i];
      if (peer === undefined || i === cfg.self || peer.live === event.live) return { state, actions: [] };
      // A peer that died or came back starts with no advert: what it held before says nothing now.
      // Dead by goodbye, or with the role it last advertised (deaths.ts).
      const died = event.live !== "dead" ? {} : event.stopped === true ? { stopped: true as const } : peer.advert !== undefined ? { diedAs: peer.advert.role } : {};
      let next = withPeer(state, i, { live: event.live, ...died });
      const wasAlone = isAlone(state);
      const alone = isAlone(next);
      if (wasAlone && !alone) next = markedDeadWhileAlone(next);
      // Back from hearing no one: our peers' deaths may have been our own isolation. Listen first.
      if (isIsolated(state) && !alone) next = quietFor(next, now, "heard-again");
      if (event.live === "up") next = learnsFrom(next, i);
      const reason: RebalanceReason = event.live === "dead" ? "peer-dead" : "peer-up";
      const r = reconcile(next, now, reason, cfg.nodes[i]?.name ?? "");
      // Alone, peers may take our flows (we may be the one cut off); back from serving alone (on
      // the witness's word, or with no witness at all), a peer that was only cut off may have answered ours.
      const servedAlone = state.witnessed === true || cfg.witness !== true;
      const forget = state.mode !== "stopped" && ((alone && !wasAlone) || (!alone && wasAlone && servedAlone));
      const out = forget ? { state: r.state, actions: [...r.actions, { type: "forget-flows" } as const] } : r;
      return { state: withRejoining(out.state, state, i, event.live, wasAlone && cfg.witness !== true), actions: out.actions };
    }
    case "advert": {
      const i = event.node;
      const peer = state.peers[i];
      if (peer === undefined || i === cfg.self) return { state, actions: [] };
      const old = peer.advert;
      const echo = event.echo ?? peer.echo;
      const hears = event.hears ?? peer.hears;
      let next = retold(withPeer(state, i, { ...sameLife(peer), advert: event.advert, ...(echo === undefined ? {} : { echo }), ...(hears === undefined ? {} : { hears }) }), i, old, event.advert, now);
      const same = old !== undefined && old.role === event.advert.role && old.view === event.advert.view;
      // The same advert matters again only when it now acknowledges our last one.
      const acked = (echo ?? -Infinity) >= state.advertisedAt && (peer.echo ?? -Infinity) < state.advertisedAt;
      // Decided on an advert written after it heard us: a thawed node's first heartbeat can still
      // carry the "in" it had before it froze (it says "wait" once it sees its lease lapsed).
      const written = event.advert.role !== "in" || (echo ?? -Infinity) >= state.advertisedAt;
      if (state.rejoining?.includes(i) === true && written) {
        const { rejoining, ...rest } = next;
        const left = rejoining?.filter((x) => x !== i) ?? [];
        const unmarked: FarmState = left.length > 0 ? { ...rest, rejoining: left } : rest;
        if (event.advert.role === "in" && yields(state, i, event.advert)) {
          // We both served apart: our records of flows it answered meanwhile would have us answer them beside it.
          const r = reconcile(quietFor(unmarked, now, "heard-again"), now, "heard-again", cfg.nodes[i]?.name ?? "");
          return { state: r.state, actions: [...r.actions, { type: "forget-flows" }] };
        }
        next = unmarked;
      }
      // Or when what it hears changes our view (deaths.ts: a node dead for us that it hears).
      if (same && !acked && eligibleView(next) === eligibleView(state)) return { state: next, actions: [] };
      const reason: RebalanceReason = old?.role === event.advert.role ? "handover" : "peer-role";
      return reconcile(next, now, reason, cfg.nodes[i]?.name ?? "");
    }
    case "health": {
      if (state.healthy === event.healthy) return { state: { ...state, detail: state.mode === "out" ? `checker: ${event.detail}` : state.detail }, actions: [] };
      const detail = event.healthy ? state.detail : `checker: ${event.detail}`;
      return reconcile({ ...state, healthy: event.healthy, detail }, now, event.healthy ? "checker-healthy" : "checker-failed", selfName(state));
    }
    case "drain": {
      if (state.mode === "stopped" || state.mode === "drain") return { state, actions: [] };
      const deadline = now + cfg.drainTimeoutMs;
      const r = reconcile({ ...unquiet(state), mode: "drain", drainDeadline: deadline, wakeAt: Math.min(deadline, now + DRAIN_POLL_MS), detail: "draining: established connections finish" }, now, "drain", selfName(state));
      return { state: r.state, actions: [...r.actions, { type: "count-connections" }] };
    }
    case "connections": {
      if (state.mode !== "drain") return { state, actions: [] };
      if (event.count === 0) return teardown(state, now, "drain", "stopped: drained");
      return { state: { ...state, detail: `draining: ${event.count} connection${event.count === 1 ? "" : "s"} left` }, actions: [] };
    }
    case "witness": {
      if (cfg.witness !== true || !isAlone(state) || state.aloneSince === undefined || event.askedAt < state.aloneSince || state.mode === "stopped") {
        return { state, actions: [] };
      }
      // Asked again as long as we are alone: the witness may stop answering (then we were cut off after all).
      const ask: FarmAction = { type: "ask-witness", at: now };
      if (!event.reachable) {
        const { witnessed, witnessSince: _s, ...rest } = state;
        if (witnessed !== true) return { state: rest, actions: [ask] };
        const r = reconcile(rest, now, "witness", selfName(state));
        return { state: r.state, actions: [...r.actions, { type: "forget-flows" }, ask] };
      }
      // The witness counts once it has answered for settleMs with still no peer heard, the round
      // asked as the last peer fell silent too: a cut that heals brings the witness and the peers
      // back together, and its answer can come first, a few ms before their frames. Counted at
      // once, it gave a node cut off with a witness every bucket as the cut healed, and its peers,
      // hearing it serve, gave up theirs to it. A round that answered slowly waited on our cut (its
      // echo and ARP held until the cut healed, up to the ping's timeout): the witness answers
      // from its arrival on, not from the round's start. Peers that all died are taken over
      // settleMs later than by an answer counted at once.
      const settle = cfg.settleMs ?? DEFAULT_SETTLE_MS;
      const answeredFrom = now - event.askedAt <= settle / 2 ? event.askedAt : now;
      const since = state.witnessSince ?? answeredFrom;
      const ok = answeredFrom - since >= settle;
      if (!ok || state.witnessed === true) return { state: { ...state, witnessSince: since }, actions: [ask] };
      const r = reconcile({ ...state, witnessSince: since, witnessed: true }, now, "witness", selfName(state));
      return { state: r.state, actions: [...r.actions, ask] };
    }
    case "set-up": {
      if (state.quiet?.until !== Infinity) return { state, actions: [] };
      const until = now + (cfg.learnMs ?? 0);
      const listening: FarmState = { ...state, quiet: { until, reason: "start" }, wakeAt: until, learnFrom: learnFromNow(state), learnSince: now };
      // A farm that starts with no peer serving has no flows to learn: it takes its share without listening.
      return learningDone(listening, now) !== listening ? reconcile(listening, now, "start", selfName(state)) : { state: listening, actions: [] };
    }
    case "tick": {
      if (state.quiet !== undefined && state.mode !== "drain") {
        // Before the end: asking() asks again the peers that have not told us yet.
        if (now < state.quiet.until) return { state, actions: [] };
        // Past it: a start's or lapse's listening waits on for the reports still awaited, up to reportWaitMs.
        const awaited = awaitedReports(state);
        if (learning(state) && waitsOn(state) && now < reportsDeadline(state)) return { state, actions: [] };
        const r = reconcile(unquiet(state), now, state.quiet.reason, selfName(state));
        if (!learning(state) || awaited.length === 0) return r;
        return { state: r.state, actions: [{ type: "flows-untold", nodes: awaited, waitedMs: now - state.learnSince }, ...r.actions] };
      }
      if (state.mode !== "drain" || state.drainDeadline === undefined) return { state, actions: [] };
      if (now >= state.drainDeadline) return teardown(state, now, "drain", "stopped: drain_timeout reached");
      return { state: { ...state, wakeAt: Math.min(state.drainDeadline, now + DRAIN_POLL_MS) }, actions: [{ type: "count-connections" }] };
    }
    case "stop": {
      if (state.mode === "stopped") return { state, actions: [] };
      return teardown(state, now, "stop", "stopped");
    }
    case "link": {
      if (state.linkDown === !event.up) return { state, actions: [] };
      if (!event.up) {
        const { wakeAt } = state;
        const next: FarmState = { ...unquiet(state), linkDown: true, ...(state.mode === "drain" && wakeAt !== undefined ? { wakeAt } : {}) };
        const r = reconcile(next, now, "link-down", selfName(state));
        return state.mode === "stopped" ? r : { state: r.state, actions: [...r.actions, { type: "forget-flows" }] };
      }
      // Back: our peers' deaths may only be our own isolation. Listen first;
      // a peer still silent after settleMs is dead as far as anyone can tell.
      return reconcile(quietFor({ ...state, linkDown: false }, now, "link-up"), now, "link-up", selfName(state));
    }
    case "lapsed":
      return lapsed(state, now);
    case "flows-asked":
      // Whatever our mode: a node that answers nothing tells so (one empty part), which ends its wait for us.
      if (state.mode === "stopped" || event.node === cfg.self || state.peers[event.node] === undefined) return { state, actions: [] };
      return { state, actions: [{ type: "tell-flows", node: event.node, askedAt: event.askedAt }] };
    case "flows-told":
      return flowsTold(state, event, now);
    case "flows-check":
      if (state.mode === "stopped" || event.node === cfg.self || state.peers[event.node] === undefined || event.flows.length === 0) return { state, actions: [] };
      // Not the flows of buckets that are ours under our view: we take those at their next datagram
      // (after a lapse, say, we forgot them and hold nothing yet), so the records naming us stay.
      return { state, actions: [{ type: "disclaim-flows", node: event.node, askedAt: event.askedAt, flows: event.flows, own: ((state.advertised >>> cfg.self) & 1) === 1 ? bucketsOf(tableOf(cfg), cfg.self, state.advertised) : [] }] };
    case "flows-disclaimed": {
      const p = state.peers[event.node];
      if (state.mode === "stopped" || event.node === cfg.self || p === undefined || p.live !== "up" || event.flows.length === 0) return { state, actions: [] };
      return { state, actions: [{ type: "unrecord-flows", flows: event.flows, value: flowOwnerValue(event.node, state.flowEpochs[event.node] ?? 0) }] };
    }
  }
}

/**
 * Keeps `rejoining`: without a witness, the peers heard again as this node
 * stops being alone (it served every bucket meanwhile) are marked until their
 * first advert; a peer that dies again is unmarked, and being alone again
 * starts afresh.
 */
function withRejoining(after: FarmState, before: FarmState, peer: number, live: PeerLive, servedAlone: boolean): FarmState {
  const marked = before.rejoining ?? [];
  let list = isAlone(after) ? [] : live === "dead" ? marked.filter((x) => x !== peer) : marked;
  if (servedAlone && live === "up" && before.mode !== "stopped" && !list.includes(peer)) list = [...list, peer];
  const { rejoining: _r, ...rest } = after;
  return list.length > 0 ? { ...rest, rejoining: list } : rest;
}

/**
 * Whether this node, which served alone without a witness, listens before
 * taking buckets again because peer `peer` served apart from it (its first
 * advert since says "in"): its records of the flows it answered meanwhile
 * would make it answer those beside the peer. Peers that were not alone (their
 * view holds a third node) did not serve everything, so the alone one yields
 * to them; of two nodes that were both alone, the higher index yields.
 */
function yields(state: FarmState, peer: number, advert: FarmAdvert): boolean {
  const others = advert.view & ~((1 << peer) | (1 << state.config.self));
  return others !== 0 || peer < state.config.self;
}

/**
 * Starts a listening time in the running modes (a draining or stopped node
 * takes nothing anyway), or lengthens the one that runs. Whatever its reason
 * (a lapse, or a heal: heard again after hearing no one, the carrier back) it
 * learns the peers' flows as a start's does: the peers that may keep flows
 * are asked for them, and past `until` it lasts while a report is awaited,
 * up to reportWaitMs (awaitedReports). Cut off, we forgot our flows and held
 * nothing, while the peers took our buckets and the flows in them; watching
 * alone misses those that send nothing while we listen, or while views
 * disagree (lab farm-udp at load 22: a healed h2 took its buckets 120 ms
 * before h1's and h3's reports came, and answered their flows beside them).
 */
function quietFor(state: FarmState, now: number, reason: QuietReason, ms = state.config.settleMs ?? DEFAULT_SETTLE_MS): FarmState {
  if (state.mode === "stopped" || state.mode === "drain") return state;
  // Still waiting for the table before a start's listening time: that listening covers this one.
  if (state.quiet?.until === Infinity) return state;
  const until = Math.max(now + ms, state.quiet?.until ?? -Infinity);
  if (learning(state)) return { ...state, quiet: { until, reason }, wakeAt: until };
  const { told: _t, reports: _r, retell: _e, askedAt: _a, asked: _k, ...rest } = state;
  return { ...rest, quiet: { until, reason }, wakeAt: until, learnFrom: learnFromNow(state), learnSince: now };
}

/**
 * The kernel stopped accepting our buckets while we were not looking (the
 * daemon was frozen or stalled past the lease), and peers that saw us silent
 * may have taken them. Our ruleset is written empty (which re-arms the lease:
 * holding nothing, it endangers no one), we forget what peers told us (it
 * predates the pause) and advertise again, so that only adverts written after
 * hearing this one let us take a bucket back: peers that took ours hold them
 * until they hear us, drop them, and say so. The role stays: peers that did
 * not see us go keep their buckets, and we take ours back within a heartbeat
 * round. (Membership stretches its deadlines over our own stall, so peers
 * that were alive are not thought dead now.)
 */
function lapsed(state: FarmState, now: number): Stepped<FarmState, FarmAction> {
  if (state.mode === "stopped") return { state, actions: [] };
  const actions: FarmAction[] = [];
  if (state.arpOwner) actions.push({ type: "arp-responder", on: false });
  // Flows first: the write re-arms the lease, under which our stale records would be answered again.
  actions.push({ type: "forget-flows" }, { type: "write", held: [], arpOwner: false, rearm: true }, { type: "advertise", role: state.role, view: state.advertised });
  const peers = state.peers.map(sameLife);
  // Our flows were forgotten: listen to the clients' flows again before taking buckets.
  const learnMs = state.config.learnMs ?? 0;
  const base: FarmState = { ...state, peers, held: [], arpOwner: false, advertisedAt: now };
  const { told: _t, reports: _r, retell: _e, askedAt: _a, asked: _k, ...fresh } = base;
  const r = reconcile(learnMs > 0 ? { ...quietFor(fresh, now, "lapsed", learnMs), learnFrom: learnFromNow(base), learnSince: now } : fresh, now, "lapsed", selfName(state));
  let next = r.state;
  const out = [...actions, ...r.actions];
  if (state.held.length > 0 && !r.actions.some((a) => a.type === "rebalanced")) {
    const rebalance = { at: now, reason: "lapsed" as const, node: selfName(state), gained: 0, lost: state.held.length };
    next = { ...next, lastRebalance: rebalance };
    out.push({ type: "rebalanced", rebalance, held: 0, view: next.advertised });
  }
  return { state: next, actions: out };
}

/** Decodes a peer's advert fields; undefined when they do not make a farm advert. */
export function parseAdvert(role: string, view: number, nodeCount: number): FarmAdvert | undefined {
  const r = (["wait", "in", "out", "drain", "stopped"] as const).find((x) => `farm:${x}` === role);
  if (r === undefined) return undefined;
  if (!isMembers(view, nodeCount)) return undefined;
  return { role: r, view };
}

/** The advert's role text on the wire. */
export function advertRole(role: FarmRole): string {
  return `farm:${role}`;
}
