/**
 * The disk beneath the SECOND's copy hangs while a resync keeps that copy's
 * own files aside (keep-aside.ts), on the real binary (mirror-lab.ts;
 * disk_timeout and ack_timeout at their defaults, 10 s and 30 s). h2's copy
 * folder is the lab's hanging FUSE layer (hang-layer.ts).
 *
 * h2 is a new copy that holds 4000 files of its own; h1 runs the module and
 * is the first sync's source, so the sync removes them and keeps each one in
 * h2's state dir first. As h2 says its first path is kept, its layer hangs.
 * h2's keeper used to look at each path (and copy it) on its main thread,
 * which then stopped in the layer: no heartbeats, no status. Now it keeps on
 * the applier's thread, before each op: h2's status keeps answering, h1
 * never calls it dead, and h2 says DISK HUNG with the reason (the keeper's
 * work is owed work for the disk's watch). The layer answers again: h1 syncs
 * h2, the interrupted keeping goes on in the same folder, every one of h2's
 * files is there with its content, and the copies are equal.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { startOnHangingLayer } from "./hang-layer.ts";
import { hangUntilDiskHung, releaseUntilAnswering, stillHungAfter } from "./hung-disk-checks.ts";
import { describeLab, labTest, useLab, useRunDirs } from "./lab-test.ts";
import { explainOnFailure, startMirrorLab, treeDigest } from "./mirror-lab.ts";
import { waitUntil } from "./wait.ts";

const lines = (log: string, re: RegExp): string[] => log.split("\n").filter((l) => re.test(l));
const DIRS = 40;
const FILES = 100;
const content = (d: number, f: number): string => `h2's own d${d} f${f}\n`.repeat(20);

describeLab("mirror module: the disk beneath the SECOND's copy hangs while a resync keeps its files aside (disk_timeout)", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  const runDir = useRunDirs("vigil-mirror-hung-keep-");

  labTest("h2's layer hangs as its first sync keeps its own files aside: h2 stays heard and manageable, says DISK HUNG; answering again, every file is kept and the copies are equal", async () => {
    const dir = runDir("hung-keep");
    const m = await startMirrorLab({ lab: lab(), dir, start: ["h1"] });
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    explainOnFailure(m);
    // h2's new copy holds files of its own, which h1 has not.
    for (let d = 0; d < DIRS; d++) {
      mkdirSync(join(m.data("h2"), "own-h2", `d${d}`), { recursive: true });
      for (let f = 0; f < FILES; f++) writeFileSync(join(m.data("h2"), "own-h2", `d${d}`, `f${f}`), content(d, f));
    }
    const out1 = () => h1.proc?.output() ?? "";
    const layer = await startOnHangingLayer(m, h2, dir);
    const out2 = () => h2.proc?.output() ?? "";

    // The first path kept: the layer hangs while the keeper is at work.
    await waitUntil(() => lines(out2(), /"msg":"first sync: this new copy's own files that the sync replaces or removes are kept aside first"/).length > 0, { timeoutMs: 90_000, intervalMs: 5, what: "h2 keeps its first file aside" });
    // From here on (h1 called h2 dead at its own start, h2 not started yet: initdead).
    const [from1, from2] = [out1().length, out2().length];
    // h2 answers over its control socket, says its disk is hung and why.
    const { s2, reason } = await hangUntilDiskHung(m, h2, layer);
    await h1.waitModule((x) => x.state === "PRIM" && x.mirror?.writes === "alone", "h1 writes alone, h2's copy not synced", 60_000);
    await stillHungAfter(h2, layer, reason, 12_000, 20_000);
    // Some of h2's files were still to keep when the layer hung.
    expect(readdirSync(join(m.data("h2"), "own-h2")).length).toBeGreaterThan(0);
    // h2 was heard throughout.
    expect(lines(out1().slice(from1), /"msg":"peer h2 dead"/)).toEqual([]);
    expect(lines(out2().slice(from2), /"msg":"peer h1 dead"/)).toEqual([]);

    // The layer answers again: h1 syncs h2, which keeps the rest into the same folder.
    await releaseUntilAnswering(layer, out2);
    await h1.waitModule((x) => x.mirror?.link === "up" && x.mirror.peerData === "uptodate" && x.mirror.writes === "replicate", "h1 synced h2", 180_000);
    await m.stopRecorder("h1");
    await h1.waitModule((x) => x.mirror?.waitingOps === 0 && x.mirror.peerData === "uptodate", "nothing waits for h2");
    const synced = await h2.waitModule((x) => x.mirror?.data === "uptodate", "h2's copy is up to date");
    expect(synced.mirror?.keptKind).toBe("first-sync");
    expect(readdirSync(m.data("h2"))).not.toContain("own-h2");
    expect(treeDigest(m.data("h2"))).toBe(treeDigest(m.data("h1")));
    const keptRoot = join(h2.stateDir, "conflicts", "vms");
    const times = readdirSync(keptRoot);
    expect(times, "one folder for the interrupted sync and its next try").toHaveLength(1);
    const wrong: string[] = [];
    for (let d = 0; d < DIRS; d++) {
      for (let f = 0; f < FILES; f++) {
        let got: string | null = null;
        try {
          got = readFileSync(join(keptRoot, times[0]!, "own-h2", `d${d}`, `f${f}`), "utf8");
        } catch {
          got = null;
        }
        if (got !== content(d, f)) wrong.push(`d${d}/f${f}`);
      }
    }
    expect(wrong, "h2's own files not kept aside with their content").toEqual([]);
    console.info(`the layer held FUSE opcode ${/held (\d+)/.exec(layer.output())?.[1]} first; h2: ${s2.mirror?.diskHung}`);
  }, 600_000);
});
