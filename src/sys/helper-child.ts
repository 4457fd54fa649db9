/**
 * Starts ip(8) and nft(8) in a process group (and session) of their own.
 *
 * A stop signal sent to the daemon's process group reaches every child in it:
 * a terminal's Ctrl-C, `kill -TERM -PGID`, a supervisor that signals the
 * group. A helper in that group dies with the signal, half done, even though
 * the daemon handles the signal and goes on to clean up (the farm's
 * `ip link del` of its macvlan was ended that way, and the macvlan stayed).
 * In a group of its own the helper finishes; the daemon waits for it and
 * bounds it with its own timeout. Two signals still reach it: one sent to
 * every process of a cgroup (systemd's KillMode=control-group), and one sent
 * to the daemon's group in the moment between the helper's fork and its
 * setsid (a few milliseconds on a loaded host). Removals, which are safe to
 * repeat, run again when a signal ended them (SIGNALLED_TRIES in all).
 *
 * node:child_process's execFile ignores `detached` (Node's and Bun's alike),
 * so the callers spawn and gather the output themselves.
 */
import { type ChildProcess, spawn } from "node:child_process";

/** How many times in all a removal runs while a signal ends it before it finished (see above). */
export const SIGNALLED_TRIES = 3;

/**
 * Runs a removal, and again while a signal ended it before it finished, up to
 * SIGNALLED_TRIES runs in all; returns the last result. Only for commands that
 * are safe to repeat.
 */
export async function repeatWhileSignalled<R>(run: () => Promise<R>, signalled: (r: R) => boolean): Promise<R> {
  let r = await run();
  for (let i = 1; i < SIGNALLED_TRIES && signalled(r); i++) r = await run();
  return r;
}

export interface HelperSpawnOptions {
  /** "pipe" to write the helper's input; "ignore" otherwise. */
  readonly stdin: "pipe" | "ignore";
  readonly env: NodeJS.ProcessEnv;
}

/** Spawns `file args` as the leader of a new process group; stdout and stderr are pipes. Throws as spawn does. */
export function spawnHelper(file: string, args: readonly string[], opts: HelperSpawnOptions): ChildProcess {
  return spawn(file, [...args], { stdio: [opts.stdin, "pipe", "pipe"], env: opts.env, detached: true });
}

/**
 * Signals the helper's whole group (what it started dies with it), or the
 * helper alone when the group is gone or was never made.
 */
export function killHelper(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): void {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}
