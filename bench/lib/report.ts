/** Writing a benchmark's results: bench/results/<name>.json and a markdown table in <name>.md. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const RESULTS_DIR = fileURLToPath(new URL("../results/", import.meta.url));

export type Cell = string | number | null | undefined;

/** Numbers at a precision a reader can compare at a glance; "-" for what was not measured. */
export function fmt(v: Cell, digits?: number): string {
  if (v === null || v === undefined) return "-";
  if (typeof v === "string") return v;
  if (!Number.isFinite(v)) return "-";
  if (digits !== undefined) return v.toFixed(digits);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

export function markdownTable(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  return [
    `| ${headers.map(esc).join(" | ")} |`,
    `|${headers.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.map((c) => esc(fmt(c))).join(" | ")} |`),
  ].join("\n");
}

/** Writes both files and returns their paths. `json` gets the date added unless it has one. */
export function writeResults(name: string, json: Record<string, unknown>, markdown: string, dir = RESULTS_DIR): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const paths = { json: join(dir, `${name}.json`), md: join(dir, `${name}.md`) };
  writeFileSync(paths.json, `${JSON.stringify({ date: new Date().toISOString(), ...json }, null, 2)}\n`);
  writeFileSync(paths.md, markdown.endsWith("\n") ? markdown : `${markdown}\n`);
  return paths;
}
