/**
 * Mirror modules on the real thing: two daemons of the vigil binary in
 * network namespaces, each with its own mount namespace and folder, FUSE
 * mounted in place on the PRIM, the recorder of mirror-lab.ts writing
 * fsynced records and renamed segments through it.
 *
 * - Zero loss: SIGKILL of the PRIM's daemon while the recorder writes; every
 *   record and segment the recorder was told was durable is on the new
 *   PRIM's copy, intact. The old PRIM comes back, is resynced, and after a
 *   clean stop both copies are identical.
 * - Generations (A fails, B takes over and writes, B fails, A comes back
 *   alone): A waits and says B has newer data; B comes back and runs;
 *   A is resynced.
 */
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import { describeLab, labTest, useLab, useRunDirs } from "./lab-test.ts";
import { copyContents, explainOnFailure, type MirrorLab, startMirrorLab, treeDigest } from "./mirror-lab.ts";
import { waitUntil } from "./wait.ts";
import { isPrimary } from "./arbiter-pair.ts";

describeLab("mirror module: failover without loss, resync, generations", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  const runDir = useRunDirs("vigil-mirror-");

  /** On failure: what the daemons and the recorders said. */
  async function startPair(m: MirrorLab): Promise<void> {
    await m.node("h1").waitModule((x) => isPrimary(x.state) && x.mirror?.writes === "replicate" && x.mirror.resync === null || (x.mirror?.resync?.phase === "done" && isPrimary(x.state)), "h1 runs vms and replicates", 30_000);
    await m.node("h2").waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h2 is an up-to-date SECOND", 30_000);
  }

  labTest("SIGKILL of the PRIM's daemon loses no acknowledged record; it comes back, is resynced, and the copies end identical", async () => {
    const m = await startMirrorLab({ lab: lab(), dir: runDir("kill") });
    onTestFinished(() => m.stopAll());
    explainOnFailure(m);
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await startPair(m);
    // Let the recorder write a number of records through the mount (however loaded the host is).
    await waitUntil(() => m.acked("h1").records.length > 20, { timeoutMs: 60_000, intervalMs: 100, what: "h1's recorder acknowledged 20 records" });

    h1.proc?.kill("SIGKILL");
    await h2.waitModule((x) => isPrimary(x.state), "h2 takes vms over", 15_000);
    const promised = m.acked("h1");
    const onH2 = copyContents(m.data("h2"));
    const missing = promised.records.filter((n) => !onH2.records.has(n));
    expect(missing, "records acknowledged on h1 and missing on h2").toEqual([]);
    const badSegs = promised.segments.filter((n) => onH2.segments.get(n) !== n % 251);
    expect(badSegs, "segments acknowledged on h1 and missing or damaged on h2").toEqual([]);

    // h1 comes back: its copy was written when its daemon died, so it is compared in full and resynced.
    await h1.start();
    await h1.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h1 resynced as SECOND", 60_000);
    const h2m = await h2.module();
    expect(h2m.mirror?.writes).toBe("replicate");
    // The writer ends; once every write of it is acknowledged, the two copies are the same tree.
    await m.stopRecorder("h2");
    await h2.waitModule((x) => x.mirror?.waitingOps === 0 && x.mirror.writes === "replicate", "h2 has no write waiting for h1");
    expect(treeDigest(m.data("h1"))).toBe(treeDigest(m.data("h2")));
  });

  labTest("A fails, B takes over and writes, B fails, A comes back alone: A waits for B; B returns and runs; A is resynced", async () => {
    const m = await startMirrorLab({ lab: lab(), dir: runDir("aba") });
    onTestFinished(() => m.stopAll());
    explainOnFailure(m);
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await startPair(m);
    h1.proc?.kill("SIGKILL");
    await h2.waitModule((x) => isPrimary(x.state), "h2 takes vms over", 15_000);
    await waitUntil(() => m.acked("h2").records.length > 10, { timeoutMs: 60_000, intervalMs: 100, what: "h2's recorder acknowledged 10 records" });
    const writtenByH2 = m.acked("h2").records;
    h2.proc?.kill("SIGKILL");
    await h2.proc?.exited;

    await h1.start();
    const waiting = await h1.waitModule((x) => x.state === "WAIT" && x.mirror !== undefined && x.mirror.serving !== null, "h1 waits: its copy is not known to be current", 20_000);
    expect(waiting.mirror?.serving).toMatch(/not known to be up to date|outdated/);
    // Still waiting well past initdead and deadtime: it never starts on its own.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await h1.module()).state).toBe("WAIT");

    await h2.start();
    await h2.waitModule((x) => isPrimary(x.state), "h2, the last writer, runs vms again", 20_000);
    await h1.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate", "h1 resynced from h2", 60_000);
    const onH1 = copyContents(m.data("h1"));
    expect(writtenByH2.filter((n) => !onH1.records.has(n))).toEqual([]);
  });

  labTest("swap while the recorder writes: the other node takes over with every acknowledged record, the old PRIM stands by in sync", async () => {
    const m = await startMirrorLab({ lab: lab(), dir: runDir("swap") });
    onTestFinished(() => m.stopAll());
    explainOnFailure(m);
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await startPair(m);
    await waitUntil(() => m.acked("h1").records.length > 10, { timeoutMs: 60_000, intervalMs: 100, what: "h1's recorder acknowledged 10 records" });
    const r = await h2.cli(["swap", "vms"]);
    expect(r.code, r.out).toBe(0);
    expect((await h2.module()).state).toBe("PRIM");
    const onH2 = copyContents(m.data("h2"));
    const promised = m.acked("h1");
    expect(promised.records.length).toBeGreaterThan(10);
    expect(promised.records.filter((n) => !onH2.records.has(n))).toEqual([]);
    expect(promised.segments.filter((n) => onH2.segments.get(n) !== n % 251)).toEqual([]);
    // The old PRIM stopped its service before its folder was unmounted: nothing was left unacknowledged.
    await h1.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h1 stands by in sync", 30_000);
    await h2.waitModule((x) => x.mirror?.writes === "replicate" && x.mirror.resync === null, "h2 replicates without a resync");
  });
});
