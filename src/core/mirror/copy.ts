/**
 * A node's copy of a mirror module's folders, and what is known of it: the
 * record each node persists (fsynced, in its state dir) and compares with
 * its peer's. A leaf: imports nothing.
 *
 * Data generations, after DRBD's generation identifiers:
 * - `gen` names the history of writes the copy holds. Two copies with the
 *   same gen hold the same data (they were in sync when they parted, and
 *   neither wrote alone since).
 * - A node that starts writing WITHOUT its peer in sync (it goes ALONE, or
 *   takes over because the PRIM died) first moves to a new gen derived from
 *   its current one, persisted BEFORE the first such write is acknowledged.
 *   Its old gen goes on top of `history`.
 * - So when two copies meet: equal gens → the same data; one gen in the
 *   other's history → that other copy is newer; neither → both wrote while
 *   apart (split brain).
 */

export type CopyData =
  /** Holds every acknowledged write of its gen. */
  | "uptodate"
  /** Known to miss writes: the peer wrote since (or an apply failed here). */
  | "outdated"
  /**
   * A resync into this copy is under way: partly old, partly new; never
   * usable. Also a new copy (gen "0:") that met another new copy and is not
   * the source of their first sync: it never held the cluster's data.
   */
  | "inconsistent";

export interface CopyRecord {
  /** "<counter>:<node>"; "0:" for a copy that never held data of its own. */
  readonly gen: string;
  /** Earlier gens, newest first, at most HISTORY_MAX. */
  readonly history: readonly string[];
  readonly data: CopyData;
  /** Wall-clock ms when `data` last changed (for "outdated since T"). */
  readonly since: number;
  /**
   * We wrote alone since the peer last had our data: the peer's copy is
   * behind ours. Lets a node that was the last writer start again alone
   * after a restart; a node that was the SECOND never has it.
   */
  readonly peerBehind: boolean;
  /**
   * The PRIM is about to tell the peer that a resync ended, after which the
   * peer holds our gen as up to date and may take over and write: from then
   * on `peerBehind` no longer shows that this copy is the newest. Persisted
   * before the peer is told; cleared once this node knows the end (or moves
   * to a new gen). Found set at a start: the copy is compared with the
   * peer's before it may serve. Absent in records written before it existed.
   */
  readonly resyncEnding?: boolean;
  /** The gen the peer had when we parted (the base of our journal), null when unknown. */
  readonly journalBase: string | null;
  /** Set by forceprim on a copy that was not known to be up to date: recorded, shown, never silent. */
  readonly forcedAt: number | null;
  /**
   * This node runs the module on this copy (set before the folders are
   * mounted, cleared once they are unmounted). Found set at a start: the
   * daemon died while writing, so the copy may hold writes that were
   * applied here but never acknowledged, which the peer lacks: the two are
   * compared in full before they count as in sync again.
   */
  readonly writing: boolean;
  /**
   * The boot (kernel boot id) during which this copy last applied
   * replicated ops as the SECOND without syncing them at a clean stop;
   * null after a clean stop. Found from another boot at a start: the
   * machine went down, its page cache with it, so ops acknowledged to the
   * PRIM may be missing: the copy counts as unclean.
   */
  readonly applyingBoot: string | null;
  /**
   * A split brain this node took part in (both copies changed while apart),
   * and where its own copy was kept aside if it gave way; shown until the
   * operator acknowledges it (`vigil ack MODULE`). Never cleared by itself.
   */
  readonly conflict: string | null;
  /**
   * What `conflict` is about: a split brain (both wrote; absent in older
   * records), or writes this node acknowledged in mode async that never
   * reached the peer before its daemon died (kept aside, then replaced).
   */
  readonly conflictKind?: ConflictKind;
  /**
   * The highest counter this node ever moved its own copy to. A resync may
   * replace the copy's gen with the peer's, lower one (a split brain this
   * node lost); the next bump still goes above this, so no gen ever names
   * two histories. Absent in records written before it existed.
   */
  readonly topCounter?: number;
}

/**
 * Why a copy's changed files were kept aside: a split brain, writes of a
 * mode async PRIM that never reached its peer, or files a new copy held of
 * its own before its first sync replaced them.
 */
export type ConflictKind = "split-brain" | "unsent-writes" | "first-sync";

/**
 * This copy may hold writes acknowledged here that its peer never got: its
 * node ran the module on it in mode async (the PRIM acknowledges before the
 * SECOND has a write) and never stopped it cleanly with every write
 * acknowledged by the peer (`writing` is still set: the daemon died, or the
 * folders were unmounted with writes unacknowledged), and it does not run
 * the module now. In mode sync the same record means at most writes that
 * were never acknowledged, which nobody was promised: the copy is only
 * unclean (rule 3), nothing of it is kept. The resync that brings this copy
 * to the peer's data keeps what it changes here aside first ("unsent-writes"),
 * and the peer's live ops must not reach it before that resync has begun
 * (the peer learns it from this node's hello: mirror.ts, keepingResyncPending).
 */
export function mayHoldUnsentWrites(copy: CopyRecord, mode: "sync" | "async", running: boolean): boolean {
  return mode === "async" && copy.writing && !running;
}

export const HISTORY_MAX = 16;
export const EMPTY_GEN = "0:";

export function freshCopy(now: number): CopyRecord {
  return { gen: EMPTY_GEN, history: [], data: "uptodate", since: now, peerBehind: false, journalBase: null, forcedAt: null, writing: false, applyingBoot: null, conflict: null };
}

export function genCounter(gen: string): number {
  const n = Number(gen.slice(0, gen.indexOf(":")));
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/** The gen a node moves to before it writes without its peer. */
export function nextGen(copy: CopyRecord, self: string, peerGen: string | null): string {
  const top = Math.max(genCounter(copy.gen), peerGen === null ? 0 : genCounter(peerGen), copy.topCounter ?? 0);
  return `${top + 1}:${self}`;
}

export type GenOrder = "same" | "ours-newer" | "peer-newer" | "diverged";

/** How two copies relate; see the header comment. */
export function compareGens(ours: { gen: string; history: readonly string[] }, peer: { gen: string; history: readonly string[] }): GenOrder {
  if (ours.gen === peer.gen) return "same";
  // An empty copy (a new or replaced node) is behind anything.
  if (peer.gen === EMPTY_GEN || ours.history.includes(peer.gen)) return "ours-newer";
  if (ours.gen === EMPTY_GEN || peer.history.includes(ours.gen)) return "peer-newer";
  return "diverged";
}

/** The copy after moving to a new gen to write alone. */
export function bumpGen(copy: CopyRecord, self: string, peerGen: string | null, now: number): CopyRecord {
  const gen = nextGen(copy, self, peerGen);
  return {
    ...copy,
    gen,
    topCounter: genCounter(gen),
    history: [copy.gen, ...copy.history].slice(0, HISTORY_MAX),
    data: "uptodate",
    since: now,
    peerBehind: true,
    resyncEnding: false,
    // The journal covers what changed since the peer's gen; a second bump keeps the first base.
    journalBase: copy.peerBehind ? copy.journalBase : copy.gen,
  };
}

/** Why a persisted record cannot be used, or null; the file came from disk and may be damaged. */
export function checkCopyRecord(v: unknown): string | null {
  if (typeof v !== "object" || v === null) return "not an object";
  const r = v as Record<string, unknown>;
  const genOk = (g: unknown): boolean => typeof g === "string" && /^\d+:[^\s]*$/.test(g);
  if (!genOk(r["gen"])) return "gen is not \"<counter>:<node>\"";
  if (!Array.isArray(r["history"]) || !r["history"].every(genOk)) return "history is not a list of gens";
  if (r["data"] !== "uptodate" && r["data"] !== "outdated" && r["data"] !== "inconsistent") return "data is not uptodate, outdated or inconsistent";
  if (typeof r["since"] !== "number") return "since is not a number";
  if (typeof r["peerBehind"] !== "boolean") return "peerBehind is not a boolean";
  if (r["journalBase"] !== null && !genOk(r["journalBase"])) return "journalBase is not a gen";
  if (r["forcedAt"] !== null && typeof r["forcedAt"] !== "number") return "forcedAt is not a number";
  if (typeof r["writing"] !== "boolean") return "writing is not a boolean";
  if (r["applyingBoot"] !== null && typeof r["applyingBoot"] !== "string") return "applyingBoot is not a string";
  // Absent in records written before split-brain acknowledgements existed.
  if (r["conflict"] !== undefined && r["conflict"] !== null && typeof r["conflict"] !== "string") return "conflict is not a string";
  if (r["conflictKind"] !== undefined && r["conflictKind"] !== "split-brain" && r["conflictKind"] !== "unsent-writes" && r["conflictKind"] !== "first-sync") return "conflictKind is not split-brain, unsent-writes or first-sync";
  if (r["resyncEnding"] !== undefined && typeof r["resyncEnding"] !== "boolean") return "resyncEnding is not a boolean";
  if (r["topCounter"] !== undefined && !(Number.isSafeInteger(r["topCounter"]) && (r["topCounter"] as number) >= 0)) return "topCounter is not a counter";
  return null;
}
