import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Applier } from "../../src/replicator/apply.ts";
import { Journal } from "../../src/replicator/journal.ts";
import { foldTimes, MAX_OP_TIMES, type MirrorOp, relPath, unfoldTimes } from "../../src/replicator/ops.ts";
import { tmpDir } from "./resync-fixture.ts";

const T0 = 1_700_000_000_000_000_000n;
const times = (p: string, s: number): MirrorOp => ({ op: "utimes", path: relPath(p), atimeNs: T0 + BigInt(s) * 1_000_000n, mtimeNs: T0 + BigInt(s) * 2_000_000n });
const create = (p: string): MirrorOp => ({ op: "create", path: relPath(p), mode: 0o640, uid: 0, gid: 0 });
const mkdir = (p: string): MirrorOp => ({ op: "mkdir", path: relPath(p), mode: 0o750, uid: 0, gid: 0 });
const rename = (from: string, to: string): MirrorOp => ({ op: "rename", from: relPath(from), to: relPath(to), flags: 0 });
const unlink = (p: string): MirrorOp => ({ op: "unlink", path: relPath(p) });

/** What a FUSE server emits for a storm in d/: each namespace op followed by the utimes of what it changed. */
function stormOps(n: number): MirrorOp[] {
  const ops: MirrorOp[] = [mkdir("d"), times("d", 1), times("", 2)];
  for (let i = 0; i < n; i++) {
    ops.push(create(`d/f${i}`), times(`d/f${i}`, 3 + i), times("d", 4 + i));
    ops.push(rename(`d/f${i}`, `d/g${i}`), times("d", 5 + i));
    ops.push(unlink(`d/g${i}`), times("d", 6 + i));
  }
  return ops;
}

describe("namespace ops carry the times that followed them", () => {
  it("folds each run of utimes after a namespace op into it, and unfolds to the very same ops", () => {
    const ops = stormOps(3);
    const folded = foldTimes(ops);
    expect(folded.map((o) => o.op)).toEqual(["mkdir", "create", "rename", "unlink", "create", "rename", "unlink", "create", "rename", "unlink"]);
    expect(folded.flatMap(unfoldTimes)).toEqual(ops);
  });

  it("leaves alone what it cannot fold, and returns the same array when nothing folds", () => {
    const write: MirrorOp = { op: "write", path: relPath("f"), offset: 0, data: new Uint8Array(1), mtimeNs: 1n };
    const plain = [write, times("f", 1), { op: "chmod", path: relPath("f"), mode: 0o600 } as MirrorOp, times("f", 2), unlink("x")];
    expect(foldTimes(plain)).toBe(plain);
    const many = [rename("a/x", "b/y"), ...Array.from({ length: MAX_OP_TIMES + 2 }, (_, i) => times("a", i))];
    const folded = foldTimes(many);
    expect(folded.map((o) => o.op)).toEqual(["rename", "utimes", "utimes"]);
    expect(folded.flatMap(unfoldTimes)).toEqual(many);
  });

  describe("on the SECOND and in the journal", () => {
    let dir: string;
    beforeEach(() => {
      dir = tmpDir("fold-times");
    });
    afterEach(() => {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("a folded op applies as the op and then its utimes, one after the other", () => {
      const ops = [...stormOps(2), create("d/keep"), times("d/keep", 40), times("d", 41)];
      const trees: string[] = [];
      for (const [name, list] of [["plain", ops], ["folded", foldTimes(ops)]] as const) {
        const root = path.join(dir, name);
        fs.mkdirSync(root);
        const a = new Applier(root, { fsCalls: null });
        for (const op of list) expect(a.apply(op)).toEqual({ ok: true });
        a.close();
        const st = (p: string): string => {
          const s = fs.lstatSync(path.join(root, p), { bigint: true });
          // node:fs sets times to within 2 µs (mtimeWindowNs); the times here are whole milliseconds.
          const ms = (ns: bigint): bigint => (ns + 500_000n) / 1_000_000n;
          return `${p} ${s.mode.toString(8)} ${ms(s.atimeNs)} ${ms(s.mtimeNs)}`;
        };
        trees.push([st("."), st("d"), st("d/keep"), fs.readdirSync(path.join(root, "d")).join(",")].join("\n"));
      }
      expect(trees[1]).toBe(trees[0]);
      expect(trees[0]).toContain(`d/keep 100640 ${(T0 + 40_000_000n) / 1_000_000n} ${(T0 + 80_000_000n) / 1_000_000n}`);
      expect(trees[0]).toContain(`d 40750 ${(T0 + 41_000_000n) / 1_000_000n} ${(T0 + 82_000_000n) / 1_000_000n}`);
    });

    it("a utimes that fails after its op is reported as that utimes", () => {
      const a = new Applier(dir, { fsCalls: null });
      const op = foldTimes([create("f"), times("no/such", 1)])[0]!;
      const r = a.apply(op);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message).toMatch(/utimes no\/such \(after create f\)/);
      expect(fs.existsSync(path.join(dir, "f"))).toBe(true);
      a.close();
    });

    it("the journal marks a folded op as the ops it stands for", async () => {
      // The last utimes names a path no op names: its mark shows only if the folded times are marked.
      const ops = [...stormOps(50), unlink("d/zz"), times("e/deep", 9)];
      const seen: { live: unknown; syncs: number; replayed: unknown }[] = [];
      for (const [name, list] of [["plain", ops], ["folded", foldTimes(ops)]] as const) {
        const state = path.join(dir, name);
        fs.mkdirSync(state);
        const j = await Journal.open(state, { nowNs: () => T0 });
        for (const op of list) await j.mark(op);
        const live = j.dirty();
        const syncs = j.syncs;
        await j.close();
        const again = await Journal.open(state, { nowNs: () => T0 });
        seen.push({ live, syncs, replayed: again.dirty() });
        await again.close();
      }
      expect(seen[1]).toEqual(seen[0]);
      expect(JSON.stringify(seen[0]!.live, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v instanceof Uint8Array ? Buffer.from(v).toString() : v))).toContain("e/deep");
    });
  });
});
