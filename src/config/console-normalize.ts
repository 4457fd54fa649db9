import { CONSOLE_DEFAULTS } from "./console-schema.ts";
import { parseDuration } from "./duration.ts";
import { isRec, items, rec, str } from "./raw.ts";
import type { ConsoleConfig, ConsoleUser } from "./types.ts";

/** The validated `console:` section with its defaults; paths resolved against the config's folder. */
export function normalizeConsole(section: unknown, path: (p: unknown) => string | undefined): ConsoleConfig {
  const c = rec(section);
  const users: ConsoleUser[] = items(c["users"]).filter(isRec).map((u) => ({
    name: str(u["name"]) ?? "",
    role: u["role"] as ConsoleUser["role"],
    password: str(u["password"]) ?? "",
  }));
  const cert = path(c["cert"]);
  const key = path(c["key"]);
  const timeout = str(c["session_timeout"]);
  return {
    users,
    tls: typeof c["tls"] === "boolean" ? c["tls"] : CONSOLE_DEFAULTS.tls,
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    names: items(c["names"]).filter((n): n is string => typeof n === "string"),
    session_timeout: (timeout === undefined ? undefined : parseDuration(timeout)) ?? CONSOLE_DEFAULTS.session_timeout,
    api_token: typeof c["api_token"] === "boolean" ? c["api_token"] : CONSOLE_DEFAULTS.api_token,
  };
}
