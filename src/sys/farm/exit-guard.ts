/**
 * What happens to a farm's kernel state when the daemon dies without stopping
 * it (SIGKILL, a crash). Left alone, the node would keep accepting its buckets
 * while the others, who saw it die, accept them too, and clients would get
 * answers from two stacks.
 *
 * A small `sh` child blocks reading a pipe from the daemon. The pipe's write
 * end lives only in the daemon (close-on-exec), so when the daemon is gone in
 * any way the read returns, and the child empties the table's two sets: the
 * node takes no new client and no unsplit traffic, while the rules keep
 * dropping other nodes' packets and keep its own established connections
 * (whose service may well still run) flowing, as a drain would. The table,
 * macvlan and VIP stay until the next start removes them. A daemon that stops
 * normally tears down itself and kills the guard first, by PID.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { farmTableName } from "./ruleset.ts";

export interface ExitGuard {
  readonly pid: number | undefined;
  /** Stops the guard without running its cleanup. */
  disarm(): void;
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

/** The guard's script (exported for tests). */
export function exitGuardScript(module: string): string {
  const table = farmTableName(module);
  const nft = `flush set inet ${table} mine\nflush set inet ${table} arp_owner\nflush set inet ${table} lease\n`;
  return ["read _ignored", `printf %s ${shellQuote(nft)} | nft -f - 2>/dev/null`, "exit 0"].join("\n");
}

export function startExitGuard(module: string): ExitGuard {
  let child: ChildProcess | undefined;
  try {
    child = spawn("sh", ["-c", exitGuardScript(module)], { stdio: ["pipe", "ignore", "ignore"], detached: true });
    child.on("error", () => {
      // No sh: the farm still works; only the crash cleanup is missing.
    });
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  } catch {
    child = undefined;
  }
  return {
    pid: child?.pid,
    disarm() {
      if (child?.pid !== undefined && child.exitCode === null) {
        try {
          process.kill(child.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      child = undefined;
    },
  };
}
