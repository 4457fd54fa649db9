/**
 * `read: direct` on the real thing: the module's option reaches the PRIM's
 * mount through the config, its setup and the mirror driver. A file read
 * through the mount leaves nothing in its page cache, and a change made
 * beneath the mount (not replicated: done here on purpose, with the mtime put
 * back) is read at once by a new read-only open; a shared mapping still reads.
 * fuse-mirror.test.ts shows the same mount with read: cache keeping the pages.
 */
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import { readAfterChangeBeneath } from "./fuse-lab.ts";
import { describeLab, labTest, useLab, useRunDirs } from "./lab-test.ts";
import { startMirrorLab } from "./mirror-lab.ts";
import { isPrimary } from "./arbiter-pair.ts";

describeLab("mirror module: read: direct", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  const runDir = useRunDirs("vigil-mirror-read-direct-");

  labTest("the PRIM serves read-only opens with direct I/O: no page kept, a change beneath read at once, shared mappings read", async () => {
    const m = await startMirrorLab({ lab: lab(), dir: runDir("r"), extraModuleYaml: ["    read: direct"] });
    onTestFinished(() => m.stopAll());
    const h1 = m.node("h1");
    await h1.waitModule((x) => isPrimary(x.state) && x.mirror?.writes === "replicate", "h1 runs vms and replicates", 30_000);
    const pid = h1.proc?.pid;
    if (pid === undefined) throw new Error("h1's daemon has no pid");
    // As the service sees the folder on h1: its daemon's mount namespace, FUSE mounted in place.
    const inside = (argv: readonly string[]) => h1.host.exec(["nsenter", "-t", String(pid), "-m", ...argv], { check: true });
    const seen = await readAfterChangeBeneath(inside, join(m.dir, "srv", "video"), join(m.data("h1"), "video"));
    expect(seen).toEqual({ firstRead: 1 << 20, cachedPages: 0, reread: "BBBB", mapped: "BBBB AAAA" });
    // Status (its JSON and `vigil status`) says what the mount serves on this kernel; h2 has not mounted the folder.
    expect((await h1.module()).mirror?.read).toEqual({ configured: "direct", served: "direct", fallback: null });
    expect((await h1.cli(["status"])).out).toMatch(/^ {2}mirror .*; reads direct$/m);
    const h2 = m.node("h2");
    expect((await h2.module()).mirror?.read).toEqual({ configured: "direct", served: null, fallback: null });
    expect((await h2.cli(["status"])).out).toMatch(/; reads direct \(configured: not mounted on this node yet\)$/m);
  });
}, { tools: ["python3", "unshare", "nsenter", "fincore"] });
