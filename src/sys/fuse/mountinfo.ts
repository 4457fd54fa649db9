/**
 * Reading /proc/self/mountinfo (proc(5)), to find FUSE mounts by mount point
 * and the FUSE connection behind each (its fusectl directory). Pure parsing.
 */

export interface MountEntry {
  readonly id: number;
  readonly major: number;
  readonly minor: number;
  /** Mount point, with the kernel's octal escapes (\040 for a space...) undone. */
  readonly mountPoint: string;
  /** File system type, e.g. "fuse.vigil". */
  readonly fsType: string;
  readonly source: string;
}

function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses mountinfo text; lines that do not have the documented shape are skipped. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const sep = fields.indexOf("-", 6);
    if (sep < 0 || fields.length < sep + 3) continue;
    const id = Number(fields[0]);
    const dev = /^(\d+):(\d+)$/.exec(fields[2] ?? "");
    const mountPoint = fields[4];
    const fsType = fields[sep + 1];
    const source = fields[sep + 2];
    if (!Number.isInteger(id) || dev === null || mountPoint === undefined || fsType === undefined || source === undefined) continue;
    out.push({ id, major: Number(dev[1]), minor: Number(dev[2]), mountPoint: unescape(mountPoint), fsType, source: unescape(source) });
  }
  return out;
}

/**
 * The name of a FUSE connection's directory under /sys/fs/fuse/connections:
 * the superblock's device number in the kernel's internal encoding
 * (major << 20 | minor).
 */
export function fuseConnectionName(e: Pick<MountEntry, "major" | "minor">): string {
  return String(e.major * 2 ** 20 + e.minor);
}
