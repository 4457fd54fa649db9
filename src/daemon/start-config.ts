import { formatConfigError } from "../config/errors.ts";
import { loadConfigFile } from "../config/load.ts";
import type { VigilConfig } from "../config/types.ts";
import type { Logger } from "./log.ts";

/**
 * The config a daemon (`vigil run`, `vigil witness`) starts from, or null
 * after logging every problem of the file and that it will not start.
 */
export function loadConfigToStart(file: string, log: Logger): VigilConfig | null {
  const loaded = loadConfigFile(file);
  if (loaded.ok) return loaded.config;
  for (const e of loaded.errors) log.error("config error", { detail: formatConfigError(e) });
  log.error("not starting: the config has errors", { file, errors: loaded.errors.length });
  return null;
}
