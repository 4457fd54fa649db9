/**
 * A small YAML writer for imported configs: block mappings and lists, flow
 * lists of scalars, and comments placed before any entry (what did not map
 * is said where it would have gone). Scalars are quoted only where plain
 * text would read back as something else.
 */
import { parse } from "yaml";

export type Scalar = string | number | boolean;
export type YValue = Scalar | YMap | YValue[];

/** An entry of a mapping, or a comment standing alone among the entries. */
export type YEntry = { key: string; value: YValue; comments?: string[]; note?: string } | { comments: string[] };

export interface YMap {
  kind: "map";
  entries: YEntry[];
}

export const ymap = (...entries: (YEntry | undefined)[]): YMap => ({ kind: "map", entries: entries.filter((e): e is YEntry => e !== undefined) });
export const entry = (key: string, value: YValue, comments: string[] = [], note?: string): YEntry =>
  note === undefined ? { key, value, comments } : { key, value, comments, note };
export const comment = (...lines: string[]): YEntry => ({ comments: lines });

const isMap = (v: YValue): v is YMap => typeof v === "object" && !Array.isArray(v);

export function scalar(v: Scalar): string {
  if (typeof v !== "string") return String(v);
  // Plain only when it reads back as the same string and cannot start a flow or comment.
  // YAML 1.1 readers (many editors) take yes/no/on/off as booleans: quote them too.
  if (v !== "" && !/^(y|n|yes|no|on|off)$/i.test(v) && !/[,[\]{}#]/.test(v) && !/^[\s&*!|>'"%@`?:-]/.test(v) && !/\s$/.test(v) && !v.includes(": ")) {
    try {
      if (parse(v) === v) return v;
    } catch {
      // Not plain YAML: quote it.
    }
  }
  return JSON.stringify(v);
}

const flowable = (v: YValue): boolean => Array.isArray(v) && v.every((x) => !Array.isArray(x) && !isMap(x));

function commentLines(lines: readonly string[], indent: string): string[] {
  return lines.flatMap((l) => l.split("\n")).map((l) => (l === "" ? `${indent}#` : `${indent}# ${l}`));
}

function valueLines(key: string, value: YValue, indent: string, note: string | undefined): string[] {
  const tail = note === undefined ? "" : `  # ${note}`;
  if (isMap(value)) {
    if (value.entries.length === 0) return [`${indent}${key}: {}${tail}`];
    return [`${indent}${key}:${tail}`, ...mapLines(value, `${indent}  `)];
  }
  if (Array.isArray(value)) {
    if (flowable(value)) return [`${indent}${key}: [${value.map((x) => scalar(x as Scalar)).join(", ")}]${tail}`];
    return [`${indent}${key}:${tail}`, ...listLines(value, `${indent}  `)];
  }
  return [`${indent}${key}: ${scalar(value)}${tail}`];
}

function mapLines(map: YMap, indent: string): string[] {
  return map.entries.flatMap((e) =>
    "key" in e ? [...commentLines(e.comments ?? [], indent), ...valueLines(e.key, e.value, indent, e.note)] : commentLines(e.comments, indent),
  );
}

function listLines(items: readonly YValue[], indent: string): string[] {
  return items.flatMap((item) => {
    if (isMap(item)) {
      const inner = mapLines(item, `${indent}  `);
      // The first entry line (after its comments) carries the dash.
      const first = inner.findIndex((l) => !l.trimStart().startsWith("#"));
      if (first < 0) return inner;
      // Comments above the dash line up with it.
      return inner.map((l, i) => (i === first ? `${indent}- ${l.slice(indent.length + 2)}` : i < first ? l.slice(2) : l));
    }
    if (Array.isArray(item)) return [`${indent}- [${item.map((x) => scalar(x as Scalar)).join(", ")}]`];
    return [`${indent}- ${scalar(item)}`];
  });
}

/** The document: a header comment, then the top-level mapping. */
export function yamlText(header: readonly string[], doc: YMap): string {
  return [...commentLines(header, ""), ...mapLines(doc, "")].join("\n") + "\n";
}
