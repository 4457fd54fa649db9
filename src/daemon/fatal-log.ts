/**
 * A fault no code caught (a bug, never a user's mistake) still ends the
 * process as the runtime ends it: its message and stack on stderr, exit
 * status 1, and the fencing watchdog then takes the VIPs and the service
 * down. This only writes it down in vigil.log as well, where the operator
 * and the console's log download look afterwards: stderr may have gone to a
 * terminal nobody kept, and the last lines of the file would otherwise end
 * without a word on why the daemon went away.
 */
import type { Logger } from "./log.ts";

export function logUncaughtFaults(log: Logger): void {
  // The monitor sees the fault and leaves what happens next to the runtime.
  process.on("uncaughtExceptionMonitor", (e) => {
    try {
      log.toFileOnly("error", "internal error: the process ends (a defect of vigil: please report this line)", { error: describeFault(e) });
    } catch {
      // The file failing too must not hide the fault itself.
    }
  });
  // Bun's monitor does not see a rejection nobody handled; thrown again it is an uncaught exception, as without this handler.
  process.on("unhandledRejection", (reason) => {
    throw reason;
  });
}

function describeFault(e: unknown): string {
  return e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
}
