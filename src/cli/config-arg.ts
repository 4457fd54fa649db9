import { formatConfigError } from "../config/errors.ts";
import { loadConfigFile } from "../config/load.ts";
import { findConfigFile, type SearchResult } from "../config/search.ts";
import type { VigilConfig } from "../config/types.ts";
import type { Io } from "./io.ts";

export type FoundConfig = { file: string; how: Extract<SearchResult, { ok: true }>["how"]; config: VigilConfig };

/**
 * Finds the config (flag, $VIGIL_CONFIG, search path) and loads it; on
 * failure prints why (every problem of the file, then `invalid`'s line)
 * and returns null.
 */
export function findAndLoadConfig(
  flag: string | undefined,
  io: Io,
  invalid: (file: string, problems: number) => string,
): FoundConfig | null {
  const found = findConfigFile({ flag, env: io.env["VIGIL_CONFIG"] });
  if (!found.ok) {
    io.err(found.message);
    return null;
  }
  const loaded = loadConfigFile(found.file);
  if (!loaded.ok) {
    for (const e of loaded.errors) io.err(formatConfigError(e));
    io.err(invalid(found.file, loaded.errors.length));
    return null;
  }
  return { file: found.file, how: found.how, config: loaded.config };
}
