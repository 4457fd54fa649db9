/**
 * The fuzzer's corpus as a regression suite: every input the coverage-guided
 * fuzzer (bench/fuzz/) kept, replayed through its decoder, must come back as
 * a result or the decoder's typed error; then a fixed budget of seeded
 * mutations of those inputs, with the fuzzer's own mutators.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, vi } from "vitest";
import { mutate, prng } from "../../bench/fuzz/mutate.ts";
import { TARGETS } from "../../bench/fuzz/targets.ts";
import { parseConfig } from "../../src/config/load.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CORPUS = join(ROOT, "test", "fixtures", "fuzz");
/** Mutations per target; the config parser is slower than the byte decoders. */
const BUDGET: Record<string, number> = { config: 150 };
const DEFAULT_BUDGET = 1500;

function corpusOf(target: string): Uint8Array[] {
  const dir = join(CORPUS, target);
  return readdirSync(dir).filter((f) => f.endsWith(".bin")).sort().map((f) => new Uint8Array(readFileSync(join(dir, f))));
}

function contractHolds(run: (b: Uint8Array) => void, input: Uint8Array): string | null {
  try {
    run(input);
    return null;
  } catch (e) {
    return `${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} on ${Buffer.from(input).toString("hex").slice(0, 200)}`;
  }
}

describe.each(TARGETS.map((t) => [t.name, t] as const))("fuzz corpus: %s", (name, target) => {
  it("has a corpus", () => {
    expect(corpusOf(name).length).toBeGreaterThan(0);
  });

  it("every corpus input and seed decodes or fails with the typed error", () => {
    const inputs = [...corpusOf(name), ...target.seeds(ROOT)];
    const broken = inputs.map((b) => contractHolds((x) => target.run(x), b)).filter((x) => x !== null);
    expect(broken).toEqual([]);
  });

  it("seeded mutations of the corpus keep the contract", () => {
    const corpus = corpusOf(name);
    const rand = prng(0x5eed ^ name.length);
    const dictionary = (target.dictionary ?? []).map((s) => new TextEncoder().encode(s));
    const ctx = { rand, other: () => corpus[Math.floor(rand() * corpus.length)] ?? new Uint8Array(0), dictionary, maxLength: 4096 };
    const broken: string[] = [];
    for (let i = 0; i < (BUDGET[name] ?? DEFAULT_BUDGET) && broken.length < 5; i++) {
      let input = mutate(ctx.other(), ctx);
      if (target.fixup !== undefined && rand() < 0.9) input = target.fixup(input);
      const problem = contractHolds((x) => target.run(x), input);
      if (problem !== null) broken.push(problem);
    }
    expect(broken).toEqual([]);
  });
});

describe("what the fuzzer found", () => {
  it("config: a list or mapping used as a key is an unknown key at its position, with no library warning on stderr", () => {
    const warnings: string[] = [];
    const spy = vi.spyOn(process, "emitWarning").mockImplementation((w: string | Error) => {
      warnings.push(String(w));
    });
    try {
      const r = parseConfig("cluster: {name: a, nodes: [{name: a, addresses: [198.51.100.1], {x: 1}: 2}]}\n", "/x/vigil.yaml");
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.errors).toEqual([expect.objectContaining({ line: 1, col: 28, path: "cluster.nodes[0].{ x: 1 }", found: 'unknown key "{ x: 1 }"' })]);
    } finally {
      spy.mockRestore();
    }
    expect(warnings).toEqual([]);
  });
});
