/** Process facts from /proc and signals that tolerate already-gone targets. */
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";

/** Sends `sig` to a process group; false if the group no longer exists. */
export function signalGroup(pgid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * Signals a child we spawned as a group leader, and its group. The PID itself is
 * signalled too because a child that was spawned a moment ago may not have
 * called setsid() yet, and then has no group of its own.
 */
export function signalTree(pid: number, sig: NodeJS.Signals): void {
  signalPid(pid, sig);
  signalGroup(pid, sig);
}

export function signalPid(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * The state letter from /proc/<pid>/stat (R, S, D, T for stopped, Z for zombie...),
 * or null when the process is gone.
 */
export function procState(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name is in parentheses and may itself contain ") ": the state follows the last one.
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state === "" ? null : state;
}

/** Inode of a named network namespace (/run/netns/<ns>), or null if it does not exist. */
export function netnsInode(ns: string): number | null {
  try {
    return statSync(`/run/netns/${ns}`).ino;
  } catch {
    return null;
  }
}

/** PIDs whose network namespace is one of `inodes` (what `ip netns pids` reports). */
export function pidsInNetns(inodes: ReadonlySet<number>): number[] {
  if (inodes.size === 0) return [];
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/ns/net`));
      if (m && inodes.has(Number(m[1]))) out.push(Number(entry));
    } catch {
      // exited meanwhile, or a kernel thread
    }
  }
  return out;
}
