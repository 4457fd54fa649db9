/**
 * Events, actions and state of the mirror core (src/core/mirror/mirror.ts):
 * what a node knows of its copy and its peer's, whether it may serve from
 * its copy, and what the PRIM does with writes. A leaf apart from copy.ts.
 */
import type { ConflictKind, CopyRecord } from "./copy.ts";

export type MirrorModuleRole = "STOP" | "WAIT" | "ALONE" | "PRIM" | "SECOND";

/**
 * What a node tells its peer of its copy in every heartbeat, after its role:
 * - "u": up to date and known to be (may take over),
 * - "n": not known to be up to date (just started, waiting to compare),
 * - "o": outdated, PERSISTED: this node will not take over on its own,
 * - "i": inconsistent (being resynced), persisted likewise.
 */
export type DataMark = "u" | "n" | "o" | "i";

/** The peer's copy as its replication hello tells it. */
export interface PeerCopy {
  readonly gen: string;
  readonly history: readonly string[];
  readonly data: CopyRecord["data"];
  /** It runs the module (PRIM/ALONE) as it says hello. */
  readonly running: boolean;
  /** Its copy was being written when its daemon last died (CopyRecord.writing at its start). */
  readonly unclean: boolean;
  /**
   * A new copy (gen "0:") tells whether its node's folders held files when
   * its daemon started (rule 7 picks the first sync's source by it). Absent:
   * not told (a node of the previous release, or a copy that is not new).
   */
  readonly holdsFiles?: boolean;
  /**
   * Its copy may hold writes its node acknowledged that never reached us
   * (mayHoldUnsentWrites, copy.ts): it keeps them aside when we resync it.
   * Absent: not told (a peer whose link did not agree on unsentWrites).
   */
  readonly unsent?: boolean;
}

export interface MirrorTimers {
  /**
   * How long a SECOND whose replication link went down gives the link to
   * come back before it declares its own copy outdated, if it still hears
   * the PRIM then (rule 4: a heartbeat frame that arrived this long after
   * the link went down). A PRIM that died sends no such frame, however late
   * the heartbeat calls it dead. Much longer than a frame that was on its
   * way when the link went down can take.
   */
  readonly detachGraceMs: number;
  /** After a resync failed on a live link, how long before it is tried again. */
  readonly resyncRetryMs: number;
  /** After the copy record could not be saved, how long before it is written again (rule 8); 1 s by default. */
  readonly saveRetryMs?: number;
}

export type MirrorInput =
  | { readonly type: "tick" }
  /**
   * Our module role, from the module core's transitions (and at start).
   * `unacked`: leaving PRIM/ALONE, the folders were unmounted with writes
   * applied here that the peer never acknowledged: this copy stays unclean.
   */
  | { readonly type: "role"; readonly role: MirrorModuleRole; readonly unacked?: boolean }
  | { readonly type: "peer"; readonly liveness: "unknown" | "up" | "late" | "dead" }
  /**
   * The data mark and role in the peer's latest heartbeat advert (mark null:
   * none yet), one per accepted frame. `alone`: the role is ALONE (the peer
   * called us dead). `heardAt`: the frame's arrival on the core's clock,
   * earlier than now when the heartbeat read it late; absent: now.
   */
  | { readonly type: "peer-mark"; readonly mark: DataMark | null; readonly running: boolean; readonly alone?: boolean; readonly heardAt?: number }
  /**
   * The replication link to the peer is up and its hello told us its copy.
   * `gap` (PRIM): ops of ours may be missing on the peer (sent when the link
   * broke, or held meanwhile); the driver journaled them before this event.
   */
  | { readonly type: "link-up"; readonly peer: PeerCopy; readonly gap: boolean }
  /** The daemon stops cleanly; the driver synced the copy before this event. */
  | { readonly type: "shutdown" }
  | { readonly type: "link-down"; readonly detail: string }
  /**
   * PRIM: the resync's data is all there; the peer is about to be told it
   * ended (and take our gen). Persisted before the driver tells it.
   */
  | { readonly type: "resync-ending" }
  /** PRIM: the resync brought the peer to our gen. */
  | { readonly type: "resync-done" }
  /**
   * PRIM: the resync stopped before the end. `touched`: the peer had accepted
   * it (so its copy is persisted as inconsistent); false when it refused at
   * the start and its copy is as it was.
   */
  | { readonly type: "resync-failed"; readonly detail: string; readonly touched: boolean }
  /** PRIM: the peer accepted the resync (its answer to the driver's resync-begin): it is under way. */
  | { readonly type: "resync-begun" }
  /**
   * PRIM: the resync decided without keep-aside keeps the peer's divergent
   * files after all (the peer's copy changed since the link came up: the
   * driver asks it again before the resync begins, and widens it).
   */
  | { readonly type: "resync-keeps" }
  /**
   * SECOND: the PRIM starts resyncing into our copy; nothing is applied
   * before the persist this asks for. A driver refuses the resync instead
   * while this node runs the module.
   */
  | { readonly type: "resync-incoming" }
  /** SECOND: the resync finished; our copy now is the PRIM's gen. */
  | { readonly type: "resync-complete"; readonly gen: string; readonly history: readonly string[] }
  /**
   * PRIM: the peer refused an op without touching its copy (it still runs
   * the module after a split brain, or is not ready): nothing is known to be
   * missing THERE persistently, so we do not go on alone; the op is part of a
   * gap a resync closes once the peer stands by.
   */
  | { readonly type: "peer-refused"; readonly detail: string }
  /** PRIM: the SECOND could not apply one of our ops outside a resync: its copy misses it now. */
  | { readonly type: "peer-apply-failed"; readonly detail: string }
  /**
   * SECOND: applying a replicated operation failed (disk full, I/O error, or
   * a name this copy lacks); `errno` names why (behind.ts tells the ones a
   * resync covers on a copy that is behind).
   */
  | { readonly type: "apply-failed"; readonly detail: string; readonly errno?: string }
  /**
   * What the resync changes in this copy is kept aside at `path` first: after
   * a split brain, ("unsent-writes") because this node ran the module in
   * mode async and died before its last writes reached the peer, or
   * ("first-sync") because this new copy held files of its own. Sent once
   * the first path is about to be kept, not before: a resync that replaces
   * nothing of this copy leaves no record and no banner.
   */
  | { readonly type: "conflict-kept"; readonly path: string; readonly cause: ConflictKind }
  /** The operator acknowledged the split brain (`vigil ack`): the banner goes. */
  | { readonly type: "ack" }
  /** forceprim by the operator: serve from this copy whatever is known of it. */
  | { readonly type: "forced" }
  /**
   * The last persist failed (`detail`: why, in the operator's words);
   * `saved`: the record the disk still holds (null: none). Rule 8.
   */
  | { readonly type: "persist-failed"; readonly detail: string; readonly saved: CopyRecord | null }
  /** A persist succeeded while the record was unsaved: the disk holds the copy again. */
  | { readonly type: "persisted" }
  /**
   * Rule 9: the ALONE journal no longer holds the changes one by one (`detail`:
   * why: its file could not grow and it was marked lost, it was unreadable,
   * it outgrew its limits, or it cannot be written at all): the next resync
   * to the peer compares every file. Until "journal-cleared".
   */
  | { readonly type: "journal-lost"; readonly detail: string }
  /** A completed resync emptied the journal: it holds the changes again. */
  | { readonly type: "journal-cleared" }
  /** Rule 9: the ALONE journal could not be opened (`detail`: why, in the operator's words). */
  | { readonly type: "journal-unopened"; readonly detail: string }
  /** The journal opened after "journal-unopened". */
  | { readonly type: "journal-opened" }
  /**
   * A heartbeat round carrying our ALONE advert has left on every link (the
   * datagrams handed to the kernel), asked by "announce-alone"; taken only
   * while our role is ALONE (alone-announce.ts).
   */
  | { readonly type: "alone-announced" };

/**
 * What the PRIM does with each intercepted write:
 * - replicate: send it to the SECOND, acknowledge once it applied it;
 * - hold: keep the acknowledgements back (the link is down, the peer is
 *   alive and has not yet declared itself outdated);
 * - alone: journal it, then acknowledge (the gen was bumped and persisted first).
 */
export type WriteMode = "replicate" | "hold" | "alone";

/**
 * What the driver carries out, in order:
 * - persist: write the record crash-safely (fsync) BEFORE any action after it.
 *   If it fails, no action after it is carried out: the driver tells the
 *   core ("persist-failed"), which holds the copy still (rule 8); a later
 *   persist that succeeds while it does is told too ("persisted").
 * - gate: tell the module core whether this node may run the module
 *   (null) or must rest in WAIT with this reason.
 * - writes: the PRIM's write mode from now on; see WriteMode. Switching to
 *   "alone" comes only after the persist of a bumped gen.
 * - resync: start (or resume) sending the peer what it misses:
 *   "journal" (only what the ALONE journal marked since `base`) or "full"
 *   (compare by size and mtime, then by block checksums). `keepConflicts`:
 *   the peer also wrote (split brain): its divergent files are kept aside.
 * - mark: publish this data mark in heartbeats from now on.
 * - note: a log line / console event.
 * - open-journal: try to open the ALONE journal again (rule 9); the driver
 *   answers "journal-opened" or "journal-unopened".
 * - announce-alone: send a heartbeat round on every link AT ONCE (not at
 *   the next round, not after the spacing of extra rounds), carrying the
 *   module's advert as it is once the current step's actions are carried
 *   out (ALONE), and answer "alone-announced" right after it left. No write
 *   is acknowledged alone on the peer's dead verdict before that answer
 *   (rule 3 (b), alone-announce.ts).
 */
export type MirrorAction =
  | { readonly type: "persist"; readonly copy: CopyRecord }
  | { readonly type: "gate"; readonly blocked: string | null }
  | { readonly type: "writes"; readonly mode: WriteMode }
  | { readonly type: "resync"; readonly mode: "journal" | "full"; readonly base: string | null; readonly keepConflicts: boolean }
  | { readonly type: "mark"; readonly mark: DataMark }
  | { readonly type: "note"; readonly level: "info" | "warn" | "error"; readonly kind: MirrorNoteKind; readonly detail: string }
  | { readonly type: "open-journal" }
  | { readonly type: "announce-alone" };

export type MirrorNoteKind =
  | "gen-bumped"
  | "outdated"
  | "confirmed"
  | "resync-start"
  | "resync-done"
  | "resync-failed"
  | "split-brain"
  | "forced"
  | "apply-failed"
  | "op-left-to-resync"
  | "first-contact"
  | "record-unsaved"
  | "record-saved"
  | "journal-unopened"
  | "journal-opened";

/** The copy record could not be written (rule 8): what the disk still holds, and why. */
export interface UnsavedRecord {
  readonly detail: string;
  /** Monotonic ms of the first failure. */
  readonly since: number;
  /** The record on disk (null: none), which the peer is told meanwhile. */
  readonly saved: CopyRecord | null;
}

/** Ops of the peer a copy behind could not apply, in this link session (behind.ts). */
export interface BehindFailures {
  /** Expected ones: names this copy lacks yet, which the resync carries. */
  readonly left: number;
  /** Faults of this node's storage or runtime. */
  readonly faults: number;
}

/** Rule 9: something the ALONE journal cannot do, why, and since when (monotonic ms). */
export interface JournalTrouble {
  readonly detail: string;
  readonly since: number;
}

export interface MirrorState {
  readonly module: string;
  readonly self: string;
  readonly peer: string;
  /** The module's preferred node, for rule 7 (mirror.ts). */
  readonly prefer: string | null;
  /** This node's folders held files when its daemon started (rule 7); null when not measured. */
  readonly holdsFiles: boolean | null;
  readonly timers: MirrorTimers;
  readonly copy: CopyRecord;
  /** In this life of the daemon, our copy was compared with the peer's (or we are the last writer). */
  readonly confirmed: boolean;
  /** The copy was being written when the daemon last died (see CopyRecord.writing): compared in full before in sync. */
  readonly unclean: boolean;
  readonly role: MirrorModuleRole;
  readonly peerLiveness: "unknown" | "up" | "late" | "dead";
  readonly peerMark: DataMark | null;
  /** The peer announces PRIM/ALONE: after a split brain both may, until the module core settles who keeps it. */
  readonly peerRunning: boolean;
  /** The peer's copy while the link is up; null while down. */
  readonly link: PeerCopy | null;
  /** When the link went down while the peer was alive (SECOND: the detach grace runs from here). */
  readonly detachedAt: number | null;
  /** The arrival of the peer's latest accepted heartbeat frame (rule 4); null: none yet. */
  readonly peerHeardAt: number | null;
  /** The peer's latest advert says ALONE: it called us dead, and writes alone once its link is down (rule 4). */
  readonly peerAlone: boolean;
  /**
   * ALONE: a heartbeat round carrying our ALONE has left since we became
   * ALONE (alone-announce.ts); writes alone on the peer's dead verdict wait for it.
   */
  readonly aloneAnnounced: boolean;
  /** ALONE: when "announce-alone" was last asked and not answered yet; null: not asked. */
  readonly announceAskedAt: number | null;
  /** PRIM: a resync to the peer is under way. */
  readonly resyncing: boolean;
  /** PRIM: the peer accepted the resync under way (resync-begun); false before, and once it ends or fails. */
  readonly resyncBegun: boolean;
  /** PRIM: the resync under way keeps the peer's divergent files aside (the plan's, or widened: resync-keeps). */
  readonly resyncKeeps: boolean;
  /** PRIM: a resync failed on a live link: the next one not before this time. */
  readonly resyncRetryAt: number | null;
  /** PRIM: the failure of the resync last said, while tries fail (resync-retry.ts); null: none failing. */
  readonly resyncRetrying: {
    readonly detail: string;
    /** Tries that failed in a row (the one said included). */
    readonly tries: number;
    /** When the first of them failed (monotonic ms). */
    readonly since: number;
  } | null;
  /** PRIM: ops may be missing on the peer since the last outage (see link-up); a journal resync closes it. */
  readonly gap: boolean;
  /** This boot's id, for CopyRecord.applyingBoot. */
  readonly boot: string;
  /** Both copies changed while apart: shown until the resync that keeps the other side's files aside ends. */
  readonly splitBrain: string | null;
  /** Ops of the peer this copy failed to apply while behind, in this link session (behind.ts: logged once, counted). */
  readonly failedBehind: BehindFailures;
  /** Rule 8: the latest `copy` is not on disk yet; null when it is. */
  readonly unsaved: UnsavedRecord | null;
  /** Rule 8: when the record is written again. */
  readonly saveRetryAt: number | null;
  /** Rule 9: the ALONE journal gave up holding the changes: the next resync compares every file; null while it holds them. */
  readonly journalLost: JournalTrouble | null;
  /** Rule 9: the ALONE journal could not be opened; null once it is (and before it was tried). */
  readonly journalUnopened: JournalTrouble | null;
  /** Rule 9: when the journal is tried again. */
  readonly journalRetryAt: number | null;
  readonly writes: WriteMode;
  readonly gate: string | null;
  readonly mark: DataMark;
}
