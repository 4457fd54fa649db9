/**
 * Every ```yaml block of README.md goes through the config loader, so the
 * README cannot show what check-config rejects.
 *
 * The convention, in README.md itself:
 * - A block with nothing before it must be a whole vigil.yaml that loads.
 * - A block that shows only part of a config is preceded (on the line
 *   before the fence, blank lines allowed) by an HTML comment, invisible
 *   when rendered:
 *       <!-- fragment: nodes gw1 gw2 -->
 *   The test completes it with a cluster of those nodes (name `readme`,
 *   addresses from 198.51.100.0/24 and 203.0.113.0/24, one per heartbeat
 *   link the fragment declares), adding only keys the fragment does not
 *   give, and loads the result. A fragment without `nodes` gets two nodes,
 *   n1 and n2.
 * Relative paths (scripts, key file) are only resolved, never opened: the
 * loader's pure part (parseConfig) checks a snippet, as the schema and
 * cross-field rules would on any node.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { formatConfigError } from "../../src/config/errors.ts";
import { parseConfig } from "../../src/config/load.ts";

const README = new URL("../../README.md", import.meta.url);

interface Snippet {
  /** 1-based line of the opening fence. */
  line: number;
  text: string;
  /** Node names of a fragment; undefined for a whole config. */
  fragmentNodes?: string[];
}

export function readmeSnippets(markdown: string): Snippet[] {
  const lines = markdown.split("\n");
  const out: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== "```yaml") continue;
    const start = i;
    const body: string[] = [];
    for (i += 1; i < lines.length && lines[i]?.trim() !== "```"; i++) body.push(lines[i] as string);
    let before = start - 1;
    while (before >= 0 && lines[before]?.trim() === "") before--;
    const marker = /^<!--\s*fragment(?::\s*nodes\s+([\w\s-]+?))?\s*-->$/.exec(lines[before]?.trim() ?? "");
    // Indented blocks (inside a list item) keep their indentation off.
    const indent = Math.min(...body.filter((l) => l.trim() !== "").map((l) => l.length - l.trimStart().length));
    const text = body.map((l) => l.slice(Number.isFinite(indent) ? indent : 0)).join("\n");
    out.push({ line: start + 1, text, ...(marker === null ? {} : { fragmentNodes: marker[1]?.split(/\s+/) ?? ["n1", "n2"] }) });
  }
  return out;
}

type Rec = Record<string, unknown>;
const isRec = (x: unknown): x is Rec => typeof x === "object" && x !== null && !Array.isArray(x);

/** Keys of `base` the fragment lacks, mappings merged all the way down. */
function complete(fragment: unknown, base: Rec): Rec {
  const out: Rec = isRec(fragment) ? { ...fragment } : {};
  for (const [k, v] of Object.entries(base)) {
    if (!(k in out)) out[k] = v;
    else if (isRec(out[k]) && isRec(v)) out[k] = complete(out[k], v);
  }
  return out;
}

export function completedFragment(text: string, nodes: readonly string[]): string {
  const fragment = parse(text) as unknown;
  const links = isRec(fragment) && isRec(fragment["cluster"]) && isRec(fragment["cluster"]["heartbeat"]) && Array.isArray(fragment["cluster"]["heartbeat"]["links"])
    ? fragment["cluster"]["heartbeat"]["links"].length
    : 1;
  const subnets = ["198.51.100", "203.0.113"];
  const base = {
    cluster: {
      name: "readme",
      nodes: nodes.map((name, i) => ({ name, addresses: subnets.slice(0, Math.max(1, links)).map((s) => `${s}.${11 + i}`) })),
    },
  };
  return JSON.stringify(complete(fragment, base), null, 2);
}

describe("README.md yaml snippets", () => {
  const snippets = readmeSnippets(readFileSync(README, "utf8"));

  it("has snippets to check (the extraction finds them)", () => {
    expect(snippets.length).toBeGreaterThanOrEqual(3);
  });

  it.each(snippets.map((s) => [s.line, s] as const))("the block at README.md:%i loads", (_line, s) => {
    const text = s.fragmentNodes === undefined ? s.text : completedFragment(s.text, s.fragmentNodes);
    const r = parseConfig(text, `README.md (block at line ${s.line}${s.fragmentNodes === undefined ? "" : ", completed"})`);
    expect(r.ok ? [] : r.errors.map(formatConfigError)).toEqual([]);
  });
});

describe("the snippet convention", () => {
  it("finds whole configs and fragments with their nodes, indented blocks included", () => {
    const md = [
      "text", "```yaml", "cluster: { name: a }", "```",
      "<!-- fragment: nodes gw1 gw2 -->", "", "```yaml", "vrrp: []", "```",
      "<!-- fragment -->", "   ```yaml", "   modules: []", "   ```",
    ].join("\n");
    expect(readmeSnippets(md)).toEqual([
      { line: 2, text: "cluster: { name: a }" },
      { line: 7, text: "vrrp: []", fragmentNodes: ["gw1", "gw2"] },
      { line: 11, text: "modules: []", fragmentNodes: ["n1", "n2"] },
    ]);
  });

  it("completes a fragment with only the keys it lacks, one address per declared link", () => {
    const done = JSON.parse(completedFragment("cluster:\n  heartbeat:\n    links: [{ mode: unicast }, { mode: unicast }]\n", ["a", "b"])) as Rec;
    expect(done).toEqual({
      cluster: {
        heartbeat: { links: [{ mode: "unicast" }, { mode: "unicast" }] },
        name: "readme",
        nodes: [{ name: "a", addresses: ["198.51.100.11", "203.0.113.11"] }, { name: "b", addresses: ["198.51.100.12", "203.0.113.12"] }],
      },
    });
  });

  it("a snippet check-config would reject fails here, naming why", () => {
    const bad = completedFragment("vrrp:\n  - { name: VI_1, interface: eth0, vrid: 51, priority: 100, vips: [198.51.100.100/24], unicast_peer: { gw1: 198.51.100.12 } }\n", ["gw1", "gw2"]);
    const r = parseConfig(bad, "README.md");
    expect(r.ok ? [] : r.errors.map((e) => e.path)).toEqual(["vrrp[0].unicast_peer"]);
  });
});
