/**
 * What the vigil.yaml tests share: a valid two-node cluster to build a
 * config on, the text of a file from its lines, and what the parser makes
 * of it: every problem as check-config prints it, or the config it loads.
 */
import { formatConfigError } from "../../src/config/errors.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { VigilConfig } from "../../src/config/types.ts";

/** Lines 1-5 of most configs: a valid cluster "lab", node a on 198.51.100.1 and b on .2. */
export const TWO_NODES: readonly string[] = [
  "cluster:",
  "  name: lab",
  "  nodes:",
  "    - { name: a, addresses: [198.51.100.1] }",
  "    - { name: b, addresses: [198.51.100.2] }",
];

/** A file's text: each line ended by a newline. */
export const fileText = (...l: readonly string[]): string => `${l.join("\n")}\n`;

/** Every problem of `text` read as `file`, formatted as check-config prints them; [] when it loads. */
export function problems(text: string, file = "vigil.yaml"): string[] {
  const r = parseConfig(text, file);
  return r.ok ? [] : r.errors.map(formatConfigError);
}

/** The config `text` loads to as `file`; throws its problems when it does not load. */
export function loadConfig(text: string, file = "vigil.yaml"): VigilConfig {
  const r = parseConfig(text, file);
  if (!r.ok) throw new Error(r.errors.map(formatConfigError).join("\n"));
  return r.config;
}
