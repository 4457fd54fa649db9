/**
 * Where `vigil __fence` writes its log lines once nobody reads its stderr:
 * the daemon's log file, named by the daemon's `logfile` message. Its only
 * stderr reader is the daemon, so after the daemon died the lines saying
 * what was removed and stopped would be lost (EPIPE); here they end up in
 * vigil.log, in the daemon's own line format.
 *
 * One line per write, synchronous, the file opened for each line (O_APPEND):
 * a daemon started meanwhile may have rotated it, and a line never lands in
 * the middle of one of its lines. Nothing here throws: a line that cannot
 * be written is dropped (the caller then tries stderr).
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { formatText } from "../log-format.ts";

type Fields = Record<string, string | number | boolean>;

export class FenceLogFile {
  private path: string | null = null;
  private format: "text" | "json" = "text";

  use(path: string, format: "text" | "json"): void {
    this.path = path;
    this.format = format;
  }

  get known(): boolean {
    return this.path !== null;
  }

  /** True once the line is in the file. */
  write(level: "info" | "warn" | "error", msg: string, fields: Fields, at: Date): boolean {
    if (this.path === null) return false;
    const time = at.toISOString();
    // Without `seq`: the daemon's numbering is its own, and it is gone.
    const line = this.format === "json" ? JSON.stringify({ time, level, msg, ...fields }) : formatText({ seq: 0, time, level, msg, fields });
    let fd: number | undefined;
    try {
      fd = openSync(this.path, "a", 0o640);
      writeSync(fd, line + "\n");
      return true;
    } catch {
      return false;
    } finally {
      if (fd !== undefined) {
        try {
          closeSync(fd);
        } catch {
          // Nothing to do about it.
        }
      }
    }
  }
}
