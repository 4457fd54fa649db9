/**
 * /login (the form and its POST), /logout and /api/session. A login is JSON
 * only: a form on another site cannot send JSON without the browser asking
 * this console first, and the Origin check refuses it anyway.
 */
import type { Context, Hono } from "hono";
import { assets } from "../assets.generated.ts";
import { printable } from "./audit.ts";
import { connInfo } from "./conn-info.ts";
import type { ConsoleAuth } from "./console-auth.ts";
import { cookieNames, readCookie, setCookie } from "./cookies.ts";
import { crossSite } from "./origin-check.ts";
import { identityOf } from "./identity.ts";

const NO_STORE = { "cache-control": "no-store" };
const MAX_NAME = 128;
const MAX_PASSWORD = 1024;

export function addLoginRoutes(app: Hono, auth: ConsoleAuth): void {
  app.get("/login", (c) => {
    // Already logged in (a bookmark, the back button): straight on to where the form would lead.
    const info = connInfo(c.env);
    if (auth.session(readCookie(c.req.header("cookie"), cookieNames(info.port, info.secure).session)) !== undefined) {
      return c.redirect(safeNext(c.req.query("next")), 303);
    }
    const page = assets["login.html"];
    if (page === undefined) return c.text("the login page is missing from this build", 500, NO_STORE);
    return c.body(page.body, 200, { "content-type": page.type, ...NO_STORE });
  });

  app.post("/login", async (c) => {
    const info = connInfo(c.env);
    const refused = crossSite(c, info.secure);
    if (refused !== null) return refused;
    if (!(c.req.header("content-type") ?? "").toLowerCase().startsWith("application/json")) {
      return c.json({ error: 'a login is JSON: {"user": NAME, "password": PASSWORD} with content-type application/json' }, 415, NO_STORE);
    }
    const body = parseLogin(await c.req.text());
    if (typeof body === "string") return c.json({ error: body }, 400, NO_STORE);
    const source = info.remoteAddress;
    const limit = auth.limiter.check(source, auth.now());
    if (!limit.ok) {
      const seconds = Math.ceil(limit.retryAfterMs / 1000);
      auth.options.audit({ event: "login-refused", user: printable(body.user), source, detail: "too many failed logins" });
      return c.json({ error: `too many failed logins from ${source}; try again in ${seconds} s` }, 429, { ...NO_STORE, "retry-after": String(seconds) });
    }
    const r = await auth.check(body.user, body.password);
    if (!r.ok) {
      if (r.why === "busy") return c.json({ error: "too many logins are being checked at once; try again in a moment" }, 503, NO_STORE);
      auth.limiter.failed(source, auth.now());
      auth.options.audit({ event: "login-failed", user: printable(body.user), source });
      return c.json({ error: "wrong user name or password" }, 401, NO_STORE);
    }
    const session = auth.startSession(r.user, source);
    auth.options.audit({ event: "login", user: r.user.name, role: r.user.role, source });
    const names = cookieNames(info.port, info.secure);
    const maxAgeS = (session.expires - session.created) / 1000;
    c.header("set-cookie", setCookie(names.session, session.id, { httpOnly: true, secure: info.secure, maxAgeS }), { append: true });
    c.header("set-cookie", setCookie(names.csrf, session.csrf, { httpOnly: false, secure: info.secure, maxAgeS }), { append: true });
    return c.json({ user: r.user.name, role: r.user.role, expires: new Date(session.expires).toISOString(), next: safeNext(c.req.query("next")) }, 200, NO_STORE);
  });

  app.post("/logout", (c) => {
    const info = connInfo(c.env);
    const names = cookieNames(info.port, info.secure);
    const who = identityOf(c.req.raw);
    const id = readCookie(c.req.header("cookie"), names.session);
    if (id !== undefined) auth.sessions.end(id);
    if (who !== undefined) auth.options.audit({ event: "logout", user: who.user, role: who.role, source: info.remoteAddress });
    c.header("set-cookie", setCookie(names.session, "", { httpOnly: true, secure: info.secure, maxAgeS: 0 }), { append: true });
    c.header("set-cookie", setCookie(names.csrf, "", { httpOnly: false, secure: info.secure, maxAgeS: 0 }), { append: true });
    return c.json({ ok: true }, 200, NO_STORE);
  });

  app.get("/api/session", (c) => {
    const who = identityOf(c.req.raw);
    if (who === undefined) return c.json({ error: "not logged in" }, 401, NO_STORE);
    return c.json({
      user: who.user,
      role: who.role,
      how: who.how,
      expires: who.session === undefined ? null : new Date(who.session.expires).toISOString(),
    }, 200, NO_STORE);
  });
  for (const path of ["/login", "/logout", "/api/session"]) {
    app.all(path, (c: Context) => c.json({ error: `method ${c.req.method} is not allowed on ${path}` }, 405, NO_STORE));
  }
}

function parseLogin(text: string): { user: string; password: string } | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return "the login body is not JSON";
  }
  const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  const user = o["user"];
  const password = o["password"];
  if (typeof user !== "string" || user === "" || user.length > MAX_NAME) return `"user" must be a name of 1 to ${MAX_NAME} characters`;
  if (typeof password !== "string" || password.length > MAX_PASSWORD) return `"password" must be a string of at most ${MAX_PASSWORD} characters`;
  return { user, password };
}

/** Where to go after the login: a path on this console, never another site (//evil.example). */
export function safeNext(next: string | undefined): string {
  if (next === undefined || !/^\/(?![/\\])[\x21-\x7e]*$/.test(next) || next.startsWith("/login")) return "/";
  return next;
}
