import { commandTokenFor } from "../api/command-token.ts";
import { keyFileWarnings } from "../api/key-checks.ts";
import type { Io } from "./io.ts";
import { findAndLoadConfig } from "./config-arg.ts";
import { EXIT } from "./verbs.ts";

/** `vigil token`: the console token, from the config's cluster key. */
export function cmdToken(v: Record<string, string | boolean | undefined>, io: Io): number {
  const flag = typeof v["config"] === "string" ? v["config"] : undefined;
  const found = findAndLoadConfig(flag, io, (file) => `${file}: the config is not valid, so there is no token to print`);
  if (found === null) return EXIT.failed;
  const t = commandTokenFor(found.config);
  if (!t.ok) {
    io.err(`${found.file}: ${t.message}`);
    return EXIT.failed;
  }
  // On stderr, so `TOKEN=$(vigil token)` still captures the token alone.
  for (const w of keyFileWarnings(found.config)) io.err(`warning: ${w}`);
  if (found.config.console?.api_token !== true) {
    io.err("note: the console refuses this token unless console.api_token: true is set in vigil.yaml (HTTP Basic with a console user works without it)");
  }
  io.out(t.token);
  return EXIT.ok;
}
