import { formatConfigError } from "../config/errors.ts";
import { loadConfigFile } from "../config/load.ts";
import { findConfigFile } from "../config/search.ts";
import { commandTokenFor } from "../../web/command-token.ts";
import type { Io } from "./commands.ts";
import { EXIT } from "./verbs.ts";

/** `vigil token`: the console token, from the config's cluster key. */
export function cmdToken(v: Record<string, string | boolean | undefined>, io: Io): number {
  const flag = typeof v["config"] === "string" ? v["config"] : undefined;
  const found = findConfigFile({ flag, env: io.env["VIGIL_CONFIG"] });
  if (!found.ok) {
    io.err(found.message);
    return EXIT.failed;
  }
  const loaded = loadConfigFile(found.file);
  if (!loaded.ok) {
    for (const e of loaded.errors) io.err(formatConfigError(e));
    io.err(`${found.file}: the config is not valid, so there is no token to print`);
    return EXIT.failed;
  }
  const t = commandTokenFor(loaded.config);
  if (!t.ok) {
    io.err(`${found.file}: ${t.message}`);
    return EXIT.failed;
  }
  io.out(t.token);
  return EXIT.ok;
}
