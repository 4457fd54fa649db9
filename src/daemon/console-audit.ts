/**
 * The console's audit log: one JSON line per login, failed login, logout
 * and command in STATE_DIR/audit.log (mode 0600), and the same in the
 * daemon's log. At 10 MiB the file moves to audit.log.1 (replacing the one
 * before), so it never fills the disk.
 */
import { appendFileSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import type { AuditEntry } from "../../web/auth/audit.ts";
import type { Logger } from "./log.ts";

export const AUDIT_FILE = "audit.log";
const MAX_BYTES = 10 * 1024 * 1024;

export function consoleAudit(stateDir: string, log: Logger): (e: AuditEntry) => void {
  const file = join(stateDir, AUDIT_FILE);
  let warned = false;
  return (e) => {
    const fields = Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) as Record<string, string | number>;
    const text = e.event === "login-failed" || e.event === "login-refused" || e.event === "command-refused" ? log.warn.bind(log) : log.info.bind(log);
    text(`console ${e.event}`, { audit: true, ...fields });
    try {
      if ((statSync(file, { throwIfNoEntry: false })?.size ?? 0) > MAX_BYTES) renameSync(file, `${file}.1`);
      appendFileSync(file, `${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`, { mode: 0o600 });
    } catch (err) {
      if (!warned) log.error("cannot write the console audit log", { file, reason: (err as Error).message });
      warned = true;
    }
  };
}
