/** What the HTTP server tells the app about a connection (daemon/http-server.ts passes it as Hono's env). */
export interface ConnInfo {
  /** The client's address as the socket sees it (never a header). */
  remoteAddress: string;
  /** True on a TLS listener. */
  secure: boolean;
  /** The listener's port, for cookie names. */
  port: string;
}

export function connInfo(env: unknown): ConnInfo {
  const e = (typeof env === "object" && env !== null ? env : {}) as Partial<ConnInfo>;
  return {
    remoteAddress: typeof e.remoteAddress === "string" ? e.remoteAddress : "unknown",
    secure: e.secure === true,
    port: typeof e.port === "string" ? e.port : "0",
  };
}
