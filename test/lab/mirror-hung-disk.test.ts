/**
 * A disk that hangs, not slows, beneath the SECOND's copy, on the real
 * binary (mirror-lab.ts; disk_timeout and ack_timeout at their defaults,
 * 10 s and 30 s). h2's copy folder is a FUSE file system of the lab's own
 * (fixtures/hang-fuse.ts) over h2's files, mounted in h2's daemon's mount
 * namespace, which is told to stop answering every request.
 *
 * 1. The service idle, h2's applier idle, the layer hangs; then h1's
 *    service makes a namespace change (a mkdir: a quick op, which h2 used
 *    to apply on its main thread when its applier was idle, freezing it)
 *    and writes on. h2's main thread keeps answering: its heartbeats (h1
 *    never calls it dead, its module stays PRIM, not ALONE) and its control
 *    socket (`vigil status`), which says the disk is hung and why; its copy
 *    is outdated, on disk in its state dir. h1 goes on alone, journaling:
 *    the mkdir and the writes return while the layer still hangs, before
 *    ack_timeout (h1 never drops the link for an acknowledgement owed).
 * 2. The layer answers again: the calls stuck in it return, h2 says its
 *    disk answers, and h1 resyncs it; every record the service was told is
 *    durable is in both copies, which are equal.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { startOnHangingLayer } from "./hang-layer.ts";
import { describeLab, labTest, useLab, useRunDirs } from "./lab-test.ts";
import { copyContents, explainOnFailure, startMirrorLab, treeDigest } from "./mirror-lab.ts";
import { waitUntil } from "./wait.ts";

const lines = (log: string, re: RegExp): string[] => log.split("\n").filter((l) => re.test(l));

describeLab("mirror module: the disk beneath the SECOND's copy hangs (disk_timeout)", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  const runDir = useRunDirs("vigil-mirror-hung-");

  labTest("h2's layer stops answering: h2 stays manageable and says why, h1 goes on alone before ack_timeout; answering again, h2 is resynced", async () => {
    const dir = runDir("hung");
    const m = await startMirrorLab({ lab: lab(), dir, start: ["h1"] });
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    let writer: ChildProcess | null = null;
    explainOnFailure(m);
    // h2's daemon in a mount namespace of its own, its folder the hanging layer over h2's files.
    const layer = await startOnHangingLayer(m, h2, dir, () => writer?.kill("SIGKILL"));
    const tell = layer.tell;
    expect(readFileSync("/proc/mounts", "utf8")).not.toContain("fuse.hanglab");

    await h1.waitModule((x) => x.state === "PRIM" && x.mirror?.writes === "replicate" && x.mirror.peerData === "uptodate" && x.mirror.link === "up", "h1 replicates to an up-to-date h2", 90_000);
    await waitUntil(() => m.acked("h1").records.length >= 40, { timeoutMs: 30_000, what: "the recorder writes through the mirror" });

    // 1. The service idle (h2's applier too), then the layer hangs.
    await m.stopRecorder("h1");
    await h1.waitModule((x) => x.mirror?.waitingOps === 0, "nothing waits for h2");
    const out1 = () => h1.proc?.output() ?? "";
    const out2 = () => h2.proc?.output() ?? "";
    const [from1, from2] = [out1().length, out2().length];
    tell("hang");
    await waitUntil(() => layer.output().includes("ok hang"), { timeoutMs: 10_000, what: "the layer hangs" });
    const pid1 = h1.proc!.pid;
    const inH1 = (argv: string[]): string[] => ["nsenter", "-t", String(pid1), "-m", "--", ...argv];
    // The first op h2 gets is a namespace change, while its applier has nothing to do.
    const hungAt = Date.now();
    const mkdirDone = new Promise<number>((resolve, reject) => {
      const [cmd, ...args] = inH1(["mkdir", join(m.folder, "made-while-hung")]);
      const p = spawn(cmd!, args, { stdio: "ignore" });
      p.on("exit", (code) => (code === 0 ? resolve(Date.now() - hungAt) : reject(new Error(`mkdir through h1's mount: exit ${code}`))));
    });
    await waitUntil(() => layer.output().includes("held "), { timeoutMs: 20_000, what: "h2's first call into the layer is held" });
    // The service writes on (the recorder again, numbering on from its log).
    const acked = join(dir, "acked-h1.log");
    const sizeAtHang = statSync(acked).size;
    const [wcmd, ...wargs] = inH1([process.execPath, join(dir, "recorder.js"), m.folder, acked]);
    writer = spawn(wcmd!, wargs, { stdio: "ignore" });

    // h2 answers over its control socket, says its disk is hung and why; its copy is outdated, on disk.
    const s2 = await h2.waitModule((x) => (x.mirror?.diskHung ?? null) !== null, "h2 reports its disk hung", 60_000);
    const reason = `the disk beneath ${m.folder} has not finished an op for`;
    expect(s2.mirror?.diskHung).toContain(reason);
    expect(s2.mirror?.diskHung).toMatch(/\(disk_timeout 10 s\): this copy is detached, outdated until the disk answers and a resync has run$/);
    expect(s2.mirror?.data).toBe("outdated");
    const record = JSON.parse(readFileSync(join(h2.stateDir, "mirror", "vms", "copy.json"), "utf8")) as { data?: string };
    expect(record.data).toBe("outdated");
    expect(lines(out2().slice(from2), /"msg":"mirror copy's disk hung: copy detached"/)).toHaveLength(1);
    const cli = await h2.cli(["status"]);
    expect(cli.code).toBe(0);
    expect(cli.out).toContain(`DISK HUNG: ${reason}`);

    // h1 goes on alone while the layer still hangs: the mkdir and the service's writes return.
    const mkdirMs = await mkdirDone;
    await waitUntil(() => statSync(acked).size > sizeAtHang + 4096, { timeoutMs: 60_000, intervalMs: 50, what: "the service's writes return while h2's disk hangs" });
    await h1.waitModule((x) => x.state === "PRIM" && x.mirror?.peerData === "outdated" && x.mirror.writes === "alone", "h1 writes alone, h2's copy outdated", 30_000);
    expect(layer.output()).not.toContain("ok release");
    const s2again = await h2.module();
    expect(s2again.mirror?.diskHung).toContain(reason);
    expect(["SECOND", "WAIT"]).toContain(s2again.state);
    // Not ack_timeout's doing, and h2 was heard throughout: its heartbeats went on.
    expect(lines(out1().slice(from1), /"msg":"mirror peer does not acknowledge"/)).toEqual([]);
    expect(lines(out1().slice(from1), /"msg":"peer h2 dead"/)).toEqual([]);
    expect(lines(out2().slice(from2), /"msg":"peer h1 dead"/)).toEqual([]);

    // 2. The layer answers again: h2 says so, and h1 resyncs it.
    const fromRelease2 = out2().length;
    tell("release");
    await waitUntil(() => lines(out2().slice(fromRelease2), /"msg":"mirror copy's disk answers again/).length > 0, { timeoutMs: 30_000, what: "h2 says its disk answers again" });
    await h2.waitModule((x) => (x.mirror?.diskHung ?? null) === null, "h2's status no longer says hung");
    await h1.waitModule((x) => x.mirror?.link === "up" && x.mirror.peerData === "uptodate" && x.mirror.writes === "replicate", "h1 resynced h2", 120_000);
    expect(lines(out2().slice(fromRelease2), /"msg":"mirror resync start".*h1 resyncs this copy/).length).toBeGreaterThan(0);
    // No write of the service failed meanwhile: the recorder logs an error and exits at the first.
    expect(writer.exitCode).toBeNull();
    expect(readFileSync(acked, "utf8")).not.toMatch(/^error /m);
    writer.kill("SIGTERM");
    await new Promise((r) => writer!.once("exit", r));
    writer = null;
    await h1.waitModule((x) => x.mirror?.waitingOps === 0 && x.mirror.peerData === "uptodate", "nothing waits for h2");
    await h2.waitModule((x) => x.mirror?.data === "uptodate", "h2's copy is up to date");
    const told = m.acked("h1");
    const there = copyContents(m.data("h2"));
    expect(told.records.filter((n) => !there.records.has(n)), "records h1's service was told are durable but h2 lacks").toEqual([]);
    expect(told.segments.filter((n) => there.segments.get(n) !== n % 251), "segments h2 lacks").toEqual([]);
    expect(existsSync(join(m.data("h2"), "made-while-hung"))).toBe(true);
    expect(treeDigest(m.data("h2"))).toBe(treeDigest(m.data("h1")));
    console.info(`mkdir through h1's mount returned ${mkdirMs} ms after the layer hung (disk_timeout 10 s, ack_timeout 30 s); h2: ${s2.mirror?.diskHung}`);
  }, 400_000);
});
