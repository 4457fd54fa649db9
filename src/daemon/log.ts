import type { LogFormat } from "../api/daemon-entries.ts";
import { describeEvent, eventModule, eventPeer } from "../api/event-text.ts";
import type { LogEvent } from "../api/status.ts";
import { Ring } from "./event-ring.ts";
import type { RotatingLogFile } from "./log-file.ts";
import { NoiseGate } from "./log-noise.ts";
import { stdioOutlet } from "../sys/outlet.ts";
import { formatJson, formatText } from "./log-format.ts";

export { formatJson, formatText };

export type { LogFormat };
export type LogLevel = LogEvent["level"];
export type LogFields = LogEvent["fields"];

/** Arms a one-shot timer; injectable so tests control when bursts are summed up. */
export type Schedule = (fn: () => void, delayMs: number) => void;

const unrefTimer: Schedule = (fn, ms) => {
  const t = setTimeout(fn, ms);
  // A pending summary must not keep a stopping process alive.
  if (typeof t === "object" && t !== null && "unref" in t) t.unref();
};

/**
 * Structured log: one line per event on the given sink (stderr by default)
 * and in the log file once one is attached, and the same events kept in a
 * ring buffer for the console and `vigil status`, each with its sentence.
 * Lines that come in bursts (log-noise.ts) reach the ring once per burst
 * and window, as a summary; the file and the sink still get each of them,
 * at its level.
 */
export class Logger {
  private seq = 0;
  readonly recent: Ring<LogEvent>;
  private file: RotatingLogFile | undefined;
  private readonly listeners: ((e: LogEvent) => void)[] = [];
  private readonly noise = new NoiseGate();
  private flushArmedFor: number | null = null;

  constructor(
    private format: LogFormat,
    private readonly write: (line: string) => void = (l) => stdioOutlet("stderr").write(l + "\n"),
    capacity = 500,
    private readonly clock: () => Date = () => new Date(),
    private readonly schedule: Schedule = unrefTimer,
  ) {
    this.recent = new Ring(capacity);
  }

  setFormat(format: LogFormat): void {
    this.format = format;
  }

  /** The format of the lines written now (the fencing watchdog writes its own in it once the daemon is gone). */
  lineFormat(): LogFormat {
    return this.format;
  }

  /** Lines go to this file too from now on (undefined: no file). */
  attachFile(file: RotatingLogFile | undefined): void {
    this.file = file;
  }

  logFile(): RotatingLogFile | undefined {
    return this.file;
  }

  /** Called with every event, debug ones included (they do not reach the ring). */
  onEvent(listener: (e: LogEvent) => void): void {
    this.listeners.push(listener);
  }

  debug(msg: string, fields: LogFields = {}): void { this.log("debug", msg, fields); }
  info(msg: string, fields: LogFields = {}): void { this.log("info", msg, fields); }
  warn(msg: string, fields: LogFields = {}): void { this.log("warn", msg, fields); }
  error(msg: string, fields: LogFields = {}): void { this.log("error", msg, fields); }

  log(level: LogLevel, msg: string, fields: LogFields = {}): LogEvent {
    let kept = level !== "debug";
    if (kept) {
      const offer = this.noise.offer(msg, fields, this.clock().getTime());
      if (offer.verdict === "hold") kept = false;
      else if (offer.flushAt !== null) this.armFlush(offer.flushAt);
    }
    // A held line keeps its level in the log: only the event list is spared the burst.
    const event: LogEvent = { seq: ++this.seq, time: this.clock().toISOString(), level, msg, fields };
    if (kept) {
      event.text = describeEvent(msg, fields);
      const module = eventModule(fields);
      const peer = eventPeer(fields);
      if (module !== undefined) event.module = module;
      if (peer !== undefined) event.peer = peer;
      this.recent.push(event);
    }
    const line = this.format === "json" ? formatJson(event) : formatText(event);
    this.write(line);
    this.file?.write(line);
    for (const l of this.listeners) l(event);
    return event;
  }

  /**
   * A line for the log file alone, written before this call returns: for a
   * fault the runtime itself reports on stderr as the process ends.
   */
  toFileOnly(level: LogLevel, msg: string, fields: LogFields = {}): void {
    const event: LogEvent = { seq: ++this.seq, time: this.clock().toISOString(), level, msg, fields };
    this.file?.write(this.format === "json" ? formatJson(event) : formatText(event));
  }

  private armFlush(at: number): void {
    if (this.flushArmedFor !== null && this.flushArmedFor <= at) return;
    this.flushArmedFor = at;
    this.schedule(() => this.flushNoise(), Math.max(0, at - this.clock().getTime()));
  }

  private flushNoise(): void {
    this.flushArmedFor = null;
    const { summaries, next } = this.noise.flush(this.clock().getTime());
    for (const s of summaries) this.log("warn", s.msg, s.fields);
    if (next !== null) this.armFlush(next);
  }
}

/**
 * What stderr may hold for a reader that does not keep up: about 5000
 * lines. Beyond it lines are dropped there (the log file has every one)
 * and counted, and the count is logged once the reader caught up.
 */
export const STDERR_BACKLOG_BYTES = 1024 * 1024;
/** At exit, stderr's reader gets this long without reading anything before the process leaves anyway. */
export const STDERR_STALL_MS = 10_000;

/**
 * Bounds the daemon's stderr (see src/sys/outlet.ts): a reader that stalls
 * (a stuck journald, a terminal paused with Ctrl-S) costs at most
 * STDERR_BACKLOG_BYTES of memory, and keeps a stopped daemon from exiting
 * for at most STDERR_STALL_MS without progress.
 */
export function boundStderr(log: Logger): void {
  stdioOutlet("stderr").limit({
    maxBacklogBytes: STDERR_BACKLOG_BYTES,
    stallMs: STDERR_STALL_MS,
    resumed: (dropped) => log.warn("log lines not written to stderr: its reader did not keep up (the log file has them)", { lines: dropped }),
  });
}

/** From now on no line is dropped on its way to stderr: a stop's lines, up to "vigil stopped", are owed whole. */
export function keepEveryStderrLine(): void {
  stdioOutlet("stderr").keepEverything();
}
