/**
 * The mirror core: which copy may serve, and what the PRIM does with writes.
 * It runs beside a module's failover core (src/core/module/): that one
 * decides which node runs the module; this one tells it when this node's
 * copy must not be served (a gate: WAIT with a reason), and decides on the
 * data path of a running node. Pure: the driver feeds events, carries out
 * the actions in order (see MirrorAction) and owns time.
 *
 * Rules (the numbers are used in notes and tests):
 * 1. Never serve a copy not known to be up to date. After a start, a copy
 *    is known to be up to date only once compared with the peer's over the
 *    replication link, or if this node was the last to write (it wrote
 *    alone: peerBehind). Outdated and inconsistent copies never serve.
 *    forceprim overrides, and is recorded in the copy.
 * 2. Before a node writes without its peer in sync (it takes over, or goes
 *    on alone), it moves to a new gen and persists it; its old gen is the
 *    base of its journal.
 * 3. A PRIM whose link went down while its peer is alive holds write
 *    acknowledgements until (b) the peer is dead, the module core keeps the
 *    module here (ALONE: with a witness, only after a witness round that
 *    started after the loss answered) and a heartbeat round saying ALONE
 *    has left on its links (alone-announce.ts), or (a) the peer publishes a
 *    persisted outdated/inconsistent mark, or the link is back. So a SECOND
 *    that never saw a write is never made to miss an acknowledged one, and
 *    a PRIM cut off from its peer and its witness acknowledges nothing
 *    before it stops.
 * 4. A SECOND whose link went down while the PRIM lives declares its copy
 *    outdated (persisted, then published) when it hears the PRIM say ALONE,
 *    or when it still hears the PRIM once the detach grace has run. A PRIM
 *    it no longer hears (killed, frozen) never outdates it, however late
 *    the heartbeat's dead verdict comes: the SECOND holds every acknowledged
 *    write (rule 3) and takes over. Why: at the rule, stepMirror.
 * 5. When the link comes up the copies are compared: same gen: in sync;
 *    one newer: the running node resyncs the other (from its journal when
 *    the other is at the journal's base, else by full compare); both wrote
 *    apart (split brain): the running node's tree wins and the other's
 *    divergent files are kept aside, never merged silently.
 *    While both still run, nothing moves until the module core has
 *    settled which one keeps running. Live ops reach the other copy only
 *    once it has accepted that keeping resync; until then they are
 *    journaled here and the resync carries them (keepingResyncPending).
 * 6. A copy being resynced is inconsistent (persisted before the first
 *    byte) until the resync completes; then it takes the sender's gen.
 *    A live op that a copy behind (outdated or inconsistent) cannot apply
 *    because it lacks the name yet is the resync's to carry, not a fault
 *    (behind.ts).
 * 7. New copies (gen "0:": they never held the cluster's data, but their
 *    folders may hold files of their own). When two meet, at most one is
 *    the source of the first sync, and both nodes tell which from the same
 *    facts: the names, `prefer:` and whether each node's folders held files
 *    when its daemon started (each copy says so in its hello; fixed for the
 *    daemon's life, so both nodes see the same pair). The source is the
 *    preferred node's copy (the operator said so); else the only one whose
 *    folders hold files (an empty folder is never picked over files
 *    unasked); else, both empty, the lower name's; else, both holding
 *    files, none: both wait until forceprim names one (or `prefer:` is
 *    set). A peer that does not tell (the previous release) leaves the
 *    preferred node, else the lower name, as that release decides.
 *    The other copy persists itself inconsistent at
 *    once, before its gate or mark changes: it is never served on its own
 *    until a first sync completed into it (DRBD's Inconsistent), so a
 *    source that dies before or during that sync leaves it waiting, never
 *    taking over with a copy that never received the cluster's data.
 *    A new copy is behind any copy that ever held data, whatever that
 *    copy's mark. Every resync into a new copy keeps the files it replaces
 *    or removes aside first, as after a split brain.
 * 8. A record that could not be saved (a full state dir, an I/O error)
 *    holds the copy still until it is (unsaved.ts): not served (a takeover
 *    waits in WAIT, its gate saying why), no write acknowledged alone (held
 *    instead), the peer told the copy on disk (or an outdated or
 *    inconsistent mark, which only says less); the driver also applies
 *    nothing of the peer and takes no resync meanwhile, so its PRIM goes
 *    on alone. The latest record is written again every saveRetryMs; once
 *    it is on disk everything resumes, with a note.
 * 9. The ALONE journal (journal-state.ts). One that gave up holding the
 *    changes (lost on a full state dir, unreadable, over its limits) makes
 *    the next resync compare every file, and status says so and why until a
 *    completed resync empties it. One that could not be opened at start
 *    holds the copy still as rule 8 does (no takeover, nothing acknowledged
 *    alone) and is tried again every saveRetryMs until it opens.
 */
import type { Stepped } from "../step.ts";
import { resyncBegunNote, resyncFailed, resyncFailedNote, sayResyncStart } from "./resync-retry.ts";
import { bumpGen, compareGens, type CopyRecord, EMPTY_GEN, freshCopy, genCounter, type GenOrder } from "./copy.ts";
import type { DataMark, MirrorAction, MirrorInput, MirrorState, MirrorTimers, PeerCopy, WriteMode } from "./types.ts";
import { copyOnDisk, saveRetryMs, savedNote, unsavedGate, unsavedNote } from "./unsaved.ts";
import { journalGate, journalOpenedNote, journalUnopenedNote } from "./journal-state.ts";
import { coveredNote, faultNote, leftNote, leftToResync, NO_BEHIND_FAILURES } from "./behind.ts";
import { aloneByVerdict, announceDue, announceWakeAt } from "./alone-announce.ts";

export interface MirrorInit {
  readonly module: string;
  readonly self: string;
  readonly peer: string;
  readonly timers: MirrorTimers;
  /** The persisted record; null when there is none (a new node). */
  readonly copy: CopyRecord | null;
  /** The kernel's boot id now (see CopyRecord.applyingBoot). */
  readonly boot: string;
  /** The module's preferred node (`prefer:`), null when none: rule 7 picks the first sync's source by it. */
  readonly prefer?: string | null;
  /** This node's folders held files when its daemon started, measured before any mount (rule 7); null: not measured. */
  readonly holdsFiles?: boolean | null;
}

type Mut = { -readonly [K in keyof MirrorState]: MirrorState[K] };

function running(s: MirrorState): boolean {
  return s.role === "PRIM" || s.role === "ALONE";
}

function peerAlive(s: MirrorState): boolean {
  return s.peerLiveness === "up" || s.peerLiveness === "late";
}

/**
 * How our copy relates to the peer's. "initial": two new copies, neither the
 * other's target yet (rule 7); "neither": two new copies, neither up to
 * date (no source: only forceprim makes one).
 */
function order(copy: CopyRecord, peer: PeerCopy): GenOrder | "initial" | "neither" {
  const oursNew = copy.gen === EMPTY_GEN;
  const peerNew = peer.gen === EMPTY_GEN;
  if (oursNew && peerNew) {
    // One of them already gave way to the other at an earlier first contact.
    if (copy.data === "uptodate" && peer.data === "uptodate") return "initial";
    if (copy.data === "uptodate") return "ours-newer";
    if (peer.data === "uptodate") return "peer-newer";
    return "neither";
  }
  const o = compareGens(copy, peer);
  // A new copy never held the cluster's data: it is no contender, even against an outdated copy
  // (then neither holds the newest data, and only forceprim serves one).
  if (oursNew || peerNew) return o;
  // A copy that is outdated or half-resynced is no contender: the other one is the source.
  if (o !== "same" && copy.data === "uptodate" && peer.data !== "uptodate") return "ours-newer";
  if (o !== "same" && copy.data !== "uptodate" && peer.data === "uptodate") return "peer-newer";
  return o;
}

/**
 * After a split brain, whose tree is kept: the node that runs the module;
 * if neither does, the higher gen counter (the later takeover), then the
 * lower node name, so both nodes reach the same answer.
 */
function weKeepOurs(s: MirrorState, peer: PeerCopy): boolean {
  if (running(s) !== peer.running) return running(s);
  const a = genCounter(s.copy.gen);
  const b = genCounter(peer.gen);
  if (a !== b) return a > b;
  return s.self < s.peer;
}

/** The peer's copy holds everything this one does (the link is up, same gen, nothing missing). */
export function peerInSync(s: MirrorState): boolean {
  return inSync(s);
}

function inSync(s: MirrorState): boolean {
  // An unclean copy (either side) may hold writes never acknowledged that the other lacks.
  return s.link !== null && !s.unclean && !s.link.unclean && !s.gap && order(s.copy, s.link) === "same" && s.link.data === "uptodate";
}

/**
 * Rule 7: which of two new copies is the source of their first sync, and
 * why; null when none is until the operator names one (both folders hold
 * files). A function of the pair alone, so both nodes reach the same answer:
 * swapping self and peer with their facts gives the same source.
 */
export function firstSyncSource(
  self: string,
  peer: string,
  prefer: string | null,
  ownFiles: boolean | null = null,
  peerFiles: boolean | null = null,
): { source: string | null; why: string } {
  if (prefer === self || prefer === peer) return { source: prefer, why: "the preferred node" };
  const lower = self < peer ? self : peer;
  if (ownFiles === null || peerFiles === null) return { source: lower, why: "no preferred node, and not both copies tell whether their folders hold files: the lower name" };
  if (ownFiles && !peerFiles) return { source: self, why: `no preferred node: only ${self}'s folders hold files` };
  if (peerFiles && !ownFiles) return { source: peer, why: `no preferred node: only ${peer}'s folders hold files` };
  if (!ownFiles) return { source: lower, why: "no preferred node and no files in either: the lower name" };
  return { source: null, why: "both new copies hold files of their own and no node is preferred" };
}

function sourceOf(s: MirrorState, peer: PeerCopy): { source: string | null; why: string } {
  return firstSyncSource(s.self, s.peer, s.prefer, s.holdsFiles, peer.holdsFiles ?? null);
}

/** Two new copies whose folders both hold files, no node preferred: none is served until the operator names one. */
function noSource(s: MirrorState): boolean {
  return s.link !== null && order(s.copy, s.link) === "initial" && sourceOf(s, s.link).source === null;
}

function gateOf(s: MirrorState): string | null {
  if (s.unsaved !== null) return unsavedGate(s, s.unsaved, running(s));
  if (s.journalUnopened !== null && !running(s)) return journalGate(s, s.journalUnopened);
  return dataGate(s);
}

/** Whether this copy may be served as far as its data goes (rules 1 and 7). */
function dataGate(s: MirrorState): string | null {
  if (running(s)) return null;
  const c = s.copy;
  if (c.data === "inconsistent" && c.gen === EMPTY_GEN) {
    return `this copy never received its first sync from ${s.peer}: it is not served until that sync ends (forceprim serves it anyway, as the cluster's data)`;
  }
  if (c.data === "inconsistent") return `this copy is being resynced from ${s.peer} and is incomplete: it is never served until the resync ends`;
  if (c.data === "outdated" && s.link !== null && s.link.gen === EMPTY_GEN) {
    return `this copy is outdated and ${s.peer}'s is new (never synced): neither holds the newest data (forceprim serves this one)`;
  }
  if (c.data === "outdated") return `this copy is outdated: ${s.peer} has newer data (forceprim serves it anyway and loses what ${s.peer} wrote)`;
  if (!s.confirmed && noSource(s)) {
    return `both new copies hold files of their own: set prefer: or run \`vigil forceprim ${s.module}\` on the node whose folder is the cluster's data (the other's files are then kept aside at its first sync)`;
  }
  // A node that was about to hand its gen to the peer when it stopped cannot tell whether the peer took it (and wrote since).
  if (!s.confirmed && !(c.peerBehind && c.resyncEnding !== true)) {
    return `this copy is not known to be up to date: waiting to compare it with ${s.peer}'s, which may be newer (forceprim serves it anyway)`;
  }
  return null;
}

function markOf(s: MirrorState): DataMark {
  const mark = copyMark(s, s.copy);
  // Rule 8: an unsaved record is not told, unless it says less than the one on disk (its
  // peer then acknowledges writes alone; after a restart rule 1 finds the newer gen anyway).
  if (s.unsaved === null || mark === "o" || mark === "i") return mark;
  return copyMark(s, copyOnDisk(s.unsaved));
}

function copyMark(s: MirrorState, copy: CopyRecord): DataMark {
  if (copy.data === "outdated") return "o";
  if (copy.data === "inconsistent") return "i";
  return dataGate({ ...s, copy, role: "SECOND" }) === null ? "u" : "n";
}

function writesOf(s: MirrorState): WriteMode {
  const w = dataWrites(s);
  // Rule 8: alone needs the bumped gen on disk; rule 9: and a journal.
  return w === "alone" && (s.unsaved !== null || s.journalUnopened !== null) ? "hold" : w;
}

/**
 * The peer's copy is to be resynced keeping its divergent files aside (a
 * split brain, a peer whose data is newer, a new copy's first sync: rules 5
 * and 7), as the core decides it when the resync starts.
 */
function peerKeepsAside(s: MirrorState, peer: PeerCopy): boolean {
  const o = order(s.copy, peer);
  return o === "diverged" || o === "peer-newer" || o === "initial" || s.splitBrain !== null || peer.gen === EMPTY_GEN;
}

/**
 * The rule for live ops and a keeping resync: from the link's coming up
 * until the peer has accepted the resync that keeps its divergent files
 * aside (its answer to resync-begin-keep), live ops are not sent to it:
 * they are journaled here and acknowledged once marked, as writes alone
 * are, and that resync carries their paths. Once it has begun they flow
 * again, and the peer keeps each path an op changes before applying it
 * (its keeper, keep-aside.ts, exists from its answer on). A try that fails
 * holds them again until the next one is accepted.
 *
 * Why not have the peer keep what such ops change: only this node knows in
 * time that the resync will keep. The peer learns it from resync-begin-keep;
 * its own comparison of the copies waits for its hello, which our first ops
 * may overtake on the other connection; and the driver may widen a plan to
 * keep only just before the resync begins (resync-keeps). An op applied
 * there with no keeper truncates, overwrites, unlinks or renames over a
 * file written during the split brain (or a new copy's own file) with
 * nothing kept, and the resync then finds nothing left to keep: the data is
 * lost silently. Left to the resync, the path reaches the peer only through
 * its passes, and the keeper copies it first.
 *
 * Why acknowledging once journaled is enough: the peer's copy is not on this
 * node's line of writes (its gen diverged from ours, or it is new, or ahead
 * of ours on a line this node left when forced), so it holds none of this
 * node's writes since they parted, and a few live ops applied to its tree
 * would not change that; it takes our gen only as the resync ends, after
 * every path journaled before the last pass was carried. Until then it is
 * outdated (it gave way, rule 5), inconsistent (rule 7, and rule 6 from the
 * resync's start), or, while both still run, the split brain's other tree.
 * The order holds: an op is marked before its call returns, the marks in
 * before the first pass are read by it (each path after its ops), and an op
 * sent once the peer accepted reaches its keeper after the resync's start.
 * The cost: in that window (while both still run, then from the decision to
 * the peer's answer) a write has no second copy, as before the link came up.
 *
 * Mode async: a peer that ran the module and died (or stopped) before its
 * last acknowledged writes reached us says so in its hello (`unsent`,
 * mayHoldUnsentWrites in copy.ts). It keeps what the resync changes on its
 * own (we ask it a plain resync-begin: its copy is on our line of writes,
 * behind it, plus writes we never got), so the same holds for it: our live
 * ops wait for the resync's start, or they would overwrite or remove such a
 * write there with nothing kept, a write acknowledged to the service lost
 * silently. Not on `unclean` alone: a peer that rebooted while applying our
 * ops lost at most what we still hold, and keeping our writes from a peer
 * that holds every one of them would drop their second copy for nothing
 * (rule 3). A peer of the previous release does not tell it: there the old
 * window stays.
 */
function keepingResyncPending(s: MirrorState): boolean {
  return s.link !== null && !s.resyncBegun && (s.resyncKeeps || peerKeepsAside(s, s.link) || s.link.unsent === true);
}

function dataWrites(s: MirrorState): WriteMode {
  // The peer's copy is known incomplete (it said so, persisted, before its failed ack) and no
  // resync runs: writes are journaled and acknowledged here, never left waiting on it.
  if (s.link !== null) return (s.link.data !== "uptodate" && !s.resyncing) || keepingResyncPending(s) ? "alone" : "replicate";
  if (s.peerMark === "o" || s.peerMark === "i") return "alone";
  // Dead is not enough: the module core must also keep the module here (ALONE). A node cut off
  // from its peer and its witness is told "dead" too, and stops the service instead; an
  // acknowledgement given meanwhile would be of a write the node taking over never sees.
  // And the ALONE must have left on the heartbeat's links first (rule 4, alone-announce.ts).
  if (aloneByVerdict(s)) return s.aloneAnnounced ? "alone" : "hold";
  return "hold";
}

export function initMirror(init: MirrorInit, now: number): Stepped<MirrorState, MirrorAction> {
  const copy = init.copy ?? freshCopy(now);
  const s: MirrorState = {
    module: init.module,
    self: init.self,
    peer: init.peer,
    prefer: init.prefer ?? null,
    holdsFiles: init.holdsFiles ?? null,
    timers: init.timers,
    copy,
    confirmed: false,
    unclean: copy.writing || (copy.applyingBoot !== null && copy.applyingBoot !== init.boot),
    role: "STOP",
    peerLiveness: "unknown",
    peerMark: null,
    peerRunning: false,
    link: null,
    detachedAt: null,
    peerHeardAt: null,
    peerAlone: false,
    aloneAnnounced: false,
    announceAskedAt: null,
    resyncing: false,
    resyncBegun: false,
    resyncKeeps: false,
    resyncRetryAt: null,
    resyncRetrying: null,
    gap: false,
    boot: init.boot,
    splitBrain: null,
    failedBehind: NO_BEHIND_FAILURES,
    unsaved: null,
    saveRetryAt: null,
    journalLost: null,
    journalUnopened: null,
    journalRetryAt: null,
    writes: "hold",
    gate: null,
    mark: "n",
  };
  const actions: MirrorAction[] = init.copy === null ? [{ type: "persist", copy }] : [];
  const gate = gateOf(s);
  const mark = markOf(s);
  actions.push({ type: "gate", blocked: gate }, { type: "mark", mark });
  return { state: { ...s, gate, mark }, actions };
}

export function stepMirror(state: MirrorState, ev: MirrorInput, now: number): Stepped<MirrorState, MirrorAction> {
  const s: Mut = { ...state };
  const out: MirrorAction[] = [];
  const persist = (copy: CopyRecord): void => {
    s.copy = copy;
    out.push({ type: "persist", copy });
  };
  const note = (level: "info" | "warn" | "error", kind: Extract<MirrorAction, { type: "note" }>["kind"], detail: string): void => {
    out.push({ type: "note", level, kind, detail });
  };

  switch (ev.type) {
    case "tick":
      if (s.unsaved !== null && s.saveRetryAt !== null && now >= s.saveRetryAt) {
        s.saveRetryAt = null;
        persist(s.copy);
      }
      if (s.journalUnopened !== null && s.journalRetryAt !== null && now >= s.journalRetryAt) {
        s.journalRetryAt = null;
        out.push({ type: "open-journal" });
      }
      break;
    case "journal-unopened":
      if (s.journalUnopened === null) {
        s.journalUnopened = { detail: ev.detail, since: now };
        note("error", "journal-unopened", journalUnopenedNote(s, ev.detail));
      } else s.journalUnopened = { ...s.journalUnopened, detail: ev.detail };
      s.journalRetryAt = now + saveRetryMs(s);
      break;
    case "journal-opened":
      if (s.journalUnopened !== null) note("info", "journal-opened", journalOpenedNote(s.journalUnopened, now));
      s.journalUnopened = null;
      s.journalRetryAt = null;
      break;
    case "journal-lost":
      // The first reason stays: it is the one that made the journal give up.
      if (s.journalLost === null) s.journalLost = { detail: ev.detail, since: now };
      break;
    case "journal-cleared":
      s.journalLost = null;
      break;
    case "persist-failed":
      if (s.unsaved === null) {
        s.unsaved = { detail: ev.detail, since: now, saved: ev.saved };
        note("error", "record-unsaved", unsavedNote(s, ev.detail, running(s)));
      } else s.unsaved = { ...s.unsaved, detail: ev.detail };
      s.saveRetryAt = now + saveRetryMs(s);
      break;
    case "persisted":
      if (s.unsaved !== null) note("info", "record-saved", savedNote(s.unsaved, now));
      s.unsaved = null;
      s.saveRetryAt = null;
      break;
    case "role": {
      const was = running(s);
      s.role = ev.role;
      // The announcement holds for one ALONE: the next one is announced again.
      if (ev.role !== "ALONE") {
        s.aloneAnnounced = false;
        s.announceAskedAt = null;
      }
      // Rule 8: what was decided for running here and never saved is forgotten (see unsaved.ts).
      if (was && !running(s) && s.unsaved !== null) s.copy = copyOnDisk(s.unsaved);
      // Running stops only once the folders are unmounted: nothing is in flight any more.
      if (was && !running(s) && ev.unacked === true) s.unclean = true;
      else if (was && !running(s) && s.copy.writing) persist({ ...s.copy, writing: false });
      break;
    }
    case "alone-announced":
      if (s.role === "ALONE" && s.announceAskedAt !== null) {
        s.aloneAnnounced = true;
        s.announceAskedAt = null;
      }
      break;
    case "peer":
      s.peerLiveness = ev.liveness;
      if (ev.liveness === "dead") {
        s.detachedAt = null;
        s.peerMark = null;
        s.peerRunning = false;
        s.peerAlone = false;
      }
      break;
    case "peer-mark": {
      s.peerMark = ev.mark;
      s.peerRunning = ev.running;
      s.peerAlone = ev.alone === true;
      const at = Math.min(ev.heardAt ?? now, now);
      if (s.peerHeardAt === null || at > s.peerHeardAt) s.peerHeardAt = at;
      break;
    }
    case "link-up": {
      s.link = ev.peer;
      s.resyncRetryAt = null;
      s.peerRunning = ev.peer.running;
      if (ev.gap) s.gap = true;
      s.detachedAt = null;
      const o = order(s.copy, ev.peer);
      const f = o === "initial" ? sourceOf(s, ev.peer) : null;
      if (f !== null && !running(s) && f.source === s.peer) {
        // Rule 7: persisted before the gate and the mark say anything of this copy.
        persist({ ...s.copy, data: "inconsistent" });
        note("info", "first-contact", `first contact of two new copies: ${s.peer}'s is the source of the first sync (${f.why}); this copy is not served until that sync ends`);
      } else if (f !== null && !running(s) && f.source === null && !s.confirmed) {
        // Rule 7: neither is picked over the other's files unasked; the gate names the choice.
        note("warn", "first-contact", `first contact of two new copies: ${f.why}; none is served until \`prefer:\` or forceprim names the cluster's data`);
      } else if (o === "neither") {
        note("warn", "first-contact", `neither this copy nor ${s.peer}'s ever completed a first sync: none is served until forceprim names one`);
      } else if (o === "same" || o === "ours-newer" || o === "initial") {
        if (f !== null && !s.confirmed) note("info", "first-contact", `first contact of two new copies: this one is the source of the first sync (${f.source === s.self ? f.why : "it runs the module"})`);
        else if (!s.confirmed) note("info", "confirmed", o === "same" ? `copy compared with ${s.peer}'s: the same data (gen ${s.copy.gen})` : `copy compared with ${s.peer}'s: ours is newer (gen ${s.copy.gen}, theirs ${ev.peer.gen})`);
        s.confirmed = true;
        // Both unclean (each died while writing at this gen): one side must give way; the same on both nodes.
        // A peer copy that is itself incomplete is never the reference.
        const giveWay = s.unclean && !running(s) && ev.peer.data === "uptodate" && (ev.peer.running || !ev.peer.unclean || s.self > s.peer);
        if (o === "same" && giveWay) {
          // Our daemon died while writing: our copy may hold writes never acknowledged, which the peer lacks.
          persist({ ...s.copy, data: "outdated" });
          note("warn", "outdated", `this copy was being written when this node's daemon stopped: ${s.peer}'s copy is compared with it and resyncs it`);
        } else if (o === "same" && s.copy.data === "outdated" && s.copy.gen !== EMPTY_GEN) {
          // Same gen: the PRIM never wrote alone since we parted, so nothing acknowledged is missing here (rule 3).
          persist({ ...s.copy, data: "uptodate" });
        }
      } else if (o === "peer-newer") {
        if (s.copy.data === "uptodate" && !running(s) && s.copy.gen === EMPTY_GEN) {
          // Rule 7: a new copy never held the cluster's data; DRBD would call it Inconsistent.
          persist({ ...s.copy, data: "inconsistent" });
          note("info", "first-contact", `${s.peer}'s copy holds the cluster's data (gen ${ev.peer.gen}) and this new copy never received it: not served until its first sync ends`);
        } else if (s.copy.data === "uptodate" && !running(s)) {
          persist({ ...s.copy, data: "outdated" });
          note("warn", "outdated", `${s.peer} has newer data (gen ${ev.peer.gen}, ours ${s.copy.gen}): this copy waits for a resync`);
        }
      } else {
        s.splitBrain = `both copies changed while apart (ours gen ${s.copy.gen}, ${s.peer}'s gen ${ev.peer.gen})`;
        const keep = weKeepOurs(s, ev.peer);
        note("error", "split-brain", `${s.splitBrain}: ${keep ? "this node's" : `${s.peer}'s`} tree is kept; the other's divergent files are kept aside`);
        if (s.copy.conflict === null) persist({ ...s.copy, conflict: `${s.splitBrain}; ${keep ? "this node's" : `${s.peer}'s`} tree was kept`, conflictKind: "split-brain" });
        // A node that runs keeps writing on its tree until the module core settles who keeps the
        // module; it is outdated only once it rests while the other one runs (below).
        if (keep) s.confirmed = true;
        else if (!running(s) && s.copy.data === "uptodate") persist({ ...s.copy, data: "outdated" });
      }
      break;
    }
    case "link-down":
      s.link = null;
      s.failedBehind = NO_BEHIND_FAILURES;
      if (s.resyncing) note("warn", "resync-failed", `resync to ${s.peer} interrupted: ${ev.detail}; it resumes when the link is back`);
      s.resyncing = false;
      s.resyncBegun = false;
      s.resyncKeeps = false;
      s.detachedAt = peerAlive(s) ? now : null;
      break;
    case "resync-ending":
      persist({ ...s.copy, resyncEnding: true });
      break;
    case "resync-done":
      s.resyncing = false;
      s.resyncBegun = false;
      s.resyncKeeps = false;
      s.unclean = false;
      s.gap = false;
      s.splitBrain = null;
      persist({ ...s.copy, data: "uptodate", peerBehind: false, resyncEnding: false, journalBase: null });
      // The peer took our gen: it is in sync from now on.
      if (s.link !== null) s.link = { ...s.link, gen: s.copy.gen, history: s.copy.history, data: "uptodate", unclean: false, unsent: false };
      note("info", "resync-done", `${s.peer} is in sync (gen ${s.copy.gen})`);
      s.resyncRetrying = null;
      break;
    case "resync-failed":
      // Tried again after a pause (at once on a live link could loop), or at the next link-up.
      s.resyncing = false;
      s.resyncBegun = false;
      s.resyncKeeps = false;
      s.resyncRetryAt = now + s.timers.resyncRetryMs;
      // The peer's copy is incomplete now (it persisted "inconsistent" before the first byte).
      if (ev.touched && s.link !== null && s.link.data === "uptodate") s.link = { ...s.link, data: "inconsistent" };
      // Refused by a peer whose heartbeats say its copy is outdated or inconsistent (rule 8: a record
      // it could not save; it takes neither ops nor resyncs meanwhile): not in sync, so writes go on
      // alone, journaled, instead of waiting for a resync it refuses until its state dir has room.
      else if (!ev.touched && s.link !== null && s.link.data === "uptodate" && (s.peerMark === "o" || s.peerMark === "i")) {
        s.link = { ...s.link, data: s.peerMark === "o" ? "outdated" : "inconsistent" };
      }
      {
        // Said once per reason, the tries after it quiet (resync-retry.ts).
        const failed = resyncFailed(s.resyncRetrying, ev.detail, now);
        s.resyncRetrying = failed.retrying;
        if (failed.say) note("warn", "resync-failed", resyncFailedNote(s.peer, ev.detail, s.timers.resyncRetryMs));
      }
      break;
    case "resync-begun": {
      const begun = resyncBegunNote(s.resyncRetrying, s.peer, now);
      if (begun !== null) note("info", "resync-start", begun);
      s.resyncRetrying = null;
      // Live ops flow to the peer again from here (keepingResyncPending).
      if (s.resyncing) s.resyncBegun = true;
      break;
    }
    case "resync-keeps":
      if (s.resyncing) s.resyncKeeps = true;
      break;
    case "resync-incoming":
      if (s.copy.data !== "inconsistent") persist({ ...s.copy, data: "inconsistent" });
      note("info", "resync-start", `${s.peer} resyncs this copy`);
      break;
    case "resync-complete":
      s.confirmed = true;
      s.unclean = false;
      s.splitBrain = null;
      persist({ ...s.copy, gen: ev.gen, history: ev.history.slice(0, 16), data: "uptodate", peerBehind: false, journalBase: null, writing: false });
      // Its copy is ours now: nothing its hello said of writes it might hold unsent stands (forceprim ran it since).
      if (s.link !== null) s.link = { ...s.link, gen: ev.gen, history: ev.history, data: "uptodate", unsent: false };
      note("info", "resync-done", `this copy is in sync with ${s.peer} (gen ${ev.gen})${coveredNote(s.failedBehind, s.peer)}`);
      s.failedBehind = NO_BEHIND_FAILURES;
      break;
    case "peer-refused":
      s.gap = true;
      note("warn", "apply-failed", `${s.peer} refused an op: ${ev.detail}; it is resent by a resync once ${s.peer} stands by`);
      break;
    case "peer-apply-failed":
      // Not in sync any more: the running node resyncs it (below) when no resync runs yet.
      if (s.link !== null) s.link = { ...s.link, data: "outdated" };
      note("warn", "apply-failed", `${s.peer} could not apply an op: ${ev.detail}; it is resynced`);
      break;
    case "apply-failed":
      if (s.copy.data === "uptodate") {
        persist({ ...s.copy, data: "outdated" });
        note("error", "apply-failed", `${ev.detail}: this copy is outdated until a resync`);
        break;
      }
      // Behind already (outdated or being resynced): the PRIM sends ops here only while it resyncs
      // this copy or is about to, and that resync carries what failed (behind.ts). Logged once per
      // link session and kind, then counted, so 100k of them cannot flood the log.
      if (leftToResync(ev.errno)) {
        s.failedBehind = { ...s.failedBehind, left: s.failedBehind.left + 1 };
        if (s.failedBehind.left === 1) note("info", "op-left-to-resync", leftNote(s.copy, s.peer, ev.detail));
      } else {
        s.failedBehind = { ...s.failedBehind, faults: s.failedBehind.faults + 1 };
        if (s.failedBehind.faults === 1) note("error", "apply-failed", faultNote(s.copy, ev.detail));
      }
      break;
    case "conflict-kept":
      if (ev.cause === "first-sync") {
        persist({
          ...s.copy,
          conflict: `this copy held files of its own before its first sync from ${s.peer}: those the sync replaced or removed are kept in ${ev.path}`,
          conflictKind: "first-sync",
        });
      } else if (ev.cause === "unsent-writes") {
        persist({
          ...s.copy,
          conflict: `this node ran ${s.module} in mode async and its daemon died before its last writes reached ${s.peer}, which took over; what the resync replaces here is kept in ${ev.path}`,
          conflictKind: "unsent-writes",
        });
      } else {
        persist({ ...s.copy, conflict: `${s.copy.conflict ?? `both copies changed while apart; ${s.peer}'s tree was kept`}; this node's copy is in ${ev.path}`, conflictKind: "split-brain" });
      }
      break;
    case "ack":
      if (s.copy.conflict !== null) {
        const { conflictKind: _kind, ...rest } = s.copy;
        persist({ ...rest, conflict: null });
      }
      break;
    case "shutdown":
      if (s.copy.applyingBoot !== null) persist({ ...s.copy, applyingBoot: null });
      break;
    case "forced":
      s.confirmed = true;
      if (s.copy.data !== "uptodate" || s.copy.forcedAt === null) {
        const was = s.copy.data;
        const neverSynced = s.copy.gen === EMPTY_GEN && was !== "uptodate";
        persist({ ...s.copy, data: "uptodate", forcedAt: now });
        note("warn", "forced", neverSynced
          ? `forceprim: serving this new copy, which never received its first sync from ${s.peer}: its folder becomes the cluster's data; what ${s.peer} holds is kept aside when they meet`
          : `forceprim: serving this copy (it was ${was}${s.copy.peerBehind ? "" : `; ${s.peer} may have newer data, which a later resync overwrites`})`);
      }
      break;
  }

  // A SECOND whose link is up applies ops from now on: if this machine goes down before a
  // clean stop syncs them, the copy may miss acknowledged ops (CopyRecord.applyingBoot).
  if (!running(s) && s.link !== null && s.copy.applyingBoot !== s.boot) persist({ ...s.copy, applyingBoot: s.boot });

  // Rule 5: after a split brain, a node that rests while the other runs gives way to its tree.
  if (!running(s) && s.link !== null && s.peerRunning && s.copy.data === "uptodate" && order(s.copy, s.link) === "diverged") {
    persist({ ...s.copy, data: "outdated" });
    note("warn", "outdated", `${s.peer} runs the module on its own tree after a split brain: this copy gives way to it`);
  }

  // Rule 4 is the mirror image of the PRIM's rule 3. With its link down, a PRIM acknowledges a
  // write alone only (a) once it heard our persisted outdated mark, given here, or (b) once its
  // heartbeat called us dead, its module core keeps the module there (ALONE) and a heartbeat
  // round saying ALONE has left on its links (dataWrites, alone-announce.ts). Only (b) lets it
  // get ahead of a copy that still says up to date, so (b) is what must outdate us first: we
  // outdate ourselves as we hear ALONE while our link is down (with the link up it still
  // replicates to us; an ALONE heard before our link went down counts when it goes, as the PRIM
  // may have lost its end first). Its first acknowledgement alone waits for that round, which
  // its driver sends at once (not at the next round, nor interval/4 after the previous extra
  // one, as the module core's own publish of ALONE may be): so whenever that PRIM dies after
  // acknowledging anything alone, its ALONE was on the wire before, reaches us before our dead
  // verdict on it (a verdict comes a deadtime after the last frame; a frame read late after a
  // stall of ours is taken before we judge), and finds us outdated, waiting, instead of taking
  // over without its acknowledged writes. Before, a PRIM dying between its first acknowledgement
  // alone and its ALONE frame (up to interval/4) was not covered. Left open: that one round
  // lost on every link and the PRIM dead before its next round (an interval later) says ALONE
  // again. The cost is on the PRIM: its first write acknowledged alone waits for the round to be
  // sent (a turn of its event loop and the sends; bench/alone-announce.ts), once per ALONE.
  // (a) is for the PRIM's sake only: it holds its writes while it hears us, and our mark lets it
  // go on. We give it once we still hear the PRIM detachGraceMs after our link went down: that
  // frame was sent by a running PRIM (one that was on its way when the link went down arrives
  // long before). A PRIM killed or frozen sends none, so we never give way to it and wait for the
  // heartbeat's verdict however late it comes (our own stall credit, a young PRIM's start-up
  // grace); it acknowledged nothing alone, since it neither heard our mark nor said ALONE. Were
  // it ALONE and unheard by us (each calls the other dead), both copies are written apart: rule 5
  // finds that split brain, and a witness prevents it; the fixed grace this replaces did not
  // prevent it either, as the heartbeat calls a silent PRIM dead before it runs out.
  if (!running(s) && s.detachedAt !== null && peerAlive(s) && s.copy.data === "uptodate") {
    const heardSince = s.peerHeardAt !== null && s.peerHeardAt >= s.detachedAt + s.timers.detachGraceMs;
    if (s.peerAlone || heardSince) {
      persist({ ...s.copy, data: "outdated" });
      s.detachedAt = null;
      note("warn", "outdated", s.peerAlone
        ? `${s.peer} goes on alone (it called this node dead) while the replication link is down: this copy is outdated from now on`
        : `the replication link to ${s.peer} is down while ${s.peer} runs: this copy is outdated from now on`);
    }
  }

  if (running(s)) {
    // Rule 3 (b): the ALONE goes out on the heartbeat's links before anything is acknowledged alone.
    // Asked before any persist of this step: a persist that fails (rule 8) stops the actions after it.
    if (announceDue(s, now)) {
      s.announceAskedAt = now;
      out.push({ type: "announce-alone" });
    }
    if (!s.copy.writing) persist({ ...s.copy, writing: true });
    // Rule 2: a new gen before writing without the peer in sync (not while
    // holding: the peer may still be in sync when the link comes back).
    const w0 = writesOf(s);
    // A gap alone (same gen) needs no new gen: the peer misses ops, not a history.
    const gapOnly = s.link !== null && s.gap && !s.unclean && !s.link.unclean && order(s.copy, s.link) === "same" && s.link.data === "uptodate";
    if (!s.copy.peerBehind && (w0 === "alone" || (s.link !== null && !inSync(s) && !gapOnly))) {
      const before = s.copy.gen;
      persist(bumpGen(s.copy, s.self, s.link?.gen ?? null, now));
      note("info", "gen-bumped", `writing without ${s.peer} in sync: gen ${before} -> ${s.copy.gen}`);
    }
    // Both run (a split brain heals): the module core settles who keeps it first; only then does the data move.
    if (s.link !== null && !inSync(s) && !s.resyncing && !s.peerRunning && (s.resyncRetryAt === null || now >= s.resyncRetryAt)) {
      s.resyncRetryAt = null;
      const o = order(s.copy, s.link);
      // An unclean peer may hold writes our journal never saw: only a full compare finds them.
      // Same gen after an outage: only the ops of the gap are missing, and the journal holds them.
      const base = o === "same" ? s.copy.gen : s.copy.journalBase;
      const journal = o !== "initial" && !s.link.unclean && base !== null && base !== EMPTY_GEN && s.link.gen === base;
      s.resyncing = true;
      // A new copy's own files (rule 7) are kept aside as a split brain's are.
      const keepConflicts = peerKeepsAside(s, s.link);
      s.resyncKeeps = keepConflicts;
      out.push({ type: "resync", mode: journal ? "journal" : "full", base: journal ? base : null, keepConflicts });
      const how = !journal ? "full compare" : s.journalLost !== null ? `full compare: ${s.journalLost.detail}` : "changes journaled since gen " + String(base);
      if (sayResyncStart(s.resyncRetrying)) note("info", "resync-start", `resync to ${s.peer} (${how})`);
    }
    const w = writesOf(s);
    if (w !== s.writes || ev.type === "role") {
      s.writes = w;
      out.push({ type: "writes", mode: w });
    }
  }

  const gate = gateOf(s);
  if (gate !== s.gate) {
    s.gate = gate;
    out.push({ type: "gate", blocked: gate });
  }
  const mark = markOf(s);
  if (mark !== s.mark) {
    s.mark = mark;
    out.push({ type: "mark", mark });
  }
  return { state: s, actions: out };
}

/**
 * When the driver must deliver the next tick (a retry), or null. The detach
 * grace needs none: it ends with a frame of the peer's (rule 4).
 */
export function mirrorWakeAt(s: MirrorState): number | null {
  const at = [s.saveRetryAt, s.journalRetryAt];
  if (running(s)) at.push(s.resyncRetryAt, announceWakeAt(s));
  const due = at.filter((t): t is number => t !== null);
  return due.length === 0 ? null : Math.min(...due);
}
