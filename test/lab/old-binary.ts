/**
 * The previous release's binary, built from git for upgrade tests.
 *
 *   const old = await oldVigilBinary(PREVIOUS_RELEASE);   // "/tmp/vigil-release-<commit>/vigil"
 *
 * The commit is checked out into a detached worktree of this repository (a
 * clean CI clone has the full history), node_modules is linked in, and
 * scripts/build.mjs writes the binary to VIGIL_OUT. The binary is kept in a
 * temp folder named after the commit, so a run builds it once; the worktree
 * is removed again, also when the build fails.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./lab.ts";

/** The last release before heartbeat frame version 2: it speaks version 1 only. */
export const PREVIOUS_RELEASE = "0e5ec7b";

function run(cmd: string, args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], { cwd: opts.cwd, env: opts.env ?? process.env, encoding: "utf8", timeout: opts.timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err === null) resolve(stdout);
      else reject(new Error(`${cmd} ${args.join(" ")} (in ${opts.cwd}) failed: ${err.message.split("\n")[0]}\n${stderr.trim()}`));
    });
  });
}

/** The full commit id of `rev`; a clear error when the clone does not have it (a shallow one). */
async function resolveCommit(rev: string): Promise<string> {
  try {
    return (await run("git", ["rev-parse", "--verify", `${rev}^{commit}`], { cwd: REPO_ROOT, timeoutMs: 10_000 })).trim();
  } catch (e) {
    throw new Error(`commit ${rev} is not in ${REPO_ROOT}: upgrade tests build the previous release from git and need the full history (not a shallow clone). ${(e as Error).message}`);
  }
}

/**
 * Path of the binary built from `rev` (any git revision), building it first
 * unless this machine already has it. Takes about as long as `npm run build`.
 */
export async function oldVigilBinary(rev: string = PREVIOUS_RELEASE): Promise<string> {
  const commit = await resolveCommit(rev);
  const home = join(tmpdir(), `vigil-release-${commit}`);
  const bin = join(home, "vigil");
  if (existsSync(bin)) return bin;
  mkdirSync(home, { recursive: true });
  const tree = mkdtempSync(join(tmpdir(), `vigil-release-src-${commit.slice(0, 12)}-`));
  rmSync(tree, { recursive: true, force: true }); // git worktree add wants to create it
  await run("git", ["worktree", "add", "--detach", tree, commit], { cwd: REPO_ROOT, timeoutMs: 60_000 });
  try {
    symlinkSync(join(REPO_ROOT, "node_modules"), join(tree, "node_modules"));
    // Built under a private name and renamed, so a parallel run never starts a half-written binary.
    const partial = `${bin}.${process.pid}.partial`;
    await run(process.execPath, [join(tree, "scripts", "build.mjs")], { cwd: tree, env: { ...process.env, VIGIL_OUT: partial }, timeoutMs: 240_000 });
    renameSync(partial, bin);
  } finally {
    await run("git", ["worktree", "remove", "--force", tree], { cwd: REPO_ROOT, timeoutMs: 60_000 }).catch(() => rmSync(tree, { recursive: true, force: true }));
  }
  return bin;
}
