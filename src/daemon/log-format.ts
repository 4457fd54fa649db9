/**
 * One log line from an event, as text or JSON: kept apart from the Logger so
 * the fencing watchdog child (`vigil __fence`, loaded before any verb runs)
 * writes the daemon's format without loading the Logger.
 */
import type { LogEvent } from "../api/status.ts";

export function formatJson(e: LogEvent): string {
  return JSON.stringify({ time: e.time, level: e.level, msg: e.msg, seq: e.seq, ...e.fields });
}

/** `2026-11-22T08:00:00.000Z info  config loaded file=/etc/vigil/vigil.yaml` */
export function formatText(e: LogEvent): string {
  const kv = Object.entries(e.fields).map(([k, v]) => `${k}=${quoteIfNeeded(String(v))}`);
  return [e.time, e.level.padEnd(5), e.msg, ...kv].join(" ");
}

function quoteIfNeeded(v: string): string {
  return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
}
