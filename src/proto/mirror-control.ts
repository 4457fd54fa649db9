/**
 * The mirror's control questions over the replication link, carried as
 * "control" resync requests and responses (src/proto/replication-resync.ts):
 * what each side's copy is, and the two ends of a resync.
 *
 *   action u8: 1 state (hello: tell me your copy), 2 resync-begin (persist
 *              "inconsistent" before I send anything), 3 resync-end (you
 *              now hold my gen), 4 resync-begin-keep (the same, after
 *              keeping a copy of your folder aside: both sides wrote)
 *   copy:      gen (u8 length + UTF-8, 2..96), history count u8 (0..16)
 *              and that many gens, data u8 (0 uptodate, 1 outdated,
 *              2 inconsistent), running u8 (0/1), unclean u8 (0/1),
 *              then, only once the link's feature exchange agreed on
 *              unsentWrites (src/core/link-features.ts), unsent u8 (0/1):
 *              the copy may hold writes acknowledged on its node that
 *              never reached the peer (mode async). The copy ends the
 *              message, so a reader takes the byte when one is left; the
 *              previous release refuses it as trailing bytes, and is
 *              never sent it.
 *
 * The asker sends its own copy with every action; the answer carries the
 * answerer's copy after the action.
 *
 * Whether a new copy's folders hold files (gen "0:", which never has a
 * history of its own) rides in its history list as one pseudo-gen, "0:+files"
 * or "0:+empty": a real gen with counter 0 is only ever "0:", so none is
 * taken for another, and a decoder of the previous release reads the list
 * as gens and never looks at a new copy's history. A new copy with an empty
 * history did not tell (that release).
 */
import { ByteDecodeError, type ByteReader, type ByteWriter } from "./bytes.ts";

export type MirrorControlAction = "state" | "resync-begin" | "resync-end" | "resync-begin-keep";

export interface CopyWire {
  readonly gen: string;
  readonly history: readonly string[];
  readonly data: "uptodate" | "outdated" | "inconsistent";
  readonly running: boolean;
  readonly unclean: boolean;
  /** A new copy (gen "0:"): its folders held files at its node's start; absent when not told. */
  readonly holdsFiles?: boolean;
  /** Its copy may hold writes never sent to the peer (mayHoldUnsentWrites); absent when not told (not agreed). */
  readonly unsent?: boolean;
}

const ACTIONS: readonly MirrorControlAction[] = ["state", "resync-begin", "resync-end", "resync-begin-keep"];
const DATA: readonly CopyWire["data"][] = ["uptodate", "outdated", "inconsistent"];
const GEN = /^\d{1,15}:[^\s]*$/;
const MAX_GEN_BYTES = 96;
const MAX_HISTORY = 16;
const NEW_COPY = "0:";
const HOLDS_FILES = "0:+files";
const HOLDS_NONE = "0:+empty";

function writeGen(w: ByteWriter, gen: string, what: string): void {
  if (!GEN.test(gen)) throw new RangeError(`mirror control: ${what} ${JSON.stringify(gen)} is not "<counter>:<node>"`);
  w.utf8WithU8Length(gen, MAX_GEN_BYTES, `mirror control: ${what}`);
}

function readGen(r: ByteReader, what: string): string {
  const at = r.offset;
  const g = r.utf8WithU8Length(what);
  if (g.length < 2 || !GEN.test(g)) throw new ByteDecodeError(`${what} at offset ${at} is not "<counter>:<node>"`, at);
  return g;
}

export function writeMirrorControl(w: ByteWriter, action: MirrorControlAction, copy: CopyWire): void {
  w.u8(ACTIONS.indexOf(action) + 1, "mirror control: action");
  writeCopy(w, copy);
}

export function readMirrorControl(r: ByteReader): { action: MirrorControlAction; copy: CopyWire } {
  const at = r.offset;
  const action = ACTIONS[r.u8("mirror control action") - 1];
  if (action === undefined) throw new ByteDecodeError(`mirror control action at offset ${at} is unknown; expected 1..${ACTIONS.length}`, at);
  return { action, copy: readCopy(r) };
}

export function writeCopy(w: ByteWriter, c: CopyWire): void {
  writeGen(w, c.gen, "gen");
  if (c.history.length > MAX_HISTORY) throw new RangeError(`mirror control: ${c.history.length} gens of history; at most ${MAX_HISTORY}`);
  const told = c.gen === NEW_COPY && c.history.length === 0 && c.holdsFiles !== undefined;
  const history = told ? [c.holdsFiles ? HOLDS_FILES : HOLDS_NONE] : c.history;
  w.u8(history.length, "mirror control: history count");
  for (const g of history) writeGen(w, g, "history gen");
  w.u8(DATA.indexOf(c.data), "mirror control: data");
  w.u8(c.running ? 1 : 0, "mirror control: running");
  w.u8(c.unclean ? 1 : 0, "mirror control: unclean");
  if (c.unsent !== undefined) w.u8(c.unsent ? 1 : 0, "mirror control: unsent");
}

function flag(r: ByteReader, what: string): boolean {
  const at = r.offset;
  const v = r.u8(what);
  if (v > 1) throw new ByteDecodeError(`${what} at offset ${at} is ${v}; expected 0 or 1`, at);
  return v === 1;
}

export function readCopy(r: ByteReader): CopyWire {
  const gen = readGen(r, "gen");
  const hAt = r.offset;
  const n = r.u8("history count");
  if (n > MAX_HISTORY) throw new ByteDecodeError(`history count at offset ${hAt} is ${n}; at most ${MAX_HISTORY}`, hAt);
  const history: string[] = [];
  for (let i = 0; i < n; i++) history.push(readGen(r, "history gen"));
  const dAt = r.offset;
  const data = DATA[r.u8("data")];
  if (data === undefined) throw new ByteDecodeError(`data at offset ${dAt} is unknown; expected 0..2`, dAt);
  const base = { gen, history, data, running: flag(r, "running"), unclean: flag(r, "unclean") };
  // The copy ends its message: a byte left is the unsent flag (sent only where unsentWrites was agreed).
  const copy = r.remaining > 0 ? { ...base, unsent: flag(r, "unsent") } : base;
  const told = gen === NEW_COPY && history.length === 1 ? history[0] : undefined;
  if (told === HOLDS_FILES || told === HOLDS_NONE) return { ...copy, history: [], holdsFiles: told === HOLDS_FILES };
  return copy;
}
