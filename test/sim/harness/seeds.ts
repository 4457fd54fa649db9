/**
 * Which seeds a simulation test runs.
 *
 *   SIM_SEED=<n>    run exactly that seed (replay of a failure)
 *   SIM_SEEDS=<k>   run k seeds per scenario instead of the scenario's default
 *
 * Without either, a scenario runs seeds 1..default, so CI is reproducible.
 */
import { relative } from "node:path";
import { expect } from "vitest";

export type Env = Readonly<Record<string, string | undefined>>;

function parseSeed(name: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isSafeInteger(n)) {
    throw new RangeError(`${name}=${JSON.stringify(raw)} is not an integer`);
  }
  return n;
}

export function seedsFromEnv(defaultCount: number, env: Env = process.env): number[] {
  const one = env["SIM_SEED"];
  if (one !== undefined) return [parseSeed("SIM_SEED", one)];
  const many = env["SIM_SEEDS"];
  const count = many === undefined ? defaultCount : parseSeed("SIM_SEEDS", many);
  if (count < 1) throw new RangeError(`SIM_SEEDS must be at least 1, got ${count}`);
  return Array.from({ length: count }, (_, i) => i + 1);
}

/** The command that replays one seed of the test file that is running now. */
export function replayCommand(seed: number): string {
  let file = "test/sim/<file>.test.ts";
  try {
    const path = expect.getState().testPath;
    if (path !== undefined) file = relative(process.cwd(), path);
  } catch {
    // Outside a running test there is no test path; the placeholder will do.
  }
  return `SIM_SEED=${seed} npx vitest run ${file}`;
}
