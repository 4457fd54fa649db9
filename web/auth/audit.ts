/** What the console's audit log records: every login, failed login, logout and command, with who and from where. */
export type AuditEvent = "login" | "login-failed" | "login-refused" | "logout" | "command" | "command-refused";

export interface AuditEntry {
  readonly event: AuditEvent;
  /** The user name (as typed, for a failed login), or "token" for the API token. */
  readonly user: string;
  readonly role?: string;
  /** The client's address. */
  readonly source: string;
  readonly module?: string;
  readonly command?: string;
  /** The HTTP status answered. */
  readonly status?: number;
  readonly detail?: string;
}

/** A name typed into a login form is untrusted: keep it short and printable before it reaches a log. */
export function printable(s: string, max = 64): string {
  const clean = s.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
