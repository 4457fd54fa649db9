/**
 * Loading vigil.yaml: YAML with positions, the JSON Schema, the cross-field
 * rules, then the effective config. Every problem of the file is reported at
 * once, sorted by position; nothing here throws on bad input.
 */
import { readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { readKeyFile } from "../sys/keyfile.ts";
import type { ConfigError } from "./errors.ts";
import { formatKeyPath } from "./key-path.ts";
import { consoleFileErrors } from "./console-files.ts";
import { normalizeConfig } from "./normalize.ts";
import type { Problem } from "./problem.ts";
import { isRec } from "./raw.ts";
import { schemaProblems } from "./schema-errors.ts";
import { semanticProblems } from "./semantic-checks.ts";
import type { VigilConfig } from "./types.ts";
import { readYaml, type YamlSource } from "./yaml-source.ts";

export { effectiveConfigYaml } from "./effective-yaml.ts";

export type LoadResult = { ok: true; file: string; config: VigilConfig } | { ok: false; file: string; errors: ConfigError[] };

/** Anything bigger is not a config (a disk image, a log picked by mistake). */
const MAX_CONFIG_BYTES = 1 << 20;

const SECTIONS = "a mapping of sections: cluster, and optionally vrrp, modules, web, console";

function isInside(inner: Problem, outer: Problem): boolean {
  return inner.path.length > outer.path.length && outer.path.every((s, i) => inner.path[i] === s);
}

function located(problems: readonly Problem[], source: YamlSource, file: string): ConfigError[] {
  const seen = new Set<string>();
  const out: ConfigError[] = [];
  for (const p of problems) {
    if (p.yieldsToInner && problems.some((q) => isInside(q, p))) continue;
    const path = formatKeyPath(p.path);
    // The schema's verdict on a key comes first; a cross-field rule about the same key would only repeat it.
    if (seen.has(path)) continue;
    seen.add(path);
    out.push({ file, ...source.locate(p.path, p.at), path, found: p.found, expected: p.expected });
  }
  return out.sort((a, b) => a.line - b.line || a.col - b.col);
}

function check(text: string, file: string): { result: LoadResult; source: YamlSource } {
  const source = readYaml(text, file);
  const fail = (errors: ConfigError[]) => ({ result: { ok: false as const, file, errors }, source });
  if (source.problems.length > 0) return fail(source.problems);
  const data = source.data;
  if (data === null || data === undefined) {
    return fail([{ file, line: 1, col: 1, path: "", found: "an empty file", expected: SECTIONS }]);
  }
  if (!isRec(data)) {
    const found = Array.isArray(data) ? "a list" : `the single value ${JSON.stringify(data)}`;
    return fail([{ file, ...source.locate([], "value"), path: "", found, expected: SECTIONS }]);
  }
  const errors = located([...schemaProblems(data), ...semanticProblems(data)], source, file);
  if (errors.length > 0) return fail(errors);
  return { result: { ok: true, file, config: normalizeConfig(data, dirname(resolve(file))) }, source };
}

/** Pure: no file system. `file` names the config in messages and anchors its relative paths. */
export function parseConfig(text: string, file: string): LoadResult {
  return check(text, file).result;
}

const READ_FAILURES: Record<string, string> = {
  ENOENT: "no such file (ENOENT)",
  EACCES: "a file this user may not read (EACCES)",
  EISDIR: "a directory (EISDIR)",
  ENOTDIR: "a path through something that is not a directory (ENOTDIR)",
};

function fileError(file: string, found: string, expected = "a readable vigil.yaml"): LoadResult {
  return { ok: false, file, errors: [{ file, line: 0, col: 0, path: "", found, expected }] };
}

/**
 * Reads and checks a config file. Beyond parseConfig it checks that the key
 * file exists and holds a usable key, since a node without it cannot join.
 */
export function loadConfigFile(file: string): LoadResult {
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > MAX_CONFIG_BYTES) return fileError(file, `a file of ${size} bytes`, `a config of at most ${MAX_CONFIG_BYTES} bytes`);
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
    return fileError(file, READ_FAILURES[code] ?? `a file that cannot be read (${e instanceof Error ? e.message : String(e)})`);
  }
  const { result, source } = check(text, file);
  if (!result.ok) return result;
  const missing = consoleFileErrors(result.config, source, file);
  if (missing.length > 0) return { ok: false, file, errors: missing };
  if (result.config.cluster.key_file === undefined) return result;
  const key = readKeyFile(result.config.cluster.key_file);
  if (key.ok) return result;
  return {
    ok: false,
    file,
    errors: [{
      file, ...source.locate(["cluster", "key_file"], "value"), path: "cluster.key_file",
      // readKeyFile's message names the file, what is wrong with it (the size a key needs) and, when
      // it is missing, the `vigil keygen` command that also says to copy it: not repeated here.
      found: key.message, expected: key.kind === "not-found" ? "the cluster key file" : "the cluster key file, the same on every node",
    }],
  };
}
