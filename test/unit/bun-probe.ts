/**
 * What must run under Bun (its native sockets, FFI, threads) is tested by a
 * probe script under fixtures/ that Bun runs; it prints one JSON line per
 * finding, named by its `check`, which the test on Node then reads.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

export const BUN = path.resolve(import.meta.dirname, "../../node_modules/.bin/bun");

/** One finding of a probe. */
export type ProbeLine = Record<string, unknown> & { check: string };

/** The path of the probe script `fixtures/<name>`. */
export const probePath = (name: string): string => path.resolve(import.meta.dirname, "fixtures", name);

/** Runs the probe `fixtures/<name>` under Bun: its findings by check; throws when it does not exit 0. */
export function runBunProbe(name: string, timeoutMs = 30_000): Map<string, ProbeLine> {
  const r = spawnSync(BUN, [probePath(name)], { encoding: "utf8", timeout: timeoutMs });
  if (r.status !== 0) throw new Error(`the Bun probe exited ${r.status}: ${r.stderr}`);
  return new Map(r.stdout.trim().split("\n").map((l) => JSON.parse(l) as ProbeLine).map((l) => [l.check, l]));
}
