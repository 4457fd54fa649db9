/**
 * A mirror module at scale, on the real binary (mirror-lab.ts):
 * - Many small files already in the PRIM's folder when the pair first
 *   meets: the first sync compares and sends them all, while the PRIM's
 *   daemon stalls three times past the deadtime (the link drops, the pass
 *   is cut and a new one resumes: one pass at a time, no half-made file left
 *   with its final size and mtime over holes); the copies end identical, and
 *   `vigil verify` agrees. The suite runs 5k files;
 *   MIRROR_SCALE_FILES=100000 is the figure, a manual run: on this
 *   2-core machine under load, the verify of 100k files still held the
 *   PRIM's main thread past the 500 ms deadtime once in three runs (its
 *   peer took over), a known limit of running resync and verify on the
 *   thread that sends the heartbeats.
 * - A 4 GiB sparse file written at three far offsets through the mount:
 *   the standby's copy has the same size and bytes, and stays sparse.
 * - A rename storm (thousands of renames over a few hundred names, with
 *   the recorder writing meanwhile): the copies end identical.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import { describeLab, labTest, useLab, useRunDirs } from "./lab-test.ts";
import { type MirrorLab, startMirrorLab, treeDigest } from "./mirror-lab.ts";
import { waitUntil } from "./lab.ts";

const FILES = Number(process.env["MIRROR_SCALE_FILES"] ?? 5_000);
const PER_DIR = 1000;

describeLab("mirror module at scale: many files, a 4 GiB sparse file, a rename storm", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  const runDir = useRunDirs("vigil-mirror-scale-");

  /** Runs a shell script as the service sees the folder on `n` (its daemon's mount namespace). */
  async function asService(m: MirrorLab, n: "h1" | "h2", script: string): Promise<string> {
    const pid = m.node(n).proc?.pid;
    if (pid === undefined) throw new Error(`${n}'s daemon has no pid`);
    const r = await m.node(n).host.exec(["nsenter", "-t", String(pid), "-m", "sh", "-ec", script], { check: true, timeoutMs: 600_000 });
    return r.stdout;
  }

  labTest(`${FILES} files synced at first contact, a 4 GiB sparse file, a rename storm: identical copies`, async () => {
    const m = await startMirrorLab({ lab: lab(), dir: runDir("s"), start: [] });
    onTestFinished(() => m.stopAll());
    const d1 = m.data("h1");
    for (let i = 0; i < FILES; i++) {
      const sub = join(d1, "many", `d${Math.floor(i / PER_DIR)}`);
      if (i % PER_DIR === 0) mkdirSync(sub, { recursive: true });
      writeFileSync(join(sub, `f${i}`), `file ${i}\n`);
    }
    await m.node("h1").start();
    await m.node("h2").start();
    // The PRIM's daemon stalls (a loaded host) during the first sync, each time past the deadtime: up to
    // three times, each once the pass under way has made progress, and only while the sync is well
    // short of its end. A stall after it would be a real outage, which h2, then in sync, rightly takes
    // over (no witness here); the first sync's speed must not decide which of the two the test sees.
    const d2many = join(m.data("h2"), "many");
    const filesOnH2 = (): number => {
      try {
        return readdirSync(d2many).reduce((n, d) => n + readdirSync(join(d2many, d)).length, 0);
      } catch {
        return 0;
      }
    };
    const stalls = (async (): Promise<number> => {
      let made = 0;
      let from = 0;
      const giveUpAt = Date.now() + 600_000;
      for (let k = 0; k < 3; k++) {
        const start = from;
        while (filesOnH2() < start + FILES / 10) {
          if (filesOnH2() >= FILES * 0.7 || Date.now() > giveUpAt) return made;
          await new Promise((r) => setTimeout(r, 10));
        }
        const pid = m.node("h1").proc?.pid;
        if (pid === undefined || filesOnH2() >= FILES * 0.7) return made;
        process.kill(pid, "SIGSTOP");
        await new Promise((r) => setTimeout(r, 700));
        process.kill(pid, "SIGCONT");
        made++;
        from = filesOnH2();
      }
      return made;
    })();
    onTestFinished(async () => {
      await stalls;
    });
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    // The first sync sends every file; h2 is up to date once it has them all. A new copy that is not
    // the first sync's source is inconsistent from the first contact until that sync ends (mirror.ts
    // rule 7), so its status alone says when: then it holds the first contact's files (the recorder
    // keeps writing beside them).
    const d2 = m.data("h2");
    await h2.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h2 is an up-to-date SECOND after the first sync", 600_000);
    expect(treeDigest(join(d2, "many"))).toBe(treeDigest(join(d1, "many")));
    expect(await stalls, "stalls of h1's daemon during the first sync").toBeGreaterThan(0);
    await h1.waitModule((x) => x.state === "PRIM" && x.mirror?.writes === "replicate", "h1 runs vms and replicates", 60_000);

    const srv = join(m.dir, "srv");
    // Sparse: a 4 GiB file with 1 MiB of data at its start, its middle and its end.
    await asService(m, "h1", [
      `truncate -s 4G ${srv}/big.img`,
      `for off in 0 2048 4095; do head -c 1048576 /dev/urandom | dd of=${srv}/big.img bs=1M seek=$off conv=notrunc,fsync status=none; done`,
    ].join("\n"));
    // The storm: 300 files renamed around a ring of names, 10 rounds (6000 renames), while the recorder writes.
    const storm = [
      "const fs = require('node:fs');",
      `const d = ${JSON.stringify(join(srv, "storm"))};`,
      "fs.mkdirSync(d + '/a', { recursive: true }); fs.mkdirSync(d + '/b', { recursive: true });",
      "for (let i = 0; i < 300; i++) fs.writeFileSync(d + '/a/' + i, 'n ' + i + '\\n');",
      "for (let r = 0; r < 10; r++) {",
      "  for (let i = 0; i < 300; i++) fs.renameSync(d + '/a/' + i, d + '/b/' + ((i + 7) % 300) + '.new');",
      "  for (let i = 0; i < 300; i++) fs.renameSync(d + '/b/' + i + '.new', d + '/a/' + i);",
      "}",
    ].join("\n");
    writeFileSync(join(m.dir, "storm.js"), storm);
    await asService(m, "h1", `${process.execPath} ${join(m.dir, "storm.js")}`);
    await m.stopRecorder("h1");
    await h1.waitModule((x) => x.mirror?.waitingOps === 0, "no write waiting");

    const [s1, s2] = [statSync(join(d1, "big.img")), statSync(join(d2, "big.img"))];
    expect(s2.size).toBe(4 * 1024 ** 3);
    // Three MiB of data: the standby's copy holds a few MiB of blocks, not 4 GiB.
    expect(s2.blocks * 512).toBeLessThan(64 * 1024 ** 2);
    const region = (f: string, mib: number): string => execFileSync("sh", ["-c", `dd if=${f} bs=1M skip=${mib} count=1 status=none | sha256sum`], { encoding: "utf8" });
    for (const mib of [0, 1024, 2048, 4095]) expect(region(join(d2, "big.img"), mib), `MiB ${mib}`).toBe(region(join(d1, "big.img"), mib));
    expect(s1.size).toBe(s2.size);
    // Hashing 4 GiB of holes twice more (digest, verify) would only cost time: the file goes, through the mount.
    await asService(m, "h1", `rm ${srv}/big.img`);
    await h1.waitModule((x) => x.mirror?.waitingOps === 0, "no write waiting");
    await waitUntil(() => treeDigest(d1) === treeDigest(d2), { timeoutMs: 30_000, what: "identical copies (entries, modes, owners, sizes, mtimes, contents)" });
    const v = await h1.cli(["verify", "vms"]);
    expect(v.code, v.out).toBe(0);
    expect(v.out).toMatch(/the copies are identical/);
  }, 900_000);
});
