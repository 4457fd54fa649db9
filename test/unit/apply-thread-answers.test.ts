/**
 * The resync's questions answered on the SECOND's applier's thread, never on
 * its main thread (apply-threaded.ts, copy-answers.ts): run under bun, which
 * has the Worker and bun:ffi (apply-thread-answers-child.ts says what is checked).
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

describe("the resync's questions on the applier's thread", () => {
  it("are answered as the main thread answered them, after the ops before them, and count as owed work for the disk's watch", () => {
    const bun = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
    const r = spawnSync(bun, [path.resolve(import.meta.dirname, "apply-thread-answers-child.ts")], { encoding: "utf8", timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { checks?: { name: string; pass: boolean; detail: string }[] };
    expect((out.checks ?? []).filter((c) => !c.pass)).toEqual([]);
    expect(out.checks?.length).toBe(23);
  });
});
