import { describe, expect, it } from "vitest";
import { excludePatternProblem } from "../../src/config/exclude-pattern.ts";
import { compileExclude, excludeOps, type Materialize } from "../../src/replicator/exclude.ts";
import { type MirrorOp, relPath, relPathText } from "../../src/replicator/ops.ts";

const text = (ops: readonly MirrorOp[]): string[] =>
  ops.map((o) => (o.op === "rename" ? `rename ${relPathText(o.from)} -> ${relPathText(o.to)}` : o.op === "link" ? `link ${relPathText(o.existing)} -> ${relPathText(o.path)}` : `${o.op} ${o.path === null ? "(all)" : relPathText(o.path)}`));

describe("exclude patterns", () => {
  it("match one name at any depth, and everything beneath an excluded folder", () => {
    const ex = compileExclude(["*.tmp", "cache", ".~lock.*#", "[0-9]?.part", "a\\*b"]);
    if (ex === null) throw new Error("patterns compiled to nothing");
    const yes = ["x.tmp", "seg/x.tmp", "cache", "cache/thumbs/1.jpg", "a/b/cache/c", ".~lock.doc#", "d/7x.part", "a*b"];
    const no = ["x.tmp.keep", "tmp", "caches", "mycache/x", "d/x7.part", "axb", ""];
    for (const p of yes) expect(ex(relPath(p)), p).toBe(true);
    for (const p of no) expect(ex(relPath(p)), p).toBe(false);
    // Names are bytes: a name that is not UTF-8 still matches by its other bytes.
    expect(ex(new Uint8Array([0x66, 0xff, 0x2e, 0x74, 0x6d, 0x70]))).toBe(true);
    expect(compileExclude([])).toBeNull();
  });

  it("refuse what is not a pattern over one name, saying why", () => {
    expect(excludePatternProblem("data/cache")).toMatch(/has a "\/"/);
    expect(excludePatternProblem("")).toMatch(/empty/);
    expect(excludePatternProblem("..")).toMatch(/not a name/);
    expect(excludePatternProblem("[abc")).toMatch(/without its \]/);
    expect(excludePatternProblem("x\\")).toMatch(/escapes nothing/);
    expect(excludePatternProblem("*.tmp")).toBeNull();
  });
});

describe("ops of an excluded name", () => {
  const ex = compileExclude(["*.tmp", "cache"]);
  if (ex === null) throw new Error("patterns compiled to nothing");
  const calls: string[] = [];
  const materialize: Materialize = (path, as) => {
    calls.push(`${relPathText(path)} as ${relPathText(as)}`);
    return [{ op: "create", path: as, mode: 0o644, uid: 0, gid: 0 }, { op: "write", path: as, offset: 0, data: new Uint8Array([1]), mtimeNs: 1n }];
  };
  let seq = 0;
  const next = (): number => ++seq;
  const w = (p: string): MirrorOp => ({ op: "write", path: relPath(p), offset: 0, data: new Uint8Array([1]), mtimeNs: 1n });

  it("are dropped; the others pass in order", () => {
    const out = excludeOps([w("a.tmp"), w("b"), { op: "mkdir", path: relPath("cache"), mode: 0o755, uid: 0, gid: 0 }, w("cache/x"), { op: "fsync", path: relPath("a.tmp"), dataOnly: false }, w("c")], ex, materialize, next);
    expect(text(out)).toEqual(["write b", "write c"]);
  });

  it("a rename into the copy rebuilds the entry under a staging name beside it, then renames it into place", () => {
    calls.length = 0;
    const out = excludeOps([{ op: "rename", from: relPath("seg/.x.tmp"), to: relPath("seg/000020"), flags: 0 }], ex, materialize, next);
    expect(calls).toEqual([expect.stringMatching(/^seg\/000020 as seg\/\.vigil-staging-\d+$/)]);
    const t = text(out);
    expect(t[0]).toMatch(/^create seg\/\.vigil-staging-\d+$/);
    expect(t.at(-1)).toMatch(/^rename seg\/\.vigil-staging-\d+ -> seg\/000020$/);
  });

  it("a rename out of the copy is carried out; one between excluded names is dropped; a link from an excluded name is rebuilt", () => {
    calls.length = 0;
    const out = excludeOps([
      { op: "rename", from: relPath("d/f"), to: relPath("d/f.tmp"), flags: 0 },
      { op: "rename", from: relPath("x.tmp"), to: relPath("cache/x"), flags: 0 },
      { op: "link", existing: relPath("y.tmp"), path: relPath("y") },
      { op: "link", existing: relPath("y"), path: relPath("y.tmp") },
    ], ex, materialize, next);
    expect(calls).toEqual([expect.stringMatching(/^y as \.vigil-staging-\d+$/)]);
    const t = text(out);
    expect(t[0]).toBe("rename d/f -> d/f.tmp");
    expect(t.at(-1)).toMatch(/^rename \.vigil-staging-\d+ -> y$/);
    expect(t.filter((x) => x.includes("cache") || x.startsWith("link"))).toEqual([]);
  });
});
