/**
 * The arbiter's HTTP surface: its leases as JSON, a liveness probe and
 * Prometheus metrics. Read-only, like the console; served on the state dir's
 * control socket and, with --http, on a TCP address.
 */
import { Hono } from "hono";
import { securityHeaders } from "../../../web/security-headers.ts";
import type { LogEvent } from "../../api/status.ts";
import { internalError, type InternalErrorLog, STDERR_INTERNAL_LOG } from "../../api/internal-error.ts";
import type { WitnessStatus } from "./server.ts";

export interface WitnessSnapshot extends WitnessStatus {
  role: "witness";
  version: string;
  startedAt: string;
  events: LogEvent[];
}

export interface WitnessAppDeps {
  status(): WitnessSnapshot;
  metrics(): string;
  /** The arbiter's log: a route's exception is logged there with an id, the client gets only the id (stderr without it). */
  log?: InternalErrorLog | undefined;
}

const NO_STORE = { "cache-control": "no-store" };
const PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8";
const ROUTES = ["/api/status", "/healthz", "/metrics"] as const;

export function createWitnessApp(deps: WitnessAppDeps): Hono {
  const app = new Hono();
  app.use("*", securityHeaders);
  app.get("/api/status", (c) => c.json(deps.status(), 200, NO_STORE));
  app.get("/healthz", (c) => c.text("ok", 200, NO_STORE));
  app.get("/metrics", (c) => c.body(deps.metrics(), 200, { ...NO_STORE, "content-type": PROMETHEUS_TYPE }));
  for (const path of ROUTES) {
    app.all(path, (c) => c.json({ error: `method ${c.req.method} is not allowed on ${c.req.path}; the arbiter's API is read-only (allowed: GET, HEAD)` }, 405, { allow: "GET, HEAD", ...NO_STORE }));
  }
  app.notFound((c) => c.json({ error: "not found", path: c.req.path, routes: [...ROUTES] }, 404, NO_STORE));
  app.onError((err, c) => c.json(internalError(deps.log ?? STDERR_INTERNAL_LOG, err, { method: c.req.method, path: c.req.path }), 500, NO_STORE));
  return app;
}
