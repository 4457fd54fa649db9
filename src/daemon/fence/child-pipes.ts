/**
 * The pipes of a fencing watchdog child, the same for both kinds (the bash
 * guard and `vigil __fence`): its stdin, which the daemon writes
 * synchronously, its stderr read as lines, and its end reported once in
 * words.
 *
 * Its stdin is a pipe the daemon made (sys/ffi/stdin-pipe.ts), so each line
 * is in the kernel when send() returns: "the watchdog hears X before Y
 * happens" (a VIP's line before the add, `hold` before a start, `arm` before
 * the lease is used) holds even if the daemon is killed right after. A child
 * that does not read never blocks the daemon: its lines wait, and a child
 * owing more than the pipe's bound is killed (a new one is told everything).
 * Where there is no FFI (Node), the child's stdin is a stream as before.
 */
import { type ChildProcess, spawn, type SpawnOptions } from "node:child_process";
import { openStdinPipe } from "../../sys/ffi/stdin-pipe.ts";

export interface FenceStdin {
  /** One or more whole lines. */
  write(text: string): void;
  /** End-of-file for the child, after what it was sent. */
  end(): void;
}

export interface FenceSpawnHooks {
  /** Bytes the child was sent and has not taken (0: caught up). */
  onBacklog(waiting: number): void;
  /** It owes too much: the child is killed (its exit is reported as usual). */
  onStuck(): void;
}

/** Starts a watchdog child with stdio [stdin, ignore, stderr pipe]; throws as spawn does. */
export function spawnFenceChild(command: string, args: readonly string[], options: Omit<SpawnOptions, "stdio">, hooks: FenceSpawnHooks): { child: ChildProcess; stdin: FenceStdin } {
  let child: ChildProcess | undefined;
  const pipe = openStdinPipe({
    onBacklog: (waiting) => hooks.onBacklog(waiting),
    onStuck: () => {
      hooks.onStuck();
      child?.kill("SIGKILL");
    },
  });
  if (pipe === null) {
    child = spawn(command, args, { ...options, stdio: ["pipe", "ignore", "pipe"] });
    const stream = child.stdin;
    stream?.on("error", () => {}); // EPIPE after the child died: its exit is reported instead.
    return {
      child,
      stdin: {
        write: (text) => {
          if (stream !== null && !stream.destroyed) stream.write(text);
        },
        end: () => stream?.end(),
      },
    };
  }
  try {
    child = spawn(command, args, { ...options, stdio: [pipe.childEnd, "ignore", "pipe"] });
  } catch (e) {
    pipe.end();
    throw e;
  } finally {
    pipe.spawned();
  }
  return { child, stdin: pipe };
}

export function watchFenceChild(child: ChildProcess, onLine: (line: string) => void, onDied: (why: string) => void): void {
  let pending = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (c: string) => {
    pending += c;
    let nl = pending.indexOf("\n");
    while (nl >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      nl = pending.indexOf("\n");
    }
  });
  child.on("error", (e) => onDied(`cannot be started: ${e.message}`));
  child.on("exit", (code, signal) => onDied(signal !== null ? `killed by ${signal}` : `exited ${code ?? "?"}`));
}
