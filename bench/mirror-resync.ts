/**
 * Resync after a part of a tree changed, for bench/mirror.ts: vigil's
 * journal-driven resync of a returning SECOND beside
 * `rsync -a --inplace --no-whole-file` of the same change to a copy of the
 * old tree, over the same link. Time and bytes on the wire (the PRIM host's
 * interface counters, both directions). Both times run from starting the
 * receiving side's daemon (vigil's SECOND, rsync --daemon) to the copy being
 * there, so each includes its daemon's start and its connection.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MirrorResyncStatus } from "../src/api/modules.ts";
import type { Lab, LabHost, LabProcess } from "../test/lab/lab.ts";
import { sampleThreads, threadDelta, totalMs } from "./lib/thread-cpu.ts";
import { wireBytes } from "./mirror-link.ts";
import { app, must, type Target } from "./mirror-measure.ts";
import type { VigilPair } from "./mirror-vigil.ts";

export interface ResyncResult {
  treeBytes: number;
  treeFiles: number;
  changedBytes: number;
  changedFiles: number;
  vigil: {
    /** From starting the SECOND's daemon to the PRIM logging the resync done. */
    wallSeconds: number;
    /** The same until the bench's status poll saw both sides replicating again (the poll's slack included). */
    polledSeconds: number;
    /** The resync's own elapsed time as the PRIM reported it last. */
    resyncSeconds: number | null;
    mode: string | null;
    wireBytes: number;
    reportedBytesSent: number | null;
    copiesEqual: boolean;
    cpu: VigilCpu;
    passes?: VigilPasses;
  };
  /** `seconds` from starting rsync's daemon on the receiving side, as vigil's. */
  rsync: RsyncFigures;
}

/** The PRIM's "mirror resync pass ended" lines of one measurement: passes that failed (the resync then starts over) and the last pass's time by phase. */
export interface VigilPasses {
  failed: number;
  /** As logged, e.g. "scanning 410, namespace 2, data 5210, metadata 880". */
  lastPhaseMs: string | null;
  /** Why each failed: the failed passes' times by phase and the PRIM's "mirror resync failed" details, and the SECOND's lines of a link dropped for silence. */
  why?: string[];
  /**
   * Each daemon's own lateness and peer changes in the 2 s before each link
   * dropped for silence: the heartbeat's "ran late" lines (gap and credited
   * ms) and its peer state changes, so a drop reads as the PRIM silent (the
   * SECOND heard no heartbeat either) or the SECOND's own loop late.
   */
  around?: string[];
  /** Each daemon's heartbeat "ran late" lines over the measurement: how many, and the longest gap and credit (ms). */
  late?: { prim: { count: number; maxGapMs: number; maxCreditedMs: number }; second: { count: number; maxGapMs: number; maxCreditedMs: number } };
}

/** CPU ms of each daemon's threads by name (bench/lib/thread-cpu.ts), from the SECOND's start to both sides replicating. */
export interface VigilCpu {
  primMs: Record<string, number>;
  secondMs: Record<string, number>;
  primTotalMs: number;
  secondTotalMs: number;
}

export interface RsyncFigures {
  seconds: number;
  wireBytes: number;
  copiesEqual: boolean;
  /** CPU ms of rsync's sending client (h1) and of its daemon with the children it reaped (h2). */
  cpu: { senderMs: number; receiverMs: number };
  /**
   * From the same start until rsync's copy is on disk (its client's exit, then `sync -f` of the copy):
   * vigil's pass ends with the copy synced, rsync exits with it in the page cache.
   */
  durableSeconds?: number;
}

const PORT = "8730";

/** Polls both daemons from t0 until the PRIM replicates with no resync running and the SECOND is up to date; the PRIM's last resync status. */
async function untilReplicating(pair: VigilPair, t0: number, what: string): Promise<MirrorResyncStatus | null> {
  let last: MirrorResyncStatus | null = null;
  for (;;) {
    const [m1, m2] = await Promise.all([pair.module("h1").catch(() => null), pair.module("h2").catch(() => null)]);
    if (m1?.mirror?.resync) last = m1.mirror.resync;
    const primOk = m1 !== null && m1.mirror?.writes === "replicate" && (m1.mirror.resync === null || m1.mirror.resync.phase === "done");
    const secOk = m2 !== null && m2.state === "SECOND" && m2.mirror?.data === "uptodate" && m2.mirror.link === "up";
    if (primOk && secOk) return last;
    if (performance.now() - t0 > 600_000) throw new Error(`${what} did not end within 10 minutes; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function passesSince(prim: string, second: string, since: number): VigilPasses {
  const out: VigilPasses = { failed: 0, lastPhaseMs: null, why: [] };
  const lines = (log: string, test: (line: string) => boolean): { time: string; msg: string; completed?: string; ms?: string; detail?: string }[] =>
    log.split("\n").filter(test).flatMap((line) => {
      try {
        const l = JSON.parse(line) as { time: string; msg: string; completed?: string; ms?: string; detail?: string };
        return Date.parse(l.time) >= since ? [l] : [];
      } catch {
        return []; // a line cut short: not the one
      }
    });
  for (const l of lines(prim, (x) => x.includes('"msg":"mirror resync pass ended"'))) {
    if (l.completed === "false") {
      out.failed++;
      out.why!.push(`PRIM ${l.time.slice(11, 23)}: a pass ended incomplete after ${l.ms ?? "-"} (ms)`);
    }
    out.lastPhaseMs = l.ms ?? null;
  }
  for (const l of lines(prim, (x) => x.includes('"msg":"mirror resync failed"'))) out.why!.push(`PRIM ${l.time.slice(11, 23)}: ${l.detail ?? l.msg}`);
  const drops: number[] = [];
  for (const [who, log] of [["PRIM", prim], ["SECOND", second]] as const) {
    for (const l of lines(log, (x) => x.includes("nothing heard from"))) {
      if (who === "SECOND") out.why!.push(`SECOND ${l.time.slice(11, 23)}: ${l.detail ?? l.msg}`);
      drops.push(Date.parse(l.time));
    }
  }
  const near = (t: number): boolean => drops.some((d) => t <= d + 100 && t >= d - 2000);
  const late = { prim: { count: 0, maxGapMs: 0, maxCreditedMs: 0 }, second: { count: 0, maxGapMs: 0, maxCreditedMs: 0 } };
  for (const [l, log] of [[late.prim, prim], [late.second, second]] as const) {
    for (const x of lines(log, (line) => line.includes("ran late"))) {
      const r = x as { gap_ms?: number; credited_ms?: number };
      l.count++;
      l.maxGapMs = Math.max(l.maxGapMs, r.gap_ms ?? 0);
      l.maxCreditedMs = Math.max(l.maxCreditedMs, r.credited_ms ?? 0);
    }
  }
  out.late = late;
  const around: { at: number; text: string }[] = [];
  for (const [who, log] of [["PRIM", prim], ["SECOND", second]] as const) {
    for (const line of log.split("\n")) {
      if (!line.includes("ran late") && !/"msg":"(peer \w+ (late|dead|up)|link \d+ to \w+ )/.test(line)) continue;
      try {
        const l = JSON.parse(line) as { time: string; msg: string; gap_ms?: number; credited_ms?: number };
        const at = Date.parse(l.time);
        if (at < since || !near(at)) continue;
        const what = l.gap_ms !== undefined ? `ran late: gap ${l.gap_ms} ms, credited ${l.credited_ms ?? "-"} ms` : l.msg;
        around.push({ at, text: `${who} ${l.time.slice(11, 23)}: ${what}` });
      } catch {
        // a line cut short
      }
    }
  }
  if (drops.length > 0) out.around = around.sort((a, b) => a.at - b.at).map((a) => a.text);
  return out;
}

/**
 * When the PRIM's daemon last logged `msg` (its JSON log's time, ms), at or
 * after `since` (ms since the epoch): the end of a resync as the daemon saw
 * it, without the poll's slack.
 */
function loggedAt(log: string, msg: string, since: number): number | null {
  let at: number | null = null;
  for (const line of log.split("\n")) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    try {
      const t = Date.parse((JSON.parse(line) as { time: string }).time);
      if (t >= since) at = t;
    } catch {
      // a line cut short: not the one
    }
  }
  return at;
}

/**
 * rsync of `src` to module `module` of a daemon started now on `h2`, timed
 * like vigil's side: from starting the receiving daemon to the copy being
 * there. The client tries again while the daemon does not listen yet
 * (rsync's exit code 10: error in socket I/O, before any file is sent).
 */
async function rsyncFromDaemonStart(h1: LabHost, h2: LabHost, dir: string, conf: string, logName: string, args: string[], dest: string, local: string): Promise<{ seconds: number; durableSeconds: number; daemon: LabProcess; senderMs: number }> {
  const rlog = join(dir, `${logName}.log`);
  const t0 = performance.now();
  const daemon = h2.spawn(["sh", "-c", `exec rsync --daemon --no-detach --config=${conf} --address=${h2.addr(1)} --port=${PORT} --log-file=${rlog} </dev/null`], { logName });
  const loop = `for i in $(seq 2000); do rsync ${args.join(" ")} ${dest} 2>/tmp/.rsync-err-$$; rc=$?; [ $rc -ne 10 ] && { cat /tmp/.rsync-err-$$ >&2; rm -f /tmp/.rsync-err-$$; exit $rc; }; sleep 0.005; done; cat /tmp/.rsync-err-$$ >&2; rm -f /tmp/.rsync-err-$$; exit 10`;
  // `times` after the loop: the CPU of the shell's children (the rsync clients).
  const r = await h1.exec(["sh", "-c", `(${loop}); rc=$?; times >&2; exit $rc`], { timeoutMs: 600_000 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.code !== 0) {
    await daemon.stop(1_000);
    throw new Error(`rsync exited ${String(r.code)}: ${r.stderr.trim()}`);
  }
  await must(["sync", "-f", local], "sync rsync's copy");
  const durableSeconds = (performance.now() - t0) / 1000;
  return { seconds, durableSeconds, daemon, senderMs: childTimesMs(r.stderr) };
}

/** The children's user + system time from the last line of sh's `times` ("0m1.230s 0m0.450s"), ms. */
function childTimesMs(stderr: string): number {
  const last = stderr.trim().split("\n").at(-1) ?? "";
  const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(last);
  if (m === null) return NaN;
  return (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000;
}

/** CPU ms of a running process with the children it has reaped (utime, stime, cutime, cstime). */
function reapedCpuMs(pid: number): number {
  const t = sampleThreads(pid);
  let ms = 0;
  for (const v of t.values()) ms += v.ms;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ms += (Number(f[13]) + Number(f[14])) * 10;
  } catch {
    return NaN;
  }
  return ms;
}


/**
 * Starts the SECOND's daemon and waits until both sides replicate again.
 * `wall` runs from the start to the PRIM's "mirror resync done" (its log's
 * time), as rsync's runs from starting its daemon to the client's exit.
 */
async function timeVigil(pair: VigilPair, what: string): Promise<{ wall: number; polled: number; last: MirrorResyncStatus | null; cpu: VigilCpu; passes: VigilPasses }> {
  const started = Date.now();
  const prim0 = sampleThreads(pair.pid("h1"));
  const t0 = performance.now();
  await pair.start("h2");
  const last = await untilReplicating(pair, t0, what);
  const polled = (performance.now() - t0) / 1000;
  const primMs = threadDelta(prim0, sampleThreads(pair.pid("h1")));
  const secondMs = threadDelta(new Map(), sampleThreads(pair.pid("h2")));
  const cpu = { primMs, secondMs, primTotalMs: totalMs(primMs), secondTotalMs: totalMs(secondMs) };
  const doneAt = loggedAt(pair.output("h1"), "mirror resync done", started);
  if (doneAt === null) {
    const tail = pair.output("h1").split("\n").filter((l) => l.includes('"msg":"mirror')).slice(-12).join("\n");
    throw new Error(`${what}: the PRIM never logged "mirror resync done"; its last mirror lines:\n${tail}`);
  }
  return { wall: (doneAt - started) / 1000, polled, last, cpu, passes: passesSince(pair.output("h1"), pair.output("h2"), started) };
}

export async function measureResync(o: { lab: Lab; pair: VigilPair; prim: Target; dir: string; files: number; mib: number; fraction: number }): Promise<ResyncResult> {
  const { lab, pair, prim } = o;
  const [h1, h2] = [lab.host("h1"), lab.host("h2")];
  const tree = `${prim.dir}/tree`;
  await must([...prim.enter(), "mkdir", "-p", tree], "mkdir tree");
  const built = await app<{ files: number; bytes: number }>(prim, ["tree", tree, String(o.files), String(o.mib)], "write the tree");
  await pair.stop("h2");
  await pair.waitAlone();
  // The old tree for rsync: what the SECOND holds now.
  mkdirSync(o.dir, { recursive: true });
  const old = join(o.dir, "rsync-old");
  await must(["cp", "-a", join(pair.data("h2"), "tree"), old], "copy the old tree");
  // The copy is the bench's, not the scenario's: written out now, so neither side's sync pays for it.
  await must(["sync"], "write the old tree's copy out");
  const change = await app<{ bytes: number; files: number }>(prim, ["change", tree, String(o.fraction), "42"], "change the tree");

  const w0 = await wireBytes(h1);
  const { wall, polled, last, cpu, passes } = await timeVigil(pair, "the resync");
  const w1 = await wireBytes(h1);
  const vigilEqual = (await h1.exec(["diff", "-rq", join(pair.data("h1"), "tree"), join(pair.data("h2"), "tree")], { timeoutMs: 300_000 })).code === 0;

  const conf = join(o.dir, "rsyncd.conf");
  writeFileSync(conf, `use chroot = no\nuid = root\ngid = root\n[old]\npath = ${old}\nread only = no\n`);
  const w2 = await wireBytes(h1);
  const { seconds: rsyncSeconds, durableSeconds, daemon, senderMs } = await rsyncFromDaemonStart(h1, h2, o.dir, conf, "rsyncd", ["-a", "--inplace", "--no-whole-file", `${join(pair.data("h1"), "tree")}/`], `rsync://${h2.addr(1)}:${PORT}/old/`, old);
  try {
    const w3 = await wireBytes(h1);
    const rsyncEqual = (await h1.exec(["diff", "-rq", join(pair.data("h1"), "tree"), old], { timeoutMs: 300_000 })).code === 0;
    return {
      treeBytes: built.bytes,
      treeFiles: built.files,
      changedBytes: change.bytes,
      changedFiles: change.files,
      vigil: {
        wallSeconds: wall,
        polledSeconds: polled,
        resyncSeconds: last === null ? null : last.elapsedMs / 1000,
        mode: last?.mode ?? null,
        wireBytes: w1 - w0,
        reportedBytesSent: last?.bytesSent ?? null,
        copiesEqual: vigilEqual,
        cpu,
        passes,
      },
      rsync: { seconds: rsyncSeconds, wireBytes: w3 - w2, copiesEqual: rsyncEqual, cpu: { senderMs, receiverMs: reapedCpuMs(daemon.pid) }, durableSeconds },
    };
  } finally {
    await daemon.stop(1_000);
    await must(["rm", "-rf", old], "remove the old tree");
  }
}

export interface InitialSyncResult {
  treeBytes: number;
  treeFiles: number;
  vigil: {
    /** From starting the empty SECOND's daemon to the PRIM logging the resync done. */
    wallSeconds: number;
    /** The same until the bench's status poll saw both sides replicating again (the poll's slack included). */
    polledSeconds: number;
    resyncSeconds: number | null;
    mode: string | null;
    wireBytes: number;
    copiesEqual: boolean;
    cpu: VigilCpu;
    passes?: VigilPasses;
  };
  /** `seconds` from starting rsync's daemon on the receiving side, as vigil's. */
  rsync: RsyncFigures;
}

/**
 * A full initial sync: the SECOND's daemon is stopped, its copy and its
 * state (copy record, gens) wiped, as a new or replaced node; then started.
 * Beside it `rsync -a` of the same tree into an empty folder over the link.
 */
export async function measureInitialSync(o: { lab: Lab; pair: VigilPair; prim: Target; dir: string; files: number; mib: number; treeBuilt: boolean }): Promise<InitialSyncResult> {
  const { lab, pair, prim } = o;
  const [h1, h2] = [lab.host("h1"), lab.host("h2")];
  const tree = `${prim.dir}/tree`;
  let built = { files: 0, bytes: 0 };
  if (!o.treeBuilt) {
    await must([...prim.enter(), "mkdir", "-p", tree], "mkdir tree");
    built = await app<{ files: number; bytes: number }>(prim, ["tree", tree, String(o.files), String(o.mib)], "write the tree");
  }
  await pair.waitSync(120_000);
  await pair.stop("h2");
  await pair.waitAlone();
  await must(["sh", "-c", `rm -rf ${pair.data("h2")}/* ${pair.data("h2")}/.[!.]* ${pair.stateDir("h2")}`], "wipe the SECOND's copy and state");
  // The page cache would flatter the second reader of the tree (rsync): both start cold.
  await must(["sh", "-c", "sync; echo 3 > /proc/sys/vm/drop_caches"], "drop caches");
  const w0 = await wireBytes(h1);
  const { wall, polled, last, cpu, passes } = await timeVigil(pair, "the initial sync");
  const w1 = await wireBytes(h1);
  const src = join(pair.data("h1"), "tree");
  const vigilEqual = (await h1.exec(["diff", "-rq", src, join(pair.data("h2"), "tree")], { timeoutMs: 300_000 })).code === 0;
  if (built.files === 0) {
    const r = await must(["sh", "-c", `find ${src} -type f | wc -l; du -sb ${src} | cut -f1`], "measure the tree");
    const [files, bytes] = r.stdout.trim().split("\n").map(Number);
    built = { files: files ?? 0, bytes: bytes ?? 0 };
  }

  mkdirSync(o.dir, { recursive: true });
  const empty = join(o.dir, "rsync-new");
  mkdirSync(empty, { recursive: true });
  const conf = join(o.dir, "rsyncd.conf");
  writeFileSync(conf, `use chroot = no\nuid = root\ngid = root\n[new]\npath = ${empty}\nread only = no\n`);
  await must(["sh", "-c", "sync; echo 3 > /proc/sys/vm/drop_caches"], "drop caches");
  const w2 = await wireBytes(h1);
  const { seconds: rsyncSeconds, durableSeconds, daemon, senderMs } = await rsyncFromDaemonStart(h1, h2, o.dir, conf, "rsyncd-initial", ["-a", `${src}/`], `rsync://${h2.addr(1)}:${PORT}/new/`, empty);
  try {
    const w3 = await wireBytes(h1);
    const rsyncEqual = (await h1.exec(["diff", "-rq", src, empty], { timeoutMs: 300_000 })).code === 0;
    return {
      treeBytes: built.bytes,
      treeFiles: built.files,
      vigil: {
        wallSeconds: wall,
        polledSeconds: polled,
        resyncSeconds: last === null ? null : last.elapsedMs / 1000,
        mode: last?.mode ?? null,
        wireBytes: w1 - w0,
        copiesEqual: vigilEqual,
        cpu,
        passes,
      },
      rsync: { seconds: rsyncSeconds, wireBytes: w3 - w2, copiesEqual: rsyncEqual, cpu: { senderMs, receiverMs: reapedCpuMs(daemon.pid) }, durableSeconds },
    };
  } finally {
    await daemon.stop(1_000);
    await must(["rm", "-rf", empty], "remove rsync's copy");
  }
}
