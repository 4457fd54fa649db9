/**
 * A keeping resync's keeper on the SECOND's applier's thread, never on its
 * main thread (apply-threaded.ts, apply-worker.ts, keep-aside.ts): run under
 * bun, which has the Worker (apply-thread-keep-child.ts says what is checked).
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

describe("the keeper on the applier's thread", () => {
  it("keeps each op's paths before the op, after the record, and its work is owed work for the disk's watch", () => {
    const bun = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
    const r = spawnSync(bun, [path.resolve(import.meta.dirname, "apply-thread-keep-child.ts")], { encoding: "utf8", timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { checks?: { name: string; pass: boolean; detail: string }[] };
    expect((out.checks ?? []).filter((c) => !c.pass)).toEqual([]);
    expect(out.checks?.length).toBe(17);
  });
});
