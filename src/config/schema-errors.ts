/**
 * Validation against the JSON Schema, and the translation of the validator's
 * errors into one readable problem each: unknown keys name the allowed ones,
 * missing keys say what belongs there, bad values say what was expected.
 *
 * The validator is ajv's, compiled from the schema ahead of time
 * (schema-validator.generated.ts, written by scripts/config-validator.ts), so
 * loading a config compiles nothing and the binary carries no ajv.
 */
import type { ErrorObject, ValidateFunction } from "ajv";
import { allowedKeys, closestKey, describeFound, expectedFor, type SchemaNode, valueGuess } from "./describe.ts";
import type { Segment } from "./key-path.ts";
import type { Problem } from "./problem.ts";
import { configSchema } from "./schema.ts";
import { validate as generated } from "./schema-validator.generated.ts";

const validate = generated as ValidateFunction;

let known: Set<string> | undefined;

/** Every key any mapping of the schema allows. */
function knownKeys(): Set<string> {
  if (known === undefined) {
    known = new Set();
    const walk = (x: unknown): void => {
      if (Array.isArray(x)) x.forEach(walk);
      else if (typeof x === "object" && x !== null) {
        const props = (x as SchemaNode)["properties"];
        if (typeof props === "object" && props !== null) for (const k of Object.keys(props)) known?.add(k);
        Object.values(x).forEach(walk);
      }
    };
    walk(configSchema);
  }
  return known;
}

function node(x: unknown): SchemaNode {
  return typeof x === "object" && x !== null ? (x as SchemaNode) : {};
}

/** ajv's JSON pointer -> key path, with list indexes as numbers. */
function segmentsOf(pointer: string, data: unknown): Segment[] {
  const out: Segment[] = [];
  let here: unknown = data;
  for (const raw of pointer === "" ? [] : pointer.slice(1).split("/")) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(here)) {
      out.push(Number(seg));
      here = here[Number(seg)];
    } else {
      out.push(seg);
      here = typeof here === "object" && here !== null ? (here as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

/** The `type` values a discriminated schema's branches accept. */
function discriminatorValues(schema: SchemaNode): string[] {
  const branches = Array.isArray(schema["oneOf"]) ? schema["oneOf"] : [];
  return branches.map((b) => String(node(node(node(b)["properties"])["type"])["const"]));
}

function translate(e: ErrorObject, data: unknown): Problem | undefined {
  const path = segmentsOf(e.instancePath, data);
  const parent = node(e.parentSchema);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "additionalProperties": {
      const key = String(params["additionalProperty"]);
      const allowed = allowedKeys(parent);
      const guess = closestKey(key, allowed);
      const title = typeof parent["title"] === "string" ? parent["title"] : undefined;
      // An entry with no kind at all whose unknown key is not a typo: most likely a kind we do not have.
      const kinds = Array.isArray(parent["kinds"]) ? (parent["kinds"] as string[]) : undefined;
      const entry = typeof e.data === "object" && e.data !== null ? (e.data as Record<string, unknown>) : {};
      if (kinds !== undefined && guess === undefined && !kinds.some((k) => k in entry) && !knownKeys().has(key)) {
        return { path: [...path, key], at: "key", found: `unknown ${title ?? "entry"} kind "${key}"`, expected: `one of ${kinds.join(", ")}` };
      }
      // A key that exists elsewhere (ports on a mirror module) is a misplaced key, not a typo.
      const why = guess !== undefined
        ? ` (did you mean "${guess}"?)`
        : title !== undefined && knownKeys().has(key) ? ` (a ${title} has no ${key})` : "";
      return { path: [...path, key], at: "key", found: `unknown key "${key}"`, expected: `one of ${allowed.join(", ")}${why}` };
    }
    case "required": {
      const key = String(params["missingProperty"]);
      const expected = parent["discriminator"] !== undefined && key === "type"
        ? `one of ${discriminatorValues(parent).join(", ")}`
        : expectedFor(node(parent["properties"])[key], undefined);
      return { path: [...path, key], at: "value", found: "nothing", expected: `${expected}; the key is required` };
    }
    case "discriminator": {
      // A missing tag is already reported by `required`.
      if (params["tagValue"] === undefined) return undefined;
      return {
        path: [...path, String(params["tag"])],
        at: "value",
        found: describeFound(params["tagValue"]),
        expected: `one of ${discriminatorValues(parent).join(", ")}${valueGuess(params["tagValue"], discriminatorValues(parent))}`,
      };
    }
    case "uniqueItems": {
      const later = Number(params["i"]);
      const earlier = Number(params["j"]);
      const items = Array.isArray(e.data) ? e.data : [];
      return {
        path: [...path, Math.max(later, earlier)],
        at: "value",
        found: `${describeFound(items[Math.max(later, earlier)])} a second time (also at [${Math.min(later, earlier)}])`,
        expected: "each value once",
      };
    }
    case "oneOf":
    case "anyOf":
      return undefined;
    default:
      return { path, at: "value", found: describeFound(e.data), expected: expectedFor(parent, e.data) };
  }
}

/** Problems of `data` against the schema, at most one per key path. */
export function schemaProblems(data: unknown): Problem[] {
  if (validate(data)) return [];
  const out: Problem[] = [];
  for (const e of validate.errors ?? []) {
    const p = translate(e, data);
    if (p !== undefined) out.push(p);
  }
  return out;
}
