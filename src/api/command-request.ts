import { formatDuration, parseDuration } from "../config/duration.ts";
import { MODULE_COMMANDS } from "../core/module/types.ts";
import { MIRROR_COMMANDS, type OperatorCommand } from "./modules.ts";

const COMMANDS: readonly OperatorCommand[] = [...MODULE_COMMANDS, ...MIRROR_COMMANDS];

export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
export const MIN_COMMAND_TIMEOUT_MS = 1_000;
/** Past this, a caller is better served by asking again than by holding a request open. */
export const MAX_COMMAND_TIMEOUT_MS = 600_000;

export type ParsedCommand =
  | { ok: true; command: OperatorCommand; yes: boolean; timeoutMs: number }
  | { ok: false; error: string };

export function isModuleCommand(s: string): s is OperatorCommand {
  return (COMMANDS as readonly string[]).includes(s);
}

/** The timeout as an operator writes it ("30s", "2m"), checked against the bounds. */
export function parseCommandTimeout(text: string): { ok: true; ms: number } | { ok: false; error: string } {
  const ms = parseDuration(text);
  const bounds = `${formatDuration(MIN_COMMAND_TIMEOUT_MS)} to ${formatDuration(MAX_COMMAND_TIMEOUT_MS)}`;
  if (ms === undefined) return { ok: false, error: `timeout ${JSON.stringify(text)} is not a duration; write it like "30s" or "2m" (${bounds})` };
  if (ms < MIN_COMMAND_TIMEOUT_MS || ms > MAX_COMMAND_TIMEOUT_MS) {
    return { ok: false, error: `timeout ${text} is out of range; use ${bounds}` };
  }
  return { ok: true, ms };
}

/**
 * Checks a command path segment and its body: an empty body or a JSON object
 * `{ "yes"?: boolean, "timeout"?: "30s" }`. Every problem is one sentence
 * naming the field and what was expected.
 */
export function parseCommandRequest(command: string, contentType: string | undefined, body: string): ParsedCommand {
  if (!isModuleCommand(command)) {
    return { ok: false, error: `unknown command ${JSON.stringify(command)}; commands: ${COMMANDS.join(", ")}` };
  }
  if (body.trim() === "") return { ok: true, command, yes: false, timeoutMs: DEFAULT_COMMAND_TIMEOUT_MS };
  if (!/^application\/json\s*(;|$)/i.test(contentType ?? "")) {
    return { ok: false, error: `the body must be JSON sent with content-type application/json, not ${JSON.stringify(contentType ?? "none")}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { ok: false, error: 'the body is not valid JSON; send {"yes": true, "timeout": "30s"} or nothing' };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, error: 'the body must be a JSON object like {"timeout": "30s"}' };
  }
  const fields = value as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (key !== "yes" && key !== "timeout") return { ok: false, error: `unknown field ${JSON.stringify(key)} in the body; fields: yes, timeout` };
  }
  const yes = fields["yes"] ?? false;
  if (typeof yes !== "boolean") return { ok: false, error: `field "yes" must be true or false, not ${JSON.stringify(yes)}` };
  let timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS;
  const timeout = fields["timeout"];
  if (timeout !== undefined) {
    if (typeof timeout !== "string") return { ok: false, error: `field "timeout" must be a duration string like "30s", not ${JSON.stringify(timeout)}` };
    const t = parseCommandTimeout(timeout);
    if (!t.ok) return { ok: false, error: `field "timeout": ${t.error}` };
    timeoutMs = t.ms;
  }
  return { ok: true, command, yes, timeoutMs };
}
