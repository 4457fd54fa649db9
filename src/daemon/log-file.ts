/**
 * The daemon's log file in the state dir: vigil.log, and at most `keep`
 * older files beside it (vigil.log.1 is the newest of those). When a line
 * would take the current file past `maxBytes`, the files shift by one and
 * the oldest goes, so the log never holds more than (keep + 1) * maxBytes.
 *
 * Writes are synchronous: a line must be on disk before a crash that follows
 * it, and a daemon writes a few lines a second at most.
 *
 * A write that fails (a full disk, the file removed with its folder) leaves
 * the daemon logging to stderr only, and the file is tried again every
 * LOG_FILE_RETRY_MS: a disk that filled up for a while must not cost the log
 * until the next restart. Lines in between are counted, not kept.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { stdioOutlet } from "../sys/outlet.ts";

export const DEFAULT_LOG_FILE_BYTES = 4 * 1024 * 1024;
export const DEFAULT_LOG_FILES_KEPT = 1;
export const LOG_FILE_RETRY_MS = 10_000;

export class RotatingLogFile {
  private fd: number | undefined;
  private size = 0;
  /** The write error, reported on stderr; the daemon goes on without its file until a retry works. */
  private failed: string | null = null;
  private failedAt = 0;
  /** Lines not written since the file failed. */
  private lost = 0;

  constructor(
    readonly path: string,
    readonly maxBytes: number = DEFAULT_LOG_FILE_BYTES,
    readonly keep: number = DEFAULT_LOG_FILES_KEPT,
    /** Monotonic ms; injectable for tests. */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.open();
  }

  write(line: string): void {
    if (this.failed !== null) {
      if (this.now() - this.failedAt < LOG_FILE_RETRY_MS) {
        this.lost++;
        return;
      }
      if (this.fd === undefined) this.open();
      if (this.fd === undefined) {
        this.lost++;
        return;
      }
    }
    const bytes = Buffer.from(line + "\n", "utf8");
    try {
      if (this.size > 0 && this.size + bytes.length > this.maxBytes) this.rotate();
      if (this.fd === undefined) this.open();
      if (this.fd === undefined) return;
      writeSync(this.fd, bytes);
      this.size += bytes.length;
      if (this.failed !== null) {
        stdioOutlet("stderr").write(`the log file ${this.path} is written again (${this.lost} lines could not be written to it)\n`);
        this.failed = null;
        this.lost = 0;
      }
    } catch (e) {
      this.lost++;
      this.fail(e);
    }
  }

  /** Every file, oldest first: what a download of the log holds. */
  files(): string[] {
    const older = Array.from({ length: this.keep }, (_, i) => `${this.path}.${this.keep - i}`);
    return [...older, this.path].filter((p) => existsSync(p));
  }

  /** The whole log, oldest line first. */
  read(): string {
    return this.files().map((p) => {
      try {
        return readFileSync(p, "utf8");
      } catch {
        return "";
      }
    }).join("");
  }

  /** Why the file is not written, or null while it is. */
  problem(): string | null {
    return this.failed;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): void {
    try {
      this.fd = openSync(this.path, "a", 0o640);
      this.size = fstatSync(this.fd).size;
    } catch (e) {
      this.fail(e);
    }
  }

  private rotate(): void {
    this.close();
    if (this.keep <= 0) {
      rmSync(this.path, { force: true });
    } else {
      rmSync(`${this.path}.${this.keep}`, { force: true });
      for (let i = this.keep - 1; i >= 1; i--) {
        if (existsSync(`${this.path}.${i}`)) renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
      }
      renameSync(this.path, `${this.path}.1`);
    }
    this.size = 0;
    this.open();
  }

  private fail(e: unknown): void {
    const first = this.failed === null;
    this.failed = `cannot write the log file ${this.path}: ${e instanceof Error ? e.message : String(e)}; trying again every ${LOG_FILE_RETRY_MS / 1000} s`;
    this.failedAt = this.now();
    try {
      this.close();
    } catch {
      // the descriptor is gone either way
    }
    if (first) stdioOutlet("stderr").write(`${this.failed}; logging to stderr only meanwhile\n`);
  }
}
