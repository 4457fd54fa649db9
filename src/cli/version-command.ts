/**
 * `vigil version` and `vigil help`: what they need and nothing more, so they
 * answer without loading the rest of the CLI, the config code or the daemon.
 */
import { helpFor } from "./help.ts";
import type { Io } from "./io.ts";
import { EXIT } from "./verbs.ts";
import { buildInfo, versionLine } from "../version.ts";

export function cmdVersion(io: Io): number {
  const bun = (process.versions as Record<string, string | undefined>)["bun"];
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno?.version.deno;
  const runtime = bun ? `bun ${bun}` : deno ? `deno ${deno}` : `node ${process.versions.node}`;
  io.out(versionLine(buildInfo(), runtime, `${process.platform}-${process.arch}`));
  return EXIT.ok;
}

export function cmdHelp(positionals: string[], io: Io): number {
  const h = helpFor(positionals[0]);
  (h.ok ? io.out : io.err)(h.text);
  return h.ok ? EXIT.ok : EXIT.usage;
}
