import type { LogFormat } from "../api/daemon-entries.ts";
import type { LogEvent } from "../api/status.ts";
import { Ring } from "./event-ring.ts";

export type { LogFormat };
export type LogLevel = LogEvent["level"];
export type LogFields = LogEvent["fields"];

/**
 * Structured log: one line per event on the given sink (stderr by default),
 * and the same events kept in a ring buffer for the console and `vigil status`.
 */
export class Logger {
  private seq = 0;
  readonly recent: Ring<LogEvent>;

  constructor(
    private format: LogFormat,
    private readonly write: (line: string) => void = (l) => process.stderr.write(l + "\n"),
    capacity = 500,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.recent = new Ring(capacity);
  }

  setFormat(format: LogFormat): void {
    this.format = format;
  }

  debug(msg: string, fields: LogFields = {}): void { this.log("debug", msg, fields); }
  info(msg: string, fields: LogFields = {}): void { this.log("info", msg, fields); }
  warn(msg: string, fields: LogFields = {}): void { this.log("warn", msg, fields); }
  error(msg: string, fields: LogFields = {}): void { this.log("error", msg, fields); }

  log(level: LogLevel, msg: string, fields: LogFields = {}): LogEvent {
    const event: LogEvent = { seq: ++this.seq, time: this.clock().toISOString(), level, msg, fields };
    if (level !== "debug") this.recent.push(event);
    this.write(this.format === "json" ? formatJson(event) : formatText(event));
    return event;
  }
}

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
