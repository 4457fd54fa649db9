/**
 * A mirror module of two folders on the real binary: the recorder
 * (mirror-lab.ts) appends its records in the first folder and renames its
 * segments into the second, as a VMS keeps its index and its video apart.
 * Each folder has its own copy, link and resync; the module runs only where
 * both copies may be served, and a SIGKILL of the PRIM loses nothing that
 * was acknowledged in either folder.
 */
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import { describeLab, labTest, useLab, useRunDirs } from "./lab-test.ts";
import { copyContents, type MirrorLab, startMirrorLab } from "./mirror-lab.ts";
import type { ModuleStatus } from "../../src/api/modules.ts";
import { waitUntil } from "./lab.ts";
import { isPrimary } from "./arbiter-pair.ts";

const replicating = (x: ModuleStatus) => isPrimary(x.state) && x.mirror?.writes === "replicate" && x.mirror.folders?.every((f) => f.writes === "replicate") === true;
const standingBy = (x: ModuleStatus) =>
  x.state === "SECOND" && x.mirror?.folders?.length === 2 && x.mirror.folders.every((f) => f.data === "uptodate" && f.link === "up");

function promisedLost(m: MirrorLab, on: "h1" | "h2"): { records: number[]; segments: number[] } {
  const want = [m.acked("h1"), m.acked("h2")];
  const have = copyContents(m.data(on), m.segData(on));
  return {
    records: want.flatMap((a) => a.records).filter((n) => !have.records.has(n)),
    segments: want.flatMap((a) => a.segments).filter((n) => have.segments.get(n) !== n % 251),
  };
}

describeLab("mirror module: several folders", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  const runDir = useRunDirs("vigil-mirror-folders-");

  labTest("two folders: each replicated on its own link; a SIGKILLed PRIM loses nothing in either; both resynced, verified and shown", async () => {
    const m = await startMirrorLab({ lab: lab(), dir: runDir("f"), folders: 2 });
    onTestFinished(() => m.stopAll());
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await h1.waitModule(replicating, "h1 runs vms and replicates both folders", 30_000);
    const s2 = await h2.waitModule(standingBy, "h2 stands by with both copies up to date", 30_000);
    expect(s2.mirror?.folders?.map((f) => f.folder)).toEqual([join(m.dir, "srv"), join(m.dir, "srv2")]);
    // Each folder has its own data generations.
    expect(s2.mirror?.folders?.map((f) => f.gen).length).toBe(2);

    await waitUntil(() => m.acked("h1").segments.length >= 4, { timeoutMs: 30_000, what: "four segments acknowledged on h1" });
    h1.proc?.kill("SIGKILL");
    await h2.waitModule((x) => isPrimary(x.state), "h2 takes over", 20_000);
    expect(promisedLost(m, "h2")).toEqual({ records: [], segments: [] });

    // h1 comes back: both of its copies are resynced from h2, and h2 replicates both again.
    await h1.start();
    await h1.waitModule(standingBy, "h1 stands by with both copies up to date", 60_000);
    await h2.waitModule(replicating, "h2 replicates both folders", 30_000);
    await waitUntil(() => m.acked("h2").segments.length >= 2, { timeoutMs: 30_000, what: "two segments acknowledged on h2" });
    await m.stopRecorder("h2");
    await h2.waitModule((x) => x.mirror?.waitingOps === 0, "no write waiting");
    expect(promisedLost(m, "h1")).toEqual({ records: [], segments: [] });

    const v = await h2.cli(["verify", "vms"]);
    expect(v.code, v.out).toBe(0);
    expect(v.out).toContain(`${join(m.dir, "srv")}: the copies are identical`);
    expect(v.out).toContain(`${join(m.dir, "srv2")}: the copies are identical`);
    const st = await h1.cli(["status"]);
    expect(st.out).toContain(`mirror ${join(m.dir, "srv")}: copy up to date`);
    expect(st.out).toContain(`mirror ${join(m.dir, "srv2")}: copy up to date`);
  });
});
