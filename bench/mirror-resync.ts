/**
 * Resync after a part of a tree changed, for bench/mirror.ts: vigil's
 * journal-driven resync of a returning SECOND beside
 * `rsync -a --inplace --no-whole-file` of the same change to a copy of the
 * old tree, over the same link. Time and bytes on the wire (the PRIM host's
 * interface counters, both directions).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MirrorResyncStatus } from "../src/api/modules.ts";
import type { Lab, LabHost, LabProcess } from "../test/lab/lab.ts";
import { wireBytes } from "./mirror-link.ts";
import { app, must, type Target } from "./mirror-measure.ts";
import type { VigilPair } from "./mirror-vigil.ts";

export interface ResyncResult {
  treeBytes: number;
  treeFiles: number;
  changedBytes: number;
  changedFiles: number;
  vigil: {
    /** From starting the SECOND's daemon to both sides replicating again. */
    wallSeconds: number;
    /** The resync's own elapsed time as the PRIM reported it last. */
    resyncSeconds: number | null;
    mode: string | null;
    wireBytes: number;
    reportedBytesSent: number | null;
    copiesEqual: boolean;
  };
  rsync: { seconds: number; wireBytes: number; copiesEqual: boolean };
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

/** rsync --daemon on `host` with `conf`, once it listens. */
async function rsyncDaemon(host: LabHost, dir: string, conf: string, logName: string): Promise<LabProcess> {
  const rlog = join(dir, `${logName}.log`);
  // stdin from /dev/null: on a socket (as a spawn's pipe may be) rsync --daemon serves it in inetd mode instead of listening.
  const daemon = host.spawn(["sh", "-c", `exec rsync --daemon --no-detach --config=${conf} --address=${host.addr(1)} --port=${PORT} --log-file=${rlog} </dev/null`], { logName });
  await daemon.waitFor(() => existsSync(rlog) && readFileSync(rlog, "utf8").includes("listening"), 20_000);
  return daemon;
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
  const t0 = performance.now();
  await pair.start("h2");
  const last = await untilReplicating(pair, t0, "the resync");
  const wall = (performance.now() - t0) / 1000;
  const w1 = await wireBytes(h1);
  const vigilEqual = (await h1.exec(["diff", "-rq", join(pair.data("h1"), "tree"), join(pair.data("h2"), "tree")], { timeoutMs: 300_000 })).code === 0;

  const conf = join(o.dir, "rsyncd.conf");
  writeFileSync(conf, `use chroot = no\nuid = root\ngid = root\n[old]\npath = ${old}\nread only = no\n`);
  const daemon = await rsyncDaemon(h2, o.dir, conf, "rsyncd");
  try {
    const w2 = await wireBytes(h1);
    const t2 = performance.now();
    const r = await h1.exec(["rsync", "-a", "--inplace", "--no-whole-file", `${join(pair.data("h1"), "tree")}/`, `rsync://${h2.addr(1)}:${PORT}/old/`], { timeoutMs: 600_000 });
    const t3 = performance.now();
    if (r.code !== 0) throw new Error(`rsync exited ${String(r.code)}: ${r.stderr.trim()}`);
    const w3 = await wireBytes(h1);
    const rsyncEqual = (await h1.exec(["diff", "-rq", join(pair.data("h1"), "tree"), old], { timeoutMs: 300_000 })).code === 0;
    return {
      treeBytes: built.bytes,
      treeFiles: built.files,
      changedBytes: change.bytes,
      changedFiles: change.files,
      vigil: {
        wallSeconds: wall,
        resyncSeconds: last === null ? null : last.elapsedMs / 1000,
        mode: last?.mode ?? null,
        wireBytes: w1 - w0,
        reportedBytesSent: last?.bytesSent ?? null,
        copiesEqual: vigilEqual,
      },
      rsync: { seconds: (t3 - t2) / 1000, wireBytes: w3 - w2, copiesEqual: rsyncEqual },
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
    /** From starting the empty SECOND's daemon to both sides replicating again. */
    wallSeconds: number;
    resyncSeconds: number | null;
    mode: string | null;
    wireBytes: number;
    copiesEqual: boolean;
  };
  rsync: { seconds: number; wireBytes: number; copiesEqual: boolean };
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
  const t0 = performance.now();
  await pair.start("h2");
  const last = await untilReplicating(pair, t0, "the initial sync");
  const wall = (performance.now() - t0) / 1000;
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
  const daemon = await rsyncDaemon(h2, o.dir, conf, "rsyncd-initial");
  try {
    await must(["sh", "-c", "sync; echo 3 > /proc/sys/vm/drop_caches"], "drop caches");
    const w2 = await wireBytes(h1);
    const t2 = performance.now();
    const r = await h1.exec(["rsync", "-a", `${src}/`, `rsync://${h2.addr(1)}:${PORT}/new/`], { timeoutMs: 600_000 });
    const t3 = performance.now();
    if (r.code !== 0) throw new Error(`rsync exited ${String(r.code)}: ${r.stderr.trim()}`);
    const w3 = await wireBytes(h1);
    const rsyncEqual = (await h1.exec(["diff", "-rq", src, empty], { timeoutMs: 300_000 })).code === 0;
    return {
      treeBytes: built.bytes,
      treeFiles: built.files,
      vigil: {
        wallSeconds: wall,
        resyncSeconds: last === null ? null : last.elapsedMs / 1000,
        mode: last?.mode ?? null,
        wireBytes: w1 - w0,
        copiesEqual: vigilEqual,
      },
      rsync: { seconds: (t3 - t2) / 1000, wireBytes: w3 - w2, copiesEqual: rsyncEqual },
    };
  } finally {
    await daemon.stop(1_000);
    await must(["rm", "-rf", empty], "remove rsync's copy");
  }
}
