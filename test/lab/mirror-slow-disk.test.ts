/**
 * A slow disk, not a hung one, beneath the SECOND's copy: one fsync of 300
 * MiB of dirty data on a loop device throttled to 20 MiB/s (blkio's
 * write_bps_device) finishes no op of the applier for some 15 s, while the
 * device completes write after write. The applier's watch, with a bound of
 * 3 s, must not take that disk for hung (it did when it counted the ops
 * alone): the fsync returns ok. The applier runs under Bun from the sources
 * (fixtures/slow-fsync.ts). A hung disk is mirror-hung-disk's.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import { BUN, FIXTURES } from "./fuse-lab.ts";
import { describeLab, labTest, useRunDirs } from "./lab-test.ts";

const THROTTLE = "/sys/fs/cgroup/blkio/blkio.throttle.write_bps_device";
const BOUND_MS = 3_000;
const MIB = 1 << 20;

const writesCompleted = (dev: string): number => Number(readFileSync(`/sys/block/${dev}/stat`, "latin1").trim().split(/\s+/)[4]);

describeLab("mirror module: a slow disk beneath the SECOND's copy (disk_timeout)", () => {
  const runDir = useRunDirs("vigil-mirror-slow-");

  labTest("one fsync longer than disk_timeout on a device that completes I/O all along is not taken for a hung disk", { timeout: 90_000 }, () => {
    if (!existsSync(THROTTLE)) throw new Error(`this test throttles a loop device with ${THROTTLE} (cgroup v1 blkio), absent here`);
    const dir = runDir("slow");
    const image = join(dir, "disk.img");
    const mnt = join(dir, "mnt");
    mkdirSync(mnt);
    writeFileSync(image, "");
    execFileSync("truncate", ["-s", "1G", image]);
    const loop = execFileSync("losetup", ["--show", "-f", image], { encoding: "utf8" }).trim();
    const majMin = readFileSync(`/sys/block/${loop.replace("/dev/", "")}/dev`, "latin1").trim();
    let mounted = false;
    onTestFinished(() => {
      writeFileSync(THROTTLE, `${majMin} 0`);
      if (mounted) execFileSync("umount", [mnt]);
      execFileSync("losetup", ["-d", loop]);
    });
    execFileSync("mkfs.ext4", ["-q", loop]);
    execFileSync("mount", [loop, mnt]);
    mounted = true;
    const copy = join(mnt, "copy");
    mkdirSync(copy);
    // Throttled before the data is dirtied: the kernel's own writeback of it is as slow.
    writeFileSync(THROTTLE, `${majMin} ${20 * MIB}`);
    const fd = openSync(join(copy, "big"), "w");
    const chunk = Buffer.alloc(MIB, 7);
    for (let i = 0; i < 300; i++) writeSync(fd, chunk);
    closeSync(fd);
    const before = writesCompleted(loop.replace("/dev/", ""));
    const r = spawnSync(BUN, [join(FIXTURES, "slow-fsync.ts"), copy, String(BOUND_MS)], { encoding: "utf8", timeout: 80_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as { threaded: boolean; wrote: unknown; synced: unknown; fsyncMs: number; hung: string | null };
    expect(out.threaded).toBe(true);
    expect(out.wrote).toEqual({ ok: true });
    // The case itself: the device completed writes during an fsync longer than the bound.
    expect(writesCompleted(loop.replace("/dev/", ""))).toBeGreaterThan(before);
    expect(out.fsyncMs).toBeGreaterThan(BOUND_MS);
    expect(out.hung).toBeNull();
    expect(out.synced).toEqual({ ok: true });
  });
});
