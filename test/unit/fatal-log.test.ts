/**
 * A fault no code caught ends the daemon as the runtime ends it (exit 1, its
 * report on stderr), and vigil.log says so with the stack, under Bun as the
 * binary runs.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const BUN = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");
const CHILD = path.resolve(import.meta.dirname, "fatal-log-child.ts");

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe("a fault nobody caught", () => {
  for (const [how, message] of [["throw", "fault-by-throw"], ["reject", "fault-by-rejection"]] as const) {
    it(`(${how}) ends the process with 1 and is in the log file with its stack`, () => {
      dir = mkdtempSync(path.join(tmpdir(), "vigil-fatal-"));
      const file = path.join(dir, "vigil.log");
      const r = spawnSync(BUN, [CHILD, file, how], { encoding: "utf8", timeout: 60_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(message);
      const lines = readFileSync(file, "utf8").trim().split("\n");
      expect(lines[0]).toContain("started");
      expect(lines).toHaveLength(2);
      expect(lines[1]).toContain("internal error: the process ends");
      expect(lines[1]).toContain(message);
      expect(lines[1]).toContain("fatal-log-child.ts");
      expect(lines.join("\n")).not.toContain("still running");
    });
  }
});
