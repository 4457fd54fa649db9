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
