/**
 * `exclude:` on the real thing: names matched by the module's patterns are
 * served on the PRIM but never reach the SECOND, and are not compared by
 * `vigil verify`. The recorder (mirror-lab.ts) writes each segment under
 * `.tmp-N` and renames it into place, so with `.tmp-*` excluded every
 * segment enters the copy from an excluded name: it must arrive whole.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import { describeLab, labTest, useLab, useRunDirs } from "./lab-test.ts";
import { copyContents, startMirrorLab } from "./mirror-lab.ts";
import { waitUntil } from "./lab.ts";
import { isPrimary } from "./arbiter-pair.ts";

describeLab("mirror module: excluded names", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  const runDir = useRunDirs("vigil-mirror-exclude-");

  labTest("excluded files and folders stay on the PRIM; what is renamed from an excluded name into the copy arrives whole; verify ignores them", async () => {
    const m = await startMirrorLab({ lab: lab(), dir: runDir("x"), extraModuleYaml: ['    exclude: [".tmp-*", cache]'] });
    onTestFinished(() => m.stopAll());
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await h1.waitModule((x) => isPrimary(x.state) && x.mirror?.writes === "replicate", "h1 runs vms and replicates", 30_000);
    await h2.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h2 is an up-to-date SECOND", 30_000);

    // As the service sees the folder on h1 (its daemon's mount namespace, FUSE mounted in place).
    const srv = join(m.dir, "srv");
    const pid = h1.proc?.pid;
    if (pid === undefined) throw new Error("h1's daemon has no pid");
    await h1.host.exec(["nsenter", "-t", String(pid), "-m", "sh", "-ec", [
      `mkdir -p ${srv}/cache/sub`,
      `head -c 100000 /dev/urandom > ${srv}/cache/sub/blob`,
      `echo local > ${srv}/notes.tmp-1`,
      `echo kept > ${srv}/kept.txt`,
      `mkdir ${srv}/staged.tmp-2 && echo inner > ${srv}/staged.tmp-2/f && echo x > ${srv}/staged.tmp-2/y.tmp-3`,
      `mv ${srv}/staged.tmp-2 ${srv}/staged`,
    ].join("\n")], { check: true });
    await waitUntil(() => m.acked("h1").segments.length >= 3, { timeoutMs: 30_000, what: "three segments written through .tmp-N names" });
    await m.stopRecorder("h1");
    await h1.waitModule((x) => x.mirror?.waitingOps === 0, "no write waiting");

    const on2 = m.data("h2");
    const names = execFileSync("find", [on2, "-mindepth", "1", "-printf", "%P\n"], { encoding: "utf8" }).split("\n").filter(Boolean);
    expect(names.filter((n) => /(^|\/)(cache|\.tmp-[^/]*|\.vigil-staging-[^/]*)$/.test(n))).toEqual([]);
    expect(readFileSync(join(on2, "kept.txt"), "utf8")).toBe("kept\n");
    expect(readFileSync(join(on2, "staged", "f"), "utf8")).toBe("inner\n");
    const promised = m.acked("h1").segments;
    const have = copyContents(on2).segments;
    expect(promised.filter((n) => have.get(n) !== n % 251)).toEqual([]);
    // The excluded entries are on h1's copy, and verify does not count them as differences.
    expect(existsSync(join(m.data("h1"), "cache", "sub", "blob"))).toBe(true);
    const v = await h1.cli(["verify", "vms"]);
    expect(v.code, v.out).toBe(0);
    expect(v.out).toMatch(/the copies are identical/);

    // h2 takes over; h1's excluded files stay where they are, untouched by the resync that follows.
    const s = await h2.cli(["swap", "vms"]);
    expect(s.code, s.out).toBe(0);
    await h1.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h1 stands by in sync", 30_000);
    expect(readFileSync(join(m.data("h1"), "notes.tmp-1"), "utf8")).toBe("local\n");
    expect(existsSync(join(m.data("h1"), "cache", "sub", "blob"))).toBe(true);
  });
});
