/**
 * How long the disk beneath the SECOND's copy may go without finishing one
 * op while the applier owes results, before the SECOND detaches its copy
 * (`disk_timeout`, DRBD's disk-timeout). A disk that hangs, rather than
 * slows, keeps the applier's thread in one call for ever: without a bound
 * the PRIM's writes wait for its ack_timeout, then the link is dropped, and
 * the SECOND never says why. Past the bound the SECOND fails every op owed
 * and every new one at once, with this reason, and its copy is outdated
 * until the disk answers again and a resync has run; the PRIM goes on alone
 * at the first failed op (rule "apply-failed"). So the bound is shorter
 * than ack_timeout, which stays the PRIM's own backstop.
 *
 * Progress, not age: a slow disk that finishes ops one after the other is
 * never detached, whatever the length of the applier's queue. Nor is one
 * whose block device completes I/O while an op stays in its call: one fsync
 * of much dirty data on a slow disk (1 GiB at 100 MB/s: 10 s) finishes no
 * op for its whole length, and a detach would cost a resync for nothing
 * (DRBD ships its disk-timeout off for that reason). A folder on no block
 * device (FUSE, tmpfs, overlay) has only the ops to go by.
 */

/**
 * 10 s by default: a third of ack_timeout's 30 s, and well above one fsync
 * of a loaded but healthy disk (the applier starts the writeback of what it
 * applied every MiB, so a sync finds little left to write).
 */
export const DEFAULT_DISK_TIMEOUT_MS = 10_000;

/**
 * Why the copy at `folder` must be detached now: the applier has owed
 * results for `stalledMs` without finishing one op, and the block device
 * beneath the copy has completed no I/O for `ioStalledMs` (null: no device
 * known, the ops alone decide); null while either is within `boundMs`. A
 * bound of 0: never.
 */
export function diskHung(folder: string, stalledMs: number, boundMs: number, ioStalledMs: number | null = null): string | null {
  if (boundMs <= 0 || stalledMs < boundMs) return null;
  if (ioStalledMs !== null && ioStalledMs < boundMs) return null;
  const device = ioStalledMs === null ? "" : ` and its device has completed no I/O for ${seconds(ioStalledMs)}`;
  return `the disk beneath ${folder} has not finished an op for ${seconds(stalledMs)}${device} (disk_timeout ${seconds(boundMs)}): this copy is detached, outdated until the disk answers and a resync has run`;
}

/** How often the applier looks at its progress: a tenth of the bound, between 100 ms and 1 s. */
export function diskCheckEveryMs(boundMs: number): number {
  return Math.min(1_000, Math.max(100, Math.floor(boundMs / 10)));
}

function seconds(ms: number): string {
  return ms >= 10_000 ? `${Math.floor(ms / 1000)} s` : `${(Math.floor(ms / 100) / 10).toFixed(1)} s`;
}
