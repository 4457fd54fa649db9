/**
 * Xattrs changed while the mirror PRIM was alone reach the SECOND with the
 * journal resync (mirror-lab.ts). Live setxattr and removexattr ops carry
 * them while the pair replicates; the resync must carry what the journal
 * marked meanwhile:
 *
 *   1. h1 replicates to h2; through h1's mount a file gets a user xattr and
 *      a POSIX ACL (live ops), and another file exists without any;
 *   2. h2 stops; h1, alone, changes the first file's user xattr, removes its
 *      ACL, and gives the second file a user xattr and an ACL;
 *   3. h2 starts again and is resynced from the journal: both copies' files
 *      have the same xattrs, and `vigil verify` on h1 finds no difference.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import { describeLab, labTest, useLab, useRunDirs } from "./lab-test.ts";
import { waitUntil } from "./lab.ts";
import { isPrimary } from "./arbiter-pair.ts";
import { explainOnFailure, startMirrorLab, type MirrorLab } from "./mirror-lab.ts";

/** A POSIX ACL as its xattr holds it: owner rw, user 1234 r, group r, mask r, other none. */
const ACL = "0x0200000001000600ffffffff02000400d204000004000400ffffffff10000400ffffffff20000000ffffffff";

/** Runs `script` in h1's daemon's mount namespace, where its folder is the FUSE mount. */
function onMount(m: MirrorLab, script: string): void {
  const pid = m.node("h1").proc!.pid;
  execFileSync("nsenter", ["-t", String(pid), "-m", "sh", "-ec", `cd ${m.folder} && ${script}`], { encoding: "utf8", timeout: 20_000 });
}

/** Every xattr of the copy's two files, names sorted, values in hex. */
function xattrs(dir: string): string {
  return execFileSync("getfattr", ["--absolute-names", "-d", "-m", "-", "-e", "hex", join(dir, "with-xattrs"), join(dir, "without-xattrs")], { encoding: "utf8" }).replaceAll(dir, "DIR");
}

describeLab("mirror module: xattrs changed while the PRIM was alone", () => {
  const lab = useLab({ hosts: 2, links: 1 });
  const runDir = useRunDirs("vigil-mirror-xattrs-");

  labTest("reach the SECOND with the journal resync", async () => {
    const m = await startMirrorLab({ lab: lab(), dir: runDir("xattrs") });
    onTestFinished(() => m.stopAll());
    explainOnFailure(m);
    const [h1, h2] = [m.node("h1"), m.node("h2")];
    await h1.waitModule((x) => isPrimary(x.state) && x.mirror?.writes === "replicate" && x.mirror.resync?.phase !== "scanning", "h1 runs vms and replicates", 40_000);
    await h2.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h2 is an up-to-date SECOND", 40_000);
    onMount(m, `echo one > with-xattrs && echo two > without-xattrs && setfattr -n user.vigil.tag -v before with-xattrs && setfattr -n system.posix_acl_access -v ${ACL} with-xattrs`);
    await h1.waitModule((x) => x.mirror?.waitingOps === 0, "h1's xattr ops acknowledged");
    await waitUntil(() => xattrs(m.data("h2")) === xattrs(m.data("h1")), { timeoutMs: 10_000, what: "the live xattr ops applied on h2" });

    await h2.proc!.stop();
    await h1.waitModule((x) => isPrimary(x.state) && x.mirror?.writes === "alone", "h1 writes alone (journaled)", 20_000);
    onMount(m, `setfattr -n user.vigil.tag -v alone with-xattrs && setfattr -x system.posix_acl_access with-xattrs && setfattr -n user.vigil.new -v alone without-xattrs && setfattr -n system.posix_acl_access -v ${ACL} without-xattrs`);
    const alone = xattrs(m.data("h1"));
    expect(alone).toContain("user.vigil.tag=0x616c6f6e65");
    expect(alone).toContain("user.vigil.new=0x616c6f6e65");

    await h2.start();
    await h2.waitModule((x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h2 resynced", 60_000);
    await h1.waitModule((x) => x.mirror?.writes === "replicate", "h1 replicates again");
    await m.stopRecorder("h1");
    await h1.waitModule((x) => x.mirror?.waitingOps === 0, "no write of h1 waiting");
    expect(xattrs(m.data("h2"))).toBe(alone);
    const v = await h1.cli(["verify", "vms"]);
    expect(v.code, v.out).toBe(0);
    expect(v.out).toMatch(/the copies are identical/);
  });
});
