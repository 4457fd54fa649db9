/** A log line (JSON: level, msg, fields) of the fencing watchdog, into the daemon's log. */
import type { Logger, LogFields } from "../log.ts";

const LEVELS = new Set(["debug", "info", "warn", "error"]);

export function relayFenceLine(log: Logger, line: string): void {
  if (line.trim() === "") return;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    v = undefined;
  }
  if (typeof v !== "object" || v === null || typeof (v as { msg?: unknown }).msg !== "string") {
    log.warn("fence watchdog said", { line: line.slice(0, 300) });
    return;
  }
  const { level, msg, ...fields } = v as { level?: unknown; msg: string } & Record<string, unknown>;
  const lv = typeof level === "string" && LEVELS.has(level) ? (level as "debug" | "info" | "warn" | "error") : "warn";
  const clean: LogFields = {};
  for (const [k, x] of Object.entries(fields)) clean[k] = typeof x === "number" || typeof x === "boolean" || typeof x === "string" ? x : JSON.stringify(x);
  log.log(lv, msg, clean);
}
