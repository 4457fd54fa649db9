/**
 * YAML text -> plain data, keeping a way back from any key path to its line
 * and column. Syntax errors and duplicate keys are reported here, with
 * positions, in the same shape as every other config problem.
 */
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import type { ConfigError } from "./errors.ts";
import { formatKeyPath, type Segment } from "./key-path.ts";

export interface SourcePosition {
  line: number;
  col: number;
}

export interface YamlSource {
  /** The document as plain data; undefined when syntax errors leave its meaning in doubt. */
  data: unknown;
  /** Syntax errors and duplicate keys. */
  problems: ConfigError[];
  /**
   * Where a key path is written: its key or its value. A path that is not in
   * the file (a missing key) maps to the closest enclosing place that is.
   */
  locate(path: readonly Segment[], at: "key" | "value"): SourcePosition;
}

const SYNTAX_HINTS: Record<string, { found: string; expected: string }> = {
  TAB_AS_INDENT: { found: "a tab used for indentation", expected: "spaces for indentation (YAML does not allow tabs there)" },
  MULTIPLE_DOCS: { found: "more than one YAML document", expected: "a single document (remove the extra ---)" },
};

/** Errors the parser reports at a key whose value seemingly runs on into a deeper-indented next line. */
const RUNS_ON = new Set(["BLOCK_AS_IMPLICIT_KEY", "MULTILINE_IMPLICIT_KEY"]);

/** The first line after `line` (1-based) with content, if it is indented deeper than `line`: the bad indent. */
function deeperLineAfter(text: string, line: number): SourcePosition | undefined {
  const lines = text.split("\n");
  const indent = (l: string): number => l.length - l.trimStart().length;
  const here = lines[line - 1];
  if (here === undefined) return undefined;
  for (let i = line; i < lines.length; i++) {
    const l = lines[i] as string;
    if (l.trim() === "" || l.trimStart().startsWith("#")) continue;
    return indent(l) > indent(here) ? { line: i + 1, col: indent(l) + 1 } : undefined;
  }
  return undefined;
}

function keyOf(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

/** An empty value (`key:` with nothing after it) has no useful position of its own. */
function isBlank(node: unknown): boolean {
  return node === null || node === undefined || (isScalar(node) && node.value === null && node.source === "");
}

export function readYaml(text: string, file: string): YamlSource {
  const lines = new LineCounter();
  // Duplicate keys are found below, with their key path, rather than as a bare syntax error.
  // logLevel "error": the library would otherwise print a process warning to stderr for a list or
  // mapping used as a key; such a key is reported as an unknown key, at its position, like any other.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: true, logLevel: "error" });
  const at = (offset: number | undefined): SourcePosition => {
    const p = lines.linePos(offset ?? 0);
    return { line: p.line, col: p.col };
  };
  const startOf = (node: unknown): SourcePosition => at((node as Node | null)?.range?.[0]);

  const problems: ConfigError[] = [];
  // Only the first syntax error: the parser's later ones follow from it (one bad indent gives several).
  const first = doc.errors[0];
  if (first !== undefined) {
    const pos = first.linePos?.[0] ?? { line: 1, col: 1 };
    const message = (first.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
    const deeper = RUNS_ON.has(first.code) ? deeperLineAfter(text, pos.line) : undefined;
    if (deeper !== undefined) {
      problems.push({ file, ...deeper, path: "", found: "a line indented deeper than the key above it", expected: "the same indentation as that key (or its value after the colon)" });
    } else {
      const hint = SYNTAX_HINTS[first.code] ?? { found: `a YAML syntax error (${message})`, expected: "valid YAML" };
      problems.push({ file, line: pos.line, col: pos.col, path: "", ...hint });
    }
  }
  if (problems.length === 0) findDuplicateKeys(doc.contents, [], file, at, problems);

  let data: unknown;
  if (problems.length === 0) {
    try {
      data = doc.toJS();
    } catch (e) {
      // Too many aliases (a "billion laughs" file) is the known case.
      problems.push({
        file, line: 1, col: 1, path: "",
        found: `a document that cannot be expanded (${e instanceof Error ? e.message : String(e)})`,
        expected: "plain YAML without excessive aliases",
      });
    }
  }

  const locate = (path: readonly Segment[], target: "key" | "value"): SourcePosition => {
    let node: unknown = doc.contents;
    let fallback = isBlank(node) ? { line: 1, col: 1 } : startOf(node);
    for (let i = 0; i < path.length; i++) {
      const seg = path[i] as Segment;
      const last = i === path.length - 1;
      if (isAlias(node)) node = node.resolve(doc as Document);
      if (isMap(node)) {
        const pair = node.items.find((p) => keyOf(p.key) === String(seg));
        if (pair === undefined) return fallback;
        const keyPos = startOf(pair.key);
        if ((last && target === "key") || isBlank(pair.value)) return keyPos;
        node = pair.value;
        fallback = keyPos;
      } else if (isSeq(node) && typeof seg === "number") {
        const item = node.items[seg];
        if (isBlank(item)) return fallback;
        node = item;
        fallback = startOf(item);
      } else {
        return fallback;
      }
    }
    return isBlank(node) ? fallback : startOf(node);
  };

  return { data, problems, locate };
}

function findDuplicateKeys(
  node: unknown,
  path: Segment[],
  file: string,
  at: (offset: number | undefined) => SourcePosition,
  out: ConfigError[],
): void {
  if (isMap(node)) {
    const seen = new Map<string, SourcePosition>();
    for (const pair of node.items) {
      const key = keyOf(pair.key);
      if (key === undefined) continue;
      const pos = at((pair.key as Node | null)?.range?.[0]);
      const first = seen.get(key);
      if (first !== undefined) {
        out.push({
          file, ...pos, path: formatKeyPath([...path, key]),
          found: `the key "${key}" a second time (first at line ${first.line})`,
          expected: "each key once in a mapping",
        });
      } else {
        seen.set(key, pos);
      }
      findDuplicateKeys(pair.value, [...path, key], file, at, out);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => findDuplicateKeys(item, [...path, i], file, at, out));
  }
}
