/**
 * parseArgs for a bench script: an unknown or malformed argument is one line
 * naming it and exit code 2, not the runtime's stack trace.
 */
import { basename } from "node:path";
import { type ParseArgsConfig, parseArgs } from "node:util";

export function benchArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    console.error(`bench/${basename(process.argv[1] ?? "bench")}: ${(e as Error).message}`);
    process.exit(2);
  }
}

/** A mistake in a bench's arguments: runBench says it in one line and exits 2. */
export class UsageError extends Error {}

/**
 * Runs a bench's main. A failure is one line naming the bench and the
 * problem, no stack trace: exit code 2 for a UsageError, 1 otherwise. The
 * bench's own `finally` blocks (labs torn down, logs kept) have run by then.
 */
export function runBench(main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    console.error(`bench/${basename(process.argv[1] ?? "bench")}: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(e instanceof UsageError ? 2 : 1);
  });
}
