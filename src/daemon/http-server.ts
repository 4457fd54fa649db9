import { chmodSync, unlinkSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

export type FetchHandler = (req: Request) => Response | Promise<Response>;
export type Endpoint = { host: string; port: number } | { path: string };

export interface RunningServer {
  /** "127.0.0.1:9010" or the socket path. */
  readonly where: string;
  close(): Promise<void>;
}

const MAX_BODY = 1 << 20;

/**
 * Serves a fetch-style handler (the Hono app) through node:http. node:http is
 * the one server API that Node, Bun and Deno all have, so the console and the
 * control socket need no per-runtime adapter.
 */
export function serveFetch(handler: FetchHandler, endpoint: Endpoint): Promise<RunningServer> {
  const server = createServer((req, res) => {
    void handle(handler, req, res, endpoint);
  });
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
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections?.();
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
): Promise<void> {
  try {
    const body = await readBody(req);
    if (body === "too-large") {
      res.writeHead(413, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: `request body larger than ${MAX_BODY} bytes` }));
      return;
    }
    const host = req.headers.host ?? ("path" in endpoint ? "localhost" : `${endpoint.host}:${endpoint.port}`);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (Array.isArray(v)) for (const item of v) headers.append(k, item);
      else if (v !== undefined) headers.set(k, v);
    }
    const method = req.method ?? "GET";
    const init: RequestInit = { method, headers };
    if (body.length > 0 && method !== "GET" && method !== "HEAD") init.body = body;
    const response = await handler(new Request(`http://${host}${req.url ?? "/"}`, init));
    const out: Record<string, string> = {};
    response.headers.forEach((v, k) => {
      out[k] = v;
    });
    res.writeHead(response.status, out);
    res.end(method === "HEAD" ? undefined : Buffer.from(await response.arrayBuffer()));
  } catch (e) {
    if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "internal error", detail: String(e) }));
  }
}

function readBody(req: IncomingMessage): Promise<Uint8Array<ArrayBuffer> | "too-large"> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on("end", () => resolve(size > MAX_BODY ? "too-large" : new Uint8Array(Buffer.concat(chunks))));
    req.on("error", reject);
  });
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
