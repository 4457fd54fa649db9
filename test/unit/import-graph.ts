/**
 * The import graph of src/ and web/ and the layering rules it must obey
 * (ARCHITECTURE.md, "Code map"). Pure functions over edges, so a test can
 * feed a made-up graph and see every rule fail.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/** One import: `from` and `to` are repository-relative paths, or `to` is a bare specifier ("node:fs", "hono"). */
export interface ImportEdge {
  readonly from: string;
  readonly to: string;
  readonly line: number;
}

export interface Violation {
  readonly rule: string;
  readonly edge?: ImportEdge;
  readonly cycle?: readonly string[];
}

const SPECIFIER = /(?:^|[\s;}])(?:import|export)\s+(?:type\s+)?(?:[^"'`;]*?\sfrom\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/** The imports of one file's text. Comments are skipped so a `from "..."` in prose is no import. */
export function importsOf(file: string, text: string): ImportEdge[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " ")).replace(/(^|[^:"'`])\/\/[^\n]*/g, "$1");
  const edges: ImportEdge[] = [];
  for (const m of code.matchAll(SPECIFIER)) {
    const spec = m[1] ?? m[2];
    if (spec === undefined) continue;
    const line = code.slice(0, m.index).split("\n").length + (m[0].startsWith("\n") ? 1 : 0);
    const to = spec.startsWith(".") ? relative(ROOT, resolve(dirname(join(ROOT, file)), spec)) : spec;
    edges.push({ from: file, to, line });
  }
  return edges;
}

export const ROOT = resolve(import.meta.dirname, "../..");

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...tsFiles(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** Every import of every .ts file under the given folders. */
export function collectImports(dirs: readonly string[] = ["src", "web"]): ImportEdge[] {
  return dirs.flatMap((d) => tsFiles(d).flatMap((f) => importsOf(f, readFileSync(join(ROOT, f), "utf8"))));
}

const inside = (path: string, folder: string): boolean => path === folder || path.startsWith(`${folder}/`);
const local = (to: string): boolean => inside(to, "src") || inside(to, "web") || inside(to, "test");

/**
 * The mirror's vocabulary: pure type and value leaves under src/replicator
 * (ops.ts, *-types.ts, *-result.ts) that the mirror core and the replication
 * codec share with the data path. They obey the core's rules themselves.
 */
export function isVocabulary(path: string): boolean {
  if (!inside(path, "src/replicator")) return false;
  const name = path.slice(path.lastIndexOf("/") + 1);
  return name === "ops.ts" || name.endsWith("-types.ts") || name.endsWith("-result.ts");
}

const pureTarget = (to: string): boolean => inside(to, "src/core") || inside(to, "src/proto") || isVocabulary(to);

/** The layering rules, one message per offending import. */
export function layerViolations(edges: readonly ImportEdge[]): Violation[] {
  const out: Violation[] = [];
  const say = (rule: string, edge: ImportEdge): void => void out.push({ rule, edge });
  for (const e of edges) {
    const isLocal = local(e.to);
    const runtime = e.to.startsWith("node:") || e.to.startsWith("bun:");
    if (inside(e.from, "src/config")) {
      if (isLocal && !inside(e.to, "src/config") && !inside(e.to, "src/sys")) say("config imports only config (and sys for files)", e);
    }
    if (inside(e.from, "src/import")) {
      if (isLocal && !inside(e.to, "src/import") && !inside(e.to, "src/config") && !inside(e.to, "src/sys")) say("import imports only import, config and sys", e);
    }
    if (inside(e.from, "web") || inside(e.from, "src/cli")) {
      if (inside(e.to, "src/daemon")) say("web and cli reach the daemon only through src/api", e);
      if ((inside(e.from, "web") && inside(e.to, "src/cli")) || (inside(e.from, "src/cli") && inside(e.to, "web"))) say("web and cli share only src/api", e);
    }
    if (inside(e.from, "src/core") || isVocabulary(e.from)) {
      if (runtime) say("core is pure: no runtime modules", e);
      else if (!isLocal) say("core is pure: no packages", e);
      else if (!pureTarget(e.to)) say("core imports only core, proto and the mirror's vocabulary", e);
    }
    const leaf = /^src\/core\/([^/]+)\/types\.ts$/.exec(e.from);
    if (leaf !== null && inside(e.to, `src/core/${leaf[1]}`)) say("a core folder's types.ts is a leaf: nothing from its own folder", e);
    if (inside(e.from, "src/proto")) {
      if (isLocal && !inside(e.to, "src/proto") && !isVocabulary(e.to)) say("proto imports only proto and the mirror's vocabulary", e);
    }
    if (inside(e.from, "src/api")) {
      if (inside(e.to, "src/daemon") || inside(e.to, "web") || inside(e.to, "src/cli")) say("api is shared by daemon, web and cli and imports none of them", e);
    }
  }
  return out;
}

/** Every import circle among local files, each once, as the path around it. */
export function cycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    if (!local(e.to)) continue;
    next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  }
  const found = new Map<string, string[]>();
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, "open");
    stack.push(n);
    for (const m of next.get(n) ?? []) {
      const s = state.get(m);
      if (s === "open") {
        const loop = stack.slice(stack.indexOf(m));
        const key = [...loop].sort().join(" ");
        if (!found.has(key)) found.set(key, [...loop, m]);
      } else if (s === undefined) visit(m);
    }
    stack.pop();
    state.set(n, "done");
  };
  for (const n of [...next.keys()].sort()) if (!state.has(n)) visit(n);
  return [...found.values()];
}

export function describeViolation(v: Violation): string {
  if (v.cycle !== undefined) return `${v.rule}: ${v.cycle.join(" -> ")}`;
  const e = v.edge;
  return e === undefined ? v.rule : `${v.rule}: ${e.from}:${e.line} imports ${e.to}`;
}

export function allViolations(edges: readonly ImportEdge[]): Violation[] {
  return [...layerViolations(edges), ...cycles(edges).map((cycle) => ({ rule: "import circle", cycle }))];
}
