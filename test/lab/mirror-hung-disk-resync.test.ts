/**
 * The disk beneath the SECOND's copy hangs while a resync asks its copy
 * questions (manifests, entries, sums), on the real binary (mirror-lab.ts;
 * disk_timeout and ack_timeout at their defaults, 10 s and 30 s). h2's copy
 * folder is the lab's hanging FUSE layer (hang-layer.ts).
 *
 * h2 holds 4000 files in 40 folders, then its replication port is cut: it
 * is outdated, h1 goes on alone and changes every one of those files, so
 * the journal resync that follows asks h2 about thousands of paths. The
 * port opens; as h2 says h1 resyncs it, its layer hangs. h2 used to answer
 * those questions on its main thread, which then stopped in the layer:
 * no heartbeats (h1 called it dead), no status. Now the applier's thread
 * answers them: h2's status keeps answering, h1 never calls it dead nor
 * drops the link for an answer owed, and h2 says DISK HUNG with the reason
 * (the answer owed counts as the disk's owed work). h1 goes on alone and
 * says once that h2 refuses the resync, with h2's reason, however many
 * times it tries again meanwhile. The layer answers again: h1 resyncs h2,
 * and every record h1's service was told is durable is in both copies,
 * which are equal.
 */
import { spawn } from "node:child_process";
import { expect } from "vitest";
import { startOnHangingLayer } from "./hang-layer.ts";
import { hangUntilDiskHung, releaseUntilAnswering, stillHungAfter } from "./hung-disk-checks.ts";
import { describeLab, labTestNeeding, useLab, useRunDirs } from "./lab-test.ts";
import { copyContents, explainOnFailure, startMirrorLab, treeDigest } from "./mirror-lab.ts";
import { nftCut } from "./nft-cut.ts";
import { waitUntil } from "./wait.ts";

const lines = (log: string, re: RegExp): string[] => log.split("\n").filter((l) => re.test(l));

/** Run with python3 in h1's mount namespace: ARGV[1] the folder, ARGV[2] "make" or "change". */
const FILES_PY = `
import os, sys
root, what = sys.argv[1], sys.argv[2]
for d in range(40):
    dd = os.path.join(root, "many", "d%02d" % d)
    if what == "make":
        os.makedirs(dd, exist_ok=True)
    for f in range(100):
        with open(os.path.join(dd, "f%03d" % f), "ab" if what == "change" else "wb") as fh:
            fh.write(b"changed alone\\n" if what == "change" else os.urandom(2048))
print("done")
`;

describeLab("mirror module: the disk beneath the SECOND's copy hangs during a resync (disk_timeout)", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  const runDir = useRunDirs("vigil-mirror-hung-resync-");

  labTestNeeding("nft")("h2's layer hangs as h1 resyncs it: h2 stays heard and manageable, says DISK HUNG; h1 says the refusal once; answering again, h2 is resynced", async () => {
    const dir = runDir("hung-resync");
    const m = await startMirrorLab({ lab: lab(), dir, start: ["h1"] });
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    explainOnFailure(m);
    const layer = await startOnHangingLayer(m, h2, dir);
    await h1.waitModule((x) => x.state === "PRIM" && x.mirror?.writes === "replicate" && x.mirror.peerData === "uptodate" && x.mirror.link === "up", "h1 replicates to an up-to-date h2", 90_000);
    await waitUntil(() => m.acked("h1").records.length >= 40, { timeoutMs: 30_000, what: "the recorder writes through the mirror" });

    const pid1 = h1.proc!.pid;
    const files = (what: "make" | "change"): Promise<void> => new Promise((resolve, reject) => {
      const p = spawn("nsenter", ["-t", String(pid1), "-m", "--", "python3", "-c", FILES_PY, m.folder, what], { stdio: "ignore" });
      p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${what} files through h1's mount: exit ${code}`))));
    });
    // 4000 files, replicated live.
    await files("make");
    await h1.waitModule((x) => x.mirror?.waitingOps === 0 && x.mirror.peerData === "uptodate", "h2 has the files", 120_000);

    // The port cut: h2 outdated, h1 alone changes every file (journaled).
    const table = `vigil_hung_resync_${lab().run.replace(/\W/g, "")}`;
    const lift = await nftCut(h2.host, table, [
      "chain input { type filter hook input priority 0; tcp dport 7696 drop; tcp sport 7696 drop; }",
      "chain output { type filter hook output priority 0; tcp sport 7696 drop; tcp dport 7696 drop; }",
    ]);
    await h2.waitModule((x) => x.mirror?.data === "outdated", "h2 declares its copy outdated", 30_000);
    await h1.waitModule((x) => x.state === "PRIM" && x.mirror?.writes === "alone", "h1 writes alone (journaled)", 30_000);
    await files("change");

    // The port opens; as h2 takes the resync, its layer hangs.
    const out1 = () => h1.proc?.output() ?? "";
    const out2 = () => h2.proc?.output() ?? "";
    const [from1, from2] = [out1().length, out2().length];
    await lift();
    await waitUntil(() => lines(out2().slice(from2), /"msg":"mirror resync start".*h1 resyncs this copy/).length > 0, { timeoutMs: 60_000, intervalMs: 5, what: "h2 takes h1's resync" });
    // h2 answers over its control socket, says its disk is hung and why; its copy was then not in sync.
    const { s2, reason } = await hangUntilDiskHung(m, h2, layer);
    expect(["outdated", "inconsistent"]).toContain(s2.mirror?.data);
    await h1.waitModule((x) => x.state === "PRIM" && x.mirror?.writes === "alone", "h1 writes alone, h2's copy not in sync", 60_000);
    // Hung long enough for h1 to try the resync again twice (every 10 s).
    await stillHungAfter(h2, layer, reason, 25_000, 30_000);
    // h2 was heard throughout, and no answer was owed past ack_timeout.
    expect(lines(out1().slice(from1), /"msg":"peer h2 dead"/)).toEqual([]);
    expect(lines(out2().slice(from2), /"msg":"peer h1 dead"/)).toEqual([]);
    expect(lines(out1().slice(from1), /"msg":"mirror peer does not acknowledge"/)).toEqual([]);
    // h1 says h2's refusal once, with h2's reason, not at every try.
    const refusals = lines(out1().slice(from1), /takes no resync while its disk is hung/);
    expect(refusals, "h1's lines that give h2's refusal").toHaveLength(1);
    expect(refusals[0]).toMatch(/"msg":"mirror resync failed"/);

    // The layer answers again: h2 says so, and h1 resyncs it.
    const again1 = out1().length;
    await releaseUntilAnswering(layer, out2);
    await h1.waitModule((x) => x.mirror?.link === "up" && x.mirror.peerData === "uptodate" && x.mirror.writes === "replicate", "h1 resynced h2", 180_000);
    expect(lines(out1().slice(again1), /"msg":"mirror resync start"/).length).toBeGreaterThan(0);
    await m.stopRecorder("h1");
    await h1.waitModule((x) => x.mirror?.waitingOps === 0 && x.mirror.peerData === "uptodate", "nothing waits for h2");
    await h2.waitModule((x) => x.mirror?.data === "uptodate", "h2's copy is up to date");
    const told = m.acked("h1");
    const there = copyContents(m.data("h2"));
    expect(told.records.filter((n) => !there.records.has(n)), "records h1's service was told are durable but h2 lacks").toEqual([]);
    expect(treeDigest(m.data("h2"))).toBe(treeDigest(m.data("h1")));
    console.info(`the layer held FUSE opcode ${/held (\d+)/.exec(layer.output())?.[1]} first; h2: ${s2.mirror?.diskHung}; h1 said: ${refusals[0]?.slice(0, 400)}`);
  }, 600_000);
}, { tools: ["python3", "nsenter"] });
