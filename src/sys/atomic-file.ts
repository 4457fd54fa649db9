/**
 * Small state files written crash-safely: a temporary file beside the target,
 * fsync, rename over the target, fsync of the directory. A failed write (a
 * full disk, an I/O error) removes its temporary file before the error goes
 * on, so no 0-byte `NAME.tmp` is left behind for an operator to wonder about.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/** Throws the write's error (after cleaning up): the caller must not go on as if it were saved. */
export function writeFileAtomic(path: string, text: string, o: { mode?: number; requireDirSync?: boolean } = {}): void {
  const mode = o.mode ?? 0o600;
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, "w", mode);
  try {
    try {
      const bytes = Buffer.from(text, "utf8");
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // Already renamed or gone.
    }
    throw e;
  }
  try {
    fsyncDir(dirname(path));
  } catch (e) {
    // Some filesystems cannot fsync a directory; the rename is still atomic.
    if (o.requireDirSync === true) throw e;
  }
}

function fsyncDir(dir: string): void {
  const d = openSync(dir, "r");
  try {
    fsyncSync(d);
  } finally {
    closeSync(d);
  }
}
