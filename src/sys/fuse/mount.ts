/**
 * Mounting and unmounting a FUSE file system served by this process, with
 * mount(8) (fusermount is not needed: vigil runs as root), and ending a
 * connection through fusectl, which frees a server even when a copy of the
 * mount in another mount namespace keeps the superblock alive.
 */

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { basename, dirname, join } from "node:path";
import { type MountEntry, fuseConnectionName, parseMountinfo } from "./mountinfo.ts";
import { MAX_READ } from "./abi.ts";

const FUSECTL = "/sys/fs/fuse/connections";

export class FuseMountError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FuseMountError";
  }
}

interface RunResult {
  readonly code: number | null;
  readonly stderr: string;
}

function run(cmd: string, args: readonly string[], extraFd?: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const stdio: (string | number)[] = ["ignore", "ignore", "pipe"];
    if (extraFd !== undefined) stdio.push(extraFd);
    const child = spawn(cmd, args, { stdio: stdio as ("ignore" | "pipe" | number)[] });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (e) => resolve({ code: null, stderr: e.message }));
    child.on("close", (code) => resolve({ code, stderr: stderr.trim() }));
  });
}

/**
 * The absolute path the kernel shows for `dir` in mountinfo, found without
 * touching `dir` itself: a dead FUSE mount there would hang a stat.
 */
export function mountPointOf(dir: string): string {
  const parent = dirname(dir);
  let real = parent;
  try {
    real = fs.realpathSync(parent);
  } catch {
    // The parent is missing: compare the text as given.
  }
  return parent === dir ? real : join(real, basename(dir));
}

export function readMounts(): MountEntry[] {
  return parseMountinfo(fs.readFileSync("/proc/self/mountinfo", "utf8"));
}

/** The FUSE mounts of type `fsType` on `dir`, topmost last. */
export function fuseMountsOn(dir: string, fsType: string): MountEntry[] {
  const point = mountPointOf(dir);
  return readMounts().filter((m) => m.mountPoint === point && m.fsType === fsType);
}

/**
 * Mounts the FUSE connection open on `fuseFd` at `dir`. The kernel checks
 * permissions against the attributes we report (default_permissions), and
 * every user may enter (allow_other): the service runs as whoever it likes.
 */
export async function mountFuse(fuseFd: number, dir: string, fsType: string, source: string): Promise<void> {
  const options = `fd=3,rootmode=40000,user_id=0,group_id=0,default_permissions,allow_other,max_read=${MAX_READ}`;
  // -i: do not look for a mount.fuse.* helper; the fd is passed as the child's fd 3.
  const r = await run("mount", ["-i", "-t", fsType, source, dir, "-o", options], fuseFd);
  if (r.code !== 0) throw new FuseMountError(`mount -t ${fsType} on ${dir} failed: ${r.stderr || `exit ${r.code}`}`);
}

async function ensureFusectl(): Promise<boolean> {
  try {
    if (fs.readdirSync(FUSECTL).length > 0) return true;
  } catch {
    return false;
  }
  const r = await run("mount", ["-t", "fusectl", "none", FUSECTL]);
  return r.code === 0 || /already mounted|busy/i.test(r.stderr);
}

/**
 * Ends the FUSE connection behind `entry` (every request fails, the server's
 * read returns ENODEV), named by its device number: only while its mount is
 * there (see ConnectionControl).
 */
export async function abortConnection(entry: Pick<MountEntry, "major" | "minor">): Promise<boolean> {
  if (!(await ensureFusectl())) return false;
  try {
    fs.writeFileSync(join(FUSECTL, fuseConnectionName(entry), "abort"), "1");
    return true;
  } catch {
    return false;
  }
}

/**
 * Ends one connection, and only that one. fusectl names a connection by its
 * device number, which the kernel gives to the next FUSE mount once ours is
 * gone: an abort written by name after our unmount could end another
 * server's connection (another folder of this daemon, another daemon) that
 * mounted in between. So the connection's fusectl directory is opened while
 * its mount is known to be ours, and held: an abort written through it
 * reaches our connection, or nothing once that has ended (the kernel
 * removed the directory).
 */
export interface ConnectionControl {
  /** Ends the connection if it still exists; whether it was written. */
  abort(): boolean;
  close(): void;
}

/**
 * Holds the fusectl directory of `entry`'s connection; undefined without
 * fusectl. Call while the mount is there. `root`: fusectl's mount point.
 */
export async function holdConnectionControl(entry: Pick<MountEntry, "major" | "minor">, root = FUSECTL): Promise<ConnectionControl | undefined> {
  if (root === FUSECTL && !(await ensureFusectl())) return undefined;
  let dirFd: number;
  try {
    dirFd = fs.openSync(join(root, fuseConnectionName(entry)), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch {
    return undefined;
  }
  let open = true;
  return {
    abort() {
      if (!open) return false;
      let fd: number;
      try {
        // Looked up in the held directory: a removed one has no entries.
        fd = fs.openSync(`/proc/self/fd/${dirFd}/abort`, fs.constants.O_WRONLY);
      } catch {
        return false;
      }
      try {
        fs.writeSync(fd, "1");
        return true;
      } catch {
        return false;
      } finally {
        fs.closeSync(fd);
      }
    },
    close() {
      if (!open) return;
      open = false;
      fs.closeSync(dirFd);
    },
  };
}

/**
 * Sets how far ahead the kernel reads for sequential readers of the mount
 * (the mount's backing_dev_info, named by its device number). The kernel
 * starts a FUSE mount at 128 KiB, so every READ request carries 128 KiB at
 * most whatever max_pages allows; a larger window means fewer, larger
 * requests. The kernel also caps the window at the max_readahead of the INIT
 * reply, so that must be as large. Returns the problem, or null.
 */
export function setReadahead(entry: Pick<MountEntry, "major" | "minor">, kib: number): string | null {
  try {
    fs.writeFileSync(`/sys/class/bdi/${entry.major}:${entry.minor}/read_ahead_kb`, String(kib));
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** umount(8), lazily when `lazy`. Returns stderr on failure, null on success. */
export async function umount(dir: string, lazy: boolean): Promise<string | null> {
  const r = await run("umount", lazy ? ["-l", dir] : [dir]);
  return r.code === 0 ? null : r.stderr || `exit ${r.code}`;
}
