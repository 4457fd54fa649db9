/**
 * Follows a growing log file and notes when each line was first seen.
 *
 * For daemons whose log timestamps are too coarse to time anything (Linux-HA
 * Heartbeat writes whole seconds), the moment a line appears in the file is
 * the measurement. Lines are picked up by inotify (fs.watch) as they are
 * written, with a short poll as a backstop, so what is measured is the
 * daemon's delay plus a millisecond or two, the same for every daemon
 * followed this way.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, watch, type FSWatcher } from "node:fs";
import { dirname } from "node:path";

export interface SeenLine {
  /** Date.now() when the line was read. */
  readonly seenAt: number;
  readonly text: string;
}

export class LogWatch {
  readonly lines: SeenLine[] = [];
  private offset = 0;
  private partial = "";
  private watcher: FSWatcher | undefined;
  private readonly poll: ReturnType<typeof setInterval>;

  constructor(readonly path: string, pollMs = 10) {
    this.poll = setInterval(() => this.readNew(), pollMs);
    this.arm();
  }

  private arm(): void {
    if (this.watcher !== undefined) return;
    // The file may not exist yet: watch its folder, which also sees it appear.
    const target = existsSync(this.path) ? this.path : dirname(this.path);
    try {
      this.watcher = watch(target, () => this.readNew());
    } catch {
      // The poll still runs.
    }
  }

  /** Reads whatever was appended since the last call; cheap when nothing was. */
  readNew(): void {
    if (!existsSync(this.path)) return;
    const fd = openSync(this.path, "r");
    try {
      const size = fstatSync(fd).size;
      if (size < this.offset) this.offset = 0; // truncated or replaced
      if (size === this.offset) return;
      const buf = Buffer.alloc(size - this.offset);
      const n = readSync(fd, buf, 0, buf.length, this.offset);
      this.offset += n;
      const now = Date.now();
      const text = this.partial + buf.subarray(0, n).toString("utf8");
      const parts = text.split("\n");
      this.partial = parts.pop() ?? "";
      for (const line of parts) this.lines.push({ seenAt: now, text: line });
    } finally {
      closeSync(fd);
    }
  }

  /** The first line after index `from` that matches. */
  find(pred: (l: SeenLine) => boolean, from = 0): SeenLine | undefined {
    this.readNew();
    for (let i = from; i < this.lines.length; i++) {
      const l = this.lines[i] as SeenLine;
      if (pred(l)) return l;
    }
    return undefined;
  }

  /** Resolves with the first matching line at or after index `from`; rejects after `timeoutMs` naming `what`. */
  async waitFor(pred: (l: SeenLine) => boolean, opts: { from?: number; timeoutMs?: number; what?: string } = {}): Promise<SeenLine> {
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    for (;;) {
      const hit = this.find(pred, opts.from ?? 0);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? "a line"} in ${this.path}; last lines:\n${this.lines.slice(-10).map((l) => l.text).join("\n")}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** A position to search from: only lines after now. */
  mark(): number {
    this.readNew();
    return this.lines.length;
  }

  close(): void {
    clearInterval(this.poll);
    this.watcher?.close();
    this.watcher = undefined;
  }
}
