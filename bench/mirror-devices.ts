/**
 * A block device of its own for each side of bench/mirror.ts (--devices DIR):
 * an ext4 (mkfs's defaults, journal included) on a loop device whose backing
 * file lies in DIR, one per folder (bare, h1's copy, h2's copy). Two real
 * servers flush two disks; on one shared file system the PRIM's flush and
 * the SECOND's queue behind each other in one journal, which no real pair
 * does. With DIR on tmpfs (/dev/shm) no disk lies beneath at all: each flush
 * costs its own journal commit and nothing else, the same for bare and for
 * both copies. The state dirs (journal of marks) stay in the scratch folder.
 */
import { closeSync, mkdirSync, openSync, rmSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "../test/lab/exec.ts";

/** Sparse backing file size: the seq row's 256 MiB and two half-size writers fit many times. */
const BACKING_BYTES = 2 * 1024 ** 3;

async function must(argv: string[], what: string): Promise<string> {
  const r = await runCommand(argv, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`${what}: \`${argv.join(" ")}\` exited ${String(r.code)}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout.trim();
}

export interface OwnDevice {
  /** The loop device, e.g. /dev/loop3. */
  readonly device: string;
  /** Where its ext4 is mounted (in the root mount namespace). */
  readonly at: string;
  /** Unmounts, detaches the loop device and removes the backing file; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Mounts a fresh ext4 on a loop device over `at` (created if missing), its
 * backing file `name`.img in `backingDir`. A failure part way undoes what
 * was done before it throws.
 */
export async function ownDevice(backingDir: string, name: string, at: string): Promise<OwnDevice> {
  mkdirSync(backingDir, { recursive: true });
  mkdirSync(at, { recursive: true });
  const file = join(backingDir, `${name}-${process.pid}.img`);
  closeSync(openSync(file, "w"));
  truncateSync(file, BACKING_BYTES);
  let device: string | null = null;
  let mounted = false;
  const close = async (): Promise<void> => {
    if (mounted) {
      await must(["umount", at], `unmount ${at}`);
      mounted = false;
    }
    if (device !== null) {
      await must(["losetup", "-d", device], `detach ${device}`);
      device = null;
    }
    rmSync(file, { force: true });
  };
  try {
    device = await must(["losetup", "--find", "--show", file], `loop device for ${file}`);
    await must(["mkfs.ext4", "-q", "-F", device], `mkfs.ext4 ${device}`);
    await must(["mount", device, at], `mount ${device} on ${at}`);
    mounted = true;
    return { device, at, close };
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
}

/** What the results say about where the folders live. */
export async function describeBacking(backingDir: string): Promise<string> {
  const fs = (await must(["findmnt", "-n", "-o", "FSTYPE,SOURCE", "-T", backingDir], `file system of ${backingDir}`).catch(() => "?")).split("\n")[0] ?? "?";
  return `each folder on its own ext4 (journal) on a loop device, backing files in ${backingDir} (${fs.replace(/\s+/g, " ")})`;
}
