import { describe, expect, it } from "vitest";
import {
  allViolations,
  collectImports,
  cycles,
  describeViolation,
  type ImportEdge,
  importsOf,
  layerViolations,
} from "./import-graph.ts";

/**
 * Known breaks of the rules, each with the reason it is tolerated. The test
 * also fails when one of them no longer happens, so the list only shrinks.
 */
const TOLERATED: readonly { readonly violation: string; readonly why: string }[] = [
  {
    violation: "a core folder's types.ts is a leaf: nothing from its own folder: src/core/mirror/types.ts:6 imports src/core/mirror/copy.ts",
    why: "the mirror core is being built; its CopyRecord type moves into types.ts",
  },
];

describe("import rules of src/ and web/ (ARCHITECTURE.md)", () => {
  const edges = collectImports();

  it("reads the imports of the tree", () => {
    // A parser that finds nothing passes every rule: make sure it sees the tree.
    expect(edges.length).toBeGreaterThan(300);
    expect(edges).toContainEqual(expect.objectContaining({ from: "src/main.ts", to: "src/cli/dispatch.ts" }));
  });

  it("holds: every offending import is named", () => {
    const found = allViolations(edges).map(describeViolation);
    const tolerated = new Set(TOLERATED.map((t) => t.violation));
    expect(found.filter((v) => !tolerated.has(v))).toEqual([]);
    expect(TOLERATED.map((t) => t.violation).filter((t) => !found.includes(t))).toEqual([]);
  });
});

describe("the import checker itself", () => {
  const edge = (from: string, to: string, line = 1): ImportEdge => ({ from, to, line });

  it("parses static, type-only, re-export and dynamic imports, not comments", () => {
    const text = [
      'import { a } from "./a.ts";',
      'import type { B } from "../core/b.ts";',
      'export { c } from "./c.ts";',
      'export * from "./d.ts";',
      "import {",
      "  e,",
      '} from "node:fs";',
      'const f = await import("./f.ts");',
      '// import { g } from "./g.ts";',
      '/* import { h } from "./h.ts"; */',
      ' * see `import { i } from "./i.ts"` in prose',
    ].join("\n");
    expect(importsOf("src/daemon/x.ts", text).map((e) => [e.to, e.line])).toEqual([
      ["src/daemon/a.ts", 1],
      ["src/core/b.ts", 2],
      ["src/daemon/c.ts", 3],
      ["src/daemon/d.ts", 4],
      ["node:fs", 5],
      ["src/daemon/f.ts", 8],
    ]);
  });

  it("fails a made-up graph that breaks every rule, naming each import", () => {
    const bad = [
      edge("src/config/load.ts", "src/core/membership/config.ts", 3),
      edge("src/config/load.ts", "src/daemon/log.ts", 4),
      edge("web/app.ts", "src/daemon/status.ts", 5),
      edge("src/cli/commands.ts", "src/daemon/daemon.ts", 6),
      edge("src/core/vrrp/vrrp.ts", "node:dgram", 7),
      edge("src/core/vrrp/vrrp.ts", "src/sys/vip.ts", 8),
      edge("src/core/module/module.ts", "yaml", 9),
      edge("src/proto/vrrp.ts", "src/net/raw-vrrp.ts", 10),
      edge("src/api/status.ts", "src/daemon/status.ts", 11),
      edge("src/cli/module-command.ts", "web/command-request.ts", 12),
      edge("src/core/vrrp/types.ts", "src/core/vrrp/config.ts", 13),
    ];
    expect(layerViolations(bad).map(describeViolation)).toEqual([
      "config imports only config (and sys for files): src/config/load.ts:3 imports src/core/membership/config.ts",
      "config imports only config (and sys for files): src/config/load.ts:4 imports src/daemon/log.ts",
      "web and cli reach the daemon only through src/api: web/app.ts:5 imports src/daemon/status.ts",
      "web and cli reach the daemon only through src/api: src/cli/commands.ts:6 imports src/daemon/daemon.ts",
      "core is pure: no runtime modules: src/core/vrrp/vrrp.ts:7 imports node:dgram",
      "core imports only core, proto and the mirror's vocabulary: src/core/vrrp/vrrp.ts:8 imports src/sys/vip.ts",
      "core is pure: no packages: src/core/module/module.ts:9 imports yaml",
      "proto imports only proto and the mirror's vocabulary: src/proto/vrrp.ts:10 imports src/net/raw-vrrp.ts",
      "api is shared by daemon, web and cli and imports none of them: src/api/status.ts:11 imports src/daemon/status.ts",
      "web and cli share only src/api: src/cli/module-command.ts:12 imports web/command-request.ts",
      "a core folder's types.ts is a leaf: nothing from its own folder: src/core/vrrp/types.ts:13 imports src/core/vrrp/config.ts",
    ]);
  });

  it("accepts the imports the rules allow", () => {
    const good = [
      edge("src/config/load.ts", "src/config/raw.ts"),
      edge("src/config/load.ts", "yaml"),
      edge("web/app.ts", "src/api/status.ts"),
      edge("src/daemon/daemon.ts", "web/app.ts"),
      edge("src/core/vrrp/vrrp.ts", "src/proto/vrrp.ts"),
      edge("src/core/mirror/mirror.ts", "src/replicator/ops.ts"),
      edge("src/proto/replication.ts", "src/replicator/ops.ts"),
      edge("src/proto/heartbeat.ts", "node:crypto"),
      edge("src/core/module/types.ts", "src/core/membership/types.ts"),
    ];
    expect(allViolations(good)).toEqual([]);
  });

  it("finds a circle and names its path", () => {
    const loop = [
      edge("src/a.ts", "src/b.ts"),
      edge("src/b.ts", "src/c.ts"),
      edge("src/c.ts", "src/a.ts"),
      edge("src/c.ts", "src/d.ts"),
    ];
    expect(cycles(loop)).toEqual([["src/a.ts", "src/b.ts", "src/c.ts", "src/a.ts"]]);
    expect(allViolations(loop).map(describeViolation)).toEqual(["import circle: src/a.ts -> src/b.ts -> src/c.ts -> src/a.ts"]);
  });
});
