import { randomBytes } from "node:crypto";

/**
 * An exception nobody caught while a request was answered: a fault of the
 * daemon, not of the request. Its message and stack may name files, paths,
 * addresses or internal state, so the client (any console client, the
 * control socket) is told only that there was one and an id; the message
 * and stack go to the daemon's log under that id, where an operator finds
 * them from the id the client shows.
 */

/** Where the details go: the daemon's Logger (its error()). */
export interface InternalErrorLog {
  error(msg: string, fields: Record<string, string | number | boolean | null>): void;
}

/** All a client learns of an internal error. */
export interface InternalErrorAnswer {
  error: "internal error";
  id: string;
}

/** The log line's message; its fields: id, method, path, error, stack. */
export const INTERNAL_ERROR_LOG_MSG = "internal error answering a request";

/** Without a daemon's log (tests, tools serving an app of their own) the line goes to stderr. */
export const STDERR_INTERNAL_LOG: InternalErrorLog = {
  error: (msg, fields) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: "error", msg, ...fields })}\n`),
};

/** 8 hex digits: enough to find the line among a node's log, short enough to read out. */
function newId(): string {
  return randomBytes(4).toString("hex");
}

/**
 * Logs the exception with a new id and returns the answer for the client.
 * `path` is the request's path without its query (a query may carry what a
 * user typed, which the log need not keep).
 */
export function internalError(log: InternalErrorLog, e: unknown, req: { method: string; path: string }, id: string = newId()): InternalErrorAnswer {
  const fields: Record<string, string> = { id, method: req.method, path: req.path, error: describe(e) };
  if (e instanceof Error && e.stack !== undefined) fields["stack"] = e.stack;
  try {
    log.error(INTERNAL_ERROR_LOG_MSG, fields);
  } catch {
    // A log that fails must not turn the 500 into no answer at all.
  }
  return { error: "internal error", id };
}

/** The text a client sees where the answer is not JSON (the console's pages). */
export function internalErrorText(a: InternalErrorAnswer): string {
  return `internal error (id ${a.id}): the daemon's log has the details under this id`;
}

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  try {
    return String(e);
  } catch {
    return "an exception that cannot be turned into text";
  }
}

/** "/api/status?x=1" -> "/api/status". */
export function pathOf(url: string | undefined): string {
  const u = url ?? "/";
  const q = u.indexOf("?");
  return q < 0 ? u : u.slice(0, q);
}
