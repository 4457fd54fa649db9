/**
 * A script's `#!` line. A script saved with Windows line endings (edited on
 * a laptop, carried on a USB stick) has "#!/bin/sh\r": the kernel looks for
 * an interpreter named "/bin/sh\r" and exec fails with ENOENT, which reads
 * as a missing file while both the script and /bin/sh are there.
 */
import { closeSync, openSync, readSync } from "node:fs";

export interface Shebang {
  /** The interpreter as the line names it, without the carriage return. */
  interpreter: string;
  /** The line ends with a carriage return (Windows line endings). */
  crlf: boolean;
}

/** The `#!` line of a file, or null when it has none or cannot be read. */
export function readShebang(path: string): Shebang | null {
  let fd: number | null = null;
  try {
    fd = openSync(path, "r");
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const line = buf.subarray(0, n).toString("utf8").split("\n")[0] ?? "";
    if (!line.startsWith("#!")) return null;
    const interpreter = line.slice(2).trim().split(/\s+/)[0] ?? "";
    return { interpreter, crlf: line.endsWith("\r") };
  } catch {
    return null;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** The command that gives a script Unix line endings. */
export function crlfFix(path: string): string {
  return `sed -i 's/\\r$//' ${path}`;
}
