/**
 * The effective config as YAML, for `vigil check-config --print`: the same
 * keys as the file, durations written readably (100ms, 2s), short lists of
 * plain values on one line. Loading the output gives back the same config.
 */
import { Document, isScalar, visit } from "yaml";
import { formatDuration } from "./duration.ts";
import { configSchema } from "./schema.ts";
import type { VigilConfig } from "./types.ts";

type Node = Record<string, unknown>;

const node = (x: unknown): Node => (typeof x === "object" && x !== null ? (x as Node) : {});

/** The branch of a discriminated schema that a value's `type` picks. */
function branchFor(schema: Node, value: Node): Node {
  if (!Array.isArray(schema["oneOf"])) return schema;
  const match = schema["oneOf"].find((b) => node(node(node(b)["properties"])["type"])["const"] === value["type"]);
  return node(match);
}

/** Turns the millisecond fields (those whose schema says format: duration) back into text. */
function displayed(value: unknown, schema: Node): unknown {
  if (typeof value === "number" && schema["format"] === "duration") return formatDuration(value);
  if (Array.isArray(value)) return value.map((v) => displayed(v, node(schema["items"])));
  if (typeof value === "object" && value !== null) {
    const s = branchFor(schema, value as Node);
    const props = node(s["properties"]);
    const rest = node(s["additionalProperties"]);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, displayed(v, k in props ? node(props[k]) : rest)]));
  }
  return value;
}

export function effectiveConfigYaml(config: VigilConfig): string {
  const doc = new Document(displayed(config, node(configSchema)));
  visit(doc, {
    Seq(_, seq) {
      if (seq.items.length > 0 && seq.items.every((i) => isScalar(i))) seq.flow = true;
    },
  });
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}
