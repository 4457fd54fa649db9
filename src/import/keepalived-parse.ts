/**
 * keepalived.conf's grammar: one statement per line (a keyword and its
 * words), a statement may open a block in braces (the brace on the same line
 * or the next), `!` and `#` start comments, double quotes keep spaces in a
 * word, and `include PATTERN` splices other files in place.
 */
import { readdirSync } from "node:fs";
import { basename, dirname, isAbsolute, join } from "node:path";
import { ImportError, type Where } from "./import-error.ts";
import { readOrUndefined, type ReadText, unreadable } from "./read-text.ts";

export interface Word {
  text: string;
  where: Where;
}

export interface Statement {
  /** The keyword and its arguments. */
  words: Word[];
  /** The statements inside its braces, if it has a block. */
  block?: Statement[];
  where: Where;
}

type Token = { kind: "word"; text: string; where: Where } | { kind: "open" | "close" | "eol"; where: Where };


function tokenize(text: string, file: string): Token[] {
  const out: Token[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const where: Where = { file, line: i + 1 };
    let pos = 0;
    while (pos < line.length) {
      const c = line[pos] as string;
      if (c === " " || c === "\t") {
        pos++;
      } else if (c === "!" || c === "#") {
        break;
      } else if (c === "{" || c === "}") {
        out.push({ kind: c === "{" ? "open" : "close", where });
        pos++;
      } else if (c === '"') {
        const end = line.indexOf('"', pos + 1);
        if (end < 0) throw new ImportError(where, "a quoted string is not closed on its line");
        out.push({ kind: "word", text: line.slice(pos + 1, end), where });
        pos = end + 1;
      } else {
        let end = pos;
        while (end < line.length && !/[\s{}"]/.test(line[end] as string)) end++;
        const word = line.slice(pos, end);
        // A comment sign glued to a word ends the line's words too.
        const cut = word.search(/[!#]/);
        if (cut > 0) {
          out.push({ kind: "word", text: word.slice(0, cut), where });
          break;
        }
        out.push({ kind: "word", text: word, where });
        pos = end;
      }
    }
    out.push({ kind: "eol", where });
  });
  return out;
}

interface Open {
  statements: Statement[];
  owner?: Statement;
}

function build(tokens: readonly Token[], file: string): Statement[] {
  const stack: Open[] = [{ statements: [] }];
  let current: Statement | undefined;
  const top = (): Open => stack[stack.length - 1] as Open;
  const finish = (): void => {
    if (current !== undefined) top().statements.push(current);
    current = undefined;
  };
  for (const t of tokens) {
    if (t.kind === "word") {
      if (current === undefined) current = { words: [], where: t.where };
      current.words.push({ text: t.text, where: t.where });
    } else if (t.kind === "eol") {
      finish();
    } else if (t.kind === "open") {
      finish();
      // The brace belongs to the statement just ended (same line or the line before).
      const owner = top().statements[top().statements.length - 1];
      if (owner === undefined || owner.block !== undefined) throw new ImportError(t.where, "a '{' with no keyword before it");
      owner.block = [];
      stack.push({ statements: owner.block, owner });
    } else {
      finish();
      if (stack.length === 1) throw new ImportError(t.where, "a '}' with no open block to close");
      stack.pop();
    }
  }
  if (stack.length > 1) {
    const owner = top().owner as Statement;
    const what = owner.words.map((w) => w.text).join(" ");
    throw new ImportError(owner.where, `the block of "${what}" is never closed (missing '}' before the end of ${file})`);
  }
  return stack[0]?.statements ?? [];
}

/** The files an include names: a path, or a `*` / `?` pattern in its last part, relative to the including file. */
function includeTargets(pattern: string, from: Where): string[] {
  const full = isAbsolute(pattern) ? pattern : join(dirname(from.file), pattern);
  const name = basename(full);
  if (!/[*?]/.test(name)) return [full];
  const re = new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
  let names: string[];
  try {
    names = readdirSync(dirname(full));
  } catch {
    return [];
  }
  return names.filter((n) => re.test(n)).sort().map((n) => join(dirname(full), n));
}

function expandIncludes(statements: Statement[], read: ReadText, depth: number): Statement[] {
  return statements.flatMap((s) => {
    if (s.block !== undefined) s.block = expandIncludes(s.block, read, depth);
    if (s.words[0]?.text !== "include") return [s];
    const pattern = s.words[1]?.text;
    if (pattern === undefined) throw new ImportError(s.where, "include needs a file name");
    if (depth >= 8) throw new ImportError(s.where, "includes nested more than 8 deep (does a file include itself?)");
    return includeTargets(pattern, s.where).flatMap((path) => parseFile(path, read, depth + 1, s.where));
  });
}

/** Parses text as one keepalived.conf; throws ImportError naming file:line. */
export function parseKeepalivedText(text: string, file: string, read: ReadText = readOrUndefined, depth = 0): Statement[] {
  return expandIncludes(build(tokenize(text, file), file), read, depth);
}

export function parseFile(path: string, read: ReadText = readOrUndefined, depth = 0, includedAt?: Where): Statement[] {
  const text = read(path);
  if (text === undefined) {
    if (includedAt !== undefined) throw new ImportError(includedAt, `cannot read the included file ${path}: ${unreadable(path)}`);
    throw new ImportError({ file: path }, `cannot read this file: ${unreadable(path)}`);
  }
  return parseKeepalivedText(text, path, read, depth);
}
