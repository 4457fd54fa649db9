import { Hono, type Context } from "hono";
import type { LogEvent, StatusSnapshot } from "../src/api/status.ts";
import { assets } from "./assets.generated.ts";
import type { ModuleControl } from "../src/api/modules.ts";
import type { CommandAccess } from "./command-auth.ts";
import type { TokenResult } from "../src/api/command-token.ts";
import { parseAfter } from "./events-query.ts";
import { addModuleRoutes, MODULE_COMMAND_ROUTE, MODULE_VIEW_ROUTES } from "./module-routes.ts";
import { securityHeaders } from "./security-headers.ts";
import type { ConsoleAuth } from "./auth/console-auth.ts";
import { installAuth } from "./auth/gate.ts";
import { addLogRoutes, LOG_ROUTES, type LogRouteDeps } from "./log-routes.ts";
import { internalError, type InternalErrorLog, internalErrorText, STDERR_INTERNAL_LOG } from "../src/api/internal-error.ts";

export type { LogEvent, StatusSnapshot };

/** What the console needs from the daemon; the functions are called on every request. */
export interface ConsoleDeps extends LogRouteDeps {
  status(): StatusSnapshot;
  /** Prometheus text exposition (format 0.0.4). */
  metrics(): string;
  /** The module engine: module views and commands. Without it, commands answer 503. */
  modules?: ModuleControl | undefined;
  /**
   * Which listener this app instance serves: "socket" (the control socket,
   * guarded by its file mode) or "token" (a network listener, the default:
   * commands need the bearer token). See command-auth.ts.
   */
  commands?: CommandAccess | undefined;
  /** The token network commands must carry; a failed result turns them off and says why. */
  commandToken?: (() => TokenResult) | undefined;
  /** The login in front of every route (web/auth/); set on the network listener, with commands: "login". */
  auth?: ConsoleAuth | undefined;
  /** The daemon's log: an exception in a route is logged there with an id, and the client gets only the id (stderr without it). */
  log?: InternalErrorLog | undefined;
}

/** Every route but the module commands only reads: it answers GET (and so HEAD) only. */
export const ALLOWED_METHODS = "GET, HEAD";
const READ_ROUTES = ["/", "/assets/:name", "/api/status", "/api/events", "/healthz", "/metrics", ...MODULE_VIEW_ROUTES, ...LOG_ROUTES] as const;

const PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8";
// Live data must never come from a cache; assets may be cached but must be
// revalidated, so an upgraded binary's page is picked up at once.
const NO_STORE = { "cache-control": "no-store" };

/**
 * The web console and its JSON API. The daemon serves the same routes on the
 * console port and on the control socket, so `vigil status` and the page read
 * one API; only the `commands` option differs between the two instances.
 */
export function createConsoleApp(deps: ConsoleDeps): Hono {
  const app = new Hono();
  app.use("*", securityHeaders);
  if (deps.auth !== undefined) installAuth(app, deps.auth);

  app.get("/", (c) => serveAsset(c, "index.html"));
  app.get("/assets/:name", (c) => serveAsset(c, c.req.param("name")));
  app.get("/api/status", (c) => c.json(deps.status(), 200, NO_STORE));
  app.get("/api/events", (c) => {
    const q = parseAfter(c.req.queries("after"));
    if (!q.ok) return c.json({ error: q.error, parameter: "after" }, 400, NO_STORE);
    const events: LogEvent[] = deps.status().events.filter((e) => e.seq > q.after);
    return c.json({ events }, 200, NO_STORE);
  });
  app.get("/healthz", (c) => c.text("ok", 200, NO_STORE));
  app.get("/metrics", (c) => c.body(deps.metrics(), 200, { ...NO_STORE, "content-type": PROMETHEUS_TYPE }));
  addModuleRoutes(app, deps);
  addLogRoutes(app, deps);

  // Registered after the real handlers, so they only see the other methods.
  for (const path of READ_ROUTES) {
    app.all(path, (c) => {
      const body = `method ${c.req.method} is not allowed on ${c.req.path}; this route is read-only (allowed: ${ALLOWED_METHODS})`;
      const headers = { allow: ALLOWED_METHODS, ...NO_STORE };
      return isApi(c.req.path) ? c.json({ error: body }, 405, headers) : c.text(body, 405, headers);
    });
  }
  app.all(MODULE_COMMAND_ROUTE, (c) => {
    const error = `method ${c.req.method} is not allowed on ${c.req.path}; module commands are sent with POST (allowed: POST)`;
    return c.json({ error }, 405, { allow: "POST", ...NO_STORE });
  });

  app.notFound((c) => {
    const path = c.req.path;
    if (isApi(path)) return c.json({ error: "not found", path }, 404, NO_STORE);
    return c.html(notFoundPage(path), 404, NO_STORE);
  });

  // A route's exception is the daemon's fault: its message stays in the log (internal-error.ts).
  app.onError((err, c) => {
    const answer = internalError(deps.log ?? STDERR_INTERNAL_LOG, err, { method: c.req.method, path: c.req.path });
    if (isApi(c.req.path)) return c.json(answer, 500, NO_STORE);
    return c.text(internalErrorText(answer), 500, NO_STORE);
  });

  return app;
}

function serveAsset(c: Context, name: string): Response | Promise<Response> {
  // hasOwn, not `in`: "constructor" or "__proto__" must not reach Object's own members.
  const asset = Object.hasOwn(assets, name) ? assets[name] : undefined;
  if (asset === undefined) return c.notFound();
  return c.body(asset.body, 200, { "content-type": asset.type, "cache-control": "no-cache" });
}

function isApi(path: string): boolean {
  return path === "/api" || path.startsWith("/api/");
}

function notFoundPage(path: string): string {
  return [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8"><title>404 not found - vigil</title>',
    '<link rel="stylesheet" href="/assets/console.css"></head>',
    '<body class="not-found"><main>',
    "<h1>404 — not found</h1>",
    `<p>There is no page at <code>${escapeHtml(path)}</code>.</p>`,
    '<p><a href="/">Back to the console</a></p>',
    "</main></body></html>",
    "",
  ].join("\n");
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
