import type { Context } from "hono";
import { printable } from "./audit.ts";

const NO_STORE = { "cache-control": "no-store" };

/**
 * Browsers send Origin on every cross-site POST: one that is not this
 * console's own is refused, whatever cookie or header came with it.
 */
export function crossSite(c: Context, secure: boolean): Response | null {
  const origin = c.req.header("origin");
  if (origin === undefined) return null;
  const own = `${secure ? "https" : "http"}://${c.req.header("host") ?? ""}`.toLowerCase();
  if (origin.toLowerCase() === own) return null;
  return c.json({ error: `a request from another site (${printable(origin)}) is refused` }, 403, NO_STORE);
}
