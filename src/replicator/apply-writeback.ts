/**
 * Early writeback on the SECOND. A resync writes the copy much faster than
 * the kernel writes it out on its own (with gigabytes of memory, a 1 GiB
 * initial sync stays dirty until the resync's final sync), so that final
 * sync would write everything at the end, after the data phase. Here every
 * MiB written starts the writeback of what was written since
 * (sync_file_range(2), SYNC_FILE_RANGE_WRITE: it queues the I/O and does not
 * wait for it), so the disk works during the data phase and the final sync
 * finds little left. Only a hint: nothing depends on it for durability (the
 * fsync ops still sync). A file's range starts when the applier closes
 * its fd, if that comes first.
 */
import { openLibcTable } from "../sys/ffi/libc.ts";

/** sync_file_range(fd, offset, nbytes, SYNC_FILE_RANGE_WRITE); errors ignored. */
export type StartWriteback = (fd: number, offset: number, length: number) => void;

const SYNC_FILE_RANGE_WRITE = 2;

/** sync_file_range through FFI, or null where this runtime has none (Node). */
export async function loadStartWriteback(): Promise<StartWriteback | null> {
  try {
    const libc = await openLibcTable("early writeback of the copy", {
      sync_file_range: { args: ["i32", "i64", "i64", "u32"], returns: "i32" },
      __errno_location: { args: [], returns: "ptr" },
    });
    const s = libc.symbols as { sync_file_range(fd: number, offset: number, nbytes: number, flags: number): number };
    return (fd, offset, length) => void s.sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
  } catch {
    return null;
  }
}

/** Bytes written (over all files) after which their writeback is started. */
export const WRITEBACK_EVERY = 1 << 20;

/** Collects the ranges written per fd and starts their writeback every WRITEBACK_EVERY bytes. */
export class EarlyWriteback {
  private readonly ranges = new Map<number, { from: number; to: number }>();
  private pending = 0;

  constructor(
    private readonly start: StartWriteback,
    private readonly every = WRITEBACK_EVERY,
  ) {}

  /** `length` bytes were written at `offset` through `fd`. */
  wrote(fd: number, offset: number, length: number): void {
    const r = this.ranges.get(fd);
    if (r === undefined) this.ranges.set(fd, { from: offset, to: offset + length });
    else {
      r.from = Math.min(r.from, offset);
      r.to = Math.max(r.to, offset + length);
    }
    this.pending += length;
    if (this.pending >= this.every) this.flush();
  }

  /**
   * `fd` is about to be closed: its range starts now, not at the next flush,
   * when the number may name another file or none (a resync of many small
   * files closes most of them before a MiB is written).
   */
  closing(fd: number): void {
    const r = this.ranges.get(fd);
    if (r === undefined) return;
    this.ranges.delete(fd);
    this.start(fd, r.from, r.to - r.from);
  }

  /** Starts the writeback of everything collected. */
  flush(): void {
    for (const [fd, r] of this.ranges) this.start(fd, r.from, r.to - r.from);
    this.ranges.clear();
    this.pending = 0;
  }
}
