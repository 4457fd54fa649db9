/**
 * The console's audit log: one JSON line per login, failed login, logout
 * and command in STATE_DIR/audit.log (mode 0600), and the same in the
 * daemon's log. At 10 MiB the file moves to audit.log.1 (replacing the one
 * before), so it never fills the disk. Refusals (failed logins, refused
 * commands) from one address beyond a few a minute are counted and logged
 * as one line when the minute ends (refusal-bursts.ts), so a guesser cannot
 * push the history out of either file.
 */
import { appendFileSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import type { AuditEntry } from "../../web/auth/audit.ts";
import type { Logger } from "./log.ts";
import { burstKey, type HeldRefusals, RefusalBursts, splitBurstKey } from "./refusal-bursts.ts";

export const AUDIT_FILE = "audit.log";
const MAX_BYTES = 10 * 1024 * 1024;

const REFUSALS: ReadonlySet<AuditEntry["event"]> = new Set(["login-failed", "login-refused", "command-refused"]);

export function consoleAudit(stateDir: string, log: Logger, now: () => number = Date.now): (e: AuditEntry) => void {
  const file = join(stateDir, AUDIT_FILE);
  let warned = false;
  const bursts = new RefusalBursts();
  let timer: ReturnType<typeof setTimeout> | undefined;

  const write = (msg: string, fields: Record<string, string | number>, warn: boolean): void => {
    (warn ? log.warn.bind(log) : log.info.bind(log))(msg, { audit: true, ...fields });
    try {
      if ((statSync(file, { throwIfNoEntry: false })?.size ?? 0) > MAX_BYTES) renameSync(file, `${file}.1`);
      appendFileSync(file, `${JSON.stringify({ time: new Date(now()).toISOString(), ...fields })}\n`, { mode: 0o600 });
    } catch (err) {
      if (!warned) log.error("cannot write the console audit log", { file, reason: (err as Error).message });
      warned = true;
    }
  };
  const summarize = (held: readonly HeldRefusals[]): void => {
    for (const h of held) {
      const { event, source } = splitBurstKey(h.key);
      write(`console ${event}: ${h.held} more from ${source} in ${h.windowMs / 1000} s, counted, not logged one by one`, { event, source, repeated: h.held }, true);
    }
  };
  const arm = (): void => {
    const due = bursts.nextDue();
    if (due === null || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      summarize(bursts.flush(now()));
      arm();
    }, Math.max(0, due - now()));
    timer.unref?.();
  };

  return (e) => {
    const fields = Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) as Record<string, string | number>;
    if (REFUSALS.has(e.event)) {
      const t = now();
      summarize(bursts.flush(t));
      if (!bursts.admit(burstKey(e.event, e.source), t)) {
        arm();
        return;
      }
    }
    write(`console ${e.event}`, fields, REFUSALS.has(e.event));
  };
}
