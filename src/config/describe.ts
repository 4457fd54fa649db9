/** The "found ..." and "expected ..." halves of config error messages. */
import { formats, type StringFormat } from "./formats.ts";

const MAX_SHOWN = 60;

/** A value as the operator wrote it: strings quoted, collections named. */
export function describeFound(value: unknown): string {
  if (value === null || value === undefined) return "an empty value";
  if (typeof value === "string") {
    const shown = value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN)}...` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return value.length === 0 ? "an empty list" : `a list of ${value.length}`;
  if (typeof value === "object") return "a mapping";
  return typeof value;
}

export type SchemaNode = Record<string, unknown>;

function asNode(x: unknown): SchemaNode {
  return typeof x === "object" && x !== null ? (x as SchemaNode) : {};
}

function quoteAll(values: readonly unknown[]): string {
  return values.map((v) => String(v)).join(", ");
}

/** What a schema node accepts, in words; `found` refines format explanations. */
export function expectedFor(schemaNode: unknown, found: unknown): string {
  const s = asNode(schemaNode);
  if (typeof s["expected"] === "string") return s["expected"];
  const format = s["format"];
  if (typeof format === "string" && format in formats) {
    const f = (formats as Record<string, StringFormat>)[format] as StringFormat;
    return f.expected(typeof found === "string" || typeof found === "number" ? String(found) : "");
  }
  if ("const" in s) return String(s["const"]);
  if (Array.isArray(s["enum"])) return `one of ${quoteAll(s["enum"])}${valueGuess(found, s["enum"])}`;
  switch (s["type"]) {
    case "boolean":
      return "true or false";
    case "integer": {
      const min = s["minimum"];
      const max = s["maximum"];
      if (typeof min === "number" && typeof max === "number") return `a whole number from ${min} to ${max}`;
      if (typeof min === "number") return `a whole number of at least ${min}`;
      return "a whole number";
    }
    case "string":
      return "text";
    case "array":
      return "a list";
    case "object":
      return typeof s["title"] === "string" ? `a mapping (${s["title"]})` : "a mapping";
    default:
      return "a valid value";
  }
}

/** " (did you mean "manual"?)" for a string close to one of the values allowed (a typo, a capital), else "". */
export function valueGuess(found: unknown, allowed: readonly unknown[]): string {
  if (typeof found !== "string") return "";
  const guess = closestKey(found, allowed.filter((v): v is string => typeof v === "string"));
  return guess === undefined || guess === found ? "" : ` (did you mean "${guess}"?)`;
}

/** Keys a mapping schema allows, for "unknown key" messages. */
export function allowedKeys(schemaNode: unknown): string[] {
  return Object.keys(asNode(asNode(schemaNode)["properties"]));
}

/** The closest allowed key by edit distance, when it is close enough to be a typo. */
export function closestKey(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost));
    }
    prev = row;
  }
  return prev[b.length] as number;
}
