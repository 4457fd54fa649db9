/**
 * Whether a mirror module's new copies hold files of their own: at the first
 * contact of two new copies, rule 7 (src/core/mirror/mirror.ts) never picks
 * an empty folder over one that holds files unless the operator said so.
 * Measured once, as the daemon starts and before any mount, so the fact a
 * node tells its peer stays the same for the daemon's life.
 *
 * A file here is any entry that is not a directory (regular file, symbolic
 * link, device, fifo, socket), at any depth, outside `exclude:` (an excluded
 * name takes everything beneath it along, as it does for the copy). A tree of
 * empty directories holds none: a service installed on a new node often
 * creates its directories, and they are no data. Only folders whose copy is
 * still new count (a folder added to a module that already ran compares its
 * new copies alone). A folder that cannot be read, or that holds more than
 * SCAN_LIMIT directories without a file, counts as holding files: it is
 * never taken for empty on a guess.
 */
import { lstatSync, readdirSync } from "node:fs";
import type { ExcludeTest } from "../../replicator/exclude.ts";

const SCAN_LIMIT = 10_000;
const SLASH = Buffer.from("/");

export type FilesFact = { readonly holds: boolean; readonly why: string };

export function folderHoldsFiles(folder: string, excluded: ExcludeTest | null): FilesFact {
  // Names are raw bytes (not always UTF-8): paths are walked as bytes.
  const dirs: Buffer[] = [Buffer.from(folder)];
  let seen = 0;
  try {
    for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
      if (++seen > SCAN_LIMIT) return { holds: true, why: `more than ${SCAN_LIMIT} directories without a file seen: counted as holding files` };
      // Names only, then lstat: Bun's readdir gives no entry types with byte names.
      for (const name of readdirSync(dir, { encoding: "buffer" })) {
        if (excluded?.(name) === true) continue;
        const path = Buffer.concat([dir, SLASH, name]);
        if (!lstatSync(path).isDirectory()) return { holds: true, why: `${path.toString()} is a file` };
        dirs.push(path);
      }
    }
  } catch (err) {
    return { holds: true, why: `cannot be read (${err instanceof Error ? err.message : String(err)}): counted as holding files` };
  }
  return { holds: false, why: "no file outside exclude" };
}
