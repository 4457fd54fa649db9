/**
 * Removes a farm's kernel state when the daemon dies without stopping it
 * (SIGKILL, a crash). Otherwise the node would keep accepting its buckets
 * while the others, who saw it die, accept them too, and clients would get
 * answers from two stacks.
 *
 * A small `sh` child blocks reading a pipe from the daemon. The pipe's write
 * end lives only in the daemon (close-on-exec), so when the daemon is gone in
 * any way the read returns, and the child deletes the nft table, the macvlan
 * and the VIP on lo. A daemon that stops normally tears down itself and kills
 * the guard first, by PID.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { macvlanName } from "./link.ts";
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
export function exitGuardScript(module: string, vip: string): string {
  const table = farmTableName(module);
  const nft = `table inet ${table}\ndelete table inet ${table}\n`;
  return [
    "read _ignored",
    // The link and VIP before the table: a node without the table but still
    // receiving for the VIP would answer other nodes' connections with RSTs.
    `ip link del ${shellQuote(macvlanName(module))} 2>/dev/null`,
    `ip addr del ${shellQuote(`${vip}/32`)} dev lo 2>/dev/null`,
    `printf %s ${shellQuote(nft)} | nft -f - 2>/dev/null`,
    "exit 0",
  ].join("\n");
}

export function startExitGuard(module: string, vip: string): ExitGuard {
  let child: ChildProcess | undefined;
  try {
    child = spawn("sh", ["-c", exitGuardScript(module, vip)], { stdio: ["pipe", "ignore", "ignore"], detached: true });
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
