/**
 * A SECOND whose applier hangs while its main thread runs on, on the real
 * binary (mirror-lab.ts, ack_timeout 2s): the applier's thread of h2's
 * daemon is ptrace-stopped (thread-stop.ts) while it is in a write or an
 * fsync, as a hung disk stops the one thread that writes to it; h2's
 * heartbeats and the link's pings go on. Only there: stopped at any point,
 * the thread may hold a lock of the runtime or be waiting on one, which can
 * then be handed to it, and h2's main thread waited for it too (once, in a
 * full run: h2 silent for the whole stop and declared dead).
 *
 * 1. h1's recorder (fsynced writes) was waiting for h2: the link is dropped
 *    past ack_timeout and its writes return alone, while the thread is still
 *    stopped; log and status say why.
 * 2. With the service idle, the link comes back after a pause and its resync
 *    asks h2 questions that the stopped applier keeps from being answered
 *    (the resync begins only once the ops h2 was given have landed): the
 *    questions are bounded too, and the pauses double while h2 acknowledges
 *    nothing.
 * 3. The thread runs again: the resync resumes and ends, and every record
 *    the recorder was told is durable is in both copies, which are equal.
 *
 * Without the bound the writes of 1 wait for ever; without the bound on the
 * questions 2 never drops the link again and the resync never ends; without
 * the SECOND's check that the connection that asked is still there, each
 * start h1 gave up on starts a resync on h2 once its applier runs again.
 * The applier's thread is found by its name: the only "Worker" thread of a
 * SECOND's daemon (the interception's runs only where the module does).
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import { describeLab, labTest, useLab, useRunDirs } from "./lab-test.ts";
import { copyContents, explainOnFailure, startMirrorLab, treeDigest } from "./mirror-lab.ts";
import { FILE_WRITE_CALLS, type StoppedThread, stopThread, threadList, threadsNamed, threadState } from "./thread-stop.ts";
import { waitUntil } from "./wait.ts";

interface Drop { at: number; detail: string; reconnectInMs: number }

/** h1's "mirror peer does not acknowledge" lines, from its JSON log. */
function drops(log: string): Drop[] {
  return log.split("\n").filter((l) => l.includes('"msg":"mirror peer does not acknowledge"')).map((l) => {
    const j = JSON.parse(l) as { ts?: string; time?: string; detail: string; reconnectInMs: number | string };
    return { at: Date.parse(j.ts ?? j.time ?? ""), detail: j.detail, reconnectInMs: Number(j.reconnectInMs) };
  });
}

describeLab("mirror module: a SECOND whose applier hangs (ack_timeout)", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  const runDir = useRunDirs("vigil-mirror-ack-");

  labTest("the applier's thread of h2 stopped: writes return alone, the resync's questions are bounded, the pauses double, nothing acknowledged is lost", async () => {
    const m = await startMirrorLab({ lab: lab(), dir: runDir("ack"), extraModuleYaml: ["    ack_timeout: 2s"] });
    let stopped: StoppedThread | null = null;
    onTestFinished(async () => {
      // The thread first: a daemon whose applier is stopped cannot close it.
      stopped?.kill();
      await m.stopAll();
    });
    explainOnFailure(m);
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await h1.waitModule((x) => x.state === "PRIM" && x.mirror?.writes === "replicate" && x.mirror.peerData === "uptodate", "h1 replicates to an up-to-date h2", 60_000);
    await waitUntil(() => m.acked("h1").records.length >= 40, { timeoutMs: 30_000, what: "the recorder writes through the mirror" });

    const pid2 = h2.proc!.pid;
    const workers = threadsNamed(pid2, "Worker");
    if (workers.length !== 1) throw new Error(`expected one Worker thread (the applier's) in h2's daemon, found: ${threadList(pid2)}`);
    // In a write or fsync of a file of h2's copy (as the daemon sees its folder, or as the lab does).
    const copy = [m.folder, m.data("h2")];
    stopped = await stopThread(pid2, workers[0]!, { inCalls: ["write", "pwrite64", "writev", "pwritev", "pwritev2", "fsync", "fdatasync"], under: copy });
    expect(Object.values(FILE_WRITE_CALLS)).toContain(stopped.syscall);
    expect(copy.some((p) => stopped!.file.startsWith(`${p}/`)), stopped.file).toBe(true);
    const tid = stopped.tid;
    const acked = join(m.dir, "acked-h1.log");
    const sizeAtStop = statSync(acked).size;
    const out1 = () => h1.proc?.output() ?? "";
    const out2At = (h2.proc?.output() ?? "").length;

    // 1. The recorder's writes stall, the link is dropped past ack_timeout, and they return alone.
    const first = await waitUntil(() => drops(out1())[0], { timeoutMs: 60_000, what: "h1 drops the link to h2" });
    expect(first.detail).toMatch(/^h2 has not applied op \d+ for 2\.\d s \(ack_timeout 2\.0 s\): link dropped, going on alone$/);
    expect(first.reconnectInMs).toBe(2000);
    // For the record, not asserted: the longest time the recorder's acknowledged log did not grow.
    let grew = { size: sizeAtStop, at: Date.now() };
    let stall = 0;
    await waitUntil(() => {
      const size = statSync(acked).size;
      if (size !== grew.size) {
        stall = Math.max(stall, Date.now() - grew.at);
        grew = { size, at: Date.now() };
      }
      return size > sizeAtStop + 4096;
    }, { timeoutMs: 60_000, intervalMs: 20, what: "the recorder's writes return while h2's applier is stopped" });
    expect(threadState(pid2, tid)).toBe("t");
    // h2's main thread runs on: its control socket answers (SECOND, or WAIT once it knows its copy is behind).
    expect(["SECOND", "WAIT"]).toContain((await h2.module()).state);
    const s1 = await h1.module();
    expect(s1.state).toBe("PRIM");
    // The last drop's reason: the link may have come back and been dropped again meanwhile, for the resync's
    // start (asked first) or for a write of the recorder, whichever had waited longer.
    expect(s1.mirror?.linkDetail).toMatch(/h2 has not (applied op \d+|answered .+) for 2\.\d s \(ack_timeout 2\.0 s\): link dropped/);

    // 2. The service idle: only the resync's questions are owed now, and they are bounded too.
    await m.stopRecorder("h1");
    const idleFrom = drops(out1()).length;
    const later = await waitUntil(() => {
      const d = drops(out1());
      return d.length >= Math.max(3, idleFrom + 1) && d.slice(idleFrom).some((x) => x.detail.includes("has not answered")) ? d : null;
    }, { timeoutMs: 90_000, what: "h1 drops the link again for an unanswered question" });
    expect(threadState(pid2, tid)).toBe("t");
    expect(["SECOND", "WAIT"]).toContain((await h2.module()).state);
    const asked = later.slice(idleFrom).find((x) => x.detail.includes("has not answered"))!;
    expect(asked.detail).toMatch(/^h2 has not answered .+ for 2\.\d s \(ack_timeout 2\.0 s\): link dropped, the resync resumes once it is back$/);
    // h2 acknowledged nothing since the first drop: each pause is twice the one before.
    expect(later.map((d) => d.reconnectInMs).slice(0, 3)).toEqual([2000, 4000, 8000]);
    // And the link waited it out: nothing connects again before the pause is over.
    for (let i = 1; i < later.length; i++) expect(later[i]!.at - later[i - 1]!.at).toBeGreaterThanOrEqual(later[i - 1]!.reconnectInMs);
    const s2 = await h1.module();
    expect(s2.mirror?.peerData).not.toBe("uptodate");
    expect(s2.mirror?.linkDetail).toMatch(/h2 has not (applied|answered)/);

    // 3. The thread runs again: at the next connection the resync resumes and ends.
    const out1AtRelease = out1().length;
    await stopped.release();
    await h1.waitModule((x) => x.mirror?.link === "up" && x.mirror.peerData === "uptodate" && x.mirror.waitingOps === 0, "h2 is in sync again", 120_000);
    await h2.waitModule((x) => x.mirror?.data === "uptodate", "h2's copy is up to date");
    expect((await h1.module()).mirror?.linkDetail).toBe("connected to h2");
    const told = m.acked("h1");
    const there = copyContents(m.data("h2"));
    expect(told.records.filter((n) => !there.records.has(n)), "records h1's service was told are durable but h2 lacks").toEqual([]);
    expect(told.segments.filter((n) => there.segments.get(n) !== n % 251), "segments h2 lacks").toEqual([]);
    expect(treeDigest(m.data("h2"))).toBe(treeDigest(m.data("h1")));
    // The starts of the resyncs h1 gave up on were answered by h2 once its applier ran again, on connections
    // already gone: none of them started a resync on h2 (marking its copy inconsistent, changing its keeper).
    const starts = (log: string, text: string) => log.split("\n").filter((l) => l.includes('"msg":"mirror resync start"') && l.includes(text)).length;
    expect(starts((h2.proc?.output() ?? "").slice(out2At), "h1 resyncs this copy")).toBeLessThanOrEqual(starts(out1().slice(out1AtRelease), "resync to h2"));
    const all = drops(out1());
    console.info(`applier stopped in system call ${stopped.syscall} on ${stopped.file}; longest stall of the recorder after the stop: ${stall} ms; drops: ${all.map((d) => `+${d.at - all[0]!.at} ms ${d.reconnectInMs} ms: ${d.detail}`).join(" | ")}`);
  }, 400_000);
});
