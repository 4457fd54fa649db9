import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

describe("the fencing watchdog's stdin, written synchronously through a pipe (bun:ffi), as in the vigil binary", () => {
  it("has each line in the pipe when write returns, lets a reader that stops owe up to 1 MiB in order, then kills it, and survives EPIPE; both watchdogs write through it", () => {
    const bun = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
    const r = spawnSync(bun, [path.resolve(import.meta.dirname, "fence-stdin-pipe-child.ts")], { encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { checks?: { name: string; pass: boolean; detail: string }[] };
    expect((out.checks ?? []).filter((c) => !c.pass)).toEqual([]);
    expect(out.checks?.length).toBe(11);
  });
});
