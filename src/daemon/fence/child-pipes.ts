/**
 * The pipes of a fencing watchdog child, the same for both kinds (the bash
 * guard and `vigil __fence`): its stderr read as lines, and its end reported
 * once in words. A write to the stdin of a child that died fails with EPIPE;
 * that is expected (the exit handler starts another), so it is swallowed.
 */
import type { ChildProcess } from "node:child_process";

export function watchFenceChild(child: ChildProcess, onLine: (line: string) => void, onDied: (why: string) => void): void {
  child.stdin?.on("error", () => {});
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
