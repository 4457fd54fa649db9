/**
 * The state behind the network console's login: who may log in (read from
 * the config on every login, so a reload takes effect at once), the session
 * table, the failed-login limiter, and how a request proves who it is.
 *
 * A request is someone when it carries a live session cookie (the page), or
 * HTTP Basic credentials of a configured user (scripts, Prometheus), or, with
 * console.api_token on, the `vigil token` bearer token (an operator).
 */
import { createHash } from "node:crypto";
import { tokenMatches, type TokenResult } from "../../src/api/command-token.ts";
import { DUMMY_HASH, verifyPassword } from "../../src/api/password.ts";
import type { ConsoleUser } from "../../src/config/types.ts";
import type { AuditEntry } from "./audit.ts";
import { LoginLimiter } from "./login-limit.ts";
import type { Role } from "./roles.ts";
import { SessionTable, type Session } from "./sessions.ts";

export interface ConsoleAuthOptions {
  users(): readonly ConsoleUser[];
  sessionTimeoutMs(): number;
  /** Host names (normalized, host-check.ts) this console answers to. */
  allowedHosts(): ReadonlySet<string>;
  /** The API token when console.api_token is on, else null. */
  apiToken(): TokenResult | null;
  audit(entry: AuditEntry): void;
  now?: () => number;
}

/** Who a request is. `session` only for the page's cookie login (which alone needs the CSRF token). */
export interface Identity {
  user: string;
  role: Role;
  how: "session" | "basic" | "token";
  session?: Session;
}

export type CheckResult = { ok: true; user: ConsoleUser } | { ok: false; why: "wrong" | "busy" };

/** scrypt takes ~32 MiB while it runs: at most this many checks at once, so a login flood cannot take the daemon's memory. */
export const MAX_CONCURRENT_CHECKS = 4;
const BASIC_CACHE_MS = 5 * 60_000;
const BASIC_CACHE_MAX = 64;

export class ConsoleAuth {
  readonly sessions = new SessionTable();
  readonly limiter = new LoginLimiter();
  private checking = 0;
  /** Basic credentials checked recently: a scrape every 15 s need not cost a scrypt each time. */
  private readonly basicOk = new Map<string, number>();

  constructor(readonly options: ConsoleAuthOptions) {}

  now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** Checks a user name and password against the config, in about the same time whether or not the user exists. */
  async check(name: string, password: string): Promise<CheckResult> {
    if (this.checking >= MAX_CONCURRENT_CHECKS) return { ok: false, why: "busy" };
    const user = this.options.users().find((u) => u.name === name);
    this.checking++;
    try {
      const good = await verifyPassword(password, user?.password ?? DUMMY_HASH);
      return good && user !== undefined ? { ok: true, user } : { ok: false, why: "wrong" };
    } finally {
      this.checking--;
    }
  }

  /** Basic credentials: the cached verdict when fresh, otherwise a full check (counted by the limiter on failure). */
  async basic(name: string, password: string, source: string): Promise<Identity | "wrong" | "busy" | "limited"> {
    const user = this.options.users().find((u) => u.name === name);
    const key = createHash("sha256").update(`${name}\0${password}\0${user?.password ?? ""}`).digest("hex");
    const now = this.now();
    if (user !== undefined && (this.basicOk.get(key) ?? 0) > now) return { user: user.name, role: user.role, how: "basic" };
    if (!this.limiter.check(source, now).ok) return "limited";
    const r = await this.check(name, password);
    if (!r.ok) {
      if (r.why === "wrong") this.limiter.failed(source, this.now());
      return r.why;
    }
    this.basicOk.delete(key);
    this.basicOk.set(key, now + BASIC_CACHE_MS);
    while (this.basicOk.size > BASIC_CACHE_MAX) this.basicOk.delete(this.basicOk.keys().next().value as string);
    return { user: r.user.name, role: r.user.role, how: "basic" };
  }

  bearer(token: string): Identity | undefined {
    const expected = this.options.apiToken();
    if (expected === null || !expected.ok) return undefined;
    return tokenMatches(token, expected.token) ? { user: "token", role: "operator", how: "token" } : undefined;
  }

  /** The live session for a cookie value, dropped when its user left the config or changed role or password. */
  session(id: string | undefined): Session | undefined {
    const s = this.sessions.find(id, this.now());
    if (s === undefined) return undefined;
    const user = this.options.users().find((u) => u.name === s.user);
    if (user === undefined || user.role !== s.role || passwordStamp(user) !== s.stamp) {
      this.sessions.end(s.id);
      return undefined;
    }
    return s;
  }

  startSession(user: ConsoleUser, source: string): Session {
    return this.sessions.create(user.name, user.role, source, this.now(), this.options.sessionTimeoutMs(), passwordStamp(user));
  }
}

/** Changes when the user's password hash changes, so a new password ends the old logins. */
export function passwordStamp(user: ConsoleUser): string {
  return createHash("sha256").update(user.password).digest("base64url").slice(0, 16);
}
