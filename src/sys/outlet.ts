/**
 * The process's stdout and stderr: one outlet each (stdioOutlet), shared by
 * the CLI's answers and the daemon's log, so that what was written reaches
 * the reader before the process exits, and a reader that stops reading
 * neither keeps the process from exiting nor fills a daemon's memory.
 *
 * Neither write()'s answer nor "drain" tells when all of it is out under
 * Bun: its stdout on a pipe or socket is a buffer of its own (a FileSink)
 * that emits one "drain" per write that answered false, when that write is
 * out, so the drain of an early write arrives after later writes answered
 * false and says nothing of them; writes that answered true may still sit
 * in the buffer, and writableLength reads 0 throughout. Waiting for the
 * first drain let vigil exit with a third of 400 KiB, or none of it, unsent.
 * What does tell is each write's callback, called once that write is out
 * (Bun and Node alike): the outlet counts the bytes written and not yet
 * called back. Ending the stream flushes the buffer, and "finish" comes once
 * all of it has been handed to the OS.
 *
 * A CLI verb sets no limits: its whole answer is owed, however slow the
 * reader (`vigil status --json | jq`). A daemon sets them (limit): its log
 * lines are also in its log file, and a reader that stalls (a stuck
 * journald, a terminal paused with Ctrl-S) must cost neither unbounded
 * memory nor a stop that never ends.
 */

export interface OutletLimits {
  /**
   * Bytes written and not yet out past which further writes are dropped
   * and counted, until keepEverything().
   */
  readonly maxBacklogBytes: number;
  /** flushed() gives up once nothing has gone out for this long since it was called or since the last progress. */
  readonly stallMs: number;
  /** Called when the backlog is down to half the bound again after writes were dropped, with their number. */
  readonly resumed?: (dropped: number) => void;
}

export class Outlet {
  private ended: Promise<void> | undefined;
  /** The reader went away (`vigil status | head`), or a write came after the end: nothing more can be delivered. */
  private failed = false;
  private readonly gone: (() => void)[] = [];
  private limits: OutletLimits | undefined;
  private keepAll = false;
  /** Bytes written whose callback has not come yet. */
  private backlog = 0;
  private dropped = 0;
  /** performance.now() of the last write that went out. */
  private lastOut = 0;

  constructor(private readonly stream: NodeJS.WritableStream & { readonly writableFinished?: boolean; readonly destroyed?: boolean }) {
    // Kept for the stream's life so that no late error (EPIPE, a write after the end) throws.
    stream.on("error", () => {
      this.failed = true;
      for (const resolve of this.gone.splice(0)) resolve();
    });
  }

  /** Bounds what the stream may hold for a slow reader (see OutletLimits); without it, everything is kept. */
  limit(limits: OutletLimits): void {
    this.limits = limits;
  }

  /** From now on nothing is dropped: what is written is owed whole (a daemon's last lines). */
  keepEverything(): void {
    this.keepAll = true;
  }

  /** Bytes written and not yet out. */
  get pendingBytes(): number {
    return this.backlog;
  }

  write(text: string): void {
    if (this.ended !== undefined || this.failed) return;
    const max = this.limits?.maxBacklogBytes;
    if (max !== undefined && !this.keepAll && this.backlog > max) {
      this.dropped++;
      return;
    }
    const bytes = Buffer.byteLength(text);
    this.backlog += bytes;
    this.stream.write(text, () => this.out(bytes));
  }

  /**
   * Ends the stream; resolves once all that was written has been handed to
   * the OS, or the reader has gone (EPIPE), or (with limits) nothing went out
   * for stallMs. For the last step before exit: later writes are dropped.
   */
  flushed(): Promise<void> {
    this.ended ??= new Promise<void>((resolve) => {
      const s = this.stream;
      if (this.failed || s.writableFinished === true || s.destroyed === true) return resolve();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.gone.push(done);
      s.once("finish", done);
      s.once("close", done);
      s.end();
      const stallMs = this.limits?.stallMs;
      if (stallMs === undefined) return;
      const from = performance.now();
      const look = (): void => {
        const quiet = performance.now() - Math.max(from, this.lastOut);
        if (quiet >= stallMs) done();
        else timer = setTimeout(look, stallMs - quiet);
      };
      look();
    });
    return this.ended;
  }

  private out(bytes: number): void {
    this.backlog -= bytes;
    this.lastOut = performance.now();
    const l = this.limits;
    if (this.dropped === 0 || l === undefined || this.backlog > l.maxBacklogBytes / 2) return;
    const n = this.dropped;
    this.dropped = 0;
    l.resumed?.(n);
  }
}

const outlets = new Map<"stdout" | "stderr", Outlet>();

/** The one outlet of process.stdout or process.stderr. */
export function stdioOutlet(name: "stdout" | "stderr"): Outlet {
  let o = outlets.get(name);
  if (o === undefined) {
    o = new Outlet(name === "stdout" ? process.stdout : process.stderr);
    outlets.set(name, o);
  }
  return o;
}

/** An outlet of its own for another stream (tests). */
export function outlet(stream: NodeJS.WriteStream): Outlet {
  return new Outlet(stream);
}
