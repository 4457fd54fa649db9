import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";

export type LockResult =
  | { ok: true; release(): void }
  | { ok: false; message: string };

/**
 * One daemon per state dir. The lock is a file created with O_EXCL holding the
 * owner's PID; a lock left by a process that no longer exists (after a crash
 * or SIGKILL) is taken over, because a stale lock must never keep a node from
 * starting after a power cut.
 */
export function acquireStateLock(stateDir: string, pid = process.pid): LockResult {
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    return { ok: false, message: `cannot create state dir ${stateDir}: ${errText(e)}` };
  }
  const path = join(stateDir, "vigil.lock");
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, `${pid}\n`);
      closeSync(fd);
      return { ok: true, release: () => releaseIfOurs(path, pid) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") {
        return { ok: false, message: `cannot create lock ${path}: ${errText(e)}` };
      }
    }
    const holder = readPid(path);
    if (holder !== undefined && holder !== pid && isAlive(holder)) {
      return {
        ok: false,
        message: `another vigil daemon (PID ${holder}) is running on state dir ${stateDir} (lock ${path}); stop it first or use --state-dir`,
      };
    }
    try {
      unlinkSync(path);
    } catch {
      // Someone else removed it first; retry the exclusive create.
    }
  }
  return { ok: false, message: `could not take lock ${path}: it keeps changing owner` };
}

function readPid(path: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function releaseIfOurs(path: string, pid: number): void {
  if (readPid(path) === pid) {
    try {
      unlinkSync(path);
    } catch {
      // Already gone.
    }
  }
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code} (${err.message})` : String(e);
}
