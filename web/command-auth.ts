import type { Context } from "hono";
import { tokenMatches, type TokenResult } from "../src/api/command-token.ts";

/**
 * Who may send module commands to one app instance.
 * - "socket": the app behind the control socket. Reaching it already takes
 *   root (the socket is mode 0600), so no further proof is asked for.
 * - "token": the app on a network listener. Every command must carry
 *   `Authorization: Bearer TOKEN`; without a usable cluster key, commands
 *   over the network are off. This is the default, so an app wired up
 *   without thought never accepts failover from the LAN unauthenticated.
 * - "login": the app behind the console login (web/auth/).
 */
export type CommandAccess = "socket" | "token" | "login";

export interface CommandAuthDeps {
  commands?: CommandAccess | undefined;
  /** The expected token, asked on every command so a reload or a new key takes effect at once. */
  commandToken?: (() => TokenResult) | undefined;
}

const NO_STORE = { "cache-control": "no-store" };
const HOW = "send `Authorization: Bearer TOKEN`; `vigil token` on a cluster node prints it";

/** Null when the request may command; otherwise the answer that refuses it. */
export function refuseUnauthorized(c: Context, deps: CommandAuthDeps): Response | null {
  // "login": the gate in front (web/auth/gate.ts) has checked the user, the role and the CSRF token.
  if (deps.commands === "socket" || deps.commands === "login") return null;
  const expected = deps.commandToken?.() ?? { ok: false, message: "this listener was given no command token" };
  if (!expected.ok) {
    return c.json({ error: `module commands over the network are off: ${expected.message}; use the vigil CLI on a node instead` }, 403, NO_STORE);
  }
  const header = c.req.header("authorization");
  const challenge = { ...NO_STORE, "www-authenticate": 'Bearer realm="vigil"' };
  if (header === undefined || header === "") {
    return c.json({ error: `module commands over the network need the console token: ${HOW}` }, 401, challenge);
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (m === null) {
    return c.json({ error: `the Authorization header must be "Bearer TOKEN": ${HOW}` }, 401, challenge);
  }
  if (!tokenMatches(m[1] as string, expected.token)) {
    return c.json({ error: `the console token is wrong (it changes when the cluster key changes): ${HOW}` }, 401, challenge);
  }
  return null;
}
