import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./import-graph.ts";

/**
 * What the binary evaluates before a verb runs: the static imports reachable
 * from src/main.ts. Each verb and daemon imports its own code when it runs
 * (src/cli/dispatch.ts, src/daemon/entry.ts), and the build splits those into
 * chunks of their own, so `vigil version`, `vigil help` and the fencing
 * watchdog child load none of the daemon, the console or the config checks.
 */

// `import ... from "x"` and `export ... from "x"`, not `import type`/`export type` and not `import("x")`.
const STATIC = /(?:^|[\s;}])(?:import|export)\s+(?!type\s)(?:[^"'`;]*?\sfrom\s+)?["']([^"']+)["']/g;

function staticImports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/(^|[^:"'`])\/\/[^\n]*/g, "$1");
  const out: string[] = [];
  for (const m of text.matchAll(STATIC)) {
    const spec = m[1] as string;
    out.push(spec.startsWith(".") ? relative(ROOT, resolve(dirname(join(ROOT, file)), spec)) : spec);
  }
  return out;
}

/** Every file and package the binary loads at start, before dispatch picks the verb. */
function loadedAtStart(entry = "src/main.ts"): Set<string> {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const f = todo.pop() as string;
    if (seen.has(f)) continue;
    seen.add(f);
    if (f.endsWith(".ts")) todo.push(...staticImports(f));
  }
  return seen;
}

describe("what the binary loads before a verb runs", () => {
  const loaded = loadedAtStart();

  it("reads the entry's imports", () => {
    // A parser that finds nothing would pass the rest.
    expect(loaded).toContain("src/cli/dispatch.ts");
    expect(loaded).toContain("src/cli/version-command.ts");
    expect(loaded).toContain("src/daemon/entry.ts");
  });

  it("is neither the daemon, nor the console, nor the config loader, nor the other verbs", () => {
    const heavy = [
      "src/daemon/daemon.ts",
      "src/daemon/witness/daemon.ts",
      "src/daemon/log.ts",
      "web/app.ts",
      "src/config/load.ts",
      "src/config/schema-validator.generated.ts",
      "src/cli/commands.ts",
      "src/cli/import-command.ts",
      "src/cli/install-command.ts",
      "hono",
      "yaml",
    ];
    expect(heavy.filter((f) => loaded.has(f))).toEqual([]);
  });

  it("stays small: a few dozen files", () => {
    // 29 today; the whole program is over 300.
    expect([...loaded].filter((f) => f.endsWith(".ts")).length).toBeLessThan(45);
  });

  it("tells a static import from a type-only or dynamic one", () => {
    expect(staticImports("src/daemon/vrrp/supervised.ts")).not.toContain("src/daemon/vrrp/engine.ts");
    expect(staticImports("src/cli/dispatch.ts")).not.toContain("src/cli/commands.ts");
    expect(staticImports("src/cli/dispatch.ts")).toContain("src/cli/version-command.ts");
  });
});

/**
 * What the daemon loads for a node that runs heartbeats only: each engine
 * (src/daemon/{vrrp,module,farm}/supervised.ts) imports its code when the
 * config has something for it, and the console's app is built at its first
 * request (daemon.ts), so none of them is in the daemon's static imports.
 */
describe("what the daemon loads before the config asks for an engine", () => {
  const loaded = loadedAtStart("src/daemon/daemon.ts");

  it("reads the daemon's imports", () => {
    for (const f of ["src/daemon/heartbeat/supervised.ts", "src/daemon/vrrp/supervised.ts", "src/daemon/module/supervised.ts", "src/daemon/farm/supervised.ts", "src/daemon/console.ts"]) {
      expect(loaded).toContain(f);
    }
  });

  it("is neither the VRRP, module, mirror or farm engines nor the console's app", () => {
    const engines = [
      "src/daemon/vrrp/engine.ts",
      "src/daemon/vrrp/setup.ts",
      "src/net/raw-vrrp.ts",
      "src/daemon/module/engine.ts",
      "src/daemon/module/setup.ts",
      "src/daemon/module/arbiter-link.ts",
      "src/daemon/mirror/setup.ts",
      "src/replicator/intercept.ts",
      "src/daemon/farm/engine.ts",
      "src/daemon/farm/setup.ts",
      "src/daemon/farm/stale.ts",
      "web/app.ts",
      "hono",
    ];
    expect(engines.filter((f) => loaded.has(f))).toEqual([]);
  });
});
