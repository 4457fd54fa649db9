/**
 * Linux-HA Heartbeat's three files: ha.cf (directives, one per line),
 * haresources (a node and its resources per line, `\` continues a line) and
 * authkeys (of which only the method is read: the secret never leaves it).
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { ImportError, type Where } from "./import-error.ts";
import { readOrUndefined, type ReadText, unreadable } from "./read-text.ts";

export interface Directive {
  words: string[];
  where: Where;
}

export interface HeartbeatSource {
  dir: string;
  /** ha.cf's directives in order. */
  haCf: Directive[];
  /** haresources' lines (continuations joined), or undefined when the file is missing. */
  haresources?: Directive[];
  /** authkeys' active method (sha1, md5, crc) and where, never the key. */
  auth?: { method: string; where: Where };
  /** The names in DIR/resource.d (Heartbeat's resource scripts), empty when the folder has none. */
  resourceScripts: string[];
}

/** The names in a folder; empty when there is no such folder. */
export type ListDir = (path: string) => string[];

const listOrEmpty: ListDir = (path) => {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
};

/** Lines without comments, split into words; `\` at a line's end joins the next line. */
export function directives(text: string, file: string, continuation: boolean): Directive[] {
  const out: Directive[] = [];
  let pending: Directive | undefined;
  text.split(/\r?\n/).forEach((raw, i) => {
    let line = raw.replace(/#.*$/, "").trim();
    const goesOn = continuation && line.endsWith("\\");
    if (goesOn) line = line.slice(0, -1);
    const words = line.split(/\s+/).filter((w) => w !== "");
    if (pending !== undefined) pending.words.push(...words);
    else if (words.length > 0) pending = { words, where: { file, line: i + 1 } };
    if (!goesOn && pending !== undefined) {
      out.push(pending);
      pending = undefined;
    }
  });
  if (pending !== undefined) throw new ImportError(pending.where, "the line ends with '\\' but no line follows it");
  return out;
}

function authOf(text: string, file: string): { method: string; where: Where } {
  const lines = directives(text, file, false);
  const auth = lines.find((d) => d.words[0] === "auth");
  if (auth === undefined) throw new ImportError({ file }, 'no "auth N" line saying which key is used');
  const index = auth.words[1];
  if (index === undefined || !/^\d+$/.test(index)) throw new ImportError(auth.where, `"auth" needs a key number, like auth 1`);
  const key = lines.find((d) => d.words[0] === index);
  if (key === undefined) throw new ImportError(auth.where, `auth ${index}: no line "${index} METHOD ..." defines that key`);
  const method = (key.words[1] ?? "").toLowerCase();
  if (!["sha1", "md5", "crc"].includes(method)) throw new ImportError(key.where, `method "${key.words[1] ?? ""}" is not sha1, md5 or crc`);
  return { method, where: key.where };
}

/** Reads DIR/ha.cf (needed), DIR/haresources and DIR/authkeys (each optional), and lists DIR/resource.d. */
export function readHeartbeatDir(dir: string, read: ReadText = readOrUndefined, list: ListDir = listOrEmpty): HeartbeatSource {
  const haCfPath = join(dir, "ha.cf");
  const haCf = read(haCfPath);
  if (haCf === undefined) throw new ImportError({ file: haCfPath }, `cannot read ha.cf: ${unreadable(haCfPath)} (vigil import heartbeat takes the folder holding ha.cf, haresources and authkeys)`);
  const source: HeartbeatSource = { dir, haCf: directives(haCf, haCfPath, false), resourceScripts: list(join(dir, "resource.d")) };
  const resPath = join(dir, "haresources");
  const res = read(resPath);
  if (res !== undefined) source.haresources = directives(res, resPath, true);
  const keysPath = join(dir, "authkeys");
  const keys = read(keysPath);
  if (keys !== undefined) source.auth = authOf(keys, keysPath);
  return source;
}
