import type { Hono } from "hono";

export interface LogRouteDeps {
  /** The whole log file (its rotated part first), or undefined when the daemon keeps none. */
  logText?: (() => string | undefined) | undefined;
  /** For the download's file name. */
  nodeName?: (() => string) | undefined;
}

export const LOG_ROUTES = ["/api/log", "/api/log/download"] as const;

const NO_STORE = { "cache-control": "no-store" };
const MAX_LINES = 5000;
const DEFAULT_LINES = 500;
const MAX_QUERY = 200;

export type LogQuery = { ok: true; q: string; limit: number } | { ok: false; error: string; parameter: string };

/** `q`: text every line shown contains (case-insensitive); `limit`: how many of the newest matching lines. */
export function parseLogQuery(q: readonly string[] | undefined, limit: readonly string[] | undefined): LogQuery {
  if ((q?.length ?? 0) > 1) return { ok: false, error: `query parameter "q" is given ${q?.length} times; expected it at most once`, parameter: "q" };
  if ((limit?.length ?? 0) > 1) return { ok: false, error: `query parameter "limit" is given ${limit?.length} times; expected it at most once`, parameter: "limit" };
  const text = q?.[0] ?? "";
  if (text.length > MAX_QUERY) return { ok: false, error: `query parameter "q" is ${text.length} characters long; expected at most ${MAX_QUERY}`, parameter: "q" };
  const raw = limit?.[0];
  if (raw === undefined) return { ok: true, q: text, limit: DEFAULT_LINES };
  const n = /^\d{1,6}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= MAX_LINES)) {
    return { ok: false, error: `query parameter "limit" is ${JSON.stringify(raw.slice(0, 40))}; expected a whole number from 1 to ${MAX_LINES}`, parameter: "limit" };
  }
  return { ok: true, q: text, limit: n };
}

/**
 * The daemon's log file: the newest lines (or those containing a text) as
 * JSON for the console's log view, and the whole file as a download.
 */
export function addLogRoutes(app: Hono, deps: LogRouteDeps): void {
  app.get("/api/log", (c) => {
    const p = parseLogQuery(c.req.queries("q"), c.req.queries("limit"));
    if (!p.ok) return c.json({ error: p.error, parameter: p.parameter }, 400, NO_STORE);
    const text = deps.logText?.();
    // Not an error: a daemon started without a state dir's log file still has a console.
    if (text === undefined) return c.json({ total: 0, matched: 0, lines: [], note: "this daemon keeps no log file" }, 200, NO_STORE);
    const all = text.split("\n").filter((l) => l !== "");
    const needle = p.q.toLowerCase();
    const matching = needle === "" ? all : all.filter((l) => l.toLowerCase().includes(needle));
    return c.json({ total: all.length, matched: matching.length, lines: matching.slice(-p.limit) }, 200, NO_STORE);
  });
  app.get("/api/log/download", (c) => {
    const text = deps.logText?.();
    if (text === undefined) return c.json({ error: "this daemon keeps no log file" }, 404, NO_STORE);
    const node = (deps.nodeName?.() ?? "node").replace(/[^A-Za-z0-9._-]/g, "_");
    return c.body(text, 200, {
      ...NO_STORE,
      "content-type": "text/plain; charset=utf-8",
      "content-disposition": `attachment; filename="vigil-${node}.log"`,
    });
  });
}
