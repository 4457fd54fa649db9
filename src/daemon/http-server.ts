import { chmodSync, unlinkSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createNetServer, type Server } from "node:net";
import { createSecureContext, TLSSocket } from "node:tls";
import { type BodyRefusal, lazyBody } from "./http-body.ts";
import { ConnectionGuard, type RefusalCounts } from "./http-guard.ts";
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from "./http-limits.ts";
import { internalError, type InternalErrorLog, pathOf, STDERR_INTERNAL_LOG } from "../api/internal-error.ts";

/** What the handler learns about the connection besides the request (web/auth/conn-info.ts reads it as Hono's env). */
export interface ConnInfo {
  remoteAddress: string;
  secure: boolean;
  port: string;
}
export type FetchHandler = (req: Request, conn: ConnInfo) => Response | Promise<Response>;
/** PEM certificate (chain) and key: the listener speaks HTTPS. */
export interface TlsMaterial {
  cert: string;
  key: string;
}
export type Endpoint = { host: string; port: number; tls?: TlsMaterial | undefined } | { path: string };

export interface RunningServer {
  /** "127.0.0.1:9010" or the socket path. */
  readonly where: string;
  /** Connections, slow requests and bodies refused so far (see http-guard.ts). */
  readonly refusals: Readonly<RefusalCounts>;
  /** Connections open now. */
  openConnections(): number;
  close(): Promise<void>;
}

/**
 * Serves a fetch-style handler (the Hono app) through node:http. node:http is
 * the one server API that Node, Bun and Deno all have, so the console and the
 * control socket need no per-runtime adapter. What a client can hold is
 * bounded before the handler runs (http-limits.ts): connections and header
 * time by http-guard.ts; the body is read only when the handler reads it
 * (http-body.ts), so routing and the token check come first. An exception
 * the handler lets out is answered with a generic 500 and an id; its message
 * and stack go to `log` under that id (internal-error.ts).
 */
export function serveFetch(
  handler: FetchHandler,
  endpoint: Endpoint,
  limits: HttpLimits = DEFAULT_HTTP_LIMITS,
  log: InternalErrorLog = STDERR_INTERNAL_LOG,
): Promise<RunningServer> {
  const tls = "path" in endpoint ? undefined : endpoint.tls;
  const guard = new ConnectionGuard(limits, { tls: tls !== undefined });
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (!guard.requestStarted(req.socket)) return;
    void handle(handler, req, res, endpoint, limits, guard, log);
  };
  const http = createServer(onRequest);
  let server: Server;
  if (tls === undefined) {
    http.on("connection", (socket) => guard.onConnection(socket));
    server = http;
  } else {
    // The guard takes each TCP connection before any TLS is spoken on it, so a
    // handshake gets the same time and bounds as the request headers. An
    // https server would not do: under Bun it reports a connection only once
    // the handshake is done and never times a handshake out, so clients
    // stalled in one were held by no bound (bench/tls-stalled-handshake.ts).
    const secureContext = createSecureContext({ cert: tls.cert, key: tls.key });
    server = createNetServer((raw) => {
      guard.onConnection(raw);
      if (raw.destroyed) return;
      const secure = new TLSSocket(raw, { isServer: true, secureContext });
      secure.on("error", () => secure.destroy());
      http.emit("connection", secure);
    });
  }
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => reject(new Error(listenError(endpoint, e))));
    const onListening = (): void => {
      server.removeAllListeners("error");
      server.on("error", () => {});
      let where: string;
      if ("path" in endpoint) {
        chmodSync(endpoint.path, 0o600);
        where = endpoint.path;
      } else {
        const addr = server.address();
        const port = typeof addr === "object" && addr ? addr.port : endpoint.port;
        where = `${endpoint.host}:${port}`;
      }
      resolve({
        where,
        refusals: guard.refusals,
        openConnections: () => guard.open(),
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            http.closeAllConnections?.();
            guard.closeAll();
            if ("path" in endpoint) removeQuietly(endpoint.path);
          }),
      });
    };
    if ("path" in endpoint) {
      removeQuietly(endpoint.path);
      // Nobody but root may talk to the control socket, not even for the
      // instant between bind() and chmod().
      const old = process.umask(0o177);
      try {
        server.listen(endpoint.path, onListening);
      } finally {
        process.umask(old);
      }
    } else {
      server.listen(endpoint.port, endpoint.host, onListening);
    }
  });
}

async function handle(
  handler: FetchHandler,
  req: IncomingMessage,
  res: ServerResponse,
  endpoint: Endpoint,
  limits: HttpLimits,
  guard: ConnectionGuard,
  log: InternalErrorLog,
): Promise<void> {
  const refuse = (r: BodyRefusal): void => {
    if (r.status === 413) guard.refusals.tooLarge++;
    else guard.refusals.timeouts++;
    if (!res.headersSent) {
      const text = `${JSON.stringify({ error: r.reason })}\n`;
      const length = String(Buffer.byteLength(text));
      res.writeHead(r.status, { "content-type": "application/json", "cache-control": "no-store", connection: "close", "content-length": length });
      res.end(text);
    }
  };
  const method = req.method ?? "GET";
  const body = lazyBody(req, limits.maxBodyBytes, limits.bodyTimeoutMs, refuse);
  res.once("finish", () => {
    // A body the route did not read is not drained: the connection ends with the answer.
    if (!body.complete()) req.socket.destroy();
    else guard.responseDone(req.socket);
  });
  try {
    const host = req.headers.host ?? ("path" in endpoint ? "localhost" : `${endpoint.host}:${endpoint.port}`);
    const secure = !("path" in endpoint) && endpoint.tls !== undefined;
    const conn: ConnInfo = {
      remoteAddress: "path" in endpoint ? "local" : (req.socket.remoteAddress ?? "unknown").replace(/^::ffff:/, ""),
      secure,
      port: "path" in endpoint ? "0" : String(req.socket.localPort ?? endpoint.port),
    };
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (Array.isArray(v)) for (const item of v) headers.append(k, item);
      else if (v !== undefined) headers.set(k, v);
    }
    const init: RequestInit & { duplex?: "half" } = { method, headers };
    if (body.stream !== undefined && method !== "GET" && method !== "HEAD") {
      init.body = body.stream;
      init.duplex = "half";
    }
    const response = await handler(new Request(`${secure ? "https" : "http"}://${safeHost(host)}${req.url ?? "/"}`, init), conn);
    if (res.headersSent) return;
    const out: Record<string, string | string[]> = {};
    response.headers.forEach((v, k) => {
      out[k] = v;
    });
    // Several cookies must stay several headers, not one joined by commas.
    const cookies = response.headers.getSetCookie?.() ?? [];
    if (cookies.length > 0) (out as Record<string, string | string[]>)["set-cookie"] = cookies;
    if (!body.complete()) out["connection"] = "close";
    res.writeHead(response.status, out);
    res.end(method === "HEAD" ? undefined : Buffer.from(await response.arrayBuffer()));
  } catch (e) {
    // Logged even when the answer has begun (its body broke off): the client only sees the connection end.
    const answer = internalError(log, e, { method, path: pathOf(req.url) });
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    res.writeHead(500, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify(answer));
  }
}

function listenError(endpoint: Endpoint, e: NodeJS.ErrnoException): string {
  const where = "path" in endpoint ? endpoint.path : `${endpoint.host}:${endpoint.port}`;
  const why: Record<string, string> = {
    EADDRINUSE: "the address is already in use (another vigil or another program is listening there)",
    EADDRNOTAVAIL: "that address is not on this machine",
    EACCES: "permission denied (ports below 1024 need root)",
  };
  return `cannot listen on ${where}: ${why[e.code ?? ""] ?? e.message}`;
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Not there: nothing to remove.
  }
}

/** "0.0.0.0:9010" -> { host, port }. The config schema already validated it. */
export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(":");
  return { host: listen.slice(0, i), port: Number(listen.slice(i + 1)) };
}

/** A Host header that would not parse as a URL's authority must not make the request fail before the Host check sees it. */
function safeHost(host: string): string {
  return /^[A-Za-z0-9.\-_:[\]]{1,255}$/.test(host) ? host : "invalid.host";
}
