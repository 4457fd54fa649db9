/**
 * Data generations at the first contact of two new nodes (mirror.ts, rule
 * 7), on the real binary (mirror-lab.ts). Both folders hold files of their
 * own; h1 is the preferred node, so its copy is the source of the first
 * sync. h1 is held out of the module by a wait checker (an interface that
 * does not exist on h1 yet: a veth pair in its namespace), which keeps the moment between the first
 * contact and the first sync open as long as the test needs: the window in
 * which a source that dies leaves its peer with a copy that never received
 * anything.
 * - From the first contact on, h2's copy is inconsistent ("never received
 *   its first sync"): h2 never runs the module on it, neither while h1 is
 *   alive and held, nor after h1's daemon is SIGKILLed and declared dead.
 * - h1 comes back (its checker passing now) and runs; the first sync keeps
 *   h2's own files aside in STATE_DIR/conflicts/vms/TIME/ before replacing
 *   them, h2 says so (FILES KEPT ASIDE AT FIRST SYNC) until `vigil ack`, and
 *   then h2 is an up-to-date SECOND holding h1's files.
 * - forceprim is the operator's way out: on h2, with h1 dead, it serves
 *   h2's folder as the cluster's data, recorded in the copy; h1's return
 *   (h1 never ran) makes h1 the target, its own files kept aside.
 * Fails on builds before rule 7: h2 takes the module over with its own
 * folder while h1 is held, and the first sync removes h2's files unkept.
 * - A typical install, no `prefer:`: h1 (the lower name) is new and empty,
 *   h2 already holds the service's files. h2's copy is the source: h2 runs
 *   and h1 receives h2's files, nothing of h1 kept aside (it had none).
 *   Fails on builds that pick the source by name alone (h1 runs its empty
 *   folder; h2's files are only kept aside).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import { describeLab, labTest, useLab, useRunDirs } from "./lab-test.ts";
import { explainOnFailure, type MirrorLab, startMirrorLab, treeDigest } from "./mirror-lab.ts";
import { isPrimary } from "./arbiter-pair.ts";

const HOLD = "hold0";

describeLab("mirror module: the first contact of two new nodes", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  const runDir = useRunDirs("vigil-mirror-gen-");

  /**
   * Two new nodes with files of their own, h1 held out by its checker, first contact made, then
   * h1's daemon SIGKILLed: h2 waits, past the deadtime, and never ran the module.
   */
  async function sourceDiesBeforeFirstSync(name: string): Promise<MirrorLab> {
    const m = await startMirrorLab({
      lab: lab(),
      dir: runDir(name),
      start: [],
      extraModuleYaml: ["    checkers:", `      - { interface: ${HOLD}, interval: 100ms, fall: 1, rise: 1, on_fail: wait }`],
    });
    onTestFinished(() => m.stopAll());
    // The hosts outlive the test: the next one starts without the interface (deleting one end of a veth pair deletes both).
    onTestFinished(async () => {
      for (const n of ["h1", "h2"] as const) await m.node(n).host.exec(["ip", "link", "del", HOLD]).catch(() => undefined);
    });
    explainOnFailure(m);
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    const own = (n: "h1" | "h2", names: string[]): void => {
      mkdirSync(join(m.data(n), `own-${n}`), { recursive: true });
      for (const f of names) writeFileSync(join(m.data(n), `own-${n}`, f), `${n}'s own ${f}\n`);
    };
    own("h1", ["a", "b"]);
    own("h2", ["c", "d", "e"]);
    // h2 has the interface, so only the mirror's rule can keep it out; h1 does not yet.
    await hold(m, "h2");

    await h1.start();
    await h1.waitModule((x) => x.checkers.some((c) => c.ok === false), "h1's checker fails: h1 is held out", 10_000);
    await h2.start();
    // The first contact: h2's copy is the target of the first sync from the moment the copies are compared.
    const first = await h2.waitModule((x) => x.mirror?.link === "up" && x.mirror.serving !== null && /first sync/.test(x.mirror.serving), "h2's copy waits for its first sync", 15_000);
    expect(first.mirror?.data).toBe("inconsistent");
    expect(first.state).toBe("WAIT");
    // Held there while h1 lives and cannot run: five heartbeat intervals change nothing.
    await new Promise((r) => setTimeout(r, 500));
    expect((await h2.module()).state).toBe("WAIT");

    // The source dies before any sync began; past the deadtime h2 still does not run.
    h1.proc?.kill("SIGKILL");
    await h1.proc?.exited;
    await new Promise((r) => setTimeout(r, 1500));
    const after = await h2.module();
    expect(after.state).toBe("WAIT");
    expect(after.mirror?.serving).toMatch(/never received its first sync from h1/);
    expect(readdirSync(join(m.data("h2"), "own-h2")).sort()).toEqual(["c", "d", "e"]);
    return m;
  }

  const hold = (m: MirrorLab, n: "h1" | "h2"): Promise<unknown> =>
    m.node(n).host.exec(["sh", "-ec", `ip link add ${HOLD} type veth peer name ${HOLD}p && ip link set ${HOLD}p up && ip link set ${HOLD} up`], { check: true });

  function kept(stateDir: string): string {
    const keptRoot = join(stateDir, "conflicts", "vms");
    const times = readdirSync(keptRoot);
    expect(times.length).toBe(1);
    return join(keptRoot, times[0] ?? "");
  }

  labTest("the source dies before the first sync: the new peer never runs on its own copy; the source's return syncs it and keeps its files aside", async () => {
    const m = await sourceDiesBeforeFirstSync("first");
    const [h1, h2] = [m.node("h1"), m.node("h2")];

    // h1 comes back, able to run now: it is still the source, and the first sync keeps h2's files aside.
    await hold(m, "h1");
    await h1.start();
    await h1.waitModule((x) => isPrimary(x.state), "h1 runs vms", 15_000);
    const synced = await h2.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h2 is an up-to-date SECOND after its first sync", 20_000);
    expect(synced.mirror?.keptKind).toBe("first-sync");
    expect(synced.mirror?.splitBrain).toMatch(/held files of its own before its first sync from h1: .* kept in .*conflicts\/vms\//);
    expect(treeDigest(join(m.data("h2"), "own-h1"))).toBe(treeDigest(join(m.data("h1"), "own-h1")));
    expect(readdirSync(m.data("h2"))).not.toContain("own-h2");
    const at = kept(h2.stateDir);
    for (const f of ["c", "d", "e"]) expect(readFileSync(join(at, "own-h2", f), "utf8")).toBe(`h2's own ${f}\n`);
    // h1 gave nothing away: no banner there.
    expect((await h1.module()).mirror?.splitBrain).toBeNull();

    const ack = await h2.cli(["ack", "vms"]);
    expect(ack.code, ack.out).toBe(0);
    expect((await h2.module()).mirror?.splitBrain).toBeNull();
  });

  labTest("forceprim on the new peer: it serves its own folder, recorded; the source's return makes the source the target, its files kept aside", async () => {
    const m = await sourceDiesBeforeFirstSync("forced");
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    const r = await h2.cli(["forceprim", "vms", "--yes"]);
    expect(r.code, r.out).toBe(0);
    const forced = await h2.waitModule((x) => isPrimary(x.state) && x.mirror?.forcedAt !== null, "h2 runs vms on its own folder", 15_000);
    expect(forced.mirror?.data).toBe("uptodate");
    expect(h2.proc?.output()).toMatch(/never received its first sync from h1: its folder becomes the cluster's data/);

    // h1 never ran: its copy is new, h2's holds the data now; h1 is resynced, its own files kept aside.
    await hold(m, "h1");
    await h1.start();
    const back = await h1.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h1 is an up-to-date SECOND", 20_000);
    expect(back.mirror?.keptKind).toBe("first-sync");
    expect(treeDigest(join(m.data("h1"), "own-h2"))).toBe(treeDigest(join(m.data("h2"), "own-h2")));
    expect(readdirSync(m.data("h1"))).not.toContain("own-h1");
    const at = kept(h1.stateDir);
    for (const f of ["a", "b"]) expect(readFileSync(join(at, "own-h1", f), "utf8")).toBe(`h1's own ${f}\n`);
    // The override stays recorded in h2's copy.
    expect((await h2.module()).mirror?.forcedAt).not.toBeNull();
  });

  labTest("no prefer, h1 (the lower name) new and empty, h2 holding files: h2 runs, h1 receives h2's files", async () => {
    const m = await startMirrorLab({ lab: lab(), dir: runDir("content"), start: [] });
    onTestFinished(() => m.stopAll());
    explainOnFailure(m);
    // The lab's config prefers h1: this install says nothing.
    writeFileSync(m.config, readFileSync(m.config, "utf8").replace(/^ {4}prefer: h1\n/m, ""));
    expect(readFileSync(m.config, "utf8")).not.toMatch(/prefer:/);
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    mkdirSync(join(m.data("h2"), "archive", "2026"), { recursive: true });
    for (const f of ["a", "b", "c"]) writeFileSync(join(m.data("h2"), "archive", "2026", f), `h2's data ${f}\n`);
    // An empty tree of directories, as an installed service leaves it: no files.
    mkdirSync(join(m.data("h1"), "archive"), { recursive: true });

    await Promise.all([h1.start(), h2.start()]);
    await h2.waitModule((x) => isPrimary(x.state), "h2 runs vms", 15_000);
    const synced = await h1.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h1 is an up-to-date SECOND after its first sync", 20_000);
    expect(treeDigest(join(m.data("h1"), "archive"))).toBe(treeDigest(join(m.data("h2"), "archive")));
    expect(readFileSync(join(m.data("h1"), "archive", "2026", "b"), "utf8")).toBe("h2's data b\n");
    expect(h1.proc?.output()).toMatch(/h2's is the source of the first sync \(no preferred node: only h2's folders hold files\)/);
    expect(h1.proc?.output()).toMatch(/new copy of \S+ holds no file/);
    // h1 never ran, and had nothing to keep aside: no banner on either node.
    expect(h1.proc?.output()).not.toMatch(/"msg":"module vms [A-Z]+ -> (PRIM|ALONE)"/);
    expect(synced.mirror?.splitBrain).toBeNull();
    const keptRoot = join(h1.stateDir, "conflicts", "vms");
    expect(existsSync(keptRoot) ? readdirSync(keptRoot) : []).toEqual([]);
    expect(h1.proc?.output()).not.toMatch(/kept aside first/);
    expect((await h2.module()).mirror?.splitBrain).toBeNull();
  });
});
