/**
 * The network console's door, in front of every route: the Host check, then
 * who the request is (console-auth.ts), then the CSRF check on anything that
 * changes state, then the role a module command needs; each command is
 * written to the audit log with its outcome. The login page, its assets and
 * /healthz are the only routes open to anyone who passes the Host check.
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import { printable } from "./audit.ts";
import { connInfo } from "./conn-info.ts";
import type { ConsoleAuth, Identity } from "./console-auth.ts";
import { cookieNames, readCookie } from "./cookies.ts";
import { hostAllowed } from "./host-check.ts";
import { crossSite } from "./origin-check.ts";
import { rememberIdentity } from "./identity.ts";
import { addLoginRoutes } from "./login-routes.ts";
import { mayDo, roleFor } from "./roles.ts";
import { csrfMatches } from "./sessions.ts";

const NO_STORE = { "cache-control": "no-store" };
const OPEN = new Set(["/login", "/healthz", "/favicon.ico"]);
const COMMAND = /^\/api\/modules\/([^/]+)\/([^/]+)$/;

export function installAuth(app: Hono, auth: ConsoleAuth): void {
  app.use("*", hostGate(auth));
  app.use("*", identityGate(auth));
  addLoginRoutes(app, auth);
}

function hostGate(auth: ConsoleAuth): MiddlewareHandler {
  return async (c, next) => {
    if (!hostAllowed(c.req.header("host"), auth.options.allowedHosts())) {
      const error = `this console does not answer to the host name in the request (${printable(c.req.header("host") ?? "none")}); ` +
        "browse to the node's address or name, or add the name to console.names in vigil.yaml";
      return c.json({ error }, 421, NO_STORE);
    }
    await next();
  };
}

function identityGate(auth: ConsoleAuth): MiddlewareHandler {
  return async (c, next) => {
    const path = c.req.path;
    if (OPEN.has(path) || path.startsWith("/assets/")) return await next();
    const info = connInfo(c.env);
    const who = await identify(c, auth);
    if (typeof who === "object" && who !== null && "refused" in who) return who.refused;
    if (who === null) return unauthenticated(c);
    const method = c.req.method;
    if (method !== "GET" && method !== "HEAD") {
      const refused = crossSite(c, info.secure) ?? (who.how === "session" && who.session !== undefined && !csrfMatches(c.req.header("x-csrf-token"), who.session)
        ? c.json({ error: "the request lacks this login's CSRF token (x-csrf-token); reload the page and try again" }, 403, NO_STORE)
        : null);
      if (refused !== null) return refused;
    }
    rememberIdentity(c.req.raw, who);
    const command = method === "POST" ? COMMAND.exec(path) : null;
    if (command === null) {
      // Any other request that changes something (a route added later included) needs an operator; a viewer may only log out.
      if (method !== "GET" && method !== "HEAD" && path !== "/logout" && !mayDo(who.role, "operator")) {
        return c.json({ error: `user ${who.user} is a ${who.role}; ${method} ${path} needs the operator role` }, 403, NO_STORE);
      }
      return await next();
    }
    const [module, verb] = [decodeSafe(command[1] as string), decodeSafe(command[2] as string)];
    const entry = { user: who.user, role: who.role, source: info.remoteAddress, module: printable(module), command: printable(verb) };
    const needed = roleFor(verb);
    if (!mayDo(who.role, needed)) {
      const error = `user ${who.user} is a ${who.role}; ${verb} needs the ${needed} role`;
      auth.options.audit({ event: "command-refused", ...entry, status: 403, detail: error });
      return c.json({ error }, 403, NO_STORE);
    }
    await next();
    let detail: string | undefined;
    try {
      const body = (await c.res.clone().json()) as { detail?: unknown; error?: unknown; id?: unknown };
      detail = typeof body.detail === "string" ? body.detail : typeof body.error === "string" ? body.error : undefined;
      // An internal error's id leads from the audit line to the log line with its message.
      if (detail !== undefined && typeof body.id === "string") detail = `${detail} (id ${body.id})`;
    } catch {
      detail = undefined;
    }
    auth.options.audit({ event: "command", ...entry, status: c.res.status, ...(detail === undefined ? {} : { detail }) });
  };
}

/** The identity, null for none, or an answer that refuses the credentials given. */
async function identify(c: Context, auth: ConsoleAuth): Promise<Identity | null | { refused: Response }> {
  const info = connInfo(c.env);
  const names = cookieNames(info.port, info.secure);
  const session = auth.session(readCookie(c.req.header("cookie"), names.session));
  if (session !== undefined) return { user: session.user, role: session.role, how: "session", session };
  const header = c.req.header("authorization");
  if (header === undefined) return null;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer !== null) {
    const who = auth.bearer(bearer[1] as string);
    if (who !== undefined) return who;
    const why = auth.options.apiToken() === null
      ? "the API token is off on this console (console.api_token); log in, or use HTTP Basic with a console user"
      : "the API token is wrong (it changes when the cluster key changes; `vigil token` prints it)";
    return { refused: c.json({ error: why }, 401, NO_STORE) };
  }
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (basic === null) return { refused: c.json({ error: "the Authorization header must be Basic (a console user) or Bearer (the API token)" }, 401, NO_STORE) };
  const text = Buffer.from(basic[1] as string, "base64").toString("utf8");
  const colon = text.indexOf(":");
  const name = colon < 0 ? text : text.slice(0, colon);
  const who = await auth.basic(name, colon < 0 ? "" : text.slice(colon + 1), info.remoteAddress);
  if (typeof who === "object") return who;
  if (who === "wrong") {
    auth.options.audit({ event: "login-failed", user: printable(name), source: info.remoteAddress, detail: "HTTP Basic" });
    return { refused: c.json({ error: "wrong user name or password" }, 401, NO_STORE) };
  }
  const error = who === "busy" ? "too many logins are being checked at once; try again in a moment" : "too many failed logins from this address; try again later";
  return { refused: c.json({ error }, who === "busy" ? 503 : 429, NO_STORE) };
}

/** A page goes to the login form; the API and /metrics answer 401. */
function unauthenticated(c: Context): Response {
  const path = c.req.path;
  if (c.req.method === "GET" && (path === "/" || !(path.startsWith("/api") || path === "/metrics"))) {
    return c.redirect(`/login?next=${encodeURIComponent(path)}`, 303);
  }
  const headers: Record<string, string> = { ...NO_STORE };
  if (path === "/metrics") headers["www-authenticate"] = 'Basic realm="vigil console", charset="UTF-8"';
  return c.json({ error: "log in first: open the console's /login page, or send HTTP Basic credentials of a console user" }, 401, headers);
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
