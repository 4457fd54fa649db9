/**
 * The console's logins: a table held by the daemon (nothing but a random id
 * goes to the browser), bounded in size, each entry with an absolute expiry
 * and its own CSRF token. Time comes in as `now` (ms), so it is testable
 * without clocks.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Role } from "./roles.ts";

export interface Session {
  readonly id: string;
  readonly user: string;
  readonly role: Role;
  /** Must come back in the x-csrf-token header of every state-changing request. */
  readonly csrf: string;
  readonly source: string;
  readonly created: number;
  readonly expires: number;
  /** Which password the login was made with (console-auth.ts passwordStamp). */
  readonly stamp: string;
}

export const MAX_SESSIONS = 1000;

export class SessionTable {
  private readonly byId = new Map<string, Session>();

  constructor(
    private readonly max = MAX_SESSIONS,
    private readonly random: (n: number) => Uint8Array = (n) => randomBytes(n),
  ) {}

  get size(): number {
    return this.byId.size;
  }

  /** A new session; when the table is full, the oldest login ends to make room. */
  create(user: string, role: Role, source: string, now: number, lifetimeMs: number, stamp = ""): Session {
    this.sweep(now);
    while (this.byId.size >= this.max) {
      const oldest = this.byId.keys().next().value as string;
      this.byId.delete(oldest);
    }
    const session: Session = { id: this.token(), user, role, csrf: this.token(), source, created: now, expires: now + lifetimeMs, stamp };
    this.byId.set(session.id, session);
    return session;
  }

  /** The live session of this id, or undefined (unknown, expired, or a malformed id). */
  find(id: string | undefined, now: number): Session | undefined {
    if (id === undefined || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    const s = this.byId.get(id);
    if (s === undefined) return undefined;
    if (s.expires <= now) {
      this.byId.delete(id);
      return undefined;
    }
    return s;
  }

  end(id: string): void {
    this.byId.delete(id);
  }

  /** Ends every session of a user whose entry was removed or whose role or password changed. */
  endWhere(stale: (s: Session) => boolean): number {
    let n = 0;
    for (const [id, s] of this.byId) {
      if (stale(s)) {
        this.byId.delete(id);
        n++;
      }
    }
    return n;
  }

  private sweep(now: number): void {
    for (const [id, s] of this.byId) if (s.expires <= now) this.byId.delete(id);
  }

  private token(): string {
    return Buffer.from(this.random(32)).toString("base64url");
  }
}

/** Constant-time: the answer time does not tell how much of a guessed token was right. */
export function csrfMatches(given: string | undefined, session: Session): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given, "utf8");
  const b = Buffer.from(session.csrf, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}
