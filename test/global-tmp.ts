/**
 * Every test run gets a temporary folder of its own: tests make theirs
 * with mkdtemp(tmpdir()), and what one forgets to remove goes with the
 * run. Set before the test processes start, so they (and the daemons they
 * start) inherit TMPDIR. Kept when VIGIL_KEEP_LAB_DIR=1, to look at.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function setup(): () => void {
  const base = mkdtempSync(join(tmpdir(), "vigil-test-"));
  // As /tmp itself: tests run some commands as an unprivileged user (who makes its own 0700 folders here).
  chmodSync(base, 0o1777);
  process.env["TMPDIR"] = base;
  return () => {
    if (process.env["VIGIL_KEEP_LAB_DIR"] === "1") return;
    // A mount a failed test left inside is not crossed (and not emptied).
    spawnSync("rm", ["-rf", "--one-file-system", base], { stdio: "ignore" });
  };
}
