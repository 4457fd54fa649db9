/**
 * How much I/O the block device beneath a folder has completed, from the
 * kernel's counters (/sys/dev/block/MAJ:MIN/stat, the kernel's
 * Documentation/block/stat.rst), for the disk's watch (apply-threaded.ts):
 * one long fsync of a slow but working disk finishes no op of the applier
 * for its whole length, while the device completes write after write.
 *
 * A partition has counters of its own (its major:minor names it): those are
 * taken, not its whole disk's, so the I/O of the disk's other partitions
 * does not pass for this copy's. A folder on no block device (FUSE, tmpfs,
 * overlay, NFS, btrfs' anonymous devices: major 0) has no counters: null.
 */
import * as fs from "node:fs";

/** The device's completed I/Os so far (reads, writes, discards, flushes); null: cannot be read now. */
export type IoCompleted = () => number | null;

/** Fields of a stat line (0-based): reads, writes, discards and flushes completed. The last two are absent before Linux 4.18 and 5.5. */
const COMPLETED_FIELDS = [0, 4, 11, 15] as const;

/** The sum of the completed-I/O counters of one stat file's text; null when it is not such a line. */
export function completedIos(text: string): number | null {
  const fields = text.trim().split(/\s+/);
  if (fields.length < 11) return null;
  let sum = 0;
  for (const i of COMPLETED_FIELDS) {
    const f = fields[i];
    if (f === undefined) continue;
    if (!/^\d{1,19}$/.test(f)) return null;
    sum += Number(f);
  }
  return sum;
}

/** The major and minor of a 64-bit dev_t, as glibc's major() and minor() take them apart. */
export function devNumbers(dev: bigint): { readonly major: number; readonly minor: number } {
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & 0xffffff00n));
  return { major, minor };
}

/** The counters' reader for the device beneath `folder`; null when there is none (or its counters cannot be read). */
export function blockDeviceIo(folder: string, sys = "/sys"): IoCompleted | null {
  let dev: bigint;
  try {
    dev = fs.statSync(folder, { bigint: true }).dev;
  } catch {
    return null;
  }
  return deviceIo(dev, sys);
}

/**
 * The counters' reader for device `dev` (a folder's st_dev, as the applier's
 * thread read it: a stat of the copy may wait on a hung disk, a read of
 * /sys does not); null when there is none (or its counters cannot be read).
 */
export function deviceIo(dev: bigint, sys = "/sys"): IoCompleted | null {
  const { major, minor } = devNumbers(dev);
  if (major === 0) return null;
  const at = `${sys}/dev/block/${major}:${minor}/stat`;
  const read: IoCompleted = () => {
    try {
      return completedIos(fs.readFileSync(at, "latin1"));
    } catch {
      return null;
    }
  };
  return read() === null ? null : read;
}
