/**
 * A mirror node whose state dir is full, on the real binary and real FUSE
 * (mirror-lab.ts): h2's state dir is a small tmpfs, filled to its last page
 * by a file, as a runaway log would fill /var.
 *
 * - While h2 only receives (it is the SECOND), nothing of that fails: h2
 *   applies into its folder, which is not in the state dir, and no
 *   application write on h1 fails (issue #10, point 10).
 * - Then h1's daemon dies. h2, up to date, must take over, and its copy
 *   record (the new gen, "writing") cannot be saved: h2 does not serve,
 *   waits in WAIT and says why in `vigil status`, and starts the module by
 *   itself once the file is removed, with every record h1's recorder was
 *   told was durable.
 * - With h2's copy on the same filesystem as its state dir, the full disk
 *   fails h2's applies: h2 is outdated (though it cannot write that down
 *   yet) and h1 goes on alone, no application write failing. h1 dies: h2
 *   does not take over, not even once space is freed; h1 comes back, runs
 *   and resyncs h2, which then holds every record.
 * - h1 runs alone and its own state dir fills: its ALONE journal cannot
 *   grow, so it is lost (its magic overwritten in place) and the recorder's
 *   writes go on without a failure. h2 comes back: the link comes up and h2
 *   is resynced by a full compare, with every record the recorder was told
 *   was durable. `vigil status` says the journal was lost and that the next
 *   resync compares every file, until that resync emptied it.
 * - h1's state dir is full when its daemon starts and its journal was never
 *   written (empty: the journal's first bytes need room): h1 cannot open
 *   it, waits in WAIT and says why; once space is freed the journal opens
 *   by itself and h2, the last writer, resyncs h1, without a restart
 *   (before, "mirror cannot start" until the daemon was restarted).
 * - h1 comes back while h2 runs the module alone, its state dir full: it
 *   cannot write down that it is outdated and refuses h2's resync (rule 8);
 *   h2 goes on writing alone meanwhile (before, its writes waited for a
 *   resync h1 refused, for as long as h1's state dir stayed full), and h1 is
 *   resynced once space is freed.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import { describeLab, labTest, useLab, useRunDirs } from "./lab-test.ts";
import { copyContents, explainOnFailure, type MirrorLab, type MirrorNode, startMirrorLab } from "./mirror-lab.ts";
import { waitUntil } from "./wait.ts";
import { isPrimary } from "./arbiter-pair.ts";

/** Fills `dir`'s filesystem to its last page with DIR/fill; throws if a 1-byte write still fits. */
function fill(dir: string): void {
  try {
    execFileSync("dd", ["if=/dev/zero", `of=${join(dir, "fill")}`, "bs=1M"], { stdio: "ignore" });
  } catch {
    // dd ends with "No space left on device": what we want.
  }
  const probe = join(dir, "probe");
  let full = false;
  try {
    writeFileSync(probe, "x");
  } catch (e) {
    full = (e as { code?: string }).code === "ENOSPC";
  }
  rmSync(probe, { force: true });
  if (!full) throw new Error(`${dir} is not full after dd`);
}

/** NODE's state dir on a 16 MiB tmpfs of its own, unmounted when the test ends (after the nodes stop). */
function stateDirOnTmpfs(m: MirrorLab, node: MirrorNode): void {
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m,mode=0700", "vigil-lab-state", node.stateDir]);
  onTestFinished(async () => {
    await m.stopAll();
    execFileSync("umount", ["-l", node.stateDir]);
  });
}

/** PRIM replicating to an up-to-date SECOND. */
async function inSync(prim: MirrorNode, second: MirrorNode): Promise<void> {
  await prim.waitModule((x) => isPrimary(x.state) && x.mirror?.writes === "replicate", `${prim.name} runs vms and replicates`, 30_000);
  await second.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", `${second.name} is an up-to-date SECOND`, 30_000);
}

/** Waits until NODE's recorder has acknowledged more than COUNT records. */
async function ackedOver(m: MirrorLab, node: MirrorNode["name"], count: number, what: string): Promise<void> {
  await waitUntil(() => m.acked(node).records.length > count, { timeoutMs: 60_000, intervalMs: 100, what: `${node}'s recorder acknowledged ${what}` });
}

/**
 * A mirror lab on LAB in DIR, SETUP done before its nodes start (their state dirs on
 * small file systems), then h1 replicating to an up-to-date h2 with 20 records
 * acknowledged.
 */
async function pairInSync(lab: Parameters<typeof startMirrorLab>[0]["lab"], dir: string, setup: (m: MirrorLab, h1: MirrorNode, h2: MirrorNode) => void): Promise<{ m: MirrorLab; h1: MirrorNode; h2: MirrorNode }> {
  const m = await startMirrorLab({ lab, dir, start: [] });
  const [h1, h2] = [m.node("h1"), m.node("h2")];
  setup(m, h1, h2);
  explainOnFailure(m);
  await Promise.all([h1.start(), h2.start()]);
  await inSync(h1, h2);
  await ackedOver(m, "h1", 20, "20 records");
  return { m, h1, h2 };
}

/** Every record and segment FROM's recorder had acknowledged is on TO's copy, whole. */
function expectNothingLost(m: MirrorLab, from: MirrorNode["name"], to: MirrorNode["name"]): void {
  const promised = m.acked(from);
  const copy = copyContents(m.data(to));
  expect(promised.records.filter((n) => !copy.records.has(n)), `records acknowledged on ${from} and missing on ${to}`).toEqual([]);
  expect(promised.segments.filter((n) => copy.segments.get(n) !== n % 251), `segments acknowledged on ${from} and missing or damaged on ${to}`).toEqual([]);
}

describeLab("mirror module: a full state dir", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  const runDir = useRunDirs("vigil-mirror-full-");

  labTest("full while receiving: no write fails; the PRIM dies: the SECOND waits saying why, and takes over by itself once space is freed, losing nothing", async () => {
    const { m, h1, h2 } = await pairInSync(lab(), runDir("full"), (m, _h1, h2) => stateDirOnTmpfs(m, h2));

    fill(h2.stateDir);
    // Receiving on a full state dir: the recorder goes on, h2 applies and stays in sync.
    const before = m.acked("h1").records.length;
    await ackedOver(m, "h1", before + 40, "40 more records");
    expect(readFileSync(join(m.dir, "acked-h1.log"), "utf8")).not.toMatch(/^error/m);
    expect((await h1.module()).mirror?.writes).toBe("replicate");
    const second = await h2.module();
    expect(second.state).toBe("SECOND");
    expect(second.mirror?.data).toBe("uptodate");

    h1.proc?.kill("SIGKILL");
    const waiting = await h2.waitModule((x) => x.state === "WAIT" && /ENOSPC/.test(x.mirror?.serving ?? ""), "h2 waits: its copy record cannot be saved", 15_000);
    expect(waiting.mirror?.serving).toMatch(/^cannot take over: copy record not saved \(state dir .*state-h2 full \(ENOSPC\)\); retrying every 1 s$/);
    expect(waiting.why?.reason ?? waiting.lastTransition?.reason).toBe("data-not-current");
    expect(waiting.blocked).toBeNull();
    const text = await h2.cli(["status"]);
    expect(text.out).toMatch(/cannot take over: copy record not saved/);
    await h2.proc?.waitFor(/"msg":"mirror record unsaved"/, 5_000);
    // It stays so while the disk is full: the service never starts on h2 meanwhile.
    await new Promise((r) => setTimeout(r, 3000));
    const still = await h2.module();
    expect(still.state).toBe("WAIT");
    expect(existsSync(join(m.dir, "acked-h2.log"))).toBe(false);

    rmSync(join(h2.stateDir, "fill"));
    await h2.waitModule((x) => isPrimary(x.state) && x.mirror?.serving === null, "h2 takes vms over by itself", 20_000);
    await h2.proc?.waitFor(/"msg":"mirror record saved"/, 5_000);
    await ackedOver(m, "h2", 5, "5 records");

    expectNothingLost(m, "h1", "h2");
    expect(readFileSync(join(m.dir, "acked-h2.log"), "utf8")).not.toMatch(/^error/m);
  }, 120_000);

  labTest("copy and state dir on one full filesystem: h2 is outdated and h1 goes on alone, no write failing; h1 dies: h2 never takes over; h1 returns and resyncs it", async () => {
    let fs = "";
    const { m, h1, h2 } = await pairInSync(lab(), runDir("shared"), (m, _h1, h2) => {
      fs = join(m.dir, "h2-fs");
      mkdirSync(fs);
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=32m,mode=0700", "vigil-lab-h2", fs]);
      mkdirSync(join(fs, "state"), { mode: 0o700 });
      mkdirSync(join(fs, "data"));
      execFileSync("mount", ["--bind", join(fs, "state"), h2.stateDir]);
      execFileSync("mount", ["--bind", join(fs, "data"), m.data("h2")]);
      onTestFinished(async () => {
        await m.stopAll();
        for (const d of [h2.stateDir, m.data("h2"), fs]) execFileSync("umount", ["-l", d]);
      });
    });

    fill(fs);
    // The next op that needs a page fails on h2 (a segment every 20 records does): h1 goes on alone.
    const alone = await h1.waitModule((x) => x.mirror?.writes === "alone", "h1 writes alone", 30_000);
    expect(alone.state).toBe("PRIM");
    const outdated = await h2.waitModule((x) => x.state === "WAIT" && x.mirror?.data === "outdated", "h2 is outdated", 15_000);
    expect(outdated.mirror?.serving).toMatch(/cannot take over: copy record not saved \(state dir .* full \(ENOSPC\)\)/);
    const before = m.acked("h1").records.length;
    await ackedOver(m, "h1", before + 40, "40 more records alone");
    expect(readFileSync(join(m.dir, "acked-h1.log"), "utf8")).not.toMatch(/^error/m);

    h1.proc?.kill("SIGKILL");
    await h1.proc?.exited;
    // h2 misses what h1 acknowledged alone: it never takes over, full or not.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await h2.module()).state).toBe("WAIT");
    rmSync(join(fs, "fill"));
    const saved = await h2.waitModule((x) => x.mirror?.serving !== null && !/copy record not saved/.test(x.mirror?.serving ?? ""), "h2 saved its record", 15_000);
    expect(saved.state).toBe("WAIT");
    expect(saved.mirror?.serving).toMatch(/outdated/);
    await new Promise((r) => setTimeout(r, 2000));
    expect((await h2.module()).state).toBe("WAIT");
    expect(existsSync(join(m.dir, "acked-h2.log"))).toBe(false);

    // h1, the last writer, comes back, runs and resyncs h2.
    await h1.start();
    await h1.waitModule((x) => isPrimary(x.state), "h1 runs vms again", 30_000);
    await h2.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h2 resynced from h1", 60_000);
    expectNothingLost(m, "h1", "h2");
  }, 180_000);

  labTest("h1 alone with a full state dir loses its journal, no write failing: h2 comes back, is resynced by a full compare, losing nothing", async () => {
    const { m, h1, h2 } = await pairInSync(lab(), runDir("journal"), (m, h1) => stateDirOnTmpfs(m, h1));
    h2.proc?.kill("SIGKILL");
    await h2.proc?.exited;
    await h1.waitModule((x) => x.mirror?.writes === "alone", "h1 writes alone", 15_000);
    const before = m.acked("h1").records.length;
    await ackedOver(m, "h1", before + 20, "20 records alone");

    fill(h1.stateDir);
    const acked = join(m.dir, "acked-h1.log");
    const journal = join(h1.stateDir, "mirror", "vms", "alone.journal");
    await waitUntil(() => readFileSync(journal).subarray(0, 8).toString() === "VIGILJLS", { timeoutMs: 90_000, intervalMs: 200, what: "h1's journal could not grow and is lost" });
    const lostAt = m.acked("h1").records.length;
    await ackedOver(m, "h1", lostAt + 20, "20 records with its journal lost");
    expect(readFileSync(acked, "utf8")).not.toMatch(/^error/m);
    // The operator sees it, and what it costs: the next resync compares every file.
    expect((await h1.module()).mirror?.journalLost).toMatch(/^the journal could not be written: .*ENOSPC.*: the next resync to h2 compares every file/);
    const shown = await h1.cli(["status"]);
    expect(shown.out).toMatch(/^\s*ALONE journal lost: the journal could not be written: .*ENOSPC.*: the next resync to h2 compares every file/m);

    await h2.start();
    rmSync(join(h1.stateDir, "fill"));
    await h2.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h2 resynced from h1", 90_000);
    expect((await h1.module()).state).toBe("PRIM");
    // The resync emptied the journal (it may still be ending on h1's side when h2 says it is in sync).
    await h1.waitModule((x) => x.mirror?.journalLost === null, "h1's journal holds the changes again", 30_000);
    // (The event of the loss stays in the recent events `vigil status` lists; the module's line is gone.)
    expect((await h1.cli(["status"])).out).not.toMatch(/^\s*ALONE journal lost: /m);
    expectNothingLost(m, "h1", "h2");
  }, 180_000);

  labTest("h1 starts on a full state dir with a journal never written: it waits saying why, its journal opens by itself once space is freed, and h1 is resynced, without a restart", async () => {
    const { m, h1, h2 } = await pairInSync(lab(), runDir("unopened"), (m, h1) => stateDirOnTmpfs(m, h1));
    // Clean stops: h2 takes the module over and writes alone, then stops too, the last writer.
    h1.proc?.kill("SIGTERM");
    await h1.proc?.exited;
    await h2.waitModule((x) => isPrimary(x.state) && x.mirror?.writes === "alone", "h2 runs vms alone", 30_000);
    await ackedOver(m, "h2", 10, "10 records");
    h2.proc?.kill("SIGTERM");
    await h2.proc?.exited;

    // h1's journal held only its magic (it was in sync when it stopped): empty now, as a daemon leaves it
    // that created it on a full state dir and could not write its first bytes. One page is left, which
    // the daemon's lock file takes (a daemon does not start on a state dir with no room at all): the
    // journal is what finds the state dir full, as after a reload that adds a mirror module.
    const journal = join(h1.stateDir, "mirror", "vms", "alone.journal");
    writeFileSync(journal, "");
    writeFileSync(join(h1.stateDir, "spare"), Buffer.alloc(4096, 1));
    fill(h1.stateDir);
    rmSync(join(h1.stateDir, "spare"));
    await h1.start();
    const reason = /^cannot take over: the ALONE journal cannot be opened \(state dir [^ ]+ full \(ENOSPC\)\); retrying every 1 s$/;
    const waiting = await h1.waitModule((x) => reason.test(x.mirror?.serving ?? ""), "h1 says its journal cannot be opened", 30_000);
    expect(waiting.state).not.toMatch(/PRIM|ALONE/);
    expect((await h1.cli(["status"])).out).toMatch(/not served here: cannot take over: the ALONE journal cannot be opened \(state dir [^ ]+ full \(ENOSPC\)\)/);
    // Still so a few retries later: it waits, it does not give up.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await h1.module()).mirror?.serving).toMatch(reason);

    rmSync(join(h1.stateDir, "fill"));
    await h1.waitModule((x) => !/journal/.test(x.mirror?.serving ?? ""), "h1's journal opened once space was freed", 30_000);
    expect(h1.proc?.output()).toMatch(/"msg":"mirror journal opened"/);
    expect(readFileSync(journal).subarray(0, 8).toString()).toBe("VIGILJ01");
    // h2, the last writer, comes back, runs the module and resyncs h1.
    await h2.start();
    await h1.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up" && x.mirror.serving === null, "h1 resynced from h2", 90_000);
    expect(readFileSync(join(m.dir, "acked-h2.log"), "utf8")).not.toMatch(/^error/m);
    expectNothingLost(m, "h2", "h1");
  }, 180_000);
  labTest("h1 returns on a full state dir while h2 runs alone: h2 goes on writing, not waiting for h1; h1 is resynced once space is freed", async () => {
    const { m, h1, h2 } = await pairInSync(lab(), runDir("returning"), (m, h1) => stateDirOnTmpfs(m, h1));
    h1.proc?.kill("SIGTERM");
    await h1.proc?.exited;
    await h2.waitModule((x) => isPrimary(x.state) && x.mirror?.writes === "alone", "h2 runs vms alone", 30_000);
    // One page left for h1's lock file; its copy record, which must say "outdated" once it meets h2, has none.
    writeFileSync(join(h1.stateDir, "spare"), Buffer.alloc(4096, 1));
    fill(h1.stateDir);
    rmSync(join(h1.stateDir, "spare"));
    await h1.start();
    await h1.waitModule((x) => x.mirror?.link === "up" && /copy record not saved/.test(x.mirror.serving ?? ""), "h1 met h2 and cannot save its record", 30_000);
    const meanwhile = m.acked("h2").records.length;
    await ackedOver(m, "h2", meanwhile + 20, "20 more records while h1 is full");
    const alone = await h2.module();
    expect(alone.mirror?.writes).toBe("alone");
    expect(alone.mirror?.peerData).toBe("outdated");
    rmSync(join(h1.stateDir, "fill"));
    await h1.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h1 resynced from h2", 90_000);
    expect(readFileSync(join(m.dir, "acked-h2.log"), "utf8")).not.toMatch(/^error/m);
    expectNothingLost(m, "h2", "h1");
  }, 180_000);
});
