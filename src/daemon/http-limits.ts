/**
 * What one HTTP listener lets a client hold. The console and the control
 * socket answer anyone who can connect before knowing who they are, so every
 * resource a request can pin (a socket, buffered bytes, time) has a bound here
 * that holds before routing and before any token is checked.
 */
export interface HttpLimits {
  /** A request body larger than this is refused with 413; only routes that take a body read one at all. */
  readonly maxBodyBytes: number;
  /** From accepting a connection (or the end of its last response) to the end of the request's headers. */
  readonly headerTimeoutMs: number;
  /** From the end of the headers to the end of the body, for a route that reads it. */
  readonly bodyTimeoutMs: number;
  /** Open connections over all clients. */
  readonly maxConnections: number;
  /** Open connections from one client address. */
  readonly maxConnectionsPerClient: number;
}

/** Module commands are a few hundred bytes of JSON; a page load opens a handful of connections. */
export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxBodyBytes: 8 * 1024,
  headerTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  maxConnections: 256,
  maxConnectionsPerClient: 16,
};

/**
 * The control socket (vigil.sock): only root can connect, and every client
 * there is "local", so a bound per client would be a second, smaller bound on
 * all of them: the 17th `vigil status` waiting on a daemon that was
 * frozen for a moment got a 503. The bound on all connections stays.
 */
export const CONTROL_SOCKET_LIMITS: HttpLimits = { ...DEFAULT_HTTP_LIMITS, maxConnectionsPerClient: DEFAULT_HTTP_LIMITS.maxConnections };

/** A one-line JSON error sent straight onto a socket that will be closed after it. */
export function rawRefusal(status: 408 | 413 | 503, reason: string): string {
  const text = { 408: "Request Timeout", 413: "Content Too Large", 503: "Service Unavailable" }[status];
  const body = `${JSON.stringify({ error: reason })}\n`;
  return [
    `HTTP/1.1 ${status} ${text}`,
    "content-type: application/json",
    "cache-control: no-store",
    "connection: close",
    `content-length: ${Buffer.byteLength(body)}`,
    "",
    body,
  ].join("\r\n");
}
